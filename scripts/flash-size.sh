#!/usr/bin/env bash
# Flash cost of the core on x86-64, as a stand-in for the device: release builds with
# opt-level "s", LTO, one codegen unit, panic=abort (profile `flash`), measured as the
# size of .text. Prints a hello-world baseline, the encoder alone, and the whole node
# core (journal, spool, encoder, presigning, reply parsing).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v size >/dev/null || { echo "flash-size.sh needs 'size' (binutils)" >&2; exit 1; }

cargo build --quiet --profile flash -p lakenode --examples
dir=target/flash/examples
text() { size -A "$dir/$1" | awk '$1 == ".text" { print $2 }'; }
hello=$(text hello)
printf '%-44s %10s %12s\n' "binary (x86-64, opt-level s, LTO)" ".text" "over hello"
for ex in hello encode_window node; do
  t=$(text "$ex")
  printf '%-44s %10d %12d\n' "$ex" "$t" "$((t - hello))"
done
