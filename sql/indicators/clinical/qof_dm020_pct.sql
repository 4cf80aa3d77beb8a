/*
id = "qof_dm020_pct"
title = "HbA1c at or below 58 mmol/mol in diabetes (QOF DM020)"
numerator = "Patients with diabetes, without moderate or severe frailty, whose last IFCC-HbA1c was 58 mmol/mol or less"
denominator = "Patients with diabetes without moderate or severe frailty, less personalised care adjustments"
domain = "clinical"
value_type = "proportion"
polarity = "high_is_good"
definition = "QOF DM020 achievement: numerator over denominator (after personalised care adjustments) for the financial year."
why_it_matters = "Good glycaemic control reduces the complications of diabetes."
source = "Quality and Outcomes Framework achievement, long format (NHS England)"
caveats = "Annual; the denominator excludes personalised care adjustments, which vary between practices."
owner = "Federation analytics team"
tags = ["QOF", "diabetes", "annual"]
min_denominator = 50
*/
SELECT practice_code, reporting_year AS period, numerator, denominator
FROM qof_achievement
WHERE indicator_code = 'DM020'
