#!/usr/bin/env bash
# wal2json decoder vs pgoutput decoder on the same changes: starts a private PostgreSQL 15
# (scripts/with_postgres.sh), runs a mixed workload once with a pgoutput slot and a wal2json slot,
# captures both (//tools:capture) and runs //bench:wal2json_bench (-c opt) on the pair.
#   scripts/bench_wal2json.sh [--benchmark_repetitions=5]
set -euo pipefail
cd "$(dirname "$0")/.."
OUTPUT_BASE=${BENCH_OUTPUT_BASE:-$HOME/.cache/bazel-ob-bench}
OUT_DIR=${BENCH_OUT_DIR:-/tmp/replicator-bench}
bazel_opt=(bazel --output_base="$OUTPUT_BASE")
flags=(-c opt --config=opt --symlink_prefix=/)
[[ -n ${PGHOST:-} ]] || exec scripts/with_postgres.sh "$0" "$@"

"${bazel_opt[@]}" build "${flags[@]}" //bench:wal2json_bench //tools:capture >&2
bin=$("${bazel_opt[@]}" info "${flags[@]}" bazel-bin 2>/dev/null)
mkdir -p "$OUT_DIR"
db=replicator_bench_w2j
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
sql <<'SQL'
CREATE TABLE orders (id bigint PRIMARY KEY, customer int, amount numeric(12,2), status text, created timestamptz,
                     paid bool, note text);
CREATE TABLE events (id bigint, kind text, payload jsonb);
ALTER TABLE events REPLICA IDENTITY FULL;
CREATE PUBLICATION bench_pub FOR ALL TABLES;
SELECT pg_create_logical_replication_slot('bench_pgo', 'pgoutput');
SELECT pg_create_logical_replication_slot('bench_w2j', 'wal2json');
SQL
# 5,000 one-row transactions, one of 40,000 rows, 10,000 updates, 2,000 deletes, 10,000 FULL-identity rows.
for i in $(seq 1 5000); do
  echo "INSERT INTO orders VALUES ($i, $((i % 97)), $i.25, 'new', now(), false, 'order number $i');"
done | sql
sql -c "INSERT INTO orders SELECT g, g % 97, g * 1.5, 'bulk', now(), g % 2 = 0, 'bulk \"quoted\" ' || g FROM generate_series(5001, 45000) g"
sql -c "UPDATE orders SET status = 'paid', paid = true WHERE id % 4 = 0"
sql -c "DELETE FROM orders WHERE id % 20 = 1"
sql -c "INSERT INTO events SELECT g, 'click', jsonb_build_object('g', g, 'path', '/a/b/' || g) FROM generate_series(1, 10000) g"
end=$(sql -XAtq -c "SELECT pg_current_wal_lsn()")
conn="host=$PGHOST port=$PGPORT dbname=$db"
"$bin/tools/capture" --dbname "$conn" --slot bench_pgo --end-lsn "$end" --idle-timeout-ms 5000 \
  --output "$OUT_DIR/w2j_pgoutput.stream" --option proto_version=1 --option publication_names=bench_pub
"$bin/tools/capture" --plugin wal2json --dbname "$conn" --slot bench_w2j --end-lsn "$end" --idle-timeout-ms 5000 \
  --output "$OUT_DIR/w2j.stream" --option format-version=2 --option include-xids=1 --option include-lsn=1 \
  --option include-timestamp=1 --option include-type-oids=1 --option include-pk=1 --option include-transaction=1 \
  --option write-in-chunks=0
BENCH_PGO=$OUT_DIR/w2j_pgoutput.stream BENCH_W2J=$OUT_DIR/w2j.stream "$bin/bench/wal2json_bench" "$@"
