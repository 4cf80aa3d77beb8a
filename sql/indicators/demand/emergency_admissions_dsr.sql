/*
id = "emergency_admissions_dsr"
title = "Emergency admissions per 100,000 patients (age-standardised)"
numerator = "Emergency hospital admissions of the practice's registered patients in the month"
denominator = "Registered patients, by age band and sex"
domain = "demand"
value_type = "dsr"
multiplier = 100000
units = "per 100,000 patients per month, age-standardised"
polarity = "low_is_good"
definition = "Emergency admissions per 100,000 registered patients in the month, directly standardised to the 2013 European Standard Population by five-year age band (0-4 … 90+) for each sex (Dobson's method)."
why_it_matters = "Emergency admissions are costly and often avoidable with proactive care; standardising for age lets practices with older lists be compared fairly with younger ones."
source = "Emergency admissions by registered practice, age and sex (secondary-care activity extract); registered patients by age and sex (NHS England)"
caveats = "Standardised for age and sex only, not for deprivation or care-home residents; attribution to a practice follows registration at admission; not published when fewer than 10 admissions. No funnel plot: standardised rates are compared by their intervals."
owner = "Federation intelligence team"
reviewed = "2026-11-24"
next_review = "2027-11-24"
tags = ["standardised", "secondary care", "monthly"]
min_denominator = 1000
*/
SELECT
    practice_code,
    month AS period,
    age_band,
    sex,
    admissions AS numerator,
    patients AS denominator
FROM emergency_admissions_esp
