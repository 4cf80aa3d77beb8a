#!/usr/bin/env python3
"""DuckDB doing peerbench's work on the same files, for scripts/bench.

Three stages, each timed on its own and printed as JSON on stdout:

* ``load``: the same extract CSVs read into Parquet (parse and write only: no
  checks, no quarantine, no Delta commit);
* ``indicators``: the project's own shared views (sql/views) and indicator
  SQL (sql/indicators), run unchanged over the Parquet files of each Delta
  table's current version in peerbench's warehouse (the log is replayed
  here, so DuckDB reads exactly the files peerbench reads);
* ``comparison``: the aggregation the comparison stage needs from the
  indicator rows: per indicator, period and peer group (federation, PCN),
  the pooled benchmark, the median and quartiles (type 7), and each
  practice's percent rank.

Usage: bench_duckdb.py DATA_DIR WAREHOUSE_DIR REPO_DIR THREADS [PARQUET_OUT]
(without PARQUET_OUT the load stage is skipped)
"""
import json
import pathlib
import sys
import time
import urllib.parse

import duckdb

data, warehouse, repo, threads = (
    pathlib.Path(sys.argv[1]),
    pathlib.Path(sys.argv[2]),
    pathlib.Path(sys.argv[3]),
    int(sys.argv[4]),
)

# The extracts as the demo pipeline's sources name them (pipelines/demo.toml).
SOURCES = [
    ("practices", "practices.csv"),
    ("registered_patients", "registered_patients/*.csv"),
    ("appointments", "appointments/*.csv"),
    ("prescribing", "prescribing/*.csv"),
    ("qof", "qof/*.csv"),
    ("patient_survey", "survey/*.csv"),
    ("emergency_admissions", "admissions/*.csv"),
]


def connect():
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    return con


def load(out):
    con = connect()
    start = time.perf_counter()
    for name, glob in SOURCES:
        con.execute(
            f"COPY (SELECT * FROM read_csv('{data}/{glob}', header = true, all_varchar = true)) "
            f"TO '{out}/{name}.parquet' (FORMAT parquet)"
        )
    # The clinical-system exports have title lines before the header and two
    # encodings; read with the preamble skipped.
    con.execute(
        f"COPY (SELECT * FROM read_csv('{data}/searches/*.csv', header = true, skip = 5, "
        "all_varchar = true, union_by_name = true, ignore_errors = true, encoding = 'latin-1')) "
        f"TO '{out}/clinical_searches.parquet' (FORMAT parquet)"
    )
    return time.perf_counter() - start


def current_files(table_dir):
    """The Parquet files of a Delta table's latest version: the last
    checkpoint's live files, then every JSON commit after it in order."""
    log = table_dir / "_delta_log"
    live = set()
    after = -1
    last = log / "_last_checkpoint"
    if last.exists():
        version = json.loads(last.read_text())["version"]
        parts = sorted(log.glob(f"{version:020d}.checkpoint*.parquet"))
        con = duckdb.connect()
        for p in parts:
            for (path,) in con.execute(
                f"SELECT add.path FROM read_parquet('{p}') WHERE add IS NOT NULL"
            ).fetchall():
                live.add(path)
        after = version
    for commit in sorted(log.glob("*.json")):
        if int(commit.stem) <= after:
            continue
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                live.add(action["add"]["path"])
            elif "remove" in action:
                live.discard(action["remove"]["path"])
    return [str(table_dir / urllib.parse.unquote(p)) for p in sorted(live)]


def indicators():
    con = connect()
    for table_dir in sorted(warehouse.iterdir()):
        if not (table_dir / "_delta_log").is_dir():
            continue
        files = current_files(table_dir)
        if files:
            listed = ", ".join(f"'{f}'" for f in files)
            con.execute(f"CREATE VIEW {table_dir.name} AS SELECT * FROM read_parquet([{listed}])")
    views = {p.stem: p.read_text() for p in sorted((repo / "sql/views").glob("*.sql"))}
    # Views read one another: create each once what it reads exists.
    while views:
        made = []
        for name, sql in views.items():
            try:
                con.execute(f"CREATE VIEW {name} AS {sql}")
                made.append(name)
            except duckdb.CatalogException:
                pass
        if not made:
            raise SystemExit(f"DuckDB cannot create the views {sorted(views)}")
        for name in made:
            del views[name]
    con.execute(
        "CREATE TABLE indicator_rows (indicator_id VARCHAR, practice_code VARCHAR, "
        "period VARCHAR, numerator DOUBLE, denominator DOUBLE)"
    )
    per_indicator = {}
    failed = {}
    start = time.perf_counter()
    for path in sorted((repo / "sql/indicators").rglob("*.sql")):
        sql = path.read_text()
        if "\ndraft = true" in sql:
            continue
        began = time.perf_counter()
        try:
            # Standardised indicators return a row per age band (and sex):
            # totalled per practice and period, as peerbench totals them.
            con.execute(
                "INSERT INTO indicator_rows SELECT ?, practice_code, CAST(period AS VARCHAR), "
                "sum(CAST(numerator AS DOUBLE)), sum(CAST(denominator AS DOUBLE)) "
                f"FROM ({sql}) AS q GROUP BY practice_code, period",
                [path.stem],
            )
        except duckdb.Error as e:
            failed[path.stem] = str(e).splitlines()[0]
        per_indicator[path.stem] = time.perf_counter() - began
    seconds = time.perf_counter() - start
    rows = con.execute("SELECT count(*) FROM indicator_rows").fetchone()[0]
    return con, seconds, per_indicator, failed, rows


def comparison(con):
    start = time.perf_counter()
    con.execute(
        """
        CREATE TABLE group_figures AS
        WITH members AS (
            SELECT r.*, g.peer_group, g.peer_group_key
            FROM indicator_rows AS r
            JOIN (
                SELECT practice_code, 'federation' AS peer_group, federation AS peer_group_key FROM practices
                UNION ALL
                SELECT practice_code, 'pcn', pcn_code FROM practices
            ) AS g USING (practice_code)
            WHERE r.denominator > 0
        )
        SELECT indicator_id, period, peer_group, peer_group_key, practice_code,
               numerator / denominator AS value,
               sum(numerator) OVER w / sum(denominator) OVER w AS benchmark,
               quantile_cont(numerator / denominator, 0.5) OVER w AS median,
               quantile_cont(numerator / denominator, 0.25) OVER w AS q1,
               quantile_cont(numerator / denominator, 0.75) OVER w AS q3,
               percent_rank() OVER (PARTITION BY indicator_id, period, peer_group, peer_group_key
                                    ORDER BY numerator / denominator) AS percentile_rank
        FROM members
        WINDOW w AS (PARTITION BY indicator_id, period, peer_group, peer_group_key)
        """
    )
    seconds = time.perf_counter() - start
    rows = con.execute("SELECT count(*) FROM group_figures").fetchone()[0]
    return seconds, rows


def main():
    out = pathlib.Path(sys.argv[5]) if len(sys.argv) > 5 else None
    result = {"duckdb_version": duckdb.__version__, "threads": threads}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        result["load_seconds"] = load(out)
    con, seconds, per_indicator, failed, rows = indicators()
    result.update(
        indicators_seconds=seconds,
        indicator_rows=rows,
        per_indicator_seconds=per_indicator,
        failed=failed,
    )
    result["comparison_seconds"], result["comparison_rows"] = comparison(con)
    json.dump(result, sys.stdout, indent=1)


main()
