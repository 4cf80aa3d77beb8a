-- Registered patients in the 19 bands of the 2013 European Standard
-- Population (0-4 … 85-89, 90+) by practice, month and sex, for standardised
-- rates: NHS Digital's 90_94 and 95+ fold into 90+, 0_4 becomes 0-4, and
-- MALE/FEMALE become male/female.
SELECT
    practice_code,
    extract_date AS month,
    CASE WHEN upper(sex) IN ('M', 'MALE') THEN 'male' WHEN upper(sex) IN ('F', 'FEMALE') THEN 'female' ELSE lower(sex) END AS sex,
    CASE WHEN age_band IN ('90_94', '95+') THEN '90+' ELSE replace(age_band, '_', '-') END AS age_band,
    SUM(patients) AS patients
FROM registered_patients
GROUP BY
    practice_code,
    extract_date,
    CASE WHEN upper(sex) IN ('M', 'MALE') THEN 'male' WHEN upper(sex) IN ('F', 'FEMALE') THEN 'female' ELSE lower(sex) END,
    CASE WHEN age_band IN ('90_94', '95+') THEN '90+' ELSE replace(age_band, '_', '-') END
