#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each) on the pinned nightly
# with cargo-fuzz, from seeds written here by the real code: Parquet files of both
# writer profiles, a journal and a spool entry of a short simulated run. CI runs it
# with a short time (`.ci/run`); run it longer by hand: `scripts/fuzz.sh 600`.
#
# A crash is saved under fuzz/artifacts/<target>/ and the script stops with exit 1:
# turn it into a regression test next to the code it found, then fix.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
toolchain="${FUZZ_TOOLCHAIN:-nightly-2026-05-20}"
# fuzz/: the core's and the lake side's targets; crates/lakenode-cli/fuzz: the CLI's.
targets="spool_entry journal parquet_readback pms5003 s3_error config"
cli_targets="csv_samples cli_config"

cd "$root"
# The lakenode that writes the seeds: LAKENODE_BIN if given (CI passes the one
# scripts/test.sh built: `cargo build -p lakenode-cli` unifies the dependencies'
# features without the dev-dependencies' and would build part of the tree again).
bin="${LAKENODE_BIN:-}"
if [ -z "$bin" ]; then
  cargo build -q -p lakenode-cli || exit 1
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/lakenode"
fi
[ -x "$bin" ] || { echo "fuzz.sh: no lakenode binary at $bin" >&2; exit 1; }
seeds="$(mktemp -d)"
trap 'rm -rf "$seeds"' EXIT
corpus="$root/fuzz/corpus"
cli_corpus="$root/crates/lakenode-cli/fuzz/corpus"
mkdir -p "$corpus"/{parquet_readback,journal,spool_entry} "$cli_corpus/csv_samples"
{
  echo "timestamp,temperature,humidity,pressure,pm1,pm25,pm10,co2,battery"
  for i in $(seq 0 29); do
    echo "$((1767225600000 + i * 5000)),2$((i % 10)).$((i % 7))1,4$((i % 9)).5,1013.2$((i % 5)),$i,,$((i * 2)),$((400 + i)),3.9$((i % 10))"
  done
} > "$seeds/samples.csv"
cp "$seeds/samples.csv" "$cli_corpus/csv_samples/seed.csv"
for profile in compat compact; do
  "$bin" encode --input "$seeds/samples.csv" --profile "$profile" \
    --output "$corpus/parquet_readback/seed-$profile.parquet" > /dev/null || exit 1
done
# A journal and a spool entry from a short run against an endpoint that refuses at once.
AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY \
  "$bin" run --endpoint http://127.0.0.1:9 --bucket lake --path-style \
  --station 0190f5c2-0000-7000-8000-00000000f022 --simulate 1 \
  --start 2026-11-20T00:00:00Z --duration 20m --give-up-after 1s --spool "$seeds/spool" \
  > /dev/null 2>&1
cp "$seeds/spool/journal.lkj" "$corpus/journal/seed.lkj" || exit 1
entry="$(find "$seeds/spool" -name '*.lks' | head -1)"
[ -n "$entry" ] || { echo "fuzz.sh: the seed run spooled no entry" >&2; exit 1; }
cp "$entry" "$corpus/spool_entry/seed.lks"

# run_targets FUZZ_DIR TARGETS...: builds the fuzz package in FUZZ_DIR, runs each target.
run_targets() {
  local dir="$1"
  shift
  cd "$dir" || exit 1
  mkdir -p logs
  cargo +"$toolchain" fuzz build --fuzz-dir "$dir" || exit 1
  for target in "$@"; do
    echo "== $target ($seconds s)"
    # -malloc_limit_mb: a single allocation over 256 MB is a crash (a count trusted
    # from the input). -seed fixed: a CI run explores the same inputs each time.
    cargo +"$toolchain" fuzz run --fuzz-dir "$dir" "$target" -- -max_total_time="$seconds" \
      -rss_limit_mb=1024 -malloc_limit_mb=256 -seed=1 -timeout=10 > "logs/$target.log" 2>&1
    status=$?
    grep -E "^Done|DONE|stat::number_of_executed_units" "logs/$target.log" | tail -2
    if compgen -G "artifacts/$target/*" > /dev/null; then
      tail -30 "logs/$target.log" >&2
      echo "fuzz.sh: $target crashed; see $dir/artifacts/$target/ and $dir/logs/$target.log" >&2
      exit 1
    elif [ "$status" -ne 0 ]; then
      tail -20 "logs/$target.log" >&2
      echo "fuzz.sh: $target failed to run (status $status); see $dir/logs/$target.log" >&2
      exit 1
    fi
  done
}
run_targets "$root/fuzz" $targets
run_targets "$root/crates/lakenode-cli/fuzz" $cli_targets
echo "fuzz.sh: no crashes"
