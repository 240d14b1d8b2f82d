#!/usr/bin/env bash
# The test command. Installs the independent Parquet readers (pyarrow, DuckDB, Polars)
# into ./.venv once, then runs the whole suite: unit, integration (embedded S3 on
# loopback, real TCP) and doc tests. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! .venv/bin/python -c "import pyarrow, duckdb, polars, esp_idf_nvs_partition_gen" 2>/dev/null; then
  echo "test.sh: installing the Parquet readers into .venv (requirements-test.txt)" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
fi
export LAKENODE_PYTHON="$PWD/.venv/bin/python"

if [ "$#" -eq 0 ]; then
  # --show-output prints the figures of passing tests (fault test, readers' checks).
  cargo test --workspace -- --show-output
else
  cargo test --workspace "$@"
fi
