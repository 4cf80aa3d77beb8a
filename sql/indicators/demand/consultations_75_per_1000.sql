/*
id = "consultations_75_per_1000"
title = "Patients aged 75+ seen in the month, per 1,000 aged 75+"
numerator = "Registered patients aged 75 and over with a consultation in the month"
denominator = "Registered patients aged 75 and over"
domain = "demand"
value_type = "rate"
multiplier = 1000
units = "per 1,000 patients aged 75+"
polarity = "no_judgement"
definition = "Patients aged 75 and over who had at least one consultation in the month, per 1,000 registered patients aged 75 and over, from the federation's clinical-system search."
why_it_matters = "One Care practices found large differences in how often older patients are seen; this shows where the practice stands."
source = "Clinical-system search CONS75 (EMIS Web and SystmOne exports)"
caveats = "Search definitions differ slightly between clinical systems."
owner = "Federation analytics team"
tags = ["older people", "monthly", "clinical search"]
seasonal = true
min_denominator = 100
*/
SELECT practice_code, period, numerator, denominator
FROM clinical_search_monthly
WHERE search_code = 'CONS75'
