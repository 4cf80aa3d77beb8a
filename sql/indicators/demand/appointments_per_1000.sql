/*
id = "appointments_per_1000"
title = "Appointments per 1,000 patients"
numerator = "Appointments in the month (all staff, all modes, all outcomes)"
denominator = "Registered patients at the start of the month"
domain = "demand"
value_type = "rate"
multiplier = 1000
units = "per 1,000 patients per month"
polarity = "no_judgement"
definition = "GP appointments data (GPAD) appointments in the month per 1,000 registered patients."
why_it_matters = "Shows how much care the practice provides relative to its list; very low values can mean access problems, very high values pressure."
source = "GP appointments data, practice level (NHS England); registered patients (NHS England)"
caveats = "Depends on how practices map their appointment slots; not age-standardised, so practices with older lists will tend to be higher."
owner = "Federation analytics team"
tags = ["access", "monthly"]
seasonal = true
min_denominator = 500
*/
SELECT
    a.practice_code,
    a.month AS period,
    SUM(a.appointments) AS numerator,
    MAX(l.patients) AS denominator
FROM appointments AS a
JOIN practice_list AS l ON l.practice_code = a.practice_code AND l.month = a.month
GROUP BY a.practice_code, a.month
