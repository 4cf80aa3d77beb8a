/*
id = "survey_phone_easy_pct"
title = "Patients finding it easy to get through by phone"
numerator = "Respondents answering 'very easy' or 'fairly easy' to the phone access question"
denominator = "Respondents to the question"
domain = "patient_experience"
value_type = "proportion"
polarity = "high_is_good"
definition = "GP Patient Survey: percentage of respondents who find it easy to get through to the practice on the phone."
why_it_matters = "Phone access is the commonest complaint about general practice."
source = "GP Patient Survey (Ipsos for NHS England), practice results"
caveats = "Unweighted here; results from fewer than 10 responses are suppressed at source and not compared."
owner = "Federation analytics team"
tags = ["survey", "annual"]
min_denominator = 10
*/
SELECT practice_code, period, positive AS numerator, responses AS denominator
FROM survey_results
WHERE question_id = 'Q1'
