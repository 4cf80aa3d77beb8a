#!/usr/bin/env python3
"""Checks peerbench's published results table against implementations it did
not write:

* DuckDB recomputes numerators and denominators straight from the raw sample
  CSVs (not from peerbench's warehouse);
* statsmodels (Wilson) and scipy (exact Poisson via chi-square, Byar with
  norm.ppf) recompute every confidence interval;
* DuckDB window and aggregate functions recompute the pooled benchmarks, peer
  medians (quantile_cont = type 7) and percent ranks (percent_rank).

Usage: check_results.py RESULTS_CSV SAMPLE_DIR
"""
import math
import pathlib
import sys
import tomllib

import duckdb
from scipy.stats import chi2, norm
from statsmodels.stats.proportion import proportion_confint

REPO = pathlib.Path(__file__).resolve().parents[2]
results_csv, data = sys.argv[1], pathlib.Path(sys.argv[2])
failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 20:
        print("FAIL:", msg)


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(1.0, abs(b))


# Indicator metadata from the SQL files' TOML headers.
meta = {}
for path in (REPO / "sql" / "indicators").rglob("*.sql"):
    text = path.read_text()
    header = tomllib.loads(text[text.index("/*") + 2 : text.index("*/")])
    default = {"proportion": 100.0, "rate": 1000.0, "ratio": 1.0}[header["value_type"]]
    meta[header["id"]] = (header["value_type"], float(header.get("multiplier", default)), header["polarity"])

con = duckdb.connect()
con.execute(
    f"""CREATE VIEW results AS SELECT * FROM read_csv('{results_csv}', header = true,
        types = {{'period': 'VARCHAR', 'practice_code': 'VARCHAR', 'peer_group_key': 'VARCHAR',
                 'not_compared_reason': 'VARCHAR', 'comparison': 'VARCHAR'}})"""
)
total = con.execute("SELECT count(*) FROM results").fetchone()[0]
assert total > 0, "empty results table"

# --- 1. Numerators and denominators from the raw extracts ---------------------
d = str(data)
con.execute(f"""CREATE VIEW appts AS SELECT GP_CODE AS practice_code,
    strftime(strptime(APPOINTMENT_MONTH_START_DATE, '%d%b%Y'), '%Y-%m') AS period,
    APPT_STATUS AS status, COUNT_OF_APPOINTMENTS AS n
    FROM read_csv('{d}/appointments/*.csv', header = true)""")
con.execute(f"""CREATE VIEW reg AS SELECT ORG_CODE AS practice_code,
    strftime(strptime(EXTRACT_DATE, '%d%b%Y'), '%Y-%m') AS period,
    sum(NUMBER_OF_PATIENTS) AS patients,
    sum(CASE WHEN AGE_GROUP_5 IN ('65_69','70_74','75_79','80_84','85_89','90_94','95+') THEN NUMBER_OF_PATIENTS ELSE 0 END) AS p65
    FROM read_csv('{d}/registered_patients/*.csv', header = true) GROUP BY ALL""")
con.execute(f"""CREATE VIEW rx AS SELECT PRACTICE_CODE AS practice_code,
    substr(CAST(YEAR_MONTH AS VARCHAR), 1, 4) || '-' || substr(CAST(YEAR_MONTH AS VARCHAR), 5, 2) AS period,
    sum(CASE WHEN BNF_CODE LIKE '0501%' THEN ITEMS ELSE 0 END) AS antibiotics,
    sum(CASE WHEN BNF_CHEMICAL_SUBSTANCE = '0501013K0' OR BNF_CODE LIKE '050102%' OR BNF_CODE LIKE '050112%' THEN ITEMS ELSE 0 END) AS broad
    FROM read_csv('{d}/prescribing/*.csv', header = true, types = {{'BNF_CODE': 'VARCHAR', 'BNF_CHEMICAL_SUBSTANCE': 'VARCHAR'}}) GROUP BY ALL""")
oracles = {
    "dna_rate": """SELECT practice_code, period, sum(CASE WHEN status = 'DNA' THEN n ELSE 0 END) AS num,
                   sum(CASE WHEN status IN ('Attended', 'DNA') THEN n ELSE 0 END) AS den FROM appts GROUP BY ALL""",
    "appointments_per_1000": """SELECT a.practice_code, a.period, sum(a.n) AS num, any_value(r.patients) AS den
                   FROM appts a JOIN reg r USING (practice_code, period) GROUP BY ALL""",
    "pct_aged_65_plus": "SELECT practice_code, period, p65 AS num, patients AS den FROM reg",
    "antibiotic_items_per_1000": """SELECT practice_code, period, antibiotics AS num, r.patients AS den
                   FROM rx JOIN reg r USING (practice_code, period)""",
    "broad_spectrum_antibiotic_pct": "SELECT practice_code, period, broad AS num, antibiotics AS den FROM rx",
    "qof_hyp008_pct": f"""SELECT PRACTICE_CODE AS practice_code, REPORTING_YEAR AS period,
                   max(CASE WHEN MEASURE = 'NUMERATOR' THEN VALUE END) AS num,
                   max(CASE WHEN MEASURE = 'DENOMINATOR' THEN VALUE END) AS den
                   FROM read_csv('{d}/qof/*.csv', header = true) WHERE INDICATOR_CODE = 'HYP008' GROUP BY ALL""",
    "survey_overall_good_pct": f"""SELECT PRACTICE_CODE AS practice_code, CAST(SURVEY_YEAR AS VARCHAR) AS period,
                   TRY_CAST(POSITIVE AS BIGINT) AS num, RESPONSES AS den
                   FROM read_csv('{d}/survey/*.csv', header = true, all_varchar = true) WHERE QUESTION_ID = 'Q90'""",
}
checked_nd = 0
for ind, sql in oracles.items():
    expected = {(r[0], r[1]): (r[2], r[3]) for r in con.execute(sql).fetchall()}
    got = {
        (r[0], r[1]): (r[2], r[3])
        for r in con.execute(
            "SELECT practice_code, period, numerator, denominator FROM results WHERE indicator_id = ? AND peer_group = 'federation'",
            [ind],
        ).fetchall()
    }
    if set(expected) != set(got):
        fail(f"{ind}: practice-periods differ: only in DuckDB {sorted(set(expected) - set(got))[:3]}, only in peerbench {sorted(set(got) - set(expected))[:3]}")
    for key, (num, den) in expected.items():
        g = got.get(key)
        if g is None:
            continue
        gn, gd = g
        en = None if num is None else float(num)
        if (en is None) != (gn is None or (isinstance(gn, float) and math.isnan(gn))) or (en is not None and en != gn) or float(den) != gd:
            fail(f"{ind} {key}: DuckDB {num}/{den}, peerbench {gn}/{gd}")
        checked_nd += 1

# --- 2. Intervals from statsmodels and scipy ----------------------------------
rows = con.execute(
    """SELECT indicator_id, practice_code, period, peer_group, numerator, denominator, value,
              lower_95, upper_95, lower_998, upper_998, benchmark, comparison, comparison_998
       FROM results WHERE value IS NOT NULL"""
).fetchall()


def rate_limits(o, alpha):
    if o < 10:
        lo = 0.0 if o == 0 else chi2.ppf(alpha / 2, 2 * o) / 2
        return lo, chi2.ppf(1 - alpha / 2, 2 * o + 2) / 2
    z = norm.ppf(1 - alpha / 2)
    lo = o * (1 - 1 / (9 * o) - z / (3 * math.sqrt(o))) ** 3
    o1 = o + 1
    return lo, o1 * (1 - 1 / (9 * o1) + z / (3 * math.sqrt(o1))) ** 3


def judge(lo, hi, b, polarity):
    if lo <= b <= hi:
        return "similar"
    higher = lo > b
    if polarity == "no_judgement":
        return "higher" if higher else "lower"
    good = higher == (polarity == "high_is_good")
    return "better" if good else "worse"


for ind, code, period, group, num, den, value, l95, u95, l998, u998, bench, comp, comp998 in rows:
    vtype, mult, polarity = meta[ind]
    if not close(value, num / den * mult):
        fail(f"{ind} {code} {period}: value {value} != {num}/{den}×{mult}")
    for alpha, lo, hi in ((0.05, l95, u95), (0.002, l998, u998)):
        if vtype == "proportion":
            elo, ehi = proportion_confint(num, den, alpha=alpha, method="wilson")
            elo, ehi = elo * mult, ehi * mult
        else:
            elo, ehi = rate_limits(num, alpha)
            elo, ehi = elo / den * mult, ehi / den * mult
        if not (close(lo, elo, 1e-8) and close(hi, ehi, 1e-8)):
            fail(f"{ind} {code} {period} α={alpha}: peerbench ({lo}, {hi}), oracle ({elo}, {ehi})")
    if comp != "not_compared" and bench is not None:
        if judge(l95, u95, bench, polarity) != comp:
            fail(f"{ind} {code} {period} {group}: comparison {comp}, expected {judge(l95, u95, bench, polarity)}")
        if judge(l998, u998, bench, polarity) != comp998:
            fail(f"{ind} {code} {period} {group}: comparison_998 {comp998}")

# --- 3. Benchmarks, medians and percent ranks, by DuckDB -------------------------
mult_table = ", ".join(f"('{k}', {v[1]})" for k, v in meta.items())
con.execute(f"CREATE VIEW mult(indicator_id, m) AS VALUES {mult_table}")
bad = con.execute(
    """WITH valued AS (SELECT * FROM results WHERE value IS NOT NULL),
       g AS (SELECT indicator_id, period, peer_group, peer_group_key,
                    sum(numerator) / sum(denominator) AS pooled, quantile_cont(value, 0.5) AS median
             FROM valued GROUP BY ALL),
       ranked AS (SELECT *, 100 * percent_rank() OVER (PARTITION BY indicator_id, period, peer_group, peer_group_key ORDER BY value) AS pr
             FROM valued)
       SELECT r.indicator_id, r.practice_code, r.period, r.peer_group, r.benchmark, g.pooled * m.m, r.peer_median, g.median, r.percentile_rank, r.pr
       FROM ranked r JOIN g USING (indicator_id, period, peer_group, peer_group_key) JOIN mult m USING (indicator_id)
       WHERE abs(r.benchmark - g.pooled * m.m) > 1e-9 * greatest(1, abs(r.benchmark))
          OR abs(r.peer_median - g.median) > 1e-9 * greatest(1, abs(g.median))
          OR abs(r.percentile_rank - r.pr) > 1e-9"""
).fetchall()
for b in bad[:20]:
    fail(f"benchmark/median/rank differ: {b}")
if bad:
    fail(f"{len(bad)} rows with benchmark, median or rank differences")

if failures:
    print(f"{len(failures)} oracle failures")
    sys.exit(1)
print(f"oracle checks passed: {checked_nd} numerator/denominator pairs from raw CSVs, {len(rows)} intervals and comparisons, benchmarks/medians/ranks over {total} rows")
