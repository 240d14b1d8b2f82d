#!/usr/bin/env bash
# Measures `lakenode compact` on a demo lake: files, bytes, compaction time and the DuckDB
# hourly-average query time before and after, for both ways of building daily files.
#
#   scripts/compaction-bench.sh [STATIONS] [HOURS]     (default 100 stations, 48 h)
#
# Needs the test venv (./scripts/test.sh makes .venv with DuckDB). Prints one line per
# lake; docs/compaction.md records the figures.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
stations="${1:-100}"
hours="${2:-48}"
py="${LAKENODE_PYTHON:-$root/.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q --release -p lakenode-cli
bin="$root/target/release/lakenode"
# Whole UTC days: start at midnight two days back so every day is complete.
start="$(date -u -d "@$(( ($(date -u +%s) / 86400 - hours / 24 - 1) * 86400 ))" +%Y-%m-%dT%H:%M:%SZ)"
echo "== demo: $stations stations x $hours h from $start"
"$bin" demo --stations "$stations" --hours "$hours" --start "$start" --no-compact --data-dir "$work/demo" \
  | grep -E "files  |wall time"
lake="$work/demo/s3/lakenode"
echo "== before: $(du -sb --exclude='.*' "$lake" | cut -f1) bytes on disk"
"$py" scripts/lake_query.py "$lake"
for strategy in copy rewrite; do
  cp -r "$lake" "$work/$strategy"
  find "$work/$strategy" -name '.*' -delete
  echo "== compact --strategy $strategy"
  "$bin" compact --lake "$work/$strategy" --strategy "$strategy" \
    | grep -E "station-days|files|bytes|time"
  "$py" scripts/lake_query.py "$work/$strategy"
done
