#!/usr/bin/env bash
# Runs inside scripts/with_postgres.sh (PGHOST/PGPORT set). Use scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== bazel test //... (optimized build, real PostgreSQL on port $PGPORT)" >&2
bazel test //... --test_output=errors
echo "== bazel test //... under ASan+UBSan" >&2
bazel test //... --config=asan --test_output=errors --test_tag_filters=-no_asan
if [[ -x scripts/fuzz.sh ]]; then
  echo "== fuzzing (bounded)" >&2
  scripts/fuzz.sh
fi
echo "all test stages passed" >&2
