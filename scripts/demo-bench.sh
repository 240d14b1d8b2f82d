#!/usr/bin/env bash
# Measures `lakenode demo` and `lakenode compact` on a fleet's day: wall time, CPU time
# (user + system), CPU use and peak memory of each, CPU per station-day, and with
# `strace` installed the system calls per uploaded file (data and health files) of a
# second, traced demo run.
#
#   scripts/demo-bench.sh [STATIONS] [HOURS]     (default 100 stations, 24 h)
#
# Needs GNU time (/usr/bin/time). CPU time is the figure to compare on a busy machine;
# wall time only means something on a quiet one. README "Measuring" records the figures.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
stations="${1:-100}"
hours="${2:-24}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q --release -p lakenode-cli
bin="${CARGO_TARGET_DIR:-$root/target}/release/lakenode"
start="2026-12-01T00:00:00Z"
measure() { # name, command...: one line of figures
  local name="$1"; shift
  /usr/bin/time -f "%e %U %S %P %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err"
  read -r wall user sys pct rss <"$work/time"
  cpu=$(echo "$user + $sys" | bc)
  per=$(echo "scale=3; $cpu / $stations" | bc)
  echo "$name: wall $wall s, CPU $cpu s (user $user, sys $sys), $pct of one core, peak RSS $rss KiB, CPU per station-day $per s"
}
echo "== $stations stations x $hours h, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
measure demo "$bin" demo --stations "$stations" --hours "$hours" --start "$start" --no-compact --data-dir "$work/demo"
grep -E "files  |wall time" "$work/out"
measure compact "$bin" compact --lake "$work/demo/s3/lakenode" --before 2026-12-30
grep -E "station-days|time  " "$work/out"
if command -v strace >/dev/null; then
  strace -f -c -o "$work/strace" "$bin" demo --stations "$stations" --hours "$hours" --no-compact \
    --start "$start" --data-dir "$work/traced" >"$work/out" 2>&1
  files=$(awk '/^  files  / {print $2 + $4}' "$work/out")
  echo "== system calls per uploaded file ($files files, data and health):"
  awk -v n="$files" 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ {
      printf "  %-16s %8.1f\n", $NF, $4 / n }' "$work/strace" | sort -k2 -rn | head -14
fi
