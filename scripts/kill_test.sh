#!/usr/bin/env bash
# Runs the reliability tests (tests/reliability: kill tests, server restarts, failing position
# stores, a full sink disk) against a private PostgreSQL 15. `--long` runs the kill test with 1M changes and 100
# SIGKILLs (about 6 minutes); KILL_TEST_CHANGES / KILL_TEST_KILLS / KILL_TEST_SECONDS / KILL_TEST_SEED
# set the size explicitly. Usage: scripts/kill_test.sh [--long] [more bazel test flags]
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(--test_output=all)
if [[ "${1:-}" == "--long" ]]; then
  shift
  flags+=(--test_env=KILL_TEST_LONG=1)
fi
for var in KILL_TEST_CHANGES KILL_TEST_KILLS KILL_TEST_SECONDS KILL_TEST_SEED RESTART_TEST_CHANGES; do
  if [[ -n "${!var:-}" ]]; then flags+=("--test_env=$var=${!var}"); fi
done
exec scripts/with_postgres.sh bazel test //tests/reliability/... "${flags[@]}" "$@"
