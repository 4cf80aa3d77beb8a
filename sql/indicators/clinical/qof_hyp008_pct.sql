/*
id = "qof_hyp008_pct"
title = "Blood pressure controlled in hypertension (QOF HYP008)"
numerator = "Patients aged 79 or under with hypertension whose last blood pressure was 140/90 mmHg or less"
denominator = "Patients aged 79 or under with hypertension, less personalised care adjustments"
domain = "clinical"
value_type = "proportion"
polarity = "high_is_good"
definition = "QOF HYP008 achievement: numerator over denominator (after personalised care adjustments) for the financial year."
why_it_matters = "Controlling blood pressure prevents strokes and heart attacks."
source = "Quality and Outcomes Framework achievement, long format (NHS England)"
caveats = "Annual; the denominator excludes personalised care adjustments, which vary between practices."
owner = "Federation analytics team"
tags = ["QOF", "cardiovascular", "annual"]
min_denominator = 50
*/
SELECT practice_code, reporting_year AS period, numerator, denominator
FROM qof_achievement
WHERE indicator_code = 'HYP008'
