#!/usr/bin/env python3
"""Independent readers' check of a lakenode data lake: pyarrow, DuckDB and Polars.

Every Parquet file under LAKE (station=*/year=*/month=*/day=*/*.parquet) is read by each
reader on its own; the schema must be `timestamp` TIMESTAMP(ms, UTC) plus FLOAT
measurement columns, and all three readers must return the same rows. With --expected,
the rows must equal the expected samples at sensor resolution (each sampled instant
exactly once per station). Then the lake is queried the way our users do: DuckDB with
hive_partitioning and union_by_name, and Polars with hive partitioning.

Exit status 0 on success; 1 with a message naming the file and row on any mismatch.
"""
import argparse
import decimal
import glob
import json
import math
import os
import sys

try:
    import duckdb
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError as e:  # pragma: no cover - environment problem, reported clearly
    sys.exit(f"missing Parquet reader ({e}); install with: pip install -r requirements-test.txt")

DECIMALS = {
    "temperature": 2, "humidity": 2, "pressure": 2, "pm1": 0, "pm25": 0, "pm10": 0,
    "co2": 0, "voc_index": 0, "battery": 3,
}


def fail(msg):
    print(f"check_lake: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def to_count(col, v):
    """A read value as an integer count of the column's resolution."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, decimal.Decimal):
        # Exact: DECIMAL columns must hold the count with the sensor's scale.
        scaled = v.scaleb(DECIMALS[col])
        if scaled != scaled.to_integral_value():
            fail(f"{col}: decimal {v} has more digits than the sensor resolution")
        return int(scaled)
    if isinstance(v, int):
        return v * 10 ** DECIMALS[col] if DECIMALS[col] == 0 else fail(f"{col}: integer for a fractional unit")
    return round(v * 10 ** DECIMALS[col])


def check_value_type(path, reader, col, type_text, is_float, is_int32, decimal_of):
    """Compat files hold FLOAT; compact ones INT32, as DECIMAL(p, s) where s > 0."""
    d = DECIMALS[col]
    if is_float:
        return "float"
    if d == 0 and is_int32:
        return "int"
    if d > 0 and decimal_of is not None and decimal_of[1] == d:
        return "decimal"
    fail(f"{path}: {reader} sees {col} as {type_text}, expected float, or int32/decimal(p,{d})")


def station_of(path):
    for part in path.split(os.sep):
        if part.startswith("station="):
            return part[len("station="):]
    fail(f"{path}: no station= partition in the path")


def read_pyarrow(path):
    t = pq.read_table(path, partitioning=None)
    ts = t.schema.field("timestamp").type
    if not (pa.types.is_timestamp(ts) and ts.unit == "ms" and ts.tz in ("UTC", "+00:00")):
        fail(f"{path}: pyarrow sees timestamp as {ts}, expected timestamp[ms, tz=UTC]")
    cols = [c for c in t.column_names if c != "timestamp"]
    for c in cols:
        if c not in DECIMALS:
            fail(f"{path}: unknown column {c}")
        ty = t.schema.field(c).type
        dec = (ty.precision, ty.scale) if pa.types.is_decimal(ty) else None
        check_value_type(path, "pyarrow", c, ty, ty == pa.float32(), ty == pa.int32(), dec)
    ms = t.column("timestamp").cast(pa.int64()).to_pylist()
    values = {c: t.column(c).to_pylist() for c in cols}
    return cols, [(ms[i], {c: to_count(c, values[c][i]) for c in cols}) for i in range(t.num_rows)]


def read_polars(path):
    df = pl.read_parquet(path, hive_partitioning=False)
    dt = df.schema["timestamp"]
    if not (isinstance(dt, pl.Datetime) and dt.time_unit == "ms" and dt.time_zone == "UTC"):
        fail(f"{path}: polars sees timestamp as {dt}, expected Datetime(ms, UTC)")
    cols = [c for c in df.columns if c != "timestamp"]
    for c in cols:
        ty = df.schema[c]
        dec = (ty.precision, ty.scale) if isinstance(ty, pl.Decimal) else None
        check_value_type(path, "polars", c, ty, ty == pl.Float32, ty == pl.Int32, dec)
    ms = df["timestamp"].dt.epoch("ms").to_list()
    values = {c: df[c].to_list() for c in cols}
    return cols, [(ms[i], {c: to_count(c, values[c][i]) for c in cols}) for i in range(df.height)]


def read_duckdb(con, path):
    rel = con.sql(f"SELECT * FROM read_parquet('{path}', hive_partitioning = false)")
    types = dict(zip(rel.columns, [str(t) for t in rel.types]))
    if types.get("timestamp") != "TIMESTAMP WITH TIME ZONE":
        fail(f"{path}: duckdb sees timestamp as {types.get('timestamp')}, expected TIMESTAMP WITH TIME ZONE")
    cols = [c for c in rel.columns if c != "timestamp"]
    for c in cols:
        ty = types[c]
        dec = None
        if ty.startswith("DECIMAL("):
            p, sc = ty[len("DECIMAL("):-1].split(",")
            dec = (int(p), int(sc))
        check_value_type(path, "duckdb", c, ty, ty == "FLOAT", ty == "INTEGER", dec)
    select = ", ".join(["epoch_ms(timestamp)"] + [f'"{c}"' for c in cols])
    rows = con.sql(f"SELECT {select} FROM read_parquet('{path}', hive_partitioning = false)").fetchall()
    return cols, [(r[0], {c: to_count(c, r[i + 1]) for i, c in enumerate(cols)}) for r in rows]


def check_health(tree, expected_files):
    """Health files: every reader opens them and sees the same single row."""
    files = sorted(glob.glob(os.path.join(tree, "station=*", "year=*", "month=*", "day=*", "health_*.parquet")))
    if len(files) != expected_files:
        fail(f"{len(files)} health files under {tree}, expected {expected_files}")
    con = duckdb.connect()
    for path in files:
        t = pq.read_table(path, partitioning=None)
        ts = t.schema.field("timestamp").type
        if not (pa.types.is_timestamp(ts) and ts.unit == "ms" and ts.tz in ("UTC", "+00:00")):
            fail(f"{path}: health timestamp is {ts}")
        a = t.to_pylist()
        d = con.sql(f"SELECT * FROM read_parquet('{path}', hive_partitioning = false)")
        d_rows = [dict(zip(d.columns, r)) for r in d.fetchall()]
        p_rows = pl.read_parquet(path, hive_partitioning=False).to_dicts()
        if not (len(a) == len(d_rows) == len(p_rows) == 1):
            fail(f"{path}: expected one health row in every reader")
        for col in ("uptime_s", "spool_files", "upload_failures", "reset_reason", "scd4x"):
            if not (a[0][col] == d_rows[0][col] == p_rows[0][col]):
                fail(f"{path}: readers disagree on {col}: {a[0][col]!r} {d_rows[0][col]!r} {p_rows[0][col]!r}")
    print(f"check_lake: OK: {len(files)} health files read alike by pyarrow, duckdb and polars")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lake", help="directory holding station=... partitions")
    ap.add_argument("--health", type=int, metavar="N", help="instead: check N health files under LAKE")
    ap.add_argument("--expected", help="JSON: {station: {timestamp_ms: {column: count or null}}}")
    ap.add_argument("--files", type=int, help="expected number of files")
    ap.add_argument("--rows", type=int, help="expected number of rows in all")
    args = ap.parse_args()
    if args.health is not None:
        check_health(args.lake, args.health)
        return

    files = sorted(glob.glob(os.path.join(args.lake, "station=*", "year=*", "month=*", "day=*", "*.parquet")))
    if not files:
        fail(f"no Parquet files under {args.lake}")
    expected = None
    if args.expected:
        with open(args.expected) as f:
            expected = {st: {int(ts): v for ts, v in rows.items()} for st, rows in json.load(f).items()}

    con = duckdb.connect()
    seen = {}
    total = 0
    for path in files:
        station = station_of(path)
        results = [read_pyarrow(path), read_duckdb(con, path), read_polars(path)]
        if not (results[0] == results[1] == results[2]):
            fail(f"{path}: pyarrow, duckdb and polars disagree")
        cols, rows = results[0]
        total += len(rows)
        for ts, values in rows:
            if ts in seen.setdefault(station, set()):
                fail(f"{path}: station {station} has timestamp {ts} twice")
            seen[station].add(ts)
            if expected is not None:
                want = expected.get(station, {}).get(ts)
                if want is None:
                    fail(f"{path}: row at {ts} was never sampled by station {station}")
                for c in cols:
                    if values[c] != want.get(c):
                        fail(f"{path}: {c} at {ts} reads {values[c]}, sampled {want.get(c)} (counts)")
    if expected is not None:
        for st, rows in expected.items():
            missing = set(rows) - seen.get(st, set())
            if missing:
                fail(f"station {st}: {len(missing)} sampled instants missing, first {min(missing)}")
    if args.files is not None and len(files) != args.files:
        fail(f"{len(files)} files, expected {args.files}")
    if args.rows is not None and total != args.rows:
        fail(f"{total} rows, expected {args.rows}")

    # The users' query: hive partitions over the whole lake.
    glob_all = os.path.join(args.lake, "station=*", "**", "*.parquet")
    hive = dict(con.sql(
        f"SELECT station, count(*) FROM read_parquet('{glob_all}', hive_partitioning = true, "
        f"union_by_name = true) GROUP BY station").fetchall())
    if hive != {st: len(ts) for st, ts in seen.items()}:
        fail(f"duckdb hive query counts {hive}, files hold {{st: len}} = {{ {[(s, len(t)) for s, t in seen.items()]} }}")
    pl_counts = (pl.scan_parquet(glob_all, hive_partitioning=True).group_by("station").len().collect())
    pl_hive = {str(r[0]): r[1] for r in pl_counts.iter_rows()}
    if pl_hive != hive:
        fail(f"polars hive scan counts {pl_hive}, duckdb {hive}")

    print(f"check_lake: OK: {len(files)} files, {total} rows, {len(seen)} station(s); "
          f"pyarrow {pa.__version__}, duckdb {duckdb.__version__}, polars {pl.__version__} agree"
          + ("; values equal the samples" if expected is not None else ""))


if __name__ == "__main__":
    main()
