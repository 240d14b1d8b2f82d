#!/usr/bin/env bash
# Runs every fuzz target for a while (default 60 s each; not part of CI). Needs the
# nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). A crash is saved under
# fuzz/artifacts/<target>/ and the script stops: turn it into a regression test next to
# the code it found, then fix.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
mkdir -p logs
for target in csv_samples pms5003 s3_error config; do
  echo "== $target ($seconds s)"
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=1024 > "logs/$target.log" 2>&1
  status=$?
  grep -E "^Done|DONE" "logs/$target.log" | tail -2
  if compgen -G "artifacts/$target/crash-*" > /dev/null; then
    echo "fuzz.sh: $target crashed; see fuzz/artifacts/$target/ and fuzz/logs/$target.log" >&2
    exit 1
  elif [ "$status" -ne 0 ]; then
    tail -20 "logs/$target.log" >&2
    echo "fuzz.sh: $target failed to run (status $status); see fuzz/logs/$target.log" >&2
    exit 1
  fi
done
echo "fuzz.sh: no crashes"
