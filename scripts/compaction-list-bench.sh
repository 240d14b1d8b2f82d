#!/usr/bin/env bash
# Compares two `lakenode` binaries' `compact` of a demo's fleet day through the embedded
# S3 server (`lakenode serve` of the first binary, a separate process, loopback),
# alternating them: the wall time, CPU time (user + system) and peak RSS of compact, and
# the server's CPU time; then, in a run of each under `strace` (not timed), the requests
# compact sent, by kind (the request lines it writes: LIST is a GET with `list-type`).
#
#   scripts/compaction-list-bench.sh OLD_BIN NEW_BIN [STATIONS] [ROUNDS]   (200, 2)
#
# Needs GNU time (/usr/bin/time). CPU time is the figure to compare on a busy machine.
set -euo pipefail
old="$1"
new="$2"
stations="${3:-200}"
rounds="${4:-2}"
work="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
# The documented example keys: the server is on loopback and lives for this script only.
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
tick="$(getconf CLK_TCK)"
echo "== $stations stations x 24 h, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$new" demo --stations "$stations" --hours 24 --start 2026-12-01T00:00:00Z --no-compact \
  --data-dir "$work/demo" | grep -E "files  " || true
cpu_of() { # pid: its CPU seconds so far (user + system)
  awk -v t="$tick" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"
}
for round in 0 $(seq "$rounds"); do
  for which in old new; do
    bin="$old"
    [ "$which" = new ] && bin="$new"
    rm -rf "$work/s3"; mkdir -p "$work/s3"; cp -r "$work/demo/s3/lakenode" "$work/s3/lake"
    port=$((20000 + RANDOM % 20000))
    "$old" serve --data-dir "$work/s3" --port "$port" --bucket lake >/dev/null 2>&1 &
    server=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    before="$(cpu_of "$server")"
    traced=""
    [ "$round" = 0 ] && traced="strace -f -qq -e trace=write,sendto,writev -s 1500 -o $work/trace"
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" $traced "$bin" compact \
      --endpoint "http://127.0.0.1:$port" --bucket lake --path-style --before 2026-12-30 \
      >"$work/out" 2>"$work/err"
    read -r wall user sys rss <"$work/time"
    server_cpu="$(echo "$(cpu_of "$server") - $before" | bc)"
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
    if [ -n "$traced" ]; then
      ops="$(grep -oE '"(GET|PUT|POST|DELETE|HEAD) /[^ ]*' "$work/trace" | awk '
        /list-type/ { n["LIST"]++; next } /[?&]delete/ { n["DeleteObjects"]++; next }
        { sub(/^"/, ""); n[$1]++ } END { for (k in n) printf "%s %d, ", k, n[k] }')"
      echo "$which (under strace, not timed): requests ${ops%, }"
    else
      echo "round $round $which: wall $wall s, CPU $(echo "$user + $sys" | bc) s (user $user," \
        "sys $sys), peak RSS $rss KiB; server CPU $server_cpu s; load $(cut -d' ' -f1 /proc/loadavg)"
    fi
    grep -E "rollups" "$work/out" || true
  done
done
