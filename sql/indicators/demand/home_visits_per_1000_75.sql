/*
id = "home_visits_per_1000_75"
title = "Home visits per 1,000 patients aged 75+"
numerator = "Appointments with mode Home Visit in the month"
denominator = "Registered patients aged 75 and over"
domain = "demand"
value_type = "rate"
multiplier = 1000
units = "per 1,000 patients aged 75+ per month"
polarity = "no_judgement"
definition = "Home-visit appointments in the month per 1,000 registered patients aged 75 and over."
why_it_matters = "Home visits are how housebound older patients get care; large differences deserve a look."
source = "GP appointments data (NHS England); registered patients (NHS England)"
caveats = "Home visits are not only for older patients; the denominator is a proxy for need."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["older people", "access", "monthly"]
seasonal = true
min_denominator = 50
*/
SELECT
    a.practice_code,
    a.month AS period,
    SUM(CASE WHEN a.appt_mode = 'Home Visit' THEN a.appointments ELSE 0 END) AS numerator,
    MAX(l.patients_75_plus) AS denominator
FROM appointments AS a
JOIN practice_list AS l ON l.practice_code = a.practice_code AND l.month = a.month
GROUP BY a.practice_code, a.month
