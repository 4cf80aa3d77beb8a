-- Descriptors for similar-practice peer groups: one row per practice, from
-- the register and its latest registered list. Numeric columns only (besides
-- practice_code); the pipeline's [[peer_group]] of kind "similar" picks and
-- weights them, and every report publishes the weights.
WITH latest AS (
    SELECT practice_code, max(month) AS month FROM practice_list GROUP BY practice_code
)
SELECT
    r.practice_code,
    CAST(l.patients AS DOUBLE) AS list_size,
    100.0 * l.patients_65_plus / l.patients AS pct_65_plus,
    100.0 * l.patients_under_20 / l.patients AS pct_under_20,
    r.imd_score,
    CASE WHEN r.rurality = 'Rural' THEN 1.0 ELSE 0.0 END AS rural
FROM practices AS r
JOIN latest ON latest.practice_code = r.practice_code
JOIN practice_list AS l ON l.practice_code = latest.practice_code AND l.month = latest.month
