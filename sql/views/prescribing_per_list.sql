-- Prescribing groups per practice and month joined to the registered list,
-- for per-patient prescribing rates. A practice-month with no EPD rows gets
-- zero items: the EPD has no rows for nothing prescribed, so that zero is
-- real (it is not a suppressed count). Only months the EPD covers.
SELECT
    l.practice_code,
    l.month,
    l.patients,
    COALESCE(g.antibiotic_items, 0) AS antibiotic_items,
    COALESCE(g.broad_spectrum_items, 0) AS broad_spectrum_items,
    COALESCE(g.opioid_items, 0) AS opioid_items,
    COALESCE(g.hypnotic_items, 0) AS hypnotic_items,
    COALESCE(g.statin_items, 0) AS statin_items,
    COALESCE(g.strong_opioid_items, 0) AS strong_opioid_items,
    COALESCE(g.all_items, 0) AS all_items,
    COALESCE(g.actual_cost, 0) AS actual_cost
FROM practice_list AS l
LEFT JOIN prescribing_groups AS g ON g.practice_code = l.practice_code AND g.month = l.month
WHERE l.month IN (SELECT DISTINCT month FROM prescribing)
