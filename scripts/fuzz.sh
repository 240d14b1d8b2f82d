#!/usr/bin/env bash
# Runs every fuzz target for a while (default 60 s each; not part of CI). Needs the
# nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). A crash is saved under
# fuzz/artifacts/<target>/ and the script stops: turn it into a regression test next to
# the code it found, then fix.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
for target in csv_samples pms5003 s3_error config; do
  echo "== $target ($seconds s)"
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=1024 2>&1 | grep -E "^#[0-9]+.*DONE|Done|SUMMARY|crash|panicked|ERROR" || true
  if compgen -G "artifacts/$target/crash-*" > /dev/null; then
    echo "fuzz.sh: $target crashed; see fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
echo "fuzz.sh: no crashes"
