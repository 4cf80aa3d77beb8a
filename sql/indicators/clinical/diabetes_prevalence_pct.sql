/*
id = "diabetes_prevalence_pct"
title = "Recorded diabetes prevalence"
numerator = "Patients on the diabetes register (QOF DM020 register)"
denominator = "Registered patients in March"
domain = "clinical"
value_type = "proportion"
polarity = "no_judgement"
definition = "Patients on the QOF diabetes register at the year end as a percentage of the list in March."
why_it_matters = "Context for the diabetes indicators and for prescribing; low recorded prevalence can mean under-diagnosis."
source = "Quality and Outcomes Framework (NHS England); registered patients (NHS England)"
caveats = "Recorded, not true, prevalence."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["QOF", "annual", "context"]
min_denominator = 500
*/
-- The register at the end of the financial year over the list in March.
SELECT practice_code, reporting_year AS period, register AS numerator, list_in_march AS denominator
FROM qof_achievement
WHERE indicator_code = 'DM020' AND list_in_march IS NOT NULL
