/*
id = "statin_items_per_1000"
title = "Statin items per 1,000 patients"
numerator = "Items of atorvastatin in the month"
denominator = "Registered patients at the start of the month"
domain = "prescribing"
value_type = "rate"
multiplier = 1000
units = "items per 1,000 patients per month"
polarity = "no_judgement"
definition = "Atorvastatin items per 1,000 registered patients in the month."
why_it_matters = "Statins prevent heart attacks and strokes; very low use can mean under-treatment."
source = "English Prescribing Dataset (NHSBSA); registered patients (NHS England)"
caveats = "Context: depends heavily on the age and risk profile of the list."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["cardiovascular", "monthly"]
min_denominator = 500
*/
SELECT
    l.practice_code,
    l.month AS period,
    COALESCE(SUM(CASE WHEN p.chemical_code = '0212000B0' THEN p.items END), 0) AS numerator,
    MAX(l.patients) AS denominator
FROM practice_list AS l
LEFT JOIN prescribing AS p ON p.practice_code = l.practice_code AND p.month = l.month
WHERE l.month IN (SELECT DISTINCT month FROM prescribing)
GROUP BY l.practice_code, l.month
