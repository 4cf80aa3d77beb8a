#!/usr/bin/env python3
"""Opens every CSV under a published folder (compressed ones too: the
results table is .csv.gz, and spreadsheet importers open it), and the board's Excel workbook
with openpyxl, as a spreadsheet user would, and checks that no cell can run
as a formula (OWASP "CSV injection"):

- a CSV cell beginning with =, +, -, @, a tab or a carriage return must be a
  number (such as -0.5); text must have been neutralised with a leading ';
- the workbook has no formula cells and no string cell beginning with those
  characters.

Each --csv TEXT must appear neutralised (after a leading ') in some CSV
cell, and each --workbook TEXT in some workbook cell, so a fixture whose
hostile values never reached the outputs cannot pass by accident.

Usage: check_spreadsheet_safety.py PUBLISHED_FOLDER [--csv TEXT]... [--workbook TEXT]...
"""
import csv
import gzip
import pathlib
import re
import sys

import openpyxl

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")

args = sys.argv[1:]
folder = pathlib.Path(args[0])
expect_csv = [args[i + 1] for i, a in enumerate(args) if a == "--csv"]
expect_workbook = [args[i + 1] for i, a in enumerate(args) if a == "--workbook"]
failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 20:
        print("FAIL:", msg)


csvs = sorted([*folder.rglob("*.csv"), *folder.rglob("*.csv.gz")])
if not csvs:
    fail(f"no CSV under {folder}")
seen_in_csv = set()
cells = 0
for path in csvs:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        fail(f"{path}: empty (not even a header row)")
    for line, row in enumerate(rows, 1):
        for cell in row:
            cells += 1
            if cell.startswith(FORMULA_START) and not NUMBER.match(cell):
                fail(f"{path.relative_to(folder)}:{line}: cell {cell!r} would run as a formula")
            for e in expect_csv:
                if cell.startswith("'") and e in cell:
                    seen_in_csv.add(e)

workbook = folder / "data" / "board-pack.xlsx"
wb = openpyxl.load_workbook(workbook)
seen_in_workbook = set()
strings = 0
for ws in wb.worksheets:
    for row in ws.iter_rows():
        for c in row:
            if c.data_type == "f":
                fail(f"workbook {ws.title}!{c.coordinate}: formula {c.value!r}")
            if isinstance(c.value, str):
                strings += 1
                if c.value.startswith(FORMULA_START):
                    fail(f"workbook {ws.title}!{c.coordinate}: string {c.value!r} looks like a formula")
                for e in expect_workbook:
                    if c.value.startswith("'") and e in c.value:
                        seen_in_workbook.add(e)

for e in expect_csv:
    if e not in seen_in_csv:
        fail(f"{e!r} does not appear neutralised in any CSV (did the fixture reach the outputs?)")
for e in expect_workbook:
    if e not in seen_in_workbook:
        fail(f"{e!r} does not appear neutralised in the workbook (did the fixture reach it?)")

if failures:
    print(f"{len(failures)} spreadsheet-safety failures")
    sys.exit(1)
print(f"spreadsheet safety checks passed: {len(csvs)} CSVs ({cells} cells), {len(wb.worksheets)} sheets ({strings} strings)")
