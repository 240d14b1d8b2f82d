#!/usr/bin/env python3
"""Times the hourly-average query our users run, with DuckDB over a local lake.

    lake_query.py LAKE [--runs N]

Prints the number of Parquet files, the rows, and the median wall time of N runs (after
one warm-up run) of: hourly average temperature and max PM2.5 per station, over
hive-partitioned `station=*/year=*/month=*/day=*/*.parquet`. Used by
scripts/compaction-bench.sh to compare a lake before and after `lakenode compact`.
"""
import argparse
import glob
import os
import statistics
import time

import duckdb

ap = argparse.ArgumentParser()
ap.add_argument("lake")
ap.add_argument("--runs", type=int, default=5)
args = ap.parse_args()
pattern = os.path.join(args.lake, "station=*", "*", "*", "*", "*.parquet")
files = glob.glob(pattern)
query = f"""
SELECT station, date_trunc('hour', timestamp) AS hour,
       avg(temperature) AS avg_temperature, max(pm25) AS max_pm25, count(*) AS n
FROM read_parquet('{pattern}', hive_partitioning = true, union_by_name = true)
GROUP BY ALL
"""
con = duckdb.connect()
rows = con.execute(f"SELECT count(*) FROM read_parquet('{pattern}')").fetchone()[0]
con.execute(query).fetchall()  # warm-up: file metadata and OS cache
times = []
for _ in range(args.runs):
    t = time.perf_counter()
    groups = len(con.execute(query).fetchall())
    times.append(time.perf_counter() - t)
print(f"files={len(files)} rows={rows} groups={groups} median_s={statistics.median(times):.3f}")
