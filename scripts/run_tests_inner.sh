#!/usr/bin/env bash
# Runs inside scripts/with_postgres.sh (PGHOST/PGPORT set). Use scripts/test.sh.
# Stages: every test under ASan+UBSan, the no_asan-tagged process tests in a plain build, then
# bounded fuzzing. A plain `bazel test //...` runs everything without sanitizers.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=$(mktemp /tmp/replicator-tests.XXXXXX)
trap 'rm -f "$LOG"' EXIT
failed_stage=""

run_stage() {  # name, command...
  local name=$1; shift
  echo "== $name" >&2
  if ! "$@" 2>&1 | tee -a "$LOG"; then failed_stage+="${failed_stage:+, }$name"; fi
}

# Every test runs once, under ASan+UBSan (gcc). The few tagged no_asan (kill/soak tests of the
# process, sized for a normal build) run in a second, plain pass that builds only them.
run_stage "bazel test //... under ASan+UBSan (gcc, real PostgreSQL 15 on 127.0.0.1:$PGPORT)" \
  bazel test //... --config=asan --build_tests_only --test_tag_filters=-no_asan --test_output=errors --test_summary=short
run_stage "bazel test (tests tagged no_asan: crash, restart and failure-injection tests, plain build)" \
  bazel test //... --build_tests_only --test_tag_filters=no_asan --test_output=errors --test_summary=short
if [[ -x scripts/fuzz.sh ]]; then
  run_stage "fuzzing (bounded, libFuzzer + ASan + UBSan)" scripts/fuzz.sh
fi

# One closing line for whoever reads the log: tests counted over both Bazel passes.
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$LOG" || true)
failed=$(grep -cE '^//[^ ]+ +(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "$LOG" || true)
if [[ -n "$failed_stage" ]]; then
  echo "failed stages: $failed_stage" >&2
  [[ $failed -gt 0 ]] || failed=1
fi
echo "tests: $passed passed, $failed failed"
[[ -z "$failed_stage" ]]
