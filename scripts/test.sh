#!/usr/bin/env bash
# The test command: installs what is missing, starts a private PostgreSQL 15, runs every test
# (bazel test //..., then ASan+UBSan, then bounded fuzzing), stops the server at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
exec scripts/with_postgres.sh scripts/run_tests_inner.sh
