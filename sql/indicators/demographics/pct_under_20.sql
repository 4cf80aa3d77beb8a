/*
id = "pct_under_20"
title = "Patients aged under 20"
numerator = "Registered patients in the age bands counted (patients aged under 20)"
denominator = "All registered patients"
domain = "demographics"
value_type = "proportion"
polarity = "no_judgement"
definition = "Percentage of the practice list that is aged under 20, at the start of the month."
why_it_matters = "Context: a young list (families, students) changes what care is needed."
source = "Patients registered at a GP practice, 5-year age bands (NHS England)"
caveats = "Context only: neither better nor worse."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["context", "monthly"]
min_denominator = 500
*/
SELECT practice_code, month AS period, patients_under_20 AS numerator, patients AS denominator
FROM practice_list
