/*
id = "hypnotic_items_per_1000"
title = "Hypnotic items per 1,000 patients"
numerator = "Items prescribed from BNF 4.1.1 (hypnotics) in the month"
denominator = "Registered patients at the start of the month"
domain = "prescribing"
value_type = "rate"
multiplier = 1000
units = "items per 1,000 patients per month"
polarity = "low_is_good"
definition = "Hypnotic items (zopiclone, zolpidem, temazepam and others in BNF 4.1.1) per 1,000 registered patients in the month."
why_it_matters = "Hypnotics carry risks of dependence and falls, especially in older people."
source = "English Prescribing Dataset (NHSBSA); registered patients (NHS England)"
caveats = "Not age-standardised; practices with older lists will tend to be higher."
owner = "Medicines optimisation team"
tags = ["hypnotics", "monthly"]
min_denominator = 500
*/
SELECT
    practice_code,
    month AS period,
    hypnotic_items AS numerator,
    patients AS denominator
FROM prescribing_per_list
