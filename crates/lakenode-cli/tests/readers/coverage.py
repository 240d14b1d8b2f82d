"""Each station's share of expected samples in a lake, by DuckDB: an independent check
of `lakenode report`'s coverage column. The period is the fleet's, from its oldest
sample to just after its newest; the interval is given.

    python coverage.py LAKE_DIR INTERVAL_MS   ->   one "<station> <percent>%" per line
"""
import sys

import duckdb

lake, interval = sys.argv[1], int(sys.argv[2])
rows = (
    f"SELECT station, epoch_ms(timestamp) AS t FROM read_parquet("
    f"'{lake}/station=*/**/*.parquet', hive_partitioning = true, union_by_name = true)"
)
((lo, hi),) = duckdb.sql(f"SELECT min(t), max(t) FROM ({rows})").fetchall()
expected = (hi + interval - lo) / interval
for station, n in duckdb.sql(
    f"SELECT station, count(DISTINCT t) FROM ({rows}) GROUP BY 1 ORDER BY 1"
).fetchall():
    print(station, f"{100 * n / expected:.1f}%")
