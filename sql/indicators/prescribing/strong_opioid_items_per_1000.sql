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
-- The covered months are chosen and the strong opioid lines totalled before
-- the join. Written as one join filtered afterwards, the engine held every
-- prescribing line of every practice to apply the filter: 1.6 GB nationally
-- over two years, against 20 MB this way, with the same rows.
WITH covered AS (
    SELECT practice_code, month, patients
    FROM practice_list
    WHERE month IN (SELECT DISTINCT month FROM prescribing)
),
strong_opioids AS (
    SELECT practice_code, month, SUM(items) AS items
    FROM prescribing
    WHERE chemical_code IN ('0407020Q0', '0407020P0', '0407020A0')
    GROUP BY practice_code, month
)
SELECT
    l.practice_code,
    l.month AS period,
    COALESCE(p.items, 0) AS numerator,
    l.patients AS denominator
FROM covered AS l
LEFT JOIN strong_opioids AS p ON p.practice_code = l.practice_code AND p.month = l.month
