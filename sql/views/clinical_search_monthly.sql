-- Clinical-system search exports by month: the period end (dd/mm/yyyy in the
-- exports) becomes the month it ends, the grain of the other monthly sources.
SELECT
    practice_code,
    CAST(date_trunc('month', period_end) AS DATE) AS period,
    search_code,
    numerator,
    denominator
FROM clinical_searches
