/*
id = "antibiotic_items_per_star_pu"
title = "Antibiotic items per 1,000 STAR-PU"
numerator = "Items prescribed from BNF section 5.1 (antibacterial drugs) in the month"
denominator = "Registered patients weighted by the 2013 STAR-PU for oral antibacterials (age and sex)"
domain = "prescribing"
value_type = "ratio"
multiplier = 1000
units = "items per 1,000 STAR-PU per month"
polarity = "low_is_good"
definition = "Antibacterial items prescribed in the month per 1,000 antibacterial STAR-PU: the registered list weighted by how much antibiotic prescribing each age and sex group needs, as in OpenPrescribing's antibiotic stewardship measure."
why_it_matters = "The national antimicrobial stewardship measure: unlike items per head it does not penalise a practice for having many young children or older patients."
source = "English Prescribing Dataset (NHSBSA); registered patients by age and sex (NHS England); STAR-PU 2013 weights (sql/views/star_pu.sql)"
caveats = "STAR-PU weights date from 2013 and cover age and sex only, not deprivation or care homes; oral and other antibacterials in BNF 5.1 are counted alike; strongly seasonal."
owner = "Medicines optimisation team"
reviewed = "2026-11-24"
next_review = "2027-11-24"
tags = ["antimicrobial stewardship", "monthly", "openprescribing", "star-pu"]
seasonal = true
min_denominator = 500
*/
SELECT
    s.practice_code,
    s.month AS period,
    p.antibiotic_items AS numerator,
    s.antibacterial_star_pu AS denominator
FROM star_pu AS s
JOIN prescribing_per_list AS p ON p.practice_code = s.practice_code AND p.month = s.month
