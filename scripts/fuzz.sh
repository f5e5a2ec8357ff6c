#!/usr/bin/env bash
# Builds every libFuzzer target in fuzz/ with clang (ASan + UBSan, in its own Bazel output base) and
# runs each for a bounded time; fails on any crash, leak, UB report or timeout. A finding is saved
# as fuzz/corpus/<target>/regressions/<kind>-<sha1>, which the gcc corpus tests then replay.
#   FUZZ_SECONDS=60 scripts/fuzz.sh            # total budget, split evenly (at least 5 s per target)
#   scripts/fuzz.sh pgoutput_decoder lsn       # only these targets
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
OUTPUT_BASE=${FUZZ_OUTPUT_BASE:-$HOME/.cache/bazel-ob-fuzz}
WORK=${FUZZ_WORK:-$HOME/.cache/replicator-fuzz}   # grows across runs; the repo's corpus stays as committed

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=()
  for f in fuzz/*_fuzzer.cpp; do
    n=$(basename "$f" _fuzzer.cpp)
    # Only targets declared in fuzz/BUILD.bazel (a file may exist before its BUILD entry).
    if grep -q "name = \"$n\"" fuzz/BUILD.bazel; then targets+=("$n"); fi
  done
fi
[[ ${#targets[@]} -gt 0 ]] || { echo "fuzz: no targets found" >&2; exit 1; }

per=$(( FUZZ_SECONDS / ${#targets[@]} ))
(( per >= 5 )) || per=5

command -v clang >/dev/null || { echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

bazel_fuzz=(bazel --output_base="$OUTPUT_BASE")
build_flags=(
  --repo_env=CC=clang
  --copt=-fsanitize=fuzzer,address,undefined --linkopt=-fsanitize=fuzzer,address,undefined
  --linkopt=-fsanitize-link-c++-runtime     # clang links as C: UBSan's vptr checks need the C++ runtime
  --copt=-fno-sanitize-recover=all --copt=-O1 --copt=-gline-tables-only --strip=never
  --symlink_prefix=/                        # don't repoint the workspace's bazel-bin at this output base
)
labels=()
for t in "${targets[@]}"; do labels+=("//fuzz:${t}_fuzzer"); done

log=$(mktemp /tmp/replicator-fuzz-build.XXXXXX)
trap 'rm -f "$log"' EXIT
echo "fuzz: building ${#targets[@]} targets with clang (output base $OUTPUT_BASE)" >&2
if ! "${bazel_fuzz[@]}" build "${build_flags[@]}" "${labels[@]}" >"$log" 2>&1; then
  grep -v "Cannot export local symbol" "$log" >&2
  echo "fuzz: build failed" >&2
  exit 1
fi
bin=$("${bazel_fuzz[@]}" info "${build_flags[@]}" bazel-bin 2>/dev/null)

failed=0
for t in "${targets[@]}"; do
  seeds=fuzz/corpus/$t
  regressions=$seeds/regressions
  mkdir -p "$WORK/$t" "$regressions"
  out=$(mktemp /tmp/replicator-fuzz-$t.XXXXXX)
  set +e
  # New coverage goes to $WORK (first dir); the committed seeds and regressions are read only.
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    "$bin/fuzz/${t}_fuzzer" -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$regressions/" "$WORK/$t" "$seeds" >"$out" 2>&1
  rc=$?
  set -e
  # (|| true: a crash while loading the corpus leaves no stats, and pipefail would end the script)
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out" | grep -o '[0-9]*$' | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*' || true)
  corp=$(grep -o 'corp: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*' || true)
  if [[ $rc -eq 0 ]]; then
    echo "fuzz $t: OK ${runs:-?} runs in ${per}s, coverage ${cov:-?} edges, corpus ${corp:-?} inputs"
  else
    failed=1
    artifact=$(grep -o "Test unit written to [^ ]*" "$out" | tail -1 | sed 's/Test unit written to //' || true)
    echo "fuzz $t: FAILED (exit $rc) after ${runs:-?} runs; input saved as ${artifact:-<none>}"
    grep -E "ERROR|FUZZ FINDING|runtime error|SUMMARY|^ *#[0-9]+ 0x" "$out" | head -25 >&2 || true
  fi
  rm -f "$out"
done
exit $failed
