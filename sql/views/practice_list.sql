-- Registered patients per practice and month, with the age groups indicators
-- use as denominators. One row per practice per extract month.
SELECT
    practice_code,
    extract_date AS month,
    SUM(patients) AS patients,
    SUM(CASE WHEN age_band IN ('65_69', '70_74', '75_79', '80_84', '85_89', '90_94', '95+') THEN patients ELSE 0 END) AS patients_65_plus,
    SUM(CASE WHEN age_band IN ('75_79', '80_84', '85_89', '90_94', '95+') THEN patients ELSE 0 END) AS patients_75_plus,
    SUM(CASE WHEN age_band IN ('0_4', '5_9', '10_14', '15_19') THEN patients ELSE 0 END) AS patients_under_20
FROM registered_patients
GROUP BY practice_code, extract_date
