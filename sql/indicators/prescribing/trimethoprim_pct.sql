/*
id = "trimethoprim_pct"
title = "Trimethoprim as % of trimethoprim and nitrofurantoin"
numerator = "Trimethoprim items"
denominator = "Trimethoprim plus nitrofurantoin items"
domain = "prescribing"
value_type = "proportion"
polarity = "low_is_good"
definition = "Trimethoprim items as a percentage of trimethoprim and nitrofurantoin items, as in the OpenPrescribing measure."
why_it_matters = "Resistance to trimethoprim is high; nitrofurantoin is the recommended first choice for most urinary infections."
source = "English Prescribing Dataset (NHSBSA)"
caveats = "Nitrofurantoin is unsuitable in some patients (for example with poor kidney function)."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["antimicrobial stewardship", "openprescribing", "monthly"]
min_denominator = 20
*/
SELECT
    practice_code,
    month AS period,
    SUM(CASE WHEN chemical_code = '0501080W0' THEN items ELSE 0 END) AS numerator,
    SUM(CASE WHEN chemical_code IN ('0501080W0', '0501130R0') THEN items ELSE 0 END) AS denominator
FROM prescribing
GROUP BY practice_code, month
