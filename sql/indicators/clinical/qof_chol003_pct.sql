/*
id = "qof_chol003_pct"
title = "LDL cholesterol at target in cardiovascular disease (QOF CHOL003)"
numerator = "Patients with CVD whose most recent LDL-cholesterol is 2.0 mmol/l or less"
denominator = "Patients with CVD, less personalised care adjustments"
domain = "clinical"
value_type = "proportion"
polarity = "high_is_good"
definition = "QOF CHOL003 achievement: numerator over denominator (after personalised care adjustments) for the financial year."
why_it_matters = "Lowering cholesterol after a heart attack or stroke prevents the next one."
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
WHERE indicator_code = 'CHOL003'
