-- Emergency admissions and registered patients by practice, month, sex and
-- ESP 2013 age band: the strata of the standardised admission indicators.
-- Only practice-months the admissions extract covers; a band the extract
-- lists with no admissions is a true zero, and a suppressed band stays
-- missing (a sum over a missing count is missing, never a smaller number).
WITH admitted AS (
    SELECT
        practice_code,
        month,
        CASE WHEN upper(sex) IN ('M', 'MALE') THEN 'male' WHEN upper(sex) IN ('F', 'FEMALE') THEN 'female' ELSE lower(sex) END AS sex,
        CASE WHEN age_band IN ('90_94', '95+') THEN '90+' ELSE replace(age_band, '_', '-') END AS age_band,
        admissions
    FROM emergency_admissions
),
banded AS (
    SELECT
        practice_code,
        month,
        sex,
        age_band,
        CASE WHEN count(admissions) = count(*) THEN sum(admissions) END AS admissions
    FROM admitted
    GROUP BY practice_code, month, sex, age_band
),
covered AS (
    SELECT DISTINCT practice_code, month FROM emergency_admissions
)
SELECT
    p.practice_code,
    p.month,
    p.sex,
    p.age_band,
    CASE WHEN b.practice_code IS NULL THEN 0 ELSE b.admissions END AS admissions,
    p.patients
FROM esp_population AS p
JOIN covered AS c ON c.practice_code = p.practice_code AND c.month = p.month
LEFT JOIN banded AS b
    ON b.practice_code = p.practice_code AND b.month = p.month
    AND b.sex = p.sex AND b.age_band = p.age_band
