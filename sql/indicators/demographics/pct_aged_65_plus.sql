/*
id = "pct_aged_65_plus"
title = "Patients aged 65 and over"
numerator = "Registered patients aged 65 and over"
denominator = "All registered patients"
domain = "demographics"
value_type = "proportion"
polarity = "no_judgement"
definition = "Percentage of the practice list aged 65 and over at the start of the month."
why_it_matters = "Context: an older list needs more care, which explains some differences elsewhere."
source = "Patients registered at a GP practice, 5-year age bands (NHS England)"
caveats = "Context only: neither better nor worse."
owner = "Federation analytics team"
tags = ["context", "monthly"]
min_denominator = 500
*/
SELECT
    practice_code,
    month AS period,
    patients_65_plus AS numerator,
    patients AS denominator
FROM practice_list
