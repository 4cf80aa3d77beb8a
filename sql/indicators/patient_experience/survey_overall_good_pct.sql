/*
id = "survey_overall_good_pct"
title = "Patients describing their experience of the practice as good"
numerator = "Respondents answering 'very good' or 'fairly good' to the overall experience question"
denominator = "Respondents to the question"
domain = "patient_experience"
value_type = "proportion"
polarity = "high_is_good"
definition = "GP Patient Survey: percentage of respondents describing their overall experience of the practice as good."
why_it_matters = "The single best summary of how patients experience their practice."
source = "GP Patient Survey (Ipsos for NHS England), practice results"
caveats = "Unweighted here; results from fewer than 10 responses are suppressed at source and not compared."
owner = "Federation analytics team"
tags = ["survey", "annual"]
min_denominator = 10
*/
SELECT practice_code, period, positive AS numerator, responses AS denominator
FROM survey_results
WHERE question_id = 'Q90'
