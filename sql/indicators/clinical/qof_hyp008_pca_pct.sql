/*
id = "qof_hyp008_pca_pct"
title = "Personalised care adjustments in hypertension (QOF HYP008)"
numerator = "Patients with hypertension excepted by personalised care adjustments"
denominator = "Patients in the HYP008 denominator plus those excepted"
domain = "clinical"
value_type = "proportion"
polarity = "low_is_good"
definition = "Personalised care adjustments as a percentage of all eligible patients for QOF HYP008."
why_it_matters = "High exception rates can flatter achievement; boards look at both together."
source = "Quality and Outcomes Framework achievement, long format (NHS England)"
caveats = "Some adjustments are clinically right (for example patient choice or frailty); read with HYP008 achievement."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["QOF", "annual", "data quality"]
min_denominator = 30
*/
SELECT practice_code, reporting_year AS period, pcas AS numerator, pcas + denominator AS denominator
FROM qof_achievement
WHERE indicator_code = 'HYP008'
