/*
id = "all_items_per_1000"
title = "Prescription items per 1,000 patients"
numerator = "All items prescribed in the month"
denominator = "Registered patients at the start of the month"
domain = "prescribing"
value_type = "rate"
multiplier = 1000
units = "items per 1,000 patients per month"
polarity = "no_judgement"
definition = "All prescription items per 1,000 registered patients in the month."
why_it_matters = "Context for every prescribing measure: how much the practice prescribes overall."
source = "English Prescribing Dataset (NHSBSA); registered patients (NHS England)"
caveats = "Context only; not age-standardised."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["context", "monthly"]
min_denominator = 500
*/
SELECT practice_code, month AS period, all_items AS numerator, patients AS denominator
FROM prescribing_per_list
