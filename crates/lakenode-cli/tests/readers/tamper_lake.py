"""Makes a demo lake hostile for `tests/report.rs`, with pyarrow (another writer):

1. a copy of a real data file dated 2099 (a partition after today);
2. a file in a real day directory holding one row at the largest timestamp;
3. a health file without `uptime_s` (it would fake restarts);
4. one real data file rewritten with its `lakenode` footer JSON spaced out (valid JSON,
   the same values: its rows must still count).

    python tamper_lake.py LAKE_DIR STATION
"""
import json
import pathlib
import shutil
import sys

import pyarrow as pa
import pyarrow.parquet as pq

lake, station = pathlib.Path(sys.argv[1]), sys.argv[2]
days = sorted((lake / f"station={station}").glob("year=*/month=*/day=*"))
day = days[0]
real = sorted(day.glob("data_*.parquet"))

future = lake / f"station={station}/year=2099/month=01/day=01"
future.mkdir(parents=True)
shutil.copy(real[0], future / "data_0000.parquet")

meta = real[0]
table = pq.read_table(meta)
lakenode_meta = table.schema.metadata[b"lakenode"]
far = pa.table(
    {"timestamp": pa.array([2**63 - 1], pa.timestamp("ms", tz="UTC"))},
).replace_schema_metadata({b"lakenode": lakenode_meta})
pq.write_table(far, day / "data_2359_235959000.parquet")

health_day = lake / "health" / day.relative_to(lake)
health = sorted(health_day.glob("health_*.parquet"))[1]
rows = pq.read_table(health).drop(["uptime_s"])
pq.write_table(rows, health)

spaced = real[1]
table = pq.read_table(spaced)
parsed = json.loads(table.schema.metadata[b"lakenode"])
table = table.replace_schema_metadata({b"lakenode": json.dumps(parsed, indent=2).encode()})
pq.write_table(table, spaced, compression="snappy")
print(future, day, health, spaced)
