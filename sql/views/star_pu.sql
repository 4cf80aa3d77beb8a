-- STAR-PU (Specific Therapeutic group Age-sex Related Prescribing Units) for
-- oral antibacterials (BNF 5.1), by practice and month: each registered
-- patient counts by the weight of their age and sex, so a list with many
-- young children or older people (who are prescribed more antibiotics) gets a
-- bigger denominator. Weights are the 2013 STAR-PU for oral antibacterial
-- items, as OpenPrescribing uses them; bands 0-4, 5-14, 15-24, …, 65-74, 75+.
-- Weights are held in tenths and summed as whole numbers: a floating-point
-- sum depends on the order the engine adds rows in, which varies between
-- runs, and published numbers must be the same every time.
WITH weights (sex, first_age, last_age, weight_tenths) AS (
    VALUES
        ('MALE', 0, 4, 8), ('MALE', 5, 14, 3), ('MALE', 15, 24, 3),
        ('MALE', 25, 34, 2), ('MALE', 35, 44, 3), ('MALE', 45, 54, 3),
        ('MALE', 55, 64, 5), ('MALE', 65, 74, 7), ('MALE', 75, 200, 10),
        ('FEMALE', 0, 4, 8), ('FEMALE', 5, 14, 4), ('FEMALE', 15, 24, 6),
        ('FEMALE', 25, 34, 6), ('FEMALE', 35, 44, 6), ('FEMALE', 45, 54, 6),
        ('FEMALE', 55, 64, 7), ('FEMALE', 65, 74, 10), ('FEMALE', 75, 200, 13)
),
banded AS (
    SELECT
        practice_code,
        extract_date AS month,
        CASE WHEN upper(sex) IN ('M', 'MALE') THEN 'MALE' ELSE 'FEMALE' END AS sex,
        -- The band's first year of age: '0_4' → 0, '95+' → 95.
        CAST(split_part(replace(age_band, '+', ''), '_', 1) AS INT) AS first_age,
        patients
    FROM registered_patients
)
SELECT
    b.practice_code,
    b.month,
    CAST(SUM(b.patients * w.weight_tenths) AS DOUBLE) / 10.0 AS antibacterial_star_pu
FROM banded AS b
JOIN weights AS w ON w.sex = b.sex AND b.first_age BETWEEN w.first_age AND w.last_age
GROUP BY b.practice_code, b.month
