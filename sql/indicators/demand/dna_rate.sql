/*
id = "dna_rate"
title = "Appointments not attended (DNA)"
numerator = "Appointments with status DNA (did not attend)"
denominator = "Appointments with a known outcome (attended or DNA)"
domain = "demand"
value_type = "proportion"
polarity = "low_is_good"
definition = "Percentage of appointments with a recorded outcome in which the patient did not attend."
why_it_matters = "Missed appointments waste clinical time; high rates can point to booking processes or access barriers."
source = "GP appointments data, practice level (NHS England)"
caveats = "Appointments with status Unknown are excluded; recording of DNAs varies between practices and systems."
owner = "Federation analytics team"
tags = ["access", "monthly"]
min_denominator = 100
*/
SELECT
    practice_code,
    month AS period,
    SUM(CASE WHEN appt_status = 'DNA' THEN appointments ELSE 0 END) AS numerator,
    SUM(CASE WHEN appt_status IN ('Attended', 'DNA') THEN appointments ELSE 0 END) AS denominator
FROM appointments
GROUP BY practice_code, month
