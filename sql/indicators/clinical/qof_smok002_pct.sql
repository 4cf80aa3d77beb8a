/*
id = "qof_smok002_pct"
title = "Smoking status recorded in long-term conditions (QOF SMOK002)"
numerator = "Patients with specified long-term conditions whose smoking status was recorded in the preceding 12 months"
denominator = "Patients with those conditions, less personalised care adjustments"
domain = "clinical"
value_type = "proportion"
polarity = "high_is_good"
definition = "QOF SMOK002 achievement: numerator over denominator (after personalised care adjustments) for the financial year."
why_it_matters = "Knowing who smokes is the first step to helping them stop."
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
WHERE indicator_code = 'SMOK002'
