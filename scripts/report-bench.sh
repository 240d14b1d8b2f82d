#!/usr/bin/env bash
# `lakenode report` on a demo lake of STATIONS stations x HOURS hours with simulated
# power cuts (default 50 x 72: the issue's 50-station, 3-day lake): wall time (median
# of 3 runs), peak heap and the page's bytes, on the window files and again after
# `lakenode compact` made them daily files. Also prints the time of DuckDB's
# per-station count over the same lake as a baseline measured in the same run.
#
#   scripts/report-bench.sh [STATIONS] [HOURS]
#
# Needs the test venv for the DuckDB baseline (./scripts/test.sh makes .venv).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
stations="${1:-50}"
hours="${2:-72}"
py="${LAKENODE_PYTHON:-$root/.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q --release -p lakenode-cli
bin="${CARGO_TARGET_DIR:-$root/target}/release/lakenode"

echo "making the lake: lakenode demo --stations $stations --hours $hours --outages"
"$bin" demo --stations "$stations" --hours "$hours" --outages --no-compact --start 2026-11-01T00:00:00Z \
  --data-dir "$work/demo" --log warn > "$work/demo.txt" 2>&1
lake="$work/demo/s3/lakenode"
# As of the demo's end (the lake is in the past); exit 6 is the alarm for the station a
# power cut silenced, not a failure.
at="$(date -u -d "2026-11-01T00:00:00Z + $hours hours" +%Y-%m-%dT%H:%M:%SZ)"
grep -E "^  (files|rows|outages) " "$work/demo.txt"

median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }

bench() {
  local label="$1" times=() start end
  for i in 1 2 3; do
    start=$(date +%s.%N)
    LAKENODE_HEAP_REPORT=1 "$bin" report --lake "$lake" --at "$at" --out "$work/report.html" \
      > "$work/out.txt" 2> "$work/err.txt" || [ $? -eq 6 ]
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  echo "$label: $(grep '^wrote' "$work/out.txt" | sed "s|$work/||")"
  echo "  median wall time $(median "${times[@]}") s (runs: ${times[*]}), $(grep '^heap' "$work/err.txt")"
  echo "  page: $(stat -c %s "$work/report.html") bytes"
}

bench "window files"
if [ -x "$py" ]; then
  "$py" - "$lake" <<'PY'
import sys, time, duckdb
lake = sys.argv[1]
best = None
for _ in range(3):
    t = time.perf_counter()
    duckdb.sql(f"SELECT station, date_trunc('hour', timestamp) AS h, count(*) FROM read_parquet('{lake}/station=*/**/*.parquet', hive_partitioning = true, union_by_name = true) GROUP BY ALL").fetchall()
    t = time.perf_counter() - t
    best = t if best is None else min(best, t)
print(f"  baseline: DuckDB counting rows per station-hour over the same files: {best:.2f} s (best of 3)")
PY
fi
"$bin" compact --lake "$lake" --before 2100-01-01 --log warn > /dev/null
bench "daily files (after compact)"
cp "$work/report.html" "${REPORT_BENCH_KEEP:-/dev/null}" 2>/dev/null || true
