/*
id = "face_to_face_pct"
title = "Appointments held face to face"
numerator = "Appointments with mode Face-to-Face"
denominator = "All appointments with a recorded mode"
domain = "demand"
value_type = "proportion"
polarity = "no_judgement"
definition = "Percentage of the month's appointments that were face to face."
why_it_matters = "Shows how each practice balances face-to-face and remote care."
source = "GP appointments data, practice level (NHS England)"
caveats = "Mode recording differs between practices; neither more nor less is better in itself."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["access", "monthly"]
min_denominator = 100
*/
SELECT
    practice_code,
    month AS period,
    SUM(CASE WHEN appt_mode = 'Face-to-Face' THEN appointments ELSE 0 END) AS numerator,
    SUM(appointments) AS denominator
FROM appointments
GROUP BY practice_code, month
