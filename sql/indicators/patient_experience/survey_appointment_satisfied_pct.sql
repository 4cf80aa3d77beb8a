/*
id = "survey_appointment_satisfied_pct"
title = "Patients satisfied with the appointment offered"
numerator = "Respondents who were satisfied with the appointment (or appointments) offered"
denominator = "Respondents to the question"
domain = "patient_experience"
value_type = "proportion"
polarity = "high_is_good"
definition = "GP Patient Survey: percentage of respondents satisfied with the appointment they were offered."
why_it_matters = "Measures whether access meets patients' needs, not just its volume."
source = "GP Patient Survey (Ipsos for NHS England), practice results"
caveats = "Unweighted here; results from fewer than 10 responses are suppressed at source and not compared."
owner = "Federation analytics team"
reviewed = "2026-10-01"
next_review = "2027-10-01"
tags = ["survey", "annual"]
min_denominator = 10
*/
SELECT practice_code, period, positive AS numerator, responses AS denominator
FROM survey_results
WHERE question_id = 'Q16'
