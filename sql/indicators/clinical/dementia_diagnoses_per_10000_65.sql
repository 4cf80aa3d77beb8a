/*
id = "dementia_diagnoses_per_10000_65"
title = "New dementia diagnoses per 10,000 patients aged 65+"
numerator = "New dementia diagnoses recorded in the month"
denominator = "Registered patients aged 65 and over"
domain = "clinical"
value_type = "rate"
multiplier = 10000
units = "per 10,000 patients aged 65+ per month"
polarity = "no_judgement"
definition = "New dementia diagnoses in the month per 10,000 registered patients aged 65 and over."
why_it_matters = "Timely diagnosis gives access to support; very low rates can mean under-diagnosis."
source = "Clinical-system search DEM_NEW (EMIS Web and SystmOne exports)"
caveats = "Small numbers: counts of 1 to 4 are suppressed at source and such months are not compared."
owner = "Federation analytics team"
tags = ["dementia", "monthly", "clinical search", "small numbers"]
min_denominator = 200
*/
SELECT practice_code, period, numerator, denominator
FROM clinical_search_monthly
WHERE search_code = 'DEM_NEW'
