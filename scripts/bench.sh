#!/usr/bin/env bash
# Decoder benchmark over a corpus captured from a real PostgreSQL 15: starts a private server
# (scripts/with_postgres.sh), runs a mixed workload (many small transactions, a big one, updates,
# deletes, TOAST values, logical messages), captures it with //tools:capture into a stream file,
# and runs //bench:decoder_bench (-c opt) on it. Extra arguments go to the benchmark binary.
#   scripts/bench.sh                                   # capture + benchmark
#   BENCH_CORPUS=/tmp/replicator-bench/mixed.stream scripts/bench.sh   # reuse a captured file
#   scripts/bench.sh --benchmark_repetitions=5
set -euo pipefail
cd "$(dirname "$0")/.."

OUTPUT_BASE=${BENCH_OUTPUT_BASE:-$HOME/.cache/bazel-ob-bench}
OUT_DIR=${BENCH_OUT_DIR:-/tmp/replicator-bench}
bazel_opt=(bazel --output_base="$OUTPUT_BASE")
flags=(-c opt --config=opt --symlink_prefix=/)

if [[ -z ${BENCH_CORPUS:-} && -z ${PGHOST:-} ]]; then
  exec scripts/with_postgres.sh "$0" "$@"   # come back with a private server
fi

echo "bench: building //bench:decoder_bench //tools:capture (-c opt)" >&2
"${bazel_opt[@]}" build "${flags[@]}" //bench:decoder_bench //tools:capture >&2
bin=$("${bazel_opt[@]}" info "${flags[@]}" bazel-bin 2>/dev/null)

if [[ -z ${BENCH_CORPUS:-} ]]; then
  mkdir -p "$OUT_DIR"
  BENCH_CORPUS=$OUT_DIR/mixed.stream
  db=replicator_bench
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
  sql >/dev/null <<'SQL'
CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, amount numeric(12,2), status text,
                     created_at timestamptz DEFAULT now(), note text);
CREATE TABLE events (id bigint, kind text, payload jsonb, at timestamptz);
ALTER TABLE events REPLICA IDENTITY FULL;
CREATE TABLE documents (id int PRIMARY KEY, title text, body text, version int);
ALTER TABLE documents ALTER COLUMN body SET STORAGE EXTERNAL;  -- TOASTed out of line
CREATE PUBLICATION bench_pub FOR TABLE orders, events, documents;
SELECT pg_create_logical_replication_slot('bench_slot', 'pgoutput');
SQL
  echo "bench: running the mixed workload" >&2
  sql >/dev/null <<'SQL'
-- Many small transactions: one insert each.
DO $$ BEGIN
  FOR i IN 1..5000 LOOP
    INSERT INTO orders (customer, amount, status, note)
      VALUES ('customer-' || (i % 997), (i % 10000) / 4.0, CASE WHEN i % 3 = 0 THEN 'paid' ELSE 'new' END,
              CASE WHEN i % 5 = 0 THEN NULL ELSE 'note ' || i END);
    COMMIT;
  END LOOP;
END $$;
-- Small update and delete transactions.
DO $$ BEGIN
  FOR i IN 1..2000 LOOP
    UPDATE orders SET status = 'shipped', amount = amount + 1 WHERE id = i;
    COMMIT;
  END LOOP;
  FOR i IN 4001..4500 LOOP
    DELETE FROM orders WHERE id = i;
    COMMIT;
  END LOOP;
END $$;
-- A big transaction: 40k inserts and 10k updates of a REPLICA IDENTITY FULL table (old + new rows).
BEGIN;
INSERT INTO events SELECT g, CASE WHEN g % 2 = 0 THEN 'click' ELSE 'view' END,
                          jsonb_build_object('page', '/p/' || (g % 100), 'n', g), now()
  FROM generate_series(1, 40000) g;
UPDATE events SET kind = 'seen' WHERE id <= 10000;
DELETE FROM events WHERE id > 39000;
COMMIT;
-- TOAST: large documents, updates that leave the body alone (unchanged TOAST), then rewrite it.
INSERT INTO documents SELECT g, 'doc ' || g, repeat(md5(g::text), 300), 1 FROM generate_series(1, 300) g;
DO $$ BEGIN
  FOR i IN 1..300 LOOP
    UPDATE documents SET version = version + 1 WHERE id = i;
    COMMIT;
  END LOOP;
END $$;
UPDATE documents SET body = body || 'x' WHERE id <= 50;
SELECT pg_logical_emit_message(true, 'bench', 'checkpoint') FROM generate_series(1, 10);
SQL
  end=$(psql -XAtq -d "$db" -c "SELECT pg_current_wal_lsn()")
  echo "bench: capturing up to $end into $BENCH_CORPUS" >&2
  "$bin/tools/capture" --dbname "host=$PGHOST port=$PGPORT dbname=$db" --slot bench_slot --end-lsn "$end" \
    --idle-timeout-ms 10000 --option proto_version=1 --option publication_names=bench_pub --option messages=true \
    --output "$BENCH_CORPUS"
  psql -X -q -d "$db" -c "SELECT pg_drop_replication_slot('bench_slot')" >/dev/null
fi

echo "bench: corpus $BENCH_CORPUS ($(stat -c %s "$BENCH_CORPUS") bytes)" >&2
BENCH_CORPUS=$BENCH_CORPUS "$bin/bench/decoder_bench" --benchmark_color=false "$@"
