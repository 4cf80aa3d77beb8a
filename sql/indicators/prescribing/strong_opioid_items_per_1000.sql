/*
id = "strong_opioid_items_per_1000"
title = "Strong opioid items per 1,000 patients"
numerator = "Items of morphine, oxycodone and fentanyl in the month"
denominator = "Registered patients at the start of the month"
domain = "prescribing"
value_type = "rate"
multiplier = 1000
units = "items per 1,000 patients per month"
polarity = "low_is_good"
definition = "Items of strong opioids (morphine, oxycodone, fentanyl) per 1,000 registered patients in the month."
why_it_matters = "Strong opioids for chronic non-cancer pain carry high risk of harm and dependence."
source = "English Prescribing Dataset (NHSBSA); registered patients (NHS England)"
caveats = "Includes appropriate palliative care; not adjusted for age or deprivation."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["opioids", "monthly"]
min_denominator = 500
*/
SELECT
    l.practice_code,
    l.month AS period,
    COALESCE(SUM(CASE WHEN p.chemical_code IN ('0407020Q0', '0407020P0', '0407020A0') THEN p.items END), 0) AS numerator,
    MAX(l.patients) AS denominator
FROM practice_list AS l
LEFT JOIN prescribing AS p ON p.practice_code = l.practice_code AND p.month = l.month
WHERE l.month IN (SELECT DISTINCT month FROM prescribing)
GROUP BY l.practice_code, l.month
