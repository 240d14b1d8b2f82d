#!/usr/bin/env bash
# Measures `lakenode compact` on a demo's fleet day through the embedded S3 server
# (`lakenode serve`, a separate process, loopback): one station-day at a time
# (`--jobs 1`) and concurrently (`--jobs N`), and from the directory itself. For each:
# wall time, CPU time (user + system) of compact and of the server, peak RSS of compact.
#
#   scripts/compaction-bucket-bench.sh [STATIONS] [JOBS]   (default 100 stations, 8 jobs)
#
# Needs GNU time (/usr/bin/time). CPU time is the figure to compare on a busy machine;
# wall time only means something on a quiet one. docs/compaction.md records the figures.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
stations="${1:-100}"
jobs="${2:-8}"
work="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
cd "$root"
cargo build -q --release -p lakenode-cli
bin="${CARGO_TARGET_DIR:-$root/target}/release/lakenode"
# The documented example keys: the server is on loopback and lives for this script only.
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
tick="$(getconf CLK_TCK)"
echo "== $stations stations x 24 h, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" demo --stations "$stations" --hours 24 --start 2026-12-01T00:00:00Z --no-compact \
  --data-dir "$work/demo" | grep -E "files  "
measure() { # name, command...: one line of figures
  local name="$1"; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err"
  read -r wall user sys rss <"$work/time"
  echo "$name: wall $wall s, CPU $(echo "$user + $sys" | bc) s (user $user, sys $sys), peak RSS $rss KiB;" \
    "$(grep -E 'station-days  ' "$work/out" | xargs) station-days"
}
cpu_of() { # pid: its CPU seconds so far (user + system)
  awk -v t="$tick" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"
}
copy() { rm -rf "$work/s3"; mkdir -p "$work/s3"; cp -r "$work/demo/s3/lakenode" "$work/s3/lake"; }
for j in 1 "$jobs"; do
  copy
  port=$((20000 + RANDOM % 20000))
  "$bin" serve --data-dir "$work/s3" --port "$port" --bucket lake >/dev/null 2>&1 &
  server=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  before="$(cpu_of "$server")"
  measure "bucket, --jobs $j" "$bin" compact --endpoint "http://127.0.0.1:$port" --bucket lake \
    --path-style --before 2026-12-30 --jobs "$j"
  echo "  server: CPU $(echo "$(cpu_of "$server") - $before" | bc) s"
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
done
copy
measure "directory, default --jobs" "$bin" compact --lake "$work/s3/lake" --before 2026-12-30
