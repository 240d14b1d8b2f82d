#!/usr/bin/env bash
# Checks packaging/lakenode.service with `systemd-analyze verify`, pointing ExecStart at
# a lakenode binary that exists (default: target/debug/lakenode). systemd-analyze exits 0
# even for unknown keys or bad values and only prints them, so any output fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/target/debug/lakenode}"
[ -x "$bin" ] || { echo "check-service.sh: no lakenode binary at $bin (cargo build first)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed "s|/usr/bin/lakenode|$bin|" "$root/packaging/lakenode.service" > "$work/lakenode.service"
out="$(systemd-analyze verify "$work/lakenode.service" 2>&1)" || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
  echo "$out" >&2
  echo "check-service.sh: systemd-analyze found problems in packaging/lakenode.service" >&2
  exit 1
fi
echo "check-service.sh: packaging/lakenode.service verified"
