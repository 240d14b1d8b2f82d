#!/usr/bin/env bash
# Makes docs/report.png: `lakenode report` of a 20-station, 3-day demo lake with
# simulated power cuts, rendered by headless Chromium (Debian's `chromium`).
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
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$work/profile" --window-size=1280,1700 --screenshot="$out" \
  "file://$work/demo/report.html" 2> /dev/null
echo "wrote $out ($(stat -c %s "$out") bytes)"
