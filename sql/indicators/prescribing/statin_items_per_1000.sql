/*
id = "statin_items_per_1000"
title = "Statin items per 1,000 patients"
numerator = "Items of statins in the month (atorvastatin, simvastatin, rosuvastatin, pravastatin, fluvastatin, alone or with ezetimibe)"
denominator = "Registered patients at the start of the month"
domain = "prescribing"
value_type = "rate"
multiplier = 1000
units = "items per 1,000 patients per month"
polarity = "no_judgement"
definition = "Statin items (BNF 2.12 chemicals named for a statin) per 1,000 registered patients in the month."
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
    practice_code,
    month AS period,
    statin_items AS numerator,
    patients AS denominator
FROM prescribing_per_list
