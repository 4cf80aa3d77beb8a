/*
id = "emergency_admissions_isr"
title = "Emergency admissions, observed ÷ expected for the practice's age mix"
numerator = "Emergency hospital admissions of the practice's registered patients in the month"
denominator = "Admissions expected at the federation's rates for each age band and sex"
domain = "demand"
value_type = "isr"
polarity = "low_is_good"
definition = "Indirectly standardised ratio: observed emergency admissions ÷ the admissions expected if the practice's patients were admitted at the rates of every practice loaded, band by band (five-year age bands to 90+, by sex), × 100."
why_it_matters = "An ISR above 100 means more admissions than the practice's age and sex mix explains; it is stable for small practices where a DSR is not."
source = "Emergency admissions by registered practice, age and sex (secondary-care activity extract); registered patients by age and sex (NHS England)"
caveats = "The reference is the practices in this run, so 100 means the federation's own level, not England's; standardised for age and sex only. The results table's denominator is the expected count."
owner = "Federation intelligence team"
reviewed = "2026-11-24"
next_review = "2027-11-24"
tags = ["standardised", "secondary care", "monthly"]
min_denominator = 5
*/
SELECT
    practice_code,
    month AS period,
    age_band,
    sex,
    admissions AS numerator,
    patients AS denominator
FROM emergency_admissions_esp
