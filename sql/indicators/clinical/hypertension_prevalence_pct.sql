/*
id = "hypertension_prevalence_pct"
title = "Recorded hypertension prevalence"
numerator = "Patients on the hypertension register (QOF HYP008 register)"
denominator = "Registered patients in March"
domain = "clinical"
value_type = "proportion"
polarity = "no_judgement"
definition = "Patients on the QOF hypertension register at the year end as a percentage of the list in March."
why_it_matters = "Context for the hypertension indicators; low recorded prevalence can mean under-diagnosis."
source = "Quality and Outcomes Framework (NHS England); registered patients (NHS England)"
caveats = "Recorded, not true, prevalence; the HYP008 register covers patients aged 79 or under in this extract."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["QOF", "annual", "context"]
min_denominator = 500
*/
-- The register at the end of the financial year over the list in March.
SELECT practice_code, reporting_year AS period, register AS numerator, list_in_march AS denominator
FROM qof_achievement
WHERE indicator_code = 'HYP008' AND list_in_march IS NOT NULL
