#!/usr/bin/env bash
# Makes docs/report.png: `lakenode report` of a 20-station, 3-day demo lake with
# simulated power cuts and a station registry (names and positions, generated here),
# as of the end of the demo's data, rendered by headless Chromium (Debian's `chromium`).
#
#   scripts/report-screenshot.sh [OUT.png]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/docs/report.png}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q --release -p lakenode-cli
bin="${CARGO_TARGET_DIR:-$root/target}/release/lakenode"
"$bin" demo --stations 20 --hours 72 --outages --seed 7 --start 2026-11-20T00:00:00Z \
  --data-dir "$work/demo" --log warn > /dev/null
lake="$work/demo/s3/lakenode"

# A registry: each station a plausible name and a position in Hamburg.
names=("Harbour mast" "Altona school" "Elbe ferry pier" "St. Pauli roof" "Eimsbuettel library"
  "Barmbek depot" "Wandsbek clinic" "Ottensen market" "Winterhude park" "Hammerbrook office"
  "Veddel allotment" "Wilhelmsburg pool" "Bahrenfeld stadium" "Eppendorf hospital"
  "Uhlenhorst club" "Rothenburgsort works" "Billstedt centre" "Horn racecourse"
  "Lokstedt studio" "Finkenwerder yard")
{
  echo "id,name,latitude,longitude"
  i=0
  for dir in "$lake"/station=*; do
    id="${dir##*/station=}"
    awk -v id="$id" -v name="${names[$i]}" -v i="$i" 'BEGIN {
      printf "%s,%s,%.4f,%.4f\n", id, name, 53.50 + ((i * 37) % 23) / 190, 9.83 + ((i * 53) % 29) / 90 }'
    i=$((i + 1))
  done
} > "$work/stations.csv"

# Exit 6: a station the demo cut off is silent (the alarm); the page is written.
status=0
"$bin" report --lake "$lake" --stations "$work/stations.csv" --at 2026-11-23T00:00:00Z \
  --out "$work/report.html" > /dev/null 2>&1 || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 6 ] || { echo "report failed ($status)" >&2; exit 1; }
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$work/profile" --window-size=1280,2300 --screenshot="$out" \
  "file://$work/report.html" 2> /dev/null
echo "wrote $out ($(stat -c %s "$out") bytes)"
