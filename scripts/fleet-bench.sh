#!/usr/bin/env bash
# The year report's benchmark: builds a compacted lake of STATIONS stations x DAYS days
# straight from the simulator (`lakenode fleet-lake`: daily files with their footer
# summaries, as `compact` leaves them), then times `lakenode report --days DAYS` over
# it, from the directory and through the embedded S3 server (`lakenode serve`), and
# prints: lake build time, objects, bytes, the report's wall and CPU time, peak memory,
# the page's size, and the cost per footer.
#
#   scripts/fleet-bench.sh [STATIONS] [DAYS]      # defaults: 1000 365
#
# Environment: INTERVAL_S (sampling interval of the simulated stations, default 5; the
# footers the report reads are the same size whatever it is, only the build is
# slower), BENCH_DIR (default ./lakenode-fleet-bench/<STATIONS>x<DAYS>, reused if it
# holds a lake of that shape), S3=0 to skip the run through the embedded server.
set -euo pipefail

stations=${1:-1000}
days=${2:-365}
interval=${INTERVAL_S:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${BENCH_DIR:-$root/lakenode-fleet-bench/${stations}x${days}}
bin=${CARGO_TARGET_DIR:-$root/target}/release/lakenode

cargo build --release -q -p lakenode-cli --manifest-path "$root/Cargo.toml"

lake=$dir/s3/lake
last=$(date -u -d yesterday +%F)
if [[ ! -f $dir/built ]]; then
    rm -rf "$dir"
    mkdir -p "$dir/s3"
    start=$(date +%s.%N)
    "$bin" fleet-lake --stations "$stations" --days "$days" --interval-s "$interval" \
        --last "$last" --dir "$lake"
    end=$(date +%s.%N)
    echo "$start $end" > "$dir/built"
fi
read -r start end < "$dir/built"
objects=$(find "$lake" -type f -name '*.parquet' | wc -l)
bytes=$(du -sb "$lake" | cut -f1)

# `report` exits 6 when a station is silent: the lake ends yesterday, so they all are.
timed() {
    local out=$1; shift
    /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$@" --days "$days" --out "$out" \
        > "$dir/report.log" 2>&1 || [[ $? -eq 6 ]] || { cat "$dir/report.log"; exit 1; }
    read -r wall user sys rss < <(tail -1 "$dir/time") # after "Command exited with..."
    echo "$wall $user $sys $rss $(stat -c %s "$out")"
}

read -r wall user sys rss page < <(timed "$dir/year.html" "$bin" report --lake "$lake")

s3_line="  through S3     skipped (S3=0)"
if [[ ${S3:-1} != 0 ]]; then
    export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
    export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
    "$bin" serve --data-dir "$dir/s3" --bucket lake > "$dir/serve.log" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null || true' EXIT
    for _ in $(seq 100); do
        grep -q 'listening on' "$dir/serve.log" && break
        sleep 0.1
    done
    endpoint=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$dir/serve.log" | head -1)
    read -r swall suser ssys srss spage < <(timed "$dir/year-s3.html" "$bin" report \
        --endpoint "$endpoint" --bucket lake --path-style)
    kill "$server"
    s3_line="  through S3     wall ${swall} s, CPU ${suser} s user + ${ssys} s sys (client), peak ${srss} KB"
fi

awk -v s="$start" -v e="$end" -v st="$stations" -v d="$days" -v o="$objects" -v b="$bytes" \
    -v w="$wall" -v u="$user" -v y="$sys" -v r="$rss" -v p="$page" -v line="$s3_line" 'BEGIN {
    printf "fleet-bench: %d stations x %d days\n", st, d
    printf "  lake built     %.1f s (fleet-lake), %d objects, %d bytes\n", e - s, o, b
    printf "  report         --days %d from the directory: wall %s s, CPU %s s user + %s s sys, peak %s KB\n", d, w, u, y, r
    printf "  page           %d bytes\n", p
    printf "  per footer     %.1f us CPU, %.1f us wall (%d station-days, 2 files each)\n", (u + y) * 1e6 / o, w * 1e6 / o, o / 2
    print line
}'
