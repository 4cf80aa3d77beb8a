/*
id = "opioid_items_per_1000"
title = "Opioid analgesic items per 1,000 patients"
numerator = "Items prescribed from BNF 4.7.2 (opioid analgesics) in the month"
denominator = "Registered patients at the start of the month"
domain = "prescribing"
value_type = "rate"
multiplier = 1000
units = "items per 1,000 patients per month"
polarity = "low_is_good"
definition = "Opioid analgesic items per 1,000 registered patients in the month."
why_it_matters = "Long-term opioid use for chronic non-cancer pain brings harm with little benefit."
source = "English Prescribing Dataset (NHSBSA); registered patients (NHS England)"
caveats = "Not adjusted for age or deprivation, both of which raise appropriate use; includes palliative care."
owner = "Medicines optimisation team"
tags = ["opioids", "monthly"]
min_denominator = 500
*/
SELECT
    practice_code,
    month AS period,
    opioid_items AS numerator,
    patients AS denominator
FROM prescribing_per_list
