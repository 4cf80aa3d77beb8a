/*
id = "broad_spectrum_antibiotic_pct"
title = "Broad-spectrum antibiotics as % of antibiotic items"
numerator = "Items of co-amoxiclav, cephalosporins and quinolones"
denominator = "All antibacterial items (BNF 5.1)"
domain = "prescribing"
value_type = "proportion"
polarity = "low_is_good"
definition = "Co-amoxiclav, cephalosporin and quinolone items as a percentage of all antibacterial items, as in the OpenPrescribing measure."
why_it_matters = "Broad-spectrum antibiotics raise the risk of C. difficile and resistance; national guidance is to keep their use low."
source = "English Prescribing Dataset (NHSBSA)"
caveats = "Some broad-spectrum use is appropriate (for example in penicillin allergy)."
owner = "Medicines optimisation team"
tags = ["antimicrobial stewardship", "monthly", "openprescribing"]
min_denominator = 50
*/
SELECT
    practice_code,
    month AS period,
    broad_spectrum_items AS numerator,
    antibiotic_items AS denominator
FROM prescribing_groups
