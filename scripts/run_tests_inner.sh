#!/usr/bin/env bash
# Runs inside scripts/with_postgres.sh (PGHOST/PGPORT set). Use scripts/test.sh.
# Stages: every test under ASan+UBSan on the default server (Debian's 15), the no_asan-tagged process
# tests in a plain build, the pg_matrix-tagged tests against PostgreSQL 14, 16, 17 and 18, then bounded fuzzing. A plain `bazel test //...` runs everything without sanitizers.
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
# The toolkit from other projects: header warnings (gcc, clang), CMake + pkg-config and Bazel consumers.
run_stage "consumers (examples/consumer_cmake, examples/consumer_bazel, pkg-config, header warnings)" scripts/test_consumers.sh
# The version matrix: the tests tagged pg_matrix (live transport, slots, snapshot, the program end to
# end) again against every other major, reusing the ASan build (only the server changes). Majors come
# from scripts/install_pg_majors.sh (npm builds, installed once by scripts/test.sh).
# On by default; REPLICATOR_PG_MAJORS="16 18" narrows it, REPLICATOR_PG_MAJORS=none skips it.
majors_ran="$REPLICATOR_PG_MAJOR"
for major in ${REPLICATOR_PG_MAJORS:-14 16 17 18}; do
  [[ $major == none || $major == "$REPLICATOR_PG_MAJOR" ]] && continue
  if ! bin=$(scripts/install_pg_majors.sh "$major" 2>>"$LOG" | cut -d' ' -f2) || [[ -z $bin ]]; then
    echo "PostgreSQL $major: not installed (scripts/install_pg_majors.sh $major failed)" | tee -a "$LOG" >&2
    failed_stage+="${failed_stage:+, }PostgreSQL $major install"
    continue
  fi
  run_stage "bazel test --test_tag_filters=pg_matrix under ASan+UBSan against PostgreSQL $major" \
    env REPLICATOR_PG_BIN="$bin" scripts/with_postgres.sh \
    bazel test //... --config=asan --build_tests_only --test_tag_filters=pg_matrix,-no_asan --test_output=errors --test_summary=short
  majors_ran+=" $major"
done

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
echo "PostgreSQL majors tested: $majors_ran"
echo "tests: $passed passed, $failed failed"
[[ -z "$failed_stage" ]]
