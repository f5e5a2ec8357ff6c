#!/usr/bin/env bash
# The apply benchmark (bench/README.md, "Apply"; docs/apply.md): two private PostgreSQL clusters
# (source and target, scripts/pg_cluster.sh), the live benchmark's ~1M-change backlog
# (scripts/bench_common.py) on the source behind a base slot, applied into the target from a copy
# of that slot by native CREATE SUBSCRIPTION (create_slot = false on the copy, copy_data = false) and
# by the program with sink: postgresql (1 worker; apply_workers 2 and 4 where the program takes that
# key, else skipped with a line saying so). A run ends when the run's replication origin on the
# target has passed the last source transaction, for both; every target is checked equal to the
# source. Prints rows/s and the ratio to native, medians of BENCH_ROUNDS rounds (default 3), A/B
# alternating. Not part of the test command (nothing here is asserted but equality).
#   scripts/bench_apply.sh                                  # full size, 3 rounds
#   BENCH_SCALE=0.1 BENCH_ROUNDS=1 scripts/bench_apply.sh   # a quick look
# REPLICATOR_PG_BIN picks the server build (both clusters; Debian's 15 by default).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN=${REPLICATOR_PG_BIN:-/usr/lib/postgresql/15/bin}
OUTPUT_BASE=${BENCH_OUTPUT_BASE:-$HOME/.cache/bazel-ob-bench}
flags=(-c opt --config=opt --symlink_prefix=/)
echo "bench_apply: building //src:replicator (-c opt)" >&2
bazel --output_base="$OUTPUT_BASE" build "${flags[@]}" //src:replicator >&2
bin=$(bazel --output_base="$OUTPUT_BASE" info "${flags[@]}" bazel-bin 2>/dev/null)
export BENCH_REPLICATOR="$bin/src/replicator"

WORK=$(mktemp -d /tmp/replicator-bench-apply.XXXXXX)
chmod 755 "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
cleanup() {
  local rc=$?
  for side in source target; do
    [[ -d "$WORK/$side/data" ]] && scripts/pg_cluster.sh stop "$PG_BIN" "$WORK/$side" immediate >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

# The default logical_decoding_work_mem (64MB) on the source rather than the test clusters' 64kB, so
# the walsender spills only the large transaction, as on a production server. Room for a
# subscription's workers on the target.
BENCH_SRC_PORT=$(free_port)
scripts/pg_cluster.sh init "$PG_BIN" "$WORK/source" "$BENCH_SRC_PORT" "logical_decoding_work_mem = 64MB"
scripts/pg_cluster.sh start "$PG_BIN" "$WORK/source"
BENCH_TGT_PORT=$(free_port)
scripts/pg_cluster.sh init "$PG_BIN" "$WORK/target" "$BENCH_TGT_PORT" "max_logical_replication_workers = 8" \
  "max_worker_processes = 16"
scripts/pg_cluster.sh start "$PG_BIN" "$WORK/target"
echo "bench_apply: PostgreSQL $(scripts/pg_cluster.sh major "$PG_BIN"): source 127.0.0.1:$BENCH_SRC_PORT, target 127.0.0.1:$BENCH_TGT_PORT" >&2
export BENCH_SRC_PORT BENCH_TGT_PORT
python3 scripts/bench_apply.py "$@"
