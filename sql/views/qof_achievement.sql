-- QOF achievement pivoted from the long format (one row per measure) to one
-- row per practice, year and indicator, with the practice's list in March of
-- that financial year (for prevalence).
WITH pivoted AS (
    SELECT
        practice_code,
        reporting_year,
        indicator_code,
        MAX(CASE WHEN measure = 'NUMERATOR' THEN value END) AS numerator,
        MAX(CASE WHEN measure = 'DENOMINATOR' THEN value END) AS denominator,
        MAX(CASE WHEN measure = 'REGISTER' THEN value END) AS register,
        MAX(CASE WHEN measure = 'PCAS' THEN value END) AS pcas
    FROM qof
    GROUP BY practice_code, reporting_year, indicator_code
)
SELECT
    q.practice_code,
    q.reporting_year,
    q.indicator_code,
    q.numerator,
    q.denominator,
    q.register,
    q.pcas,
    l.patients AS list_in_march
FROM pivoted AS q
LEFT JOIN practice_list AS l
    ON l.practice_code = q.practice_code
    AND l.month = CAST('20' || substr(q.reporting_year, 6, 2) || '-03-01' AS DATE)
