#!/usr/bin/env bash
# The toolkit used from other projects (README "Use it in your project"), one stage of the test command:
#   1. every public header compiles with -Wall -Wextra -Wpedantic -Werror, C++20, under gcc and clang
#      (one translation unit including them all; --each: also every header on its own, slower);
#   2. CMake: this repository installed to a temp prefix, examples/consumer_cmake built against it with
#      find_package(replicator CONFIG) and run on a replay file; pkg-config's replicator.pc used the same way;
#   3. Bazel: examples/consumer_bazel (its own workspace, local_repository on this one) built and run.
# Exits non-zero on the first failure; temp dirs are removed and the consumer's Bazel server is stopped.
#   scripts/test_consumers.sh [--each]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STREAM=$ROOT/tests/data/basic.stream
TMP=$(mktemp -d /tmp/replicator-consumers.XXXXXX)
cleanup() {
  (cd "$ROOT/examples/consumer_bazel" && bazel shutdown >/dev/null 2>&1) || true
  rm -rf "$TMP"
}
trap cleanup EXIT
step() { echo "-- $*" >&2; }
WARN=(-std=c++20 -Wall -Wextra -Wpedantic -Werror)
PG_INCLUDE=$(pkg-config --cflags-only-I libpq)

# The replay consumer's line for STREAM ("events=N inserts=N batches=N confirmed=X/Y"): some inserts,
# and the same line from every build.
first_replay=""
check_replay() {  # binary
  local out
  out=$("$1" "$STREAM")
  echo "   $out" >&2
  [[ $out =~ ^events=[1-9][0-9]*\ inserts=[1-9] ]] || { echo "unexpected output from $1: $out" >&2; return 1; }
  [[ -z $first_replay || $out == "$first_replay" ]] || { echo "$1 differs: '$out' vs '$first_replay'" >&2; return 1; }
  first_replay=$out
}

# Each consumer is a standalone project, so each has its own copy of the two programs: keep them equal.
for f in replay_count.cpp live_tail.cpp; do
  cmp -s examples/consumer_cmake/$f examples/consumer_bazel/$f || { echo "examples/consumer_{cmake,bazel}/$f differ" >&2; exit 1; }
done

step "public headers with ${WARN[*]} (gcc and clang)"
headers=$(cd include && find replicator -name '*.hpp' | sort)
for h in $headers; do echo "#include \"$h\""; done >"$TMP/all_headers.cpp"
g++ "${WARN[@]}" -fsyntax-only -Iinclude $PG_INCLUDE "$TMP/all_headers.cpp" &
gcc_pid=$!
clang++ "${WARN[@]}" -fsyntax-only -Iinclude $PG_INCLUDE "$TMP/all_headers.cpp"
wait $gcc_pid
if [[ ${1:-} == --each ]]; then
  step "each header on its own (gcc)"
  for h in $headers; do
    echo "#include \"$h\"" | g++ -x c++ "${WARN[@]}" -fsyntax-only -Iinclude $PG_INCLUDE - || { echo "not self-contained: $h" >&2; exit 1; }
  done
fi
echo "   $(wc -w <<<"$headers") headers" >&2

step "CMake: install to a temp prefix, find_package(replicator CONFIG) from examples/consumer_cmake"
cmake -S . -B "$TMP/build" -DCMAKE_INSTALL_PREFIX="$TMP/prefix" >"$TMP/cmake.log" 2>&1 || { cat "$TMP/cmake.log" >&2; exit 1; }
cmake --install "$TMP/build" >>"$TMP/cmake.log" 2>&1 || { cat "$TMP/cmake.log" >&2; exit 1; }
cmake -S examples/consumer_cmake -B "$TMP/consumer" -DCMAKE_PREFIX_PATH="$TMP/prefix" >>"$TMP/cmake.log" 2>&1 &&
  cmake --build "$TMP/consumer" -j2 >>"$TMP/cmake.log" 2>&1 || { cat "$TMP/cmake.log" >&2; exit 1; }
check_replay "$TMP/consumer/replay_count"
rc=0; "$TMP/consumer/live_tail" 2>/dev/null || rc=$?
[[ $rc == 2 ]] || { echo "live_tail without arguments: exit $rc, expected 2 (usage)" >&2; exit 1; }

step "pkg-config: replicator.pc, replicator-libpq.pc, replicator-azure.pc"
export PKG_CONFIG_PATH="$TMP/prefix/lib/pkgconfig"
g++ "${WARN[@]}" $(pkg-config --cflags replicator) examples/consumer_cmake/replay_count.cpp -o "$TMP/replay_pc"
check_replay "$TMP/replay_pc"
[[ " $(pkg-config --libs replicator-libpq) " == *" -lpq "* ]] || { echo "replicator-libpq.pc does not link -lpq" >&2; exit 1; }
libs=$(pkg-config --libs replicator-azure)
[[ $libs == *-lcurl* && $libs == *-lcrypto* ]] || { echo "replicator-azure.pc links '$libs'" >&2; exit 1; }
unset PKG_CONFIG_PATH

step "Bazel: examples/consumer_bazel (local_repository on this checkout)"
(
  cd examples/consumer_bazel
  bazel build //:replay_count //:live_tail >"$TMP/bazel.log" 2>&1 || { cat "$TMP/bazel.log" >&2; exit 1; }
  bin=$(bazel info bazel-bin 2>/dev/null)
  check_replay "$bin/replay_count"
)
echo "consumers: headers (gcc, clang), CMake, pkg-config and Bazel consumers passed" >&2
