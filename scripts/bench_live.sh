#!/usr/bin/env bash
# The live-path benchmark (bench/README.md, "Live path"): a private PostgreSQL, a ~1M-change backlog
# (bulk inserts, updates, deletes, TOAST, REPLICA IDENTITY FULL, one 200k-row transaction, 50k
# single-row transactions) behind a base slot; each run drains a copy of that slot
# (pg_copy_logical_replication_slot) to the backlog's end LSN with pg_recvlogical (raw bytes to
# /dev/null: the baseline) and with the program (JSON lines to stdout, JSON lines to a file with
# fdatasync per batch, Debezium to stdout, JSON into a 3-replica NATS JetStream stream), A/B alternating for BENCH_ROUNDS rounds (default 5).
# Prints per client: changes/s, ratio to pg_recvlogical, client CPU per change (user+sys),
# walsender CPU per change, peak RSS (medians). Then the latency run: a trickle of single-row
# transactions (synchronous commit, one every 10 ms), insert-to-reader p50/p99 for both clients.
# Not part of the test command (nothing here is asserted).
#   scripts/bench_live.sh                       # full size, 5 rounds
#   BENCH_SCALE=0.1 BENCH_ROUNDS=1 scripts/bench_live.sh   # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z ${PGHOST:-} ]]; then
  exec scripts/with_postgres.sh "$0" "$@"  # come back with a private server
fi

OUTPUT_BASE=${BENCH_OUTPUT_BASE:-$HOME/.cache/bazel-ob-bench}
flags=(-c opt --config=opt --symlink_prefix=/)
echo "bench_live: building //src:replicator (-c opt)" >&2
bazel --output_base="$OUTPUT_BASE" build "${flags[@]}" //src:replicator >&2
bin=$(bazel --output_base="$OUTPUT_BASE" info "${flags[@]}" bazel-bin 2>/dev/null)
export BENCH_REPLICATOR="$bin/src/replicator"
export BENCH_PG_RECVLOGICAL="${REPLICATOR_PG_BIN:-/usr/lib/postgresql/15/bin}/pg_recvlogical"
# The NATS row (3 replicas on loopback) when nats-server is installed; BENCH_NATS=0 leaves it out.
pids=()
work=$(mktemp -d /tmp/replicator-bench-live-nats.XXXXXX)
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
if [[ ${BENCH_NATS:-1} != 0 ]] && command -v nats-server >/dev/null; then
  # shellcheck source=scripts/nats_cluster.sh
  source scripts/nats_cluster.sh
  start_nats_cluster "$work"
  export BENCH_NATS_URLS=$nats_urls
fi
python3 scripts/bench_live.py "$@"
