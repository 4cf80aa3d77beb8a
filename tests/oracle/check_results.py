#!/usr/bin/env python3
"""Checks peerbench's published results table against implementations it did
not write:

* DuckDB recomputes numerators and denominators straight from the raw sample
  CSVs (not from peerbench's warehouse);
* statsmodels (Wilson) and scipy (exact Poisson via chi-square, Byar with
  norm.ppf) recompute every confidence interval;
* DuckDB window and aggregate functions recompute the pooled benchmarks, peer
  medians (quantile_cont = type 7) and percent ranks (percent_rank);
* the age-standardised indicators are rebuilt from the raw admissions and
  registered-patient files: the DSR by Dobson's method with the ESP 2013
  weights typed in here, the ISR's expected counts from the federation's
  rates by band, and the STAR-PU denominator from the 2013 weights;
* numpy's least squares refits the seasonal index of each `seasonal = true`
  indicator (12 calendar-month means and a slope, then centred), and the
  XmR charts of those indicators are recomputed on value ÷ that index.

The funnels' φ is checked as the pipeline's `[statistics] phi` says:
"consistent" (the default) divides FunnelPlotR's winsorised φ by E[W²] for a
standard normal W winsorised at its 10th and 90th percentiles, computed
here from scipy's normal distribution; "winsorised" is FunnelPlotR's as it is.

Usage: check_results.py RESULTS_CSV SAMPLE_DIR [consistent|winsorised]
"""
import math
import pathlib
import sys
import tomllib

import duckdb
import numpy as np
from scipy.stats import binom, chi2, norm, poisson
from statsmodels.stats.proportion import proportion_confint

REPO = pathlib.Path(__file__).resolve().parents[2]
results_csv, data = sys.argv[1], pathlib.Path(sys.argv[2])
phi_estimator = sys.argv[3] if len(sys.argv) > 3 else "consistent"
assert phi_estimator in ("consistent", "winsorised"), phi_estimator
_a = norm.ppf(0.9)
WINSORISED_NORMAL_MEAN_SQUARE = 0.8 - 2 * _a * norm.pdf(_a) + 0.2 * _a * _a
failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 20:
        print("FAIL:", msg)


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(1.0, abs(b))


# Indicator metadata from the SQL files' TOML headers.
meta = {}
seasonal = set()
for path in (REPO / "sql" / "indicators").rglob("*.sql"):
    text = path.read_text()
    header = tomllib.loads(text[text.index("/*") + 2 : text.index("*/")])
    default = {"proportion": 100.0, "rate": 1000.0, "ratio": 1.0, "dsr": 100000.0, "isr": 100.0}[header["value_type"]]
    meta[header["id"]] = (header["value_type"], float(header.get("multiplier", default)), header["polarity"])
    if header.get("seasonal", False):
        seasonal.add(header["id"])

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
# Age-standardised: admissions and patients by practice, month, sex and ESP band.
con.execute(f"""CREATE VIEW pop_esp AS SELECT ORG_CODE AS practice_code,
    strftime(strptime(EXTRACT_DATE, '%d%b%Y'), '%Y-%m') AS period, lower(SEX)[1] AS sex,
    least(CAST(split_part(replace(AGE_GROUP_5, '+', ''), '_', 1) AS INT) // 5, 18) AS band,
    sum(NUMBER_OF_PATIENTS) AS n
    FROM read_csv('{d}/registered_patients/*.csv', header = true) GROUP BY ALL""")
con.execute(f"""CREATE VIEW adm_esp AS SELECT REGISTERED_PRACTICE_CODE AS practice_code,
    substr(CAST(ADMISSION_MONTH AS VARCHAR), 1, 4) || '-' || substr(CAST(ADMISSION_MONTH AS VARCHAR), 5, 2) AS period,
    lower(SEX) AS sex, least(CAST(split_part(replace(AGE_BAND, '+', ''), '_', 1) AS INT) // 5, 18) AS band,
    sum(EMERGENCY_ADMISSIONS) AS o
    FROM read_csv('{d}/admissions/*.csv', header = true) GROUP BY ALL""")
con.execute("""CREATE TABLE strata AS SELECT p.practice_code, p.period, p.sex, p.band, coalesce(a.o, 0) AS o, p.n
    FROM pop_esp p JOIN (SELECT DISTINCT practice_code, period FROM adm_esp) c USING (practice_code, period)
    LEFT JOIN adm_esp a USING (practice_code, period, sex, band)""")
# The reference rates of an ISR are every practice in the register's.
con.execute(f"""CREATE VIEW registered AS SELECT PRACTICE_CODE AS practice_code FROM read_csv('{d}/practices.csv', header = true)""")
con.execute("""CREATE VIEW ref_rates AS SELECT period, sex, band, sum(o) / sum(n) AS rate
    FROM strata WHERE practice_code IN (SELECT practice_code FROM registered) GROUP BY ALL""")
esp = [5000, 5500, 5500, 5500, 6000, 6000, 6500, 7000, 7000, 7000, 7000, 6500, 6000, 5500, 5000, 4000, 2500, 1500, 1000]
con.execute("CREATE VIEW esp(band, w) AS VALUES " + ", ".join(f"({i}, {w})" for i, w in enumerate(esp)))
oracles["emergency_admissions_dsr"] = "SELECT practice_code, period, sum(o) AS num, sum(n) AS den FROM strata GROUP BY ALL"
oracles["emergency_admissions_isr"] = """SELECT s.practice_code, s.period, sum(s.o) AS num, sum(s.n * r.rate) AS den
    FROM strata s JOIN ref_rates r USING (period, sex, band) GROUP BY ALL"""
# STAR-PU 2013, oral antibacterials: (sex, first age, last age, weight).
star_pu = [("m", 0, 4, 0.8), ("m", 5, 14, 0.3), ("m", 15, 24, 0.3), ("m", 25, 34, 0.2), ("m", 35, 44, 0.3),
           ("m", 45, 54, 0.3), ("m", 55, 64, 0.5), ("m", 65, 74, 0.7), ("m", 75, 999, 1.0),
           ("f", 0, 4, 0.8), ("f", 5, 14, 0.4), ("f", 15, 24, 0.6), ("f", 25, 34, 0.6), ("f", 35, 44, 0.6),
           ("f", 45, 54, 0.6), ("f", 55, 64, 0.7), ("f", 65, 74, 1.0), ("f", 75, 999, 1.3)]
con.execute("CREATE VIEW star_pu_w(sex, lo, hi, w) AS VALUES " + ", ".join(f"('{a}', {b}, {c}, {w})" for a, b, c, w in star_pu))
oracles["antibiotic_items_per_star_pu"] = f"""WITH pu AS (
        SELECT ORG_CODE AS practice_code, strftime(strptime(EXTRACT_DATE, '%d%b%Y'), '%Y-%m') AS period,
               sum(NUMBER_OF_PATIENTS * w.w) AS star_pu
        FROM read_csv('{d}/registered_patients/*.csv', header = true) r
        JOIN star_pu_w w ON w.sex = lower(r.SEX)[1]
         AND CAST(split_part(replace(r.AGE_GROUP_5, '+', ''), '_', 1) AS INT) BETWEEN w.lo AND w.hi
        GROUP BY ALL)
    SELECT practice_code, period, coalesce(rx.antibiotics, 0) AS num, pu.star_pu AS den
    FROM pu LEFT JOIN rx USING (practice_code, period) WHERE period IN (SELECT DISTINCT period FROM rx)"""

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
        if (en is None) != (gn is None or (isinstance(gn, float) and math.isnan(gn))) or (en is not None and en != gn) or not close(float(den), gd):
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


# Dobson's DSR with scipy's chi-square and normal quantiles, from the raw strata.
dsr_oracle = {}
for code, period, sex_band in con.execute(
    """SELECT practice_code, period, list((o, n, w) ORDER BY sex, band) FROM strata JOIN esp USING (band) GROUP BY ALL"""
).fetchall():
    O = np.array([x[0] for x in sex_band], float)
    n = np.array([x[1] for x in sex_band], float)
    w = np.array([x[2] for x in sex_band], float)
    total_w = sum(esp) * 2  # both sexes, every band (missing bands are empty, not unweighted)
    ok = n > 0
    value = (w[ok] * O[ok] / n[ok]).sum() / total_w * 1e5
    var = (O[ok] * (w[ok] / n[ok]) ** 2).sum() / total_w**2
    o = O.sum()
    lims = {}
    for alpha in (0.05, 0.002):
        ol, ou = rate_limits(o, alpha)
        k = math.sqrt(var / o) * 1e5 if o > 0 else 0.0
        lims[alpha] = (value + k * (ol - o), value + k * (ou - o))
    dsr_oracle[(code, period)] = (o, value, lims)
dsr_checked = 0
for ind, code, period, group, num, den, value, l95, u95, l998, u998, bench, comp, comp998 in rows:
    vtype, mult, polarity = meta[ind]
    if vtype == "dsr":
        o, ev, lims = dsr_oracle[(code, period)]
        if o < 10:
            fail(f"{ind} {code} {period}: a DSR from {o} events was published")
        got = (value, l95, u95, l998, u998)
        exp = (ev, *lims[0.05], *lims[0.002])
        if not all(close(g, e, 1e-8) for g, e in zip(got, exp)):
            fail(f"{ind} {code} {period}: DSR {got} vs oracle {exp}")
        dsr_checked += 1
        if comp != "not_compared" and bench is not None and judge(l95, u95, bench, polarity) != comp:
            fail(f"{ind} {code} {period} {group}: comparison {comp}")
        continue
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
mult_table = ", ".join(f"('{k}', {v[1]}, '{v[0]}')" for k, v in meta.items())
con.execute(f"CREATE VIEW mult(indicator_id, m, vtype) AS VALUES {mult_table}")
bad = con.execute(
    """WITH valued AS (SELECT * FROM results WHERE value IS NOT NULL AND peer_group <> 'similar'
                      AND indicator_id NOT IN (SELECT indicator_id FROM mult WHERE vtype = 'dsr')),
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

# A DSR's benchmark is the DSR of the group's strata pooled.
strata_by = {}
for code, period, sex, band, o, n in con.execute("SELECT practice_code, period, sex, band, o, n FROM strata").fetchall():
    strata_by.setdefault((code, period), []).append((sex, band, o, n))


def pooled_dsr(members, period):
    pooled = {}
    for c in members:
        for sex, band, o, n in strata_by[(c, period)]:
            po, pn = pooled.get((sex, band), (0, 0))
            pooled[(sex, band)] = (po + o, pn + n)
    return sum(esp[band] * o / n for (_, band), (o, n) in pooled.items() if n > 0) / (sum(esp) * 2) * 1e5


dsr_groups = {}
for ind, code, period, group, key, bench in con.execute(
    """SELECT r.indicator_id, r.practice_code, r.period, r.peer_group, r.peer_group_key, r.benchmark
       FROM results r JOIN mult m USING (indicator_id) WHERE m.vtype = 'dsr' AND r.value IS NOT NULL AND r.peer_group <> 'similar'"""
).fetchall():
    dsr_groups.setdefault((ind, period, group, key), []).append((code, bench))
for (ind, period, group, key), members in dsr_groups.items():
    expected = pooled_dsr([c for c, _ in members], period)
    if any(not close(b, expected, 1e-9) for _, b in members):
        fail(f"{ind} {period} {group} {key}: DSR benchmark {members[0][1]} vs pooled {expected}")

# --- 3b. Similar-practice groups: nearest neighbours recomputed from raw files ---
pipeline = tomllib.loads((REPO / "pipelines" / "demo.toml").read_text())
similar = next((g for g in pipeline.get("peer_group", []) if g.get("kind") == "similar"), None)
similar_checked = 0
if similar is not None:
    desc = con.execute(f"""
        WITH latest AS (SELECT practice_code, max(period) AS period FROM reg GROUP BY 1),
        bands AS (SELECT ORG_CODE AS practice_code, strftime(strptime(EXTRACT_DATE, '%d%b%Y'), '%Y-%m') AS period,
                         sum(NUMBER_OF_PATIENTS) AS patients,
                         sum(CASE WHEN AGE_GROUP_5 IN ('65_69','70_74','75_79','80_84','85_89','90_94','95+') THEN NUMBER_OF_PATIENTS END) AS p65,
                         sum(CASE WHEN AGE_GROUP_5 IN ('0_4','5_9','10_14','15_19') THEN NUMBER_OF_PATIENTS END) AS p20
                  FROM read_csv('{d}/registered_patients/*.csv', header = true) GROUP BY ALL)
        SELECT b.practice_code, b.patients AS list_size, 100.0 * p65 / patients AS pct_65_plus,
               100.0 * p20 / patients AS pct_under_20, r.IMD_SCORE AS imd_score,
               CASE WHEN r.RURALITY = 'Rural' THEN 1.0 ELSE 0.0 END AS rural
        FROM bands b JOIN latest USING (practice_code, period)
        JOIN read_csv('{d}/practices.csv', header = true) r ON r.PRACTICE_CODE = b.practice_code
        ORDER BY 1""").fetchall()
    names = ["list_size", "pct_65_plus", "pct_under_20", "imd_score", "rural"]
    codes = [r[0] for r in desc]
    X = np.array([[float(v) for v in r[1:]] for r in desc])
    Z = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1)
    wts = np.array([float(similar["descriptors"].get(n, 0.0)) for n in names])
    k = int(similar.get("k", 10))
    members = {}
    for i, c in enumerate(codes):
        dist = np.sqrt((wts * (Z - Z[i]) ** 2).sum(axis=1))
        order = sorted((dist[j], codes[j]) for j in range(len(codes)) if j != i)
        members[c] = [c] + [cc for _, cc in order[:k]]
    valued = {}
    for ind, code, period, num, den, value in con.execute(
        "SELECT indicator_id, practice_code, period, numerator, denominator, value FROM results WHERE peer_group = 'federation' AND value IS NOT NULL"
    ).fetchall():
        valued[(ind, code, period)] = (num, den, value)
    for ind, code, period, bench, median, size in con.execute(
        "SELECT indicator_id, practice_code, period, benchmark, peer_median, peer_group_size FROM results WHERE peer_group = 'similar' AND value IS NOT NULL"
    ).fetchall():
        in_group = [m for m in members[code] if (ind, m, period) in valued]
        peers = [valued[(ind, m, period)] for m in in_group]
        if meta[ind][0] == "dsr":
            pooled = pooled_dsr(in_group, period)
        else:
            pooled = sum(p[0] for p in peers) / sum(p[1] for p in peers) * meta[ind][1]
        if size != len(peers) or not close(bench, pooled) or not close(median, float(np.quantile([p[2] for p in peers], 0.5))):
            fail(f"similar {ind} {code} {period}: size/benchmark/median {size}/{bench}/{median} vs {len(peers)}/{pooled}")
        similar_checked += 1

# --- 4. Funnels: overdispersion and limits, recomputed with numpy --------------


frame = con.execute(
    """SELECT indicator_id, period, peer_group, peer_group_key, practice_code, numerator, denominator, value,
              funnel_lower_95, funnel_upper_95, funnel_lower_998, funnel_upper_998, funnel_flag, od_phi, od_tau2,
              funnel_flag_unadjusted, comparison, comparison_998, benchmark, funnel_z
       FROM results WHERE value IS NOT NULL AND peer_group IN ('federation', 'pcn')
       ORDER BY indicator_id, period, peer_group, peer_group_key, practice_code"""
).fetchall()
groups = {}
for r in frame:
    groups.setdefault(r[:4], []).append(r)
funnels_checked = 0
for key, members in groups.items():
    ind = key[0]
    vtype, mult, _ = meta[ind]
    if vtype == "dsr":
        # No funnel for a DSR: its precision is not a function of one denominator.
        if any(m[12] != "not_compared" or m[8] is not None or m[19] is not None for m in members):
            fail(f"{key}: a DSR was placed on a funnel")
        continue
    O = np.array([m[5] for m in members], float)
    n = np.array([m[6] for m in members], float)
    if len(members) < 10:
        if any(m[12] != "not_compared" or m[19] is not None for m in members):
            fail(f"{key}: funnel computed for {len(members)} practices")
        continue
    t = O.sum() / n.sum()
    if vtype == "proportion":
        s = 1 / (2 * np.sqrt(n))
        z = (np.arcsin(np.sqrt(O / n)) - np.arcsin(np.sqrt(t))) / s
    else:
        E = t * n
        s = 1 / np.sqrt(E)
        z = np.log(np.where(O > 0, O, 0.5) / E) / s
    lo, hi = np.quantile(z, [0.1, 0.9])
    k = len(z)
    phi = float((np.clip(z, lo, hi) ** 2).mean())
    if phi_estimator == "consistent":
        phi /= WINSORISED_NORMAL_MEAN_SQUARE
    w = 1 / s**2
    tau2 = max(0.0, (k * phi - (k - 1)) / (w.sum() - (w**2).sum() / w.sum())) if k * phi > k - 1 else 0.0
    for m, ni, zi, si in zip(members, n, z, s):
        if not (close(m[13], phi, 1e-9) and close(m[14], tau2, 1e-9)):
            fail(f"{key} {m[4]}: phi/tau2 ({m[13]}, {m[14]}) vs ({phi}, {tau2})")
            break
        # The position on the adjusted scale: the z-score with τ² added to
        # its variance, so the adjusted limits are at ±z exactly.
        z_adj = float(zi * si / np.sqrt(si**2 + tau2))
        if m[19] is None or not close(m[19], z_adj, 1e-9):
            fail(f"{key} {m[4]}: funnel_z {m[19]} vs {z_adj}")
        lims, unadj = [], []
        for level in (0.95, 0.998):
            zz = norm.ppf(1 - (1 - level) / 2)
            a = (1 - level) / 2
            if vtype == "proportion":
                c, sp = np.arcsin(np.sqrt(t)), zz * np.sqrt(1 / (4 * ni) + tau2)
                lo, hi = np.sin(max(c - sp, 0)) ** 2, np.sin(min(c + sp, np.pi / 2)) ** 2
                half = zz * math.sqrt(t * (1 - t) / ni)
                ulo, uhi = max(t - half, 0.0), min(t + half, 1.0)
                small = min(t * ni, (1 - t) * ni) < 10
                exact = (binom.ppf(a, ni, t) / ni, binom.ppf(1 - a, ni, t) / ni) if small else None
            else:
                sp = zz * np.sqrt(1 / (t * ni) + tau2)
                lo, hi = t * np.exp(-sp), t * np.exp(sp)
                E = t * ni
                ulo = chi2.ppf(a, 2 * E) / 2 / ni if E > 0 else 0.0
                uhi = chi2.ppf(1 - a, 2 * E + 2) / 2 / ni
                small = E < 10
                exact = (poisson.ppf(a, E) / ni, poisson.ppf(1 - a, E) / ni) if small else None
            # Small expected counts (methods reference §4): the exact limits on
            # the count, and the adjusted ones widened to them.
            if exact is not None:
                lo, hi = min(lo, exact[0]), max(hi, exact[1])
                ulo, uhi = exact
            lims.append((lo * mult, hi * mult))
            unadj.append((ulo * mult, uhi * mult))
        got = [(m[8], m[9]), (m[10], m[11])]
        if any(not (close(g[0], e[0], 1e-9) and close(g[1], e[1], 1e-9)) for g, e in zip(got, lims)):
            fail(f"{key} {m[4]}: funnel limits {got} vs {lims}")
        v = m[7]

        def position(l95, l998):
            return ("high_998" if v > l998[1] else "low_998" if v < l998[0]
                    else "high_95" if v > l95[1] else "low_95" if v < l95[0] else "within")

        if position(*lims) != m[12]:
            fail(f"{key} {m[4]}: funnel_flag {m[12]} vs {position(*lims)}")
        # Where the expected count is small, a practice beyond a funnel limit
        # is also beyond the benchmark by its own interval at that level (the
        # funnel may allow more, for overdispersion, never less).
        if small and m[12] not in ("within", None):
            comparison = m[17] if m[12].endswith("998") else m[16]
            side = "high" if v > m[18] else "low"
            if comparison in ("similar", "not_compared") or not m[12].startswith(side):
                fail(f"{key} {m[4]}: funnel_flag {m[12]} but {comparison} against its interval")
        # Unadjusted limits recomputed here; a value within 1e-9 of one is not judged.
        if not any(close(v, x, 1e-9) for l in unadj for x in l) and position(*unadj) != m[15]:
            fail(f"{key} {m[4]}: funnel_flag_unadjusted {m[15]} vs {position(*unadj)}")
        funnels_checked += 1

# --- 5. SPC (XmR, Making Data Count rules) and recent trend, recomputed -------------
series = {}
for r in con.execute(
    """SELECT indicator_id, practice_code, period, numerator, denominator, value, spc_signal, spc_centre, spc_upper, trend,
              spc_value, spc_seasonally_adjusted
       FROM results WHERE peer_group = 'federation' ORDER BY indicator_id, practice_code, period"""
).fetchall():
    series.setdefault((r[0], r[1]), []).append(r)


def month_index(period):
    return int(period[:4]) * 12 + int(period[5:7]) - 1


def seasonal_factors(ind):
    """The seasonal index by calendar month (0 = January), refitted here: least
    squares of the log pooled rate (every practice's valued numerators over
    denominators, month by month) on twelve calendar-month indicators and a
    linear slope, the month coefficients then centred to mean zero. None when
    some calendar month is seen fewer than twice."""
    pooled = con.execute(
        """SELECT period, sum(numerator), sum(denominator) FROM results
           WHERE indicator_id = ? AND peer_group = 'federation' AND value IS NOT NULL
           GROUP BY period ORDER BY period""",
        [ind],
    ).fetchall()
    t = np.array([month_index(p) for p, _, _ in pooled], dtype=float)
    m = np.array([int(ti) % 12 for ti in t])
    if min(np.bincount(m, minlength=12)) < 2:
        return None
    X = np.column_stack([(m == k).astype(float) for k in range(12)] + [t - t.mean()])
    y = np.log([o / n for _, o, n in pooled])
    beta = np.linalg.lstsq(X, y, rcond=None)[0][:12]
    return [float(f) for f in np.exp(beta - beta.mean())]


season = {ind: seasonal_factors(ind) for ind in seasonal}
seasonal_checked = 0


def xmr_signals(x, baseline=12):
    """NHSRplotthedots' defaults, translated from its R source (ptd_spc_standard,
    ptd_calculate_point_type): moving ranges screened (screen_outliers = TRUE),
    two-in-three over points between 2 and 3 sigma with all three of the
    window on one side of the mean."""
    base = x[: min(baseline, len(x))]
    centre = sum(base) / len(base)
    mrs = [abs(b - a) for a, b in zip(base, base[1:])]
    amr = sum(mrs) / len(mrs)
    kept = [m for m in mrs if m < 3.267 * amr]
    amr = sum(kept) / len(kept) if kept else amr
    ucl, lcl = centre + 2.66 * amr, centre - 2.66 * amr
    u2, l2 = centre + 2 / 3 * 2.66 * amr, centre - 2 / 3 * 2.66 * amr
    n = len(x)
    outside = [v > ucl or v < lcl for v in x]
    rtm = [(v > centre) - (v < centre) for v in x]
    close_ = [not o and (v < l2 or v > u2) for v, o in zip(x, outside)]
    # ptd_seven_point_trend, then ptd_part_of_seven_trend
    trend_end = [0] * n
    for i in range(6, n):
        d = [(x[j] > x[j - 1]) - (x[j] < x[j - 1]) for j in range(i - 5, i + 1)]
        trend_end[i] = 1 if all(v == 1 for v in d) else -1 if all(v == -1 for v in d) else 0
    part_of = lambda ends: [any(ends[j] != 0 for j in range(i, min(n, i + 7))) for i in range(n)]
    in_trend = part_of(trend_end)
    # ptd_two_in_three and ptd_part_of_two_in_three
    cp, rp = [0, 0] + close_ + [0, 0], [0, 0] + rtm + [0, 0]
    two3 = [
        any(sum(cp[i + k : i + k + 3]) >= 2 and abs(sum(rp[i + k : i + k + 3])) == 3 for k in range(3)) and close_[i]
        for i in range(n)
    ]
    # ptd_seven_point_one_side_mean, then part of
    vp = [0] * 6 + rtm
    side_end = [1 if vp[i] != 0 and all(vp[i] == vp[i - k] for k in range(1, 7)) else 0 for i in range(6, n + 6)]
    in_shift = part_of(side_end)
    sig = []
    for i in range(n):
        sig.append("outside_limits" if outside[i] else "trend" if in_trend[i] else
                   "two_of_three" if two3[i] else "shift" if in_shift[i] else None)
    return centre, ucl, sig


def chi_trend(points, vtype, t=None):
    O = [p[0] for p in points]
    n = [p[1] for p in points]
    if any(o is None or d is None or d <= 0 for o, d in zip(O, n)):
        return None
    t = t or list(range(1, len(points) + 1))
    pbar = sum(O) / sum(n)
    T = sum(ti * (o - d * pbar) for ti, o, d in zip(t, O, n))
    spread = sum(d * ti * ti for ti, d in zip(t, n)) - sum(d * ti for ti, d in zip(t, n)) ** 2 / sum(n)
    var = (pbar * (1 - pbar) if vtype == "proportion" else pbar) * spread
    return None if var <= 0 else (T, T * T / var)


spc_checked = trend_checked = 0
for (ind, code), rows_ in series.items():
    vtype, mult, polarity = meta[ind]
    valued = [r for r in rows_ if r[5] is not None]
    factors = season.get(ind)
    charted = [r[5] / factors[month_index(r[2]) % 12] if factors is not None else r[5] for r in valued]
    if len(valued) >= 6:
        centre, ucl, sig = xmr_signals(charted)
        for r, v, s_ in zip(valued, charted, sig):
            if not close(r[10], v, 1e-9) or r[11] != (factors is not None):
                fail(f"{ind} {code} {r[2]}: spc_value {r[10]} (adjusted {r[11]}) vs {v} (adjusted {factors is not None})")
            seasonal_checked += factors is not None
            if not close(r[7], centre, 1e-9) or not close(r[8], ucl, 1e-9):
                fail(f"{ind} {code} {r[2]}: SPC centre/upper {r[7]}/{r[8]} vs {centre}/{ucl}")
            if (r[6] or None) != s_:
                fail(f"{ind} {code} {r[2]}: spc_signal {r[6]!r} vs {s_!r}")
            spc_checked += 1
    for i, r in enumerate(rows_):
        if i < 4 or vtype == "dsr":
            expected = "cannot_be_calculated"
        else:
            last = [(x[3], x[4]) for x in rows_[i - 4 : i + 1]]
            res = chi_trend(last, vtype)
            if res is None:
                expected = "cannot_be_calculated"
            elif res[1] <= chi2.ppf(0.998, 1):
                expected = "no_significant_change"
            else:
                # Each point dropped in turn; the others keep their real times.
                signs = [chi_trend(last[:j] + last[j + 1 :], vtype, [t for t in range(1, 6) if t != j + 1]) for j in range(5)]
                robust = all(sg is not None and sg[0] != 0 and (sg[0] > 0) == (res[0] > 0) for sg in signs)
                if not robust:
                    expected = "no_significant_change"
                else:
                    up = res[0] > 0
                    if polarity == "no_judgement":
                        expected = "increasing" if up else "decreasing"
                    else:
                        good = up == (polarity == "high_is_good")
                        expected = ("increasing" if up else "decreasing") + ("_getting_better" if good else "_getting_worse")
        if r[9] != expected:
            fail(f"{ind} {code} {r[2]}: trend {r[9]} vs {expected}")
        trend_checked += 1

if failures:
    print(f"{len(failures)} oracle failures")
    sys.exit(1)
print(
    f"oracle checks passed: {checked_nd} numerator/denominator pairs from raw CSVs, {len(rows)} intervals and comparisons ({dsr_checked} DSRs), "
    f"benchmarks/medians/ranks over {total} rows, {similar_checked} similar-practice benchmarks, {funnels_checked} funnel positions, {spc_checked} SPC points ({seasonal_checked} seasonally adjusted), {trend_checked} trends"
)
