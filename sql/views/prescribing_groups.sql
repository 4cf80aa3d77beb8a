-- Prescribing by the BNF groupings the prescribing indicators share, in the
-- OpenPrescribing style: antibacterials are BNF section 5.1; "broad-spectrum"
-- is co-amoxiclav, cephalosporins and quinolones; opioid analgesics are
-- 4.7.2; hypnotics are 4.1.1; statins are the chemicals of BNF 2.12
-- (0212000) named for one (atorvastatin, simvastatin, rosuvastatin,
-- pravastatin, fluvastatin, and simvastatin with ezetimibe; not ezetimibe
-- alone or a fibrate; the paragraph keeps nystatin out); strong opioids are
-- morphine, oxycodone and fentanyl (0407020Q0, 0407020P0, 0407020A0).
SELECT
    practice_code,
    month,
    SUM(CASE WHEN bnf_code LIKE '0501%' THEN items ELSE 0 END) AS antibiotic_items,
    SUM(CASE WHEN chemical_code = '0501013K0' OR bnf_code LIKE '050102%' OR bnf_code LIKE '050112%' THEN items ELSE 0 END) AS broad_spectrum_items,
    SUM(CASE WHEN bnf_code LIKE '040702%' THEN items ELSE 0 END) AS opioid_items,
    SUM(CASE WHEN bnf_code LIKE '040101%' THEN items ELSE 0 END) AS hypnotic_items,
    SUM(CASE WHEN chemical_code LIKE '0212000%' AND lower(chemical) LIKE '%statin%' THEN items ELSE 0 END) AS statin_items,
    SUM(CASE WHEN chemical_code IN ('0407020Q0', '0407020P0', '0407020A0') THEN items ELSE 0 END) AS strong_opioid_items,
    SUM(items) AS all_items,
    -- Summed as decimals: a floating-point sum changes in its last digits
    -- with the order rows arrive in, and reruns must agree exactly.
    CAST(SUM(CAST(actual_cost AS DECIMAL(20, 4))) AS DOUBLE) AS actual_cost
FROM prescribing
GROUP BY practice_code, month
