/*
id = "qof_ast007_pct"
title = "Asthma reviews in the last 12 months (QOF AST007)"
numerator = "Patients with asthma who had an asthma review in the preceding 12 months"
denominator = "Patients with asthma, less personalised care adjustments"
domain = "clinical"
value_type = "proportion"
polarity = "high_is_good"
definition = "QOF AST007 achievement: numerator over denominator (after personalised care adjustments) for the financial year."
why_it_matters = "Regular reviews prevent asthma attacks and deaths."
source = "Quality and Outcomes Framework achievement, long format (NHS England)"
caveats = "Annual; the denominator excludes personalised care adjustments, which vary between practices."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["QOF", "annual"]
min_denominator = 30
*/
SELECT practice_code, reporting_year AS period, numerator, denominator
FROM qof_achievement
WHERE indicator_code = 'AST007'
