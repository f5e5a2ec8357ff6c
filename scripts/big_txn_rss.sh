#!/usr/bin/env bash
# Measures the `replicator` program's peak resident memory (VmHWM) while one transaction of
# BIG_TXN_ROWS rows (default 1,000,000) streams through it, with streaming off and on, against a
# private PostgreSQL 15. Prints one line per run and a summary table (docs/large_transactions.md).
#   scripts/big_txn_rss.sh                      # 1M rows, memory_limit_bytes 16 MB (default)
#   BIG_TXN_ROWS=200000 BIG_TXN_BASELINE=1 scripts/big_txn_rss.sh   # also a run with spilling off
# Environment: BAZEL_STARTUP_FLAGS (e.g. --output_base=...), BAZEL_BUILD_FLAGS (default --config=opt),
# BIG_TXN_MEMORY_LIMIT (bytes, default 16777216), BIG_TXN_MODES (default "off on").
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${BIG_TXN_INNER:-}" ]]; then
  # shellcheck disable=SC2086
  bazel ${BAZEL_STARTUP_FLAGS:-} build ${BAZEL_BUILD_FLAGS:---config=opt} //src:replicator >&2
  # shellcheck disable=SC2086
  BIN="$(bazel ${BAZEL_STARTUP_FLAGS:-} info ${BAZEL_BUILD_FLAGS:---config=opt} bazel-bin 2>/dev/null)/src/replicator"
  [[ -x "$BIN" ]] || { echo "replicator binary not found at $BIN" >&2; exit 1; }
  export BIG_TXN_INNER=1 BIG_TXN_BIN="$BIN"
  exec scripts/with_postgres.sh "$0" "$@"
fi

# ---- inside scripts/with_postgres.sh: PGHOST/PGPORT/PGUSER/PGDATABASE point at the private server.
BIN=$BIG_TXN_BIN
ROWS=${BIG_TXN_ROWS:-1000000}
LIMIT=${BIG_TXN_MEMORY_LIMIT:-16777216}
MODES=${BIG_TXN_MODES:-off on}
PSQL=(/usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1)
WORK=$(mktemp -d /tmp/replicator-bigtxn.XXXXXX)
PID=""
cleanup() {
  local rc=$?
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT

"${PSQL[@]}" -c "CREATE TABLE big_txn (id int PRIMARY KEY, v text)" \
  -c "CREATE PUBLICATION big_txn_pub FOR TABLE big_txn"

SUMMARY=()
# run NAME STREAMING(on|off) MEMORY_LIMIT
run() {
  local name=$1 streaming=$2 limit=$3
  local dir="$WORK/$name" slot="big_txn_$name"
  mkdir -p "$dir"
  local proto=1 stream=false
  if [[ $streaming == on ]]; then proto=2 stream=true; fi
  cat >"$dir/replicator.yaml" <<YAML
postgresql_host: '$PGHOST'
postgresql_port: $PGPORT
postgresql_database: '$PGDATABASE'
postgresql_user: '$PGUSER'
postgresql_slot_name: $slot
postgresql_publication_name: big_txn_pub
proto_version: $proto
streaming: $stream
position_store: file
position_file: $dir/position
sink: file
sink_file: $dir/out.jsonl
memory_limit_bytes: $limit
spill_directory: $dir
batch_max_changes: 10000
YAML
  "${PSQL[@]}" -c "TRUNCATE big_txn"
  "$BIN" --config "$dir/replicator.yaml" 2>"$dir/log" &
  PID=$!
  for _ in $(seq 1 300); do
    [[ $("${PSQL[@]}" -At -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND active") == 1 ]] && break
    kill -0 "$PID" || { cat "$dir/log" >&2; exit 1; }
    sleep 0.1
  done
  local start end
  start=$(date +%s.%N)
  "${PSQL[@]}" -c "INSERT INTO big_txn SELECT g, md5(g::text) || ' ' || repeat('x', 40) FROM generate_series(1, $ROWS) g"
  "${PSQL[@]}" -c "INSERT INTO big_txn VALUES (-1, 'marker')"
  # Done when the marker row (committed after the big transaction) is in the sink file.
  until grep -q '"id":"-1"' "$dir/out.jsonl" 2>/dev/null; do
    kill -0 "$PID" || { cat "$dir/log" >&2; exit 1; }
    sleep 0.2
  done
  end=$(date +%s.%N)
  local hwm rss
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status")
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")
  kill -TERM "$PID"
  wait "$PID" || { echo "replicator exited with $?" >&2; cat "$dir/log" >&2; exit 1; }
  PID=""
  local rows spilled secs
  rows=$(grep -c '"op":"insert"' "$dir/out.jsonl")
  spilled=$(grep -c 'large transaction spilled to disk' "$dir/log" || true)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  printf 'run=%s streaming=%s memory_limit_bytes=%s rows_written=%s spill_log_lines=%s seconds=%s peak_rss_mb=%.1f final_rss_mb=%.1f\n' \
    "$name" "$streaming" "$limit" "$rows" "$spilled" "$secs" "$(echo "$hwm / 1024" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
  [[ $rows -eq $((ROWS + 1)) ]] || { echo "expected $((ROWS + 1)) rows, got $rows" >&2; exit 1; }
  SUMMARY+=("| $streaming | $limit | $ROWS | $secs | $(echo "scale=1; $hwm / 1024" | bc) |")
  "${PSQL[@]}" -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null
  rm -f "$dir/out.jsonl"
}

for mode in $MODES; do run "streaming_$mode" "$mode" "$LIMIT"; done
if [[ -n "${BIG_TXN_BASELINE:-}" ]]; then
  for mode in $MODES; do run "nospill_$mode" "$mode" 0; done
fi

echo
echo "| streaming | memory_limit_bytes | rows in the transaction | seconds | peak RSS (MB) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${SUMMARY[@]}"
