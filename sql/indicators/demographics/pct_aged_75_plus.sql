/*
id = "pct_aged_75_plus"
title = "Patients aged 75 and over"
numerator = "Registered patients in the age bands counted (patients aged 75 and over)"
denominator = "All registered patients"
domain = "demographics"
value_type = "proportion"
polarity = "no_judgement"
definition = "Percentage of the practice list that is aged 75 and over, at the start of the month."
why_it_matters = "Context: patients aged 75+ need the most care, which explains differences elsewhere."
source = "Patients registered at a GP practice, 5-year age bands (NHS England)"
caveats = "Context only: neither better nor worse."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["context", "monthly"]
min_denominator = 500
*/
SELECT practice_code, month AS period, patients_75_plus AS numerator, patients AS denominator
FROM practice_list
