/*
id = "unknown_outcome_pct"
title = "Appointments with no recorded outcome"
numerator = "Appointments with status Unknown"
denominator = "All appointments"
domain = "demand"
value_type = "proportion"
polarity = "low_is_good"
definition = "Percentage of the month's appointments whose outcome (attended or did not attend) was not recorded."
why_it_matters = "A data-quality measure: unrecorded outcomes make DNA rates unreliable."
source = "GP appointments data, practice level (NHS England)"
caveats = "High values usually mean recording practice, not patient behaviour."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["data quality", "monthly"]
min_denominator = 100
*/
SELECT
    practice_code,
    month AS period,
    SUM(CASE WHEN appt_status = 'Unknown' THEN appointments ELSE 0 END) AS numerator,
    SUM(appointments) AS denominator
FROM appointments
GROUP BY practice_code, month
