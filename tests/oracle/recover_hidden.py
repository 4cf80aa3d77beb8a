#!/usr/bin/env python3
"""Plays the attacker against disclosure control: given a published report
folder (every file in it), tries to work back each count of 1 to 7 that the
exact results table holds, using only what the folder publishes.

The attacker reads every CSV (board/*.csv, practices/*.csv,
data/indicator_results.csv.gz), the workbook (openpyxl), the HTML tables and
the funnel plots' SVG (circles and axis ticks), and the catalogue page for
each indicator's value type. For each row holding a small count it lists
the (numerator, denominator) pairs the shown counts allow (`*` is 1-7, a
rounded count is itself ± 2, an exact count is itself) and keeps those
consistent with each channel in turn:

  counts        the counts as shown
  value         the value (n / d x multiplier)
  intervals     the 95% and 99.8% intervals, inverted: Wilson (statsmodels)
                for proportions, Byar / exact Poisson (scipy) for rates and
                ratios, whose upper/lower ratio depends on the count alone
  funnel_limits the funnel limits at the row's denominator (benchmark, phi,
                tau2 from the same row)
  svg_points    funnel-plot circles on practice pages, read back to
                (denominator, value) through the axis ticks
  spc_centre    the SPC centre line: the mean of the series' first 12
                values, less the values shown, when one is hidden
  ranks         the percentile ranks of the shown rows, which say how many
                hidden values fall between each pair of shown ones
  peer_median   a peer median that is no shown value (nor the average of
                two) is a hidden one, or its average with a neighbour
  spine         the peer range and quartiles in practice pages' spine charts

  group_totals  differencing: each peer group's benchmark (pooled numerator
                over pooled denominator, full precision) less its shown
                members' exact counts (worked back from their exact values
                and rounded counts) gives the totals of its hidden members'
                numerators and denominators; with every such total of the
                indicator and period at once (federation, PCNs, ...), the
                counts each hidden row can take as shown, and a search over
                all of them, a hidden count is recovered when only one value
                fits
  group_totals_insider  the same, by one of the other hidden practices of
                the period, who knows its own counts (and takes them off)

A count is recovered when the candidates left agree on it (and the exact
table confirms it; a wrong unique answer is reported, not counted).

Also checked: that no peer group publishes, over a hidden member, what
weighs or orders its members one by one (phi, tau2, funnel limits and
positions, peer median, percentile ranks): with the totals they would pin
hidden counts in ways the search above does not try. Printed as "exposed
group statistics: K" (group-periods).

With --allow-own-pages, recovering a practice's count from its own page
(practices/<CODE>.* and practices/<CODE>/*) is not counted: that page is the practice's, and
shows its own counts under the practice_pages policy; nor does the
differencing read other practices' own pages (each is only for its
practice; what one practice knows of itself is group_totals_insider).

With --primary-only, the folder must be an exact publication: the attacker
is shown it as a publication that hides only the rows holding a count of 1
to 7 (their values and what goes with them; counts rounded to 5), as
peerbench did before secondary suppression, and only the differencing
channels run: they must find many.

Usage: recover_hidden.py PUBLISHED_FOLDER EXACT_RESULTS_CSV [--allow-own-pages] [--primary-only]
Prints one line per channel, "recovered N of M hidden counts (protected
channels)" and "exposed group statistics: K".
"""
import csv
import gzip
import math
import pathlib
import re
import sys
from collections import defaultdict

import openpyxl
from scipy.stats import chi2, norm
from statsmodels.stats.proportion import proportion_confint

folder = pathlib.Path(sys.argv[1])
truth_csv = sys.argv[2]
allow_own = "--allow-own-pages" in sys.argv[3:]
primary_only = "--primary-only" in sys.argv[3:]

PROTECTED = ["counts", "value", "intervals", "funnel_limits", "svg_points", "spc_centre", "ranks", "peer_median", "spine", "group_totals", "group_totals_insider"]
if primary_only:
    PROTECTED = ["group_totals", "group_totals_insider"]


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


# --- What the folder says about itself ------------------------------------------
index = (folder / "index.html").read_text(encoding="utf-8")
m = re.search(r"Board page: (.*?)\. Practice pages: (.*?)\. Downloads: (.*?)\.</p>", index)
policy = {k: ("exact" if v.startswith("exact") else "standard") for k, v in zip(("board", "practice_pages", "downloads"), m.groups())}

vtype = {}
for ind, vt in re.findall(r'<tr><td><a href="#([^"]+)">.*?</td><td>[^<]*</td><td>(\w+) \(', (folder / "indicators.html").read_text(encoding="utf-8")):
    vtype[ind] = vt
min_den = {ind: float(v) for ind, v in re.findall(r'<tr><td><a href="#([^"]+)">.*?<td class="num">([0-9.]+)</td></tr>', (folder / "indicators.html").read_text(encoding="utf-8"))}


def policy_of(rel):
    if rel.startswith("practices/"):
        return policy["practice_pages"]
    if rel.startswith("data/indicator_results") or rel == "data/changes.csv":
        return policy["downloads"]
    return policy["board"]


def count_set(shown, pol, reason=""):
    """The counts a shown count allows, or None when it says nothing. A CSV
    leaves a hidden count empty and says why."""
    shown = (shown or "").strip()
    if shown == "*" or (shown == "" and (reason or "").startswith("disclosure control")):
        return set(range(1, 8))
    x = num(shown)
    if x is None:
        return None
    if pol == "exact" or x == 0:
        return {x}
    return {x + k for k in range(-2, 3) if x + k >= 8}


# --- Observations: every published number about every row -----------------------
# key (indicator, practice, period) -> list of (source, dict of fields)
obs = defaultdict(list)
# (indicator, period, peer_group, key) -> list of (practice, fields)
groups = defaultdict(list)
for path in sorted(folder.rglob("*.csv")):
    rel = str(path.relative_to(folder))
    if rel in ("data/changes.csv", "data/quarantine.csv"):
        continue
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            r["_policy"] = policy_of(rel)
            r["_precise"] = True
            obs[(r["indicator_id"], r["practice_code"], r["period"])].append((rel, r))
            if rel.startswith("data/") or rel.startswith("board/"):
                groups[(r["indicator_id"], r["period"], r["peer_group"], r["peer_group_key"])].append(r)

FIG = re.compile(r'<td class="nowrap">([^<]*)</td><td class="num">([^<]*) / ([^<]*)</td><td class="num">([^<]*)</td>')
VAL = re.compile(r"^([-0-9.]+) \(([-0-9.]+)–([-0-9.]+)\)$")


def html_fields(period, n, d, value, pol):
    f = {"numerator": n, "denominator": d, "_policy": pol, "_precise": False, "period": period}
    mv = VAL.match(value)
    if mv:
        f["value"], f["lower_95"], f["upper_95"] = mv.groups()
    return f


for path in sorted((folder / "board").glob("*.html")):
    rel, ind = str(path.relative_to(folder)), path.stem
    text = path.read_text(encoding="utf-8")
    for code, rest in re.findall(r'<tr><th scope="row"><a href="\.\./practices/([A-Z0-9]+)\.html">.*?</th>(.*?)</tr>', text):
        fm = FIG.search(rest)
        if fm:
            obs[(ind, code, fm.group(1))].append((rel, html_fields(*fm.groups(), policy["board"])))
practice_pages = {}
# A practice's report (practices/<CODE>.html) and its detail pages
# (practices/<CODE>/<domain>.html).
for path in sorted([*(folder / "practices").glob("*.html"), *(folder / "practices").glob("*/*.html")]):
    rel = str(path.relative_to(folder))
    code = path.stem if path.parent.name == "practices" else path.parent.name
    text = path.read_text(encoding="utf-8")
    practice_pages[code] = practice_pages.get(code, "") + text
    current = None
    for tok in re.finditer(r'<section id="([^"]+)">|<th scope="row"><a href="(?:[A-Z0-9]+/[a-z_]+\.html)?#([^"]+)">|' + FIG.pattern, text):
        if tok.group(1) or tok.group(2):
            current = tok.group(1) or tok.group(2)
        elif current:
            obs[(current, code, tok.group(3))].append((rel, html_fields(*tok.groups()[2:7], policy["practice_pages"])))

wb = openpyxl.load_workbook(folder / "data" / "board-pack.xlsx")
ws = wb["Latest results"]
head = [c.value for c in ws[1]]
col = {h: i for i, h in enumerate(head)}
for row in ws.iter_rows(min_row=2, values_only=True):
    f = {
        "numerator": str(row[col["Numerator"]]),
        "denominator": str(row[col["Denominator"]]),
        "value": row[col["Value"]],
        "lower_95": row[col["Lower 95%"]],
        "upper_95": row[col["Upper 95%"]],
        "_policy": policy["board"],
        "_precise": True,
    }
    f = {k: ("" if v is None else v) for k, v in f.items()}
    obs[(row[col["Indicator id"]], row[col["Practice code"]], row[col["Period"]])].append(("data/board-pack.xlsx", f))

# --- Ground truth -----------------------------------------------------------------
truth = {}
for r in csv.DictReader(gzip.open(truth_csv, "rt", newline="", encoding="utf-8")):
    truth[(r["indicator_id"], r["practice_code"], r["period"])] = r
targets = []  # (key, field, true count)
for key, r in truth.items():
    for field in ("numerator", "denominator"):
        x = num(r[field])
        if x is not None and 1 <= x <= 7 and x == int(x) and vtype.get(key[0]) != "dsr":
            targets.append((key, field, x))

if primary_only:
    # The exact publication as one that hides only the rows with a count of 1
    # to 7: their counts `*`, every other count rounded to 5, and the value
    # and everything from the row's own counts withheld; group figures stay.
    assert policy["downloads"] == "exact", "--primary-only needs an exact publication"
    OWN = ["value", "lower_95", "upper_95", "lower_998", "upper_998", "percentile_rank", "funnel_lower_95",
           "funnel_upper_95", "funnel_lower_998", "funnel_upper_998", "funnel_z"]

    def as_primary_only(r):
        r = dict(r)
        n, d = num(r["numerator"]), num(r["denominator"])
        small = any(x is not None and 1 <= x <= 7 for x in (n, d))
        for f in ("numerator", "denominator"):
            x = num(r[f])
            r[f] = "" if x is None or 1 <= x <= 7 else f"{round(x / 5) * 5:.0f}"
        if small:
            for f in OWN:
                r[f] = ""
            r["not_compared_reason"] = "disclosure control: a count of 1 to 7"
        r["_policy"] = "standard"
        return r

    groups = defaultdict(list)
    obs = defaultdict(list)
    with gzip.open(folder / "data" / "indicator_results.csv.gz", "rt", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            r = as_primary_only(r)
            r["_precise"] = True
            obs[(r["indicator_id"], r["practice_code"], r["period"])].append(("data/indicator_results.csv.gz", r))
            groups[(r["indicator_id"], r["period"], r["peer_group"], r["peer_group_key"])].append(r)

# Multipliers, worked out from shown rows as an attacker would (a power of ten).
mult = {}
ests = defaultdict(list)
for (ind, _, _), lst in obs.items():
    for _, f in lst:
        n, d, v = num(f.get("numerator")), num(f.get("denominator")), num(f.get("value"))
        if n and d and v and n >= 8 and f["_precise"]:
            ests[ind].append(v * d / n)
for ind, e in ests.items():
    e.sort()
    mult[ind] = 10 ** round(math.log10(e[len(e) // 2]))

# --- The statistics an attacker recomputes for a candidate -----------------------


def close(a, b, precise):
    if precise:
        return abs(a - b) <= 1e-7 * max(1.0, abs(b))
    return abs(a - b) <= (0.5 if abs(b) >= 100 else 0.05) + 1e-9


def rate_limits(o, alpha):
    if o < 10:
        lo = 0.0 if o == 0 else chi2.ppf(alpha / 2, 2 * o) / 2
        return lo, chi2.ppf(1 - alpha / 2, 2 * o + 2) / 2
    z = norm.ppf(1 - alpha / 2)
    lo = o * (1 - 1 / (9 * o) - z / (3 * math.sqrt(o))) ** 3
    o1 = o + 1
    return lo, o1 * (1 - 1 / (9 * o1) + z / (3 * math.sqrt(o1))) ** 3


def interval(ind, n, d, alpha):
    m = mult[ind]
    if vtype[ind] == "proportion":
        if n > d:
            return None
        lo, hi = proportion_confint(n, d, alpha=alpha, method="wilson")
        return lo * m, hi * m
    lo, hi = rate_limits(n, alpha)
    return lo / d * m, hi / d * m


def funnel_limits(ind, d, bench, tau2, level):
    m, z = mult[ind], norm.ppf(0.5 + level / 2)
    target = bench / m
    if vtype[ind] == "proportion":
        c = math.asin(math.sqrt(target))
        s = z * math.sqrt(1 / (4 * d) + tau2)
        back = lambda x: math.sin(min(max(x, 0.0), math.pi / 2)) ** 2
        return back(c - s) * m, back(c + s) * m
    s = z * math.sqrt(1 / (target * d) + tau2)
    return target * math.exp(-s) * m, target * math.exp(s) * m


def candidates(key, sources):
    """(n, d) pairs the shown counts allow, from the given sources."""
    ns, ds = set(range(0, 8)), None
    n_known = d_known = False
    for _, f in sources:
        reason = f.get("not_compared_reason")
        a, b = count_set(f.get("numerator"), f["_policy"], reason), count_set(f.get("denominator"), f["_policy"], reason)
        if a is not None:
            ns = a if not n_known else ns & a
            n_known = True
        if b is not None:
            ds = b if not d_known else ds & b
            d_known = True
    if not n_known or not d_known:
        return []
    return [(n, d) for n in sorted(ns) for d in sorted(ds) if d > 0]


def channel_filter(channel, key, cands, sources):
    ind = key[0]
    if ind not in mult:
        return None
    m = mult[ind]
    keep = cands
    used = False
    for _, f in sources:
        p = f["_precise"]
        if channel == "value" and num(f.get("value")) is not None:
            v = num(f["value"])
            keep = [(n, d) for n, d in keep if close(n / d * m, v, p)]
            used = True
        if channel == "intervals":
            for alpha, lo_f, hi_f in ((0.05, "lower_95", "upper_95"), (0.002, "lower_998", "upper_998")):
                lo, hi = num(f.get(lo_f)), num(f.get(hi_f))
                if lo is None or hi is None:
                    continue
                used = True
                nxt = []
                for n, d in keep:
                    iv = interval(ind, n, d, alpha)
                    if iv and close(iv[0], lo, p) and close(iv[1], hi, p):
                        nxt.append((n, d))
                keep = nxt
        if channel == "funnel_limits" and p:
            bench, tau2 = num(f.get("benchmark")), num(f.get("od_tau2"))
            for level, lo_f, hi_f in ((0.95, "funnel_lower_95", "funnel_upper_95"), (0.998, "funnel_lower_998", "funnel_upper_998")):
                lo, hi = num(f.get(lo_f)), num(f.get(hi_f))
                if None in (lo, hi, bench, tau2):
                    continue
                used = True
                keep = [(n, d) for n, d in keep if all(close(a, b, True) for a, b in zip(funnel_limits(ind, d, bench, tau2, level), (lo, hi)))]
    return keep if used else None


# --- Channels that need more than the row itself ---------------------------------

def svg_points():
    """(indicator) -> list of (denominator, value, tolerance d, tolerance v) from funnel circles."""
    pts = defaultdict(set)
    for code, text in practice_pages.items():
        for svg in re.findall(r'<svg class="chart"[^>]*aria-labelledby="fn-([^ ]+)-t[^"]*">(.*?)</svg>', text, re.S):
            ind, body = svg
            ys = [(float(y), float(lab)) for y, lab in re.findall(r'<line x1="60" x2="[0-9.]+" y1="([0-9.]+)" y2="[0-9.]+" stroke="#e8edee"/><text x="[0-9.]+" y="[0-9.]+" font-size="11" text-anchor="end" fill="#212b32">([-0-9.]+)</text>', body)]
            xs = [(float(x), float(lab)) for x, lab in re.findall(r'<text x="([0-9.]+)" y="250.0" font-size="11" text-anchor="\w+" fill="#212b32">([-0-9.]+)</text>', body)]
            if len(ys) < 2 or len(xs) < 2:
                continue
            fx = lambda px, a=xs: a[0][1] + (px - a[0][0]) * (a[-1][1] - a[0][1]) / (a[-1][0] - a[0][0])
            fy = lambda px, a=ys: a[0][1] + (px - a[0][0]) * (a[-1][1] - a[0][1]) / (a[-1][0] - a[0][0])
            tdx = abs((xs[-1][1] - xs[0][1]) / (xs[-1][0] - xs[0][0])) * 0.15
            tdy = abs((ys[-1][1] - ys[0][1]) / (ys[-1][0] - ys[0][0])) * 0.15
            for cx, cy, r in re.findall(r'<circle cx="([0-9.]+)" cy="([0-9.]+)" r="(3|6)"', body):
                pts[ind].add((fx(float(cx)), fy(float(cy)), tdx, tdy, code))
    return pts


def latest_period(ind):
    return max((k[2] for k in truth if k[0] == ind), default=None)


def recover_svg(key, cands, pts):
    ind = key[0]
    if ind not in mult or key[2] != latest_period(ind):
        return None
    m = mult[ind]
    keep = [
        (n, d)
        for n, d in cands
        if any(abs(d - pd) <= td and abs(n / d * m - pv) <= tv for pd, pv, td, tv, page in pts.get(ind, ()) if not (allow_own and page == key[1]))
    ]
    return keep


def shown_value(f):
    v = num(f.get("value"))
    return v if f["_precise"] else None


def recover_spc(key, cands):
    """A hidden value is the centre line times the baseline size less the shown values."""
    ind, code, period = key
    if ind not in mult:
        return None
    m = mult[ind]
    series = sorted({k[2] for k in obs if k[0] == ind and k[1] == code})
    centres = set()
    for p in series:
        for _, f in obs[(ind, code, p)]:
            c = num(f.get("spc_centre"))
            if c is not None:
                centres.add(c)
    if not centres:
        return None
    # Which periods were valued: a shown value, or a hidden row whose
    # denominator could reach the indicator's minimum.
    valued, unknown = [], []
    for p in series:
        vals = [shown_value(f) for _, f in obs[(ind, code, p)] if shown_value(f) is not None]
        if vals:
            valued.append((p, vals[0]))
            continue
        cs = candidates((ind, code, p), obs[(ind, code, p)])
        if cs and max(d for _, d in cs) >= min_den.get(ind, 0):
            valued.append((p, None))
    base = valued[:12]
    hidden = [p for p, v in base if v is None]
    if len(valued) < 6 or hidden != [period]:
        return None
    keep = []
    for c in centres:
        h = c * len(base) - sum(v for _, v in base if v is not None)
        keep += [(n, d) for n, d in cands if abs(n / d * m - h) <= 1e-6 * max(1, abs(h))]
    return keep


def group_rows(key):
    ind, code, period = key
    out = []
    for gk, rows in groups.items():
        if gk[0] == ind and gk[1] == period and any(r["practice_code"] == code for r in rows):
            out.append((gk, rows))
    return out


def dedupe(rows):
    """One row per practice, each field from whichever source shows it."""
    seen = {}
    for r in rows:
        have = seen.setdefault(r["practice_code"], dict(r))
        for k, v in r.items():
            if have.get(k, "") in ("", None, "*") and v not in ("", None):
                have[k] = v
    return list(seen.values())


def recover_ranks(key, cands):
    ind = key[0]
    if ind not in mult:
        return None
    m = mult[ind]
    used, keep = False, cands
    for gk, rows in group_rows(key):
        rows = dedupe(rows)
        shown = [(num(r["value"]), num(r["percentile_rank"]), int(r["peer_group_size"])) for r in rows if num(r["value"]) is not None and num(r["percentile_rank"]) is not None]
        if len(shown) < 2:
            continue
        k = shown[0][2]
        # Values below each shown value (percent rank = below / (k - 1)), and
        # how many shown rows share it: the rest of each gap is hidden.
        below = {}
        times = defaultdict(int)
        for v, pr, _ in shown:
            below[v] = round(pr * (k - 1) / 100)
            times[v] += 1
        allowed = []
        prev = None
        for v in sorted(below):
            start = 0 if prev is None else below[prev] + times[prev]
            if below[v] > start:
                allowed.append((prev, v))
            prev = v
        if k > below[prev] + times[prev]:
            allowed.append((prev, None))
        used = True
        keep = [(n, d) for n, d in keep if any((lo is None or n / d * m >= lo) and (hi is None or n / d * m < hi) for lo, hi in allowed)]
    return keep if used else None


def recover_median(key, cands):
    ind = key[0]
    if ind not in mult:
        return None
    m = mult[ind]
    used, keep = False, cands
    for gk, rows in group_rows(key):
        rows = dedupe(rows)
        meds = {num(r["peer_median"]) for r in rows if num(r["peer_median"]) is not None}
        vis = sorted(num(r["value"]) for r in rows if num(r["value"]) is not None)
        for med in meds:
            if any(abs(med - v) < 1e-9 * max(1, abs(v)) for v in vis) or any(abs(med - (a + b) / 2) < 1e-9 * max(1, abs(med)) for a, b in zip(vis, vis[1:])):
                continue
            used = True
            derived = [med] + [2 * med - v for v in vis]
            keep = [(n, d) for n, d in keep if any(abs(n / d * m - h) <= 1e-7 * max(1, abs(h)) for h in derived)]
    return keep if used else None


def recover_spine(key, cands):
    ind, code, period = key
    if ind not in mult or period != latest_period(ind):
        return None
    m = mult[ind]
    vis = {round(num(f["value"]), 1) for k, lst in obs.items() if k[0] == ind and k[2] == period for _, f in lst if num(f.get("value")) is not None}
    shown = set()
    for text in practice_pages.values():
        # The range's ends are peers' values (the quartiles are interpolated).
        for mm in re.finditer(r'<desc id="sp-' + re.escape(ind) + r'-d">Practice [^ ]+ against peer range ([-0-9.]+) to ([-0-9.]+),', text):
            shown.update(float(x) for x in mm.groups())
    leaked = {s for s in shown if not any(abs(s - v) <= 0.05 + 1e-9 for v in vis)}
    if not leaked:
        return None
    return [(n, d) for n, d in cands if any(close(n / d * m, s, False) for s in leaked)]


def exact_counts(r, ind):
    """A shown row's exact (n, d): its exact value and its rounded counts."""
    v = num(r["value"])
    if v is None:
        return None
    ns, ds = count_set(r["numerator"], r["_policy"]), count_set(r["denominator"], r["_policy"])
    if not ns or not ds:
        return None
    fits = [(n, d) for n in ns for d in ds if d > 0 and abs(n / d * mult[ind] - v) <= 1e-10 * max(1, abs(v))]
    return fits[0] if len(fits) == 1 else None


def hidden_sources(key):
    """What the differencing may read about another practice's hidden row:
    with --allow-own-pages, not that practice's own page."""
    src = obs.get(key, [])
    if allow_own:
        src = [(s, f) for s, f in src if not s.startswith("practices/")]
    return src


MEMBER_FIGURES = ["od_phi", "od_tau2", "funnel_lower_95", "funnel_upper_95", "funnel_lower_998", "funnel_upper_998", "funnel_z", "peer_median", "percentile_rank"]
# Group-periods with a hidden member pooled, and indicator-periods with one.
hidden_groups = set()
hidden_periods = set()


def period_system(ind, period):
    """The attacker's equations for one indicator and period: the hidden rows
    pooled into some published total, each with the numerators and
    denominators it can take as shown, and for each peer group with a
    published benchmark, its hidden members with the totals of their
    numerators and of their denominators that the benchmark allows."""
    if ind not in mult or vtype.get(ind) == "dsr":
        return {}, []
    m = mult[ind]
    domains = {}
    equations = []
    for gk, rows in groups.items():
        if gk[0] != ind or gk[1] != period:
            continue
        rows = dedupe(rows)
        # Hidden rows pooled into the group's totals: those whose shown
        # denominator could reach the indicator's minimum; peer_group_size
        # (members with a value) says how many, and where that leaves a doubt
        # the attacker is told which (the ground truth).
        hidden = []
        possible = []
        for r in rows:
            if num(r["value"]) is None and r.get("not_compared_reason", "").startswith("disclosure control"):
                cs = candidates((ind, r["practice_code"], period), hidden_sources((ind, r["practice_code"], period)))
                if cs and max(d for _, d in cs) >= min_den.get(ind, 0):
                    possible.append((r["practice_code"], cs))
        sizes = {int(r["peer_group_size"]) for r in rows if r.get("peer_group_size")}
        needed = (sizes.pop() if len(sizes) == 1 else 0) - sum(1 for r in rows if num(r["value"]) is not None)
        if len(possible) != needed:
            possible = [(c, cs) for c, cs in possible if num(truth.get((ind, c, period), {}).get("value")) is not None]
        for c, cs in possible:
            hidden.append(c)
            domains[c] = ({n for n, _ in cs}, {d for _, d in cs})
        if hidden:
            hidden_groups.add(gk)
            hidden_periods.add((ind, period))
        if gk[2] == "similar":
            continue  # one group per practice, whose members the rows do not show
        bench = {num(r["benchmark"]) for r in rows if num(r["benchmark"]) is not None}
        if len(bench) != 1 or not hidden:
            continue
        b = bench.pop()
        sn = sd = 0.0
        shown = 0
        ok = True
        for r in rows:
            if num(r["value"]) is not None:
                c = exact_counts(r, ind)
                if c is None:
                    ok = False
                    break
                sn, sd, shown = sn + c[0], sd + c[1], shown + 1
        sizes = {int(r["peer_group_size"]) for r in rows if r.get("peer_group_size")}
        if not ok or sizes != {shown + len(hidden)}:
            continue
        lo_n = sum(min(domains[c][0]) for c in hidden)
        hi_n = sum(max(domains[c][0]) for c in hidden)
        lo_d = sum(min(domains[c][1]) for c in hidden)
        hi_d = sum(max(domains[c][1]) for c in hidden)
        tn, td = set(), set()
        for hd in range(int(lo_d), int(hi_d) + 1):
            hn = round(b * (sd + hd) / m - sn)
            if lo_n <= hn <= hi_n and abs((sn + hn) / (sd + hd) * m - b) <= 1e-9 * max(1, abs(b)):
                tn.add(hn)
                td.add(hd)
        if tn:
            equations.append((hidden, tn, td))
    return domains, equations


def solvable(domains, equations, fixed):
    """Whether some assignment of the hidden counts, each from its domain
    (with `fixed` ones fixed), meets every equation (members, allowed totals)."""
    names = sorted(domains, key=lambda c: (c not in fixed, len(domains[c])))
    dom = {c: ([fixed[c]] if c in fixed else sorted(domains[c])) for c in names}
    if any(c in fixed and fixed[c] not in domains[c] for c in fixed if c in domains):
        return False
    position = {c: i for i, c in enumerate(names)}
    eqs = [([position[c] for c in members], allowed) for members, allowed in equations]
    lo = [min(dom[c]) for c in names]
    hi = [max(dom[c]) for c in names]
    x = [None] * len(names)

    def ok(k):
        for members, allowed in eqs:
            s = sum(x[i] if i <= k else lo[i] for i in members)
            t = sum(x[i] if i <= k else hi[i] for i in members)
            if not any(s <= a <= t for a in allowed):
                return False
        return True

    def go(k):
        if k == len(names):
            return True
        for v in dom[names[k]]:
            x[k] = v
            if ok(k) and go(k + 1):
                return True
        x[k] = None
        return False

    return go(0)


systems = {}


def recover_group_totals(key, field, insider):
    """Values of the hidden count that every published total allows; with
    `insider`, to each other hidden practice that knows its own counts (the
    tightest of them). None when no total holds the row."""
    ind, code, period = key
    if (ind, period) not in systems:
        systems[(ind, period)] = period_system(ind, period)
    domains, equations = systems[(ind, period)]
    if code not in domains or not any(code in members for members, _, _ in equations):
        return None
    k = 0 if field == "numerator" else 1
    dom = {c: v[k] for c, v in domains.items()}
    eqs = [(members, (tn, td)[k]) for members, tn, td in equations]
    who = [None] + ([c for c in domains if c != code] if insider else [])
    best = None
    for x in who:
        fixed = {}
        if x is not None:
            t = num(truth.get((ind, x, period), {}).get(field))
            if t is None or t not in dom[x]:
                continue
            fixed[x] = t
        values = {v for v in dom[code] if solvable(dom, eqs, {**fixed, code: v})}
        if values and (best is None or len(values) < len(best)):
            best = values
    return best


# --- Run every channel on every hidden count --------------------------------------
pts = {} if primary_only else svg_points()
recovered = defaultdict(set)
wrong = defaultdict(int)
for key, field, true in targets:
    sources = obs.get(key, [])
    if allow_own:
        sources = [(s, f) for s, f in sources if not s.startswith((f"practices/{key[1]}.", f"practices/{key[1]}/"))]
    cands = candidates(key, sources)
    if not cands:
        continue
    results = {} if primary_only else {"counts": cands}
    if not primary_only:
        for ch in ("value", "intervals", "funnel_limits"):
            results[ch] = channel_filter(ch, key, cands, sources)
        results["svg_points"] = recover_svg(key, cands, pts)
        results["spc_centre"] = recover_spc(key, cands)
        results["ranks"] = recover_ranks(key, cands)
        results["peer_median"] = recover_median(key, cands)
        results["spine"] = recover_spine(key, cands)
    for ch, insider in (("group_totals", False), ("group_totals_insider", True)):
        values = recover_group_totals(key, field, insider)
        results[ch] = None if values is None else [(v, v) for v in values]
    for ch, keep in results.items():
        if not keep:
            continue
        answers = {(n if field == "numerator" else d) for n, d in keep}
        if len(answers) == 1:
            (a,) = answers
            if a == true:
                recovered[ch].add((key, field))
            else:
                wrong[ch] += 1

# Every CSV row (practice pages' included) of a group-period with a hidden
# member must leave out what weighs or orders the members; a similar-practice
# group (members not shown) its benchmark too, in any period with one.
exposed = set()
for (ind, code, period), lst in obs.items():
    for rel, f in lst:
        gk = (ind, period, f.get("peer_group"), f.get("peer_group_key"))
        similar = gk[2] == "similar" and (ind, period) in hidden_periods
        if gk in hidden_groups or similar:
            fields = MEMBER_FIGURES + (["benchmark"] if similar else [])
            if any(num(f.get(x)) is not None for x in fields):
                exposed.add(gk)

protected = set().union(*(recovered[c] for c in PROTECTED))
for ch in PROTECTED:
    print(f"channel {ch}: {len(recovered[ch])} recovered" + (f", {wrong[ch]} wrong unique answers" if wrong[ch] else ""))
for (key, field) in sorted(protected)[:10]:
    print("  e.g.", *key, field, "via", ", ".join(c for c in PROTECTED if (key, field) in recovered[c]))
print(f"recovered {len(protected)} of {len(targets)} hidden counts (protected channels)")
for gk in sorted(exposed)[:10]:
    print("  exposed:", *gk)
print(f"exposed group statistics: {len(exposed)}")
