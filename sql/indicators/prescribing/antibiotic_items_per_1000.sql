/*
id = "antibiotic_items_per_1000"
title = "Antibiotic items per 1,000 patients"
numerator = "Items prescribed from BNF section 5.1 (antibacterial drugs) in the month"
denominator = "Registered patients at the start of the month"
domain = "prescribing"
value_type = "rate"
multiplier = 1000
units = "items per 1,000 patients per month"
polarity = "low_is_good"
definition = "Antibacterial items prescribed per 1,000 registered patients in the month."
why_it_matters = "Antimicrobial stewardship: unnecessary antibiotic prescribing drives resistance."
source = "English Prescribing Dataset (NHSBSA); registered patients (NHS England)"
caveats = "Per head rather than per STAR-PU, so practices with many young children or older patients will be higher; strongly seasonal."
owner = "Medicines optimisation team"
tags = ["antimicrobial stewardship", "monthly"]
seasonal = true
min_denominator = 500
*/
SELECT
    practice_code,
    month AS period,
    antibiotic_items AS numerator,
    patients AS denominator
FROM prescribing_per_list
