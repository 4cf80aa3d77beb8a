#!/usr/bin/env python3
"""Opens the board's Excel workbook with openpyxl (a reader peerbench did not
write) and checks it against the published results table: every sheet has a
frozen header and a filter, numbers are stored as numbers with a number
format, the latest results agree with the CSV under the board's disclosure
control (counts of 1-7 as *, others rounded to 5; values from small counts
hidden, and those the board's CSVs beside it hide to protect them, or whose
peer group figures they withhold), and the verdicts (led by the funnel
where the board shows one, else by the 99.8% interval's comparison) agree with the
results, and the heat map and summary agree with the verdicts.

Usage: check_workbook.py WORKBOOK RESULTS_CSV PRIMARY_PEER_GROUP
"""
import csv
import gzip
import math
import pathlib
import sys
from collections import Counter

import openpyxl

workbook, results_csv, group = sys.argv[1:4]
wb = openpyxl.load_workbook(workbook)
failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 20:
        print("FAIL:", msg)


expected_sheets = ["Read me", "Summary", "Heat map", "Outliers", "Latest results", "Changes", "Data quality"]
if wb.sheetnames != expected_sheets:
    fail(f"sheets {wb.sheetnames}, expected {expected_sheets}")
for name in expected_sheets[1:]:
    ws = wb[name]
    if ws.freeze_panes is None or ws.auto_filter.ref is None:
        fail(f"{name}: header not frozen or no filter")

# The latest period per indicator, primary peer group, from the CSV.
rows = [r for r in csv.DictReader(gzip.open(results_csv, "rt", newline="")) if r["peer_group"] == group]
latest = {}
for r in rows:
    latest[r["indicator_id"]] = max(latest.get(r["indicator_id"], ""), r["period"])
expected = {(r["indicator_id"], r["practice_code"]): r for r in rows if r["period"] == latest[r["indicator_id"]]}

# What the board's own CSVs (same policy as the workbook) say they withhold:
# values hidden to protect a small count elsewhere (secondary suppression),
# and peer group figures (benchmark, comparison) withheld.
board_reason = {}
for path in sorted((pathlib.Path(workbook).parent.parent / "board").glob("*.csv")):
    for r in csv.DictReader(open(path, newline="", encoding="utf-8")):
        if r["period"] == latest.get(r["indicator_id"]):
            board_reason[(r["indicator_id"], r["practice_code"])] = r["not_compared_reason"]


def small(x):
    return x is not None and 1 <= x <= 7


def num(s):
    return None if s in ("", None) else float(s)


ws = wb["Latest results"]
header = [c.value for c in ws[1]]
col = {h: i for i, h in enumerate(header)}
seen = set()
words = {}
for row in ws.iter_rows(min_row=2):
    v = [c.value for c in row]
    key = (v[col["Indicator id"]], v[col["Practice code"]])
    seen.add(key)
    e = expected.get(key)
    if e is None:
        fail(f"{key}: in the workbook, not in the results table")
        continue
    n, d = num(e["numerator"]), num(e["denominator"])
    reason = board_reason.get(key, "")
    hidden = small(n) or small(d) or reason.startswith("disclosure control: hidden to protect")
    pooled = "peer group figures not shown" in reason
    for name, x in (("Numerator", n), ("Denominator", d)):
        got = v[col[name]]
        want = "suppressed" if x is None else "*" if small(x) else float(round(x / 5) * 5)
        if got != want:
            fail(f"{key} {name}: {got!r}, expected {want!r}")
    value = num(e["value"])
    got = v[col["Value"]]
    if hidden:
        if got != "*":
            fail(f"{key}: value from a small count shown as {got!r}")
    elif value is None:
        if got is not None:
            fail(f"{key}: value {got!r} where the table has none")
    else:
        cell = row[col["Value"]]
        if isinstance(got, bool) or not isinstance(got, (int, float)) or not math.isclose(got, value, rel_tol=1e-12) or cell.number_format != "#,##0.0":
            fail(f"{key}: value {got!r} ({cell.number_format}), expected {value}")
    word = v[col["Compared with peers"]]
    want = "Not compared" if hidden or pooled else {"better": "Better", "similar": "Similar", "worse": "Worse", "higher": "Higher",
                                            "lower": "Lower", "not_compared": "Not compared"}[e["comparison"]]
    if word != want:
        fail(f"{key}: comparison {word!r}, expected {want!r}")
    # The verdict leads with the funnel where the board shows one (the
    # demo's setting): beyond its 99.8% limits it says what the interval
    # says (the adjusted limits are wider than the 95% interval's reach, so
    # the interval then excludes the benchmark on the same side); within
    # them, Similar. With no funnel shown (an age-standardised rate, a group
    # too small, a funnel withheld, a hidden value) the 99.8% interval
    # leads, held to the funnel's level rather than the 95% interval's.
    funnel_shown = not (hidden or pooled) and "funnel: not shown" not in reason and e["funnel_flag"] != "not_compared"
    word_998 = "Not compared" if hidden or pooled else {"better": "Better", "similar": "Similar", "worse": "Worse", "higher": "Higher",
                                                "lower": "Lower", "not_compared": "Not compared"}[e["comparison_998"]]
    if funnel_shown:
        want_verdict, want_basis = (word if e["funnel_flag"] in ("high_998", "low_998") else "Similar"), "funnel"
    else:
        want_verdict, want_basis = word_998, "interval"
    verdict = v[col["Verdict"]]
    if (verdict, v[col["Verdict judged on"]]) != (want_verdict, want_basis):
        fail(f"{key}: verdict {verdict!r} on {v[col['Verdict judged on']]!r}, expected {want_verdict!r} on {want_basis!r} (funnel {e['funnel_flag']}, comparison {word}, at 99.8% {e['comparison_998']})")
    words[key] = verdict
if seen != set(expected):
    fail(f"{len(set(expected) - seen)} latest results missing from the workbook")

# The heat map says the same verdicts; the summary counts them.
ws = wb["Heat map"]
titles = [c.value for c in ws[1]][2:]
practices = ws.max_row - 1
title_to_id = {r[1].value: r[0].value for r in wb["Summary"].iter_rows(min_row=2)}
for row in ws.iter_rows(min_row=2, values_only=True):
    code = row[0]
    for title, word in zip(titles, row[2:]):
        key = (title_to_id[title], code)
        if words.get(key, "No data") != word:
            fail(f"heat map {key}: {word!r} vs {words.get(key)!r}")
for row in wb["Summary"].iter_rows(min_row=2, values_only=True):
    ind = row[0]
    c = Counter(w for (i, _), w in words.items() if i == ind)
    got = row[6:12]
    # Each row adds up to every practice: those without a result are "No data".
    want = (c["Better"], c["Similar"], c["Worse"], c["Higher"] + c["Lower"], c["Not compared"],
            practices - sum(c.values()))
    if tuple(got) != want:
        fail(f"summary {ind}: {got} vs {want}")

if failures:
    print(f"{len(failures)} workbook failures")
    sys.exit(1)
print(f"workbook checks passed: {len(seen)} latest results, {len(titles)} heat-map columns, {len(expected_sheets)} sheets")
