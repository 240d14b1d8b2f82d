#!/usr/bin/env bash
# `lakenode encode` on a 1,000,000-row CSV (all nine columns, 5 s apart): peak heap of
# the whole process and wall time, against pyarrow's CSV to Parquet (read_csv +
# write_table, Snappy) on the same file in the same run. Median of 3 runs each.
#
#   scripts/encode-bench.sh [ROWS]
#
# Needs the test venv (./scripts/test.sh makes .venv with pyarrow).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rows="${1:-1000000}"
py="${LAKENODE_PYTHON:-$root/.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q --release -p lakenode-cli
bin="${CARGO_TARGET_DIR:-$root/target}/release/lakenode"
"$py" - "$work/in.csv" "$rows" <<'PY'
import random, sys
random.seed(1)
path, rows = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("timestamp,temperature,humidity,pressure,pm1,pm25,pm10,co2,battery\n")
    t = 1767225600000
    for i in range(rows):
        f.write(f"{t + i * 5000},{20 + random.random() * 5:.2f},{40 + random.random() * 20:.2f},"
                f"{1000 + random.random() * 20:.2f},{random.randint(0, 20)},{random.randint(0, 40)},"
                f"{random.randint(0, 60)},{random.randint(400, 1200)},{3.7 + random.random() * 0.4:.3f}\n")
PY
echo "input: $rows rows, $(stat -c %s "$work/in.csv") bytes"
times=()
for i in 1 2 3; do
  start=$(date +%s.%N)
  LAKENODE_HEAP_REPORT=1 "$bin" encode --input "$work/in.csv" --output "$work/out.parquet" \
    > "$work/out.txt" 2> "$work/err.txt"
  end=$(date +%s.%N)
  times+=("$(echo "$end - $start" | bc)")
done
lk=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
echo "lakenode encode: $(cat "$work/out.txt")"
echo "lakenode encode: $(grep heap "$work/err.txt"), median ${lk} s"
pa=$("$py" - "$work/in.csv" "$work/pa.parquet" <<'PY'
import statistics, sys, time
import pyarrow.csv, pyarrow.parquet
times = []
for _ in range(3):
    t = time.perf_counter()
    table = pyarrow.csv.read_csv(sys.argv[1])
    pyarrow.parquet.write_table(table, sys.argv[2], compression="snappy")
    times.append(time.perf_counter() - t)
print(f"{statistics.median(times):.3f}")
PY
)
echo "pyarrow read_csv + write_table: median ${pa} s, $(stat -c %s "$work/pa.parquet") bytes"
echo "ratio lakenode/pyarrow time: $(echo "scale=2; $lk / $pa" | bc)"
