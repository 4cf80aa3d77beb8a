/*
id = "medication_review_pct"
title = "Structured medication reviews for patients on 10+ medicines"
numerator = "Patients on 10 or more repeat medicines with a structured medication review in the last 12 months"
denominator = "Patients on 10 or more repeat medicines"
domain = "clinical"
value_type = "proportion"
polarity = "high_is_good"
definition = "Percentage of patients on ten or more repeat medicines who had a structured medication review in the preceding 12 months, at each month end."
why_it_matters = "Polypharmacy causes avoidable harm; structured reviews are the main tool to reduce it."
source = "Clinical-system search SMR (EMIS Web and SystmOne exports)"
caveats = "Rolling 12-month measure, so month-to-month changes are smoothed."
owner = "Federation analytics team"
tags = ["medicines safety", "monthly", "clinical search"]
min_denominator = 30
*/
SELECT practice_code, period, numerator, denominator
FROM clinical_search_monthly
WHERE search_code = 'SMR'
