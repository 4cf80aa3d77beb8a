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
    practice_code,
    month AS period,
    strong_opioid_items AS numerator,
    patients AS denominator
FROM prescribing_per_list
