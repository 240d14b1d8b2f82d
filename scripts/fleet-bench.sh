#!/usr/bin/env bash
# The year report's benchmark: builds a compacted lake of STATIONS stations x DAYS days
# straight from the simulator (`lakenode fleet-lake`: daily files with their footer
# summaries, as `compact` leaves them), then times `lakenode report --days DAYS` over
# it, from the directory and through the embedded S3 server (`lakenode serve`), and
# prints: lake build time, objects, bytes, the report's wall and CPU time, peak memory,
# the page's size, and the cost per footer; each twice, with the monthly rollups
# (`compact`'s, which `fleet-lake` writes too) and with them moved aside (footers only).
#
#   scripts/fleet-bench.sh [STATIONS] [DAYS]      # defaults: 1000 365
#
# Environment: INTERVAL_S (sampling interval of the simulated stations, default 5; the
# footers the report reads are the same size whatever it is, only the build is
# slower), BENCH_DIR (default ./lakenode-fleet-bench/<STATIONS>x<DAYS>, reused if it
# holds a lake of that shape), S3=0 to skip the run through the embedded server,
# OLD_BIN=<another lakenode binary> to time it too, from the directory with the rollups,
# between two runs of this build's (the machine's load changes: alternate to compare).
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

# Each way twice: with the monthly rollups `fleet-lake` wrote (what `compact` leaves),
# then with them moved aside (one footer per station-day, as before rollups).
from_dir() { timed "$dir/year$1.html" "$bin" report --lake "$lake"; }
read -r wall user sys rss page < <(from_dir "")
old_lines=""
if [[ -n ${OLD_BIN:-} ]]; then
    read -r owall ouser osys orss _ < <(timed "$dir/year-old.html" "$OLD_BIN" report --lake "$lake")
    read -r wall2 user2 sys2 rss2 _ < <(from_dir "")
    old_lines="  old binary     rollups: wall ${owall} s, CPU ${ouser} s user + ${osys} s sys, peak ${orss} KB ($OLD_BIN)
  this, again    rollups: wall ${wall2} s, CPU ${user2} s user + ${sys2} s sys, peak ${rss2} KB
  load average   $(cut -d' ' -f1-3 /proc/loadavg)"
fi
mv "$lake/rollup" "$dir/rollup.aside"
read -r fwall fuser fsys frss fpage < <(from_dir "-footers")
mv "$dir/rollup.aside" "$lake/rollup"


s3_lines="  through S3     skipped (S3=0)"
if [[ ${S3:-1} != 0 ]]; then
    export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
    export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
    "$bin" serve --data-dir "$dir/s3" --bucket lake > "$dir/serve.log" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null || true; [[ -d $dir/rollup.aside ]] && mv "$dir/rollup.aside" "$lake/rollup"' EXIT
    for _ in $(seq 100); do
        grep -q 'listening on' "$dir/serve.log" && break
        sleep 0.1
    done
    endpoint=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$dir/serve.log" | head -1)
    via_s3() {
        timed "$dir/year-s3$1.html" "$bin" report --endpoint "$endpoint" --bucket lake --path-style
    }
    read -r swall suser ssys srss spage < <(via_s3 "")
    mv "$lake/rollup" "$dir/rollup.aside"
    read -r fswall fsuser fssys fsrss fspage < <(via_s3 "-footers")
    mv "$dir/rollup.aside" "$lake/rollup"
    kill "$server"
    s3_lines="  through S3     rollups: wall ${swall} s, CPU ${suser} s user + ${ssys} s sys (client), peak ${srss} KB
                 footers: wall ${fswall} s, CPU ${fsuser} s user + ${fssys} s sys (client), peak ${fsrss} KB"
fi
rollups=$(find "$lake/rollup" -type f -name '*.json' | wc -l)
rbytes=$(du -sb "$lake/rollup" | cut -f1)

awk -v s="$start" -v e="$end" -v st="$stations" -v d="$days" -v o="$objects" -v b="$bytes" \
    -v w="$wall" -v u="$user" -v y="$sys" -v r="$rss" -v p="$page" -v lines="$s3_lines" \
    -v fw="$fwall" -v fu="$fuser" -v fy="$fsys" -v fr="$frss" -v ro="$rollups" -v rb="$rbytes" \
    -v fp="$fpage" -v old="$old_lines" 'BEGIN {
    printf "fleet-bench: %d stations x %d days\n", st, d
    printf "  lake built     %.1f s (fleet-lake, rollups included), %d daily files, %d rollups (%d bytes), %d bytes in all\n", e - s, o, ro, rb, b
    printf "  from the dir   rollups: wall %s s, CPU %s s user + %s s sys, peak %s KB\n", w, u, y, r
    printf "                 footers: wall %s s, CPU %s s user + %s s sys, peak %s KB\n", fw, fu, fy, fr
    printf "  page           %d bytes (%d from footers: the bytes-read line differs)\n", p, fp
    printf "  per footer     %.1f us CPU, %.1f us wall (%d station-days, 2 files each)\n", (fu + fy) * 1e6 / o, fw * 1e6 / o, o / 2
    print lines
    if (old != "") print old
}'
