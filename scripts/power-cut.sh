#!/usr/bin/env bash
# Power cuts at flash writes (crates/lakenode/tests/power_cut.rs): a station's day on
# LittleFS's C code over the simulated spool partition, under esp_littlefs's VFS rules,
# with the power cut at N distinct flash programs or erases (default 10,000), the flash
# remounted without a format and the station reopened after each. Debug build, with the
# workspace's features: ./scripts/test.sh has built it already; the run takes ~20 s.
# Needs Debian's libclang-dev (littlefs2-sys runs bindgen). Usage: power-cut.sh [N]
# Ends with one line:
#   power-cut: cuts=N journaled=J delivered=D duplicated=U lost=L formats=F other-bytes=O
set -euo pipefail
cd "$(dirname "$0")/.."

cuts="${1:-10000}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
LAKENODE_POWER_CUTS="$cuts" cargo test --quiet --workspace --test power_cut -- --nocapture \
  >"$log" 2>&1 || status=$?
line=$(grep '^power-cut: ' "$log" | tail -n 1 || true)
if [ "$status" -ne 0 ] || [ -z "$line" ]; then
  cat "$log" >&2
  [ "$status" -ne 0 ] || status=1
fi
echo "${line:-power-cut: the test did not finish (see above)}"
exit "$status"
