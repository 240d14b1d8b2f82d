#!/usr/bin/env bash
# The test command. Installs the independent checkers once (Parquet readers and
# Espressif's NVS generator into ./.venv; s3rver with npm), then runs the whole suite:
# unit, integration (S3 servers on loopback, real TCP) and doc tests. Extra arguments
# go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! .venv/bin/python -c "import pyarrow, duckdb, polars, esp_idf_nvs_partition_gen, prometheus_client" 2>/dev/null; then
  echo "test.sh: installing the Parquet readers into .venv (requirements-test.txt)" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
fi
export LAKENODE_PYTHON="$PWD/.venv/bin/python"

# s3rver: an independent (Node.js) SigV4-checking S3 implementation.
s3rver=crates/lakenode-cli/tests/s3rver
if [ ! -d "$s3rver/node_modules/@20minutes/s3rver" ]; then
  echo "test.sh: installing s3rver (npm ci in $s3rver)" >&2
  (cd "$s3rver" && npm ci --no-audit --no-fund --silent)
fi

# The tests' temporary files (spools, journals, the S3 servers' objects, lakes) on tmpfs
# where there is one: on a disk most of the suite's wall time was fsync, which no test
# can observe (what survives a power cut is tested on the simulated flash, tests/
# power_cut.rs). LAKENODE_TEST_TMPDIR=DIR puts them elsewhere (=/tmp: on the disk).
# Only where files may be run (tests run scripts from there: credential_process).
tmp_base="${LAKENODE_TEST_TMPDIR:-/dev/shm}"
# With room to spare only (tmpfs is memory; a container's /dev/shm may be 64 MB): at
# least 4 GiB free, unless the place was chosen.
tmp_free_kb=$(df -Pk "$tmp_base" 2>/dev/null | awk 'NR == 2 {print $4}')
if [ -z "${LAKENODE_TEST_TMPDIR:-}" ] && [ "${tmp_free_kb:-0}" -lt 4194304 ]; then
  tmp_base=""
fi
if [ -n "$tmp_base" ] && [ -d "$tmp_base" ] && [ -w "$tmp_base" ]; then
  tmp="$(mktemp -d "$tmp_base/lakenode-test.XXXXXX")"
  printf '#!/bin/sh\n' > "$tmp/exec-check" && chmod +x "$tmp/exec-check"
  if "$tmp/exec-check" 2>/dev/null; then
    rm -f "$tmp/exec-check"
    export TMPDIR="$tmp"
    trap 'rm -rf "$TMPDIR"' EXIT
  else
    rm -rf "$tmp"
  fi
fi

if [ "$#" -eq 0 ]; then
  # --show-output prints the figures of passing tests (fault test, readers' checks).
  cargo test --workspace -- --show-output
else
  cargo test --workspace "$@"
fi
