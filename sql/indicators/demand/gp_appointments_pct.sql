/*
id = "gp_appointments_pct"
title = "Appointments with a GP"
numerator = "Appointments with HCP type GP"
denominator = "All appointments"
domain = "demand"
value_type = "proportion"
polarity = "no_judgement"
definition = "Percentage of the month's appointments that were with a GP rather than other practice staff."
why_it_matters = "Shows the practice's skill mix: how much care other clinicians provide."
source = "GP appointments data, practice level (NHS England)"
caveats = "Depends on how practices map staff roles to HCP types."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["access", "workforce", "monthly"]
min_denominator = 100
*/
SELECT
    practice_code,
    month AS period,
    SUM(CASE WHEN hcp_type = 'GP' THEN appointments ELSE 0 END) AS numerator,
    SUM(appointments) AS denominator
FROM appointments
GROUP BY practice_code, month
