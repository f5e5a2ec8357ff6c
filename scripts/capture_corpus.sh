#!/usr/bin/env bash
# Regenerates the real-server corpus tests/data/*.stream: a workload that makes PostgreSQL 15 emit
# every pgoutput message type, captured with //tools:capture (one slot and file per protocol setup).
# Against a 16+ server it captures only streaming_v4.stream (protocol 4, streaming=parallel), so the
# 15 corpus stays from 15. Both runs:
#   scripts/with_postgres.sh scripts/capture_corpus.sh [OUTDIR]   (default tests/data)
#   REPLICATOR_PG_BIN=$(scripts/install_pg_majors.sh 16 | cut -d' ' -f2) scripts/with_postgres.sh scripts/capture_corpus.sh
#   CAPTURE=/path/to/capture to skip the bazel build.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PGHOST:?run under scripts/with_postgres.sh}"
OUT=${1:-tests/data}
mkdir -p "$OUT"
if [[ -z ${CAPTURE:-} ]]; then
  bazel build //tools:capture >&2
  CAPTURE=$(bazel info bazel-bin 2>/dev/null)/tools/capture
fi

DB=replicator_corpus
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export PGDATABASE=$DB
CONN="host=$PGHOST port=$PGPORT dbname=$DB"
sql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# new_slot NAME [twophase]: a slot that sees only what happens after this point.
new_slot() { sql -c "SELECT pg_create_logical_replication_slot('$1', 'pgoutput', false, ${2:-false})" >/dev/null; }

# capture FILE SLOT OPTIONS...: everything the slot has up to the current end of WAL.
capture() {
  local file=$1 slot=$2
  shift 2
  local end
  end=$(psql -XAtq -c "SELECT pg_current_wal_lsn()")
  "$CAPTURE" --dbname "$CONN" --slot "$slot" --end-lsn "$end" --idle-timeout-ms 5000 --output "$OUT/$file" "$@"
  sql -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null
}

sql >/dev/null <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE t_default (id serial PRIMARY KEY, name text, m mood, amount posint, p pair, note varchar(20));
CREATE TABLE t_full (id int, v text);
ALTER TABLE t_full REPLICA IDENTITY FULL;
CREATE TABLE t_index (id int NOT NULL, code text NOT NULL, v text);
CREATE UNIQUE INDEX t_index_code ON t_index (code);
ALTER TABLE t_index REPLICA IDENTITY USING INDEX t_index_code;
CREATE TABLE t_nothing (id int, v text);
ALTER TABLE t_nothing REPLICA IDENTITY NOTHING;
CREATE TABLE t_toast (id int PRIMARY KEY, big text, counter int);
ALTER TABLE t_toast ALTER COLUMN big SET STORAGE EXTERNAL;  -- out of line, uncompressed
CREATE TABLE tr_a (id serial PRIMARY KEY, v text);
CREATE TABLE tr_b (id serial PRIMARY KEY, a_id int REFERENCES tr_a (id));
CREATE TABLE t_bin (id int PRIMARY KEY, v text, b bytea, n numeric, ts timestamptz, m mood, f float8, flag bool);
CREATE TABLE t_stream (id int, v text);
CREATE TABLE t_2pc (id int PRIMARY KEY, v text);
CREATE PUBLICATION pub_basic FOR TABLE t_default, t_full, t_index, t_toast, tr_a, tr_b;
CREATE PUBLICATION pub_insert_only FOR TABLE t_nothing WITH (publish = 'insert');
CREATE PUBLICATION pub_bin FOR TABLE t_bin;
CREATE PUBLICATION pub_stream FOR TABLE t_stream;
CREATE PUBLICATION pub_2pc FOR TABLE t_2pc;
SELECT pg_replication_origin_create('corpus_origin');
SQL

# The same large-transaction workload for protocol 2 (streaming.stream) and protocol 4 (streaming_v4.stream).
streaming_workload() {
  sql >/dev/null <<'SQL'
BEGIN;
INSERT INTO t_stream SELECT g, 'x' FROM generate_series(1, 1000) g;
COMMIT;
INSERT INTO t_stream VALUES (-1, 'small');
BEGIN;
INSERT INTO t_stream SELECT g, 'rolled back' FROM generate_series(1, 1000) g;
ROLLBACK;
BEGIN;
INSERT INTO t_stream SELECT g, 'kept' FROM generate_series(1, 300) g;
SAVEPOINT s1;
INSERT INTO t_stream SELECT g, 'rolled back to savepoint' FROM generate_series(1, 1000) g;
ROLLBACK TO SAVEPOINT s1;
INSERT INTO t_stream VALUES (-2, 'after savepoint');
COMMIT;
SQL
}

MAJOR=$(psql -XAtq -c "SELECT current_setting('server_version_num')::int / 10000")
if ((MAJOR >= 16)); then
  # --- streaming_v4.stream: protocol 4, streaming=parallel: Stream Abort carries abort LSN and time ---
  new_slot corpus_streaming_v4
  streaming_workload
  capture streaming_v4.stream corpus_streaming_v4 --option proto_version=4 --option publication_names=pub_stream \
    --option streaming=parallel
  psql -X -q -d postgres -c "DROP DATABASE $DB"
  ls -l "$OUT"/streaming_v4.stream >&2
  exit 0
fi

# --- basic.stream: protocol 1, messages, every replica identity, TOAST, TRUNCATE, Origin ---
new_slot corpus_basic
sql >/dev/null <<'SQL'
INSERT INTO t_default (name, m, amount, p, note) VALUES
  ('alice', 'happy', 5, '(1,x)', 'n1'),
  ('bob', NULL, NULL, NULL, NULL),
  (E'quote " backslash \\ tab \t newline \n accent é', 'sad', 1, '(2,"y z")', 'n3');
UPDATE t_default SET name = 'alice2' WHERE id = 1;
UPDATE t_default SET id = 100 WHERE id = 2;
DELETE FROM t_default WHERE id = 3;
INSERT INTO t_full VALUES (1, 'a'), (2, NULL);
UPDATE t_full SET v = 'b' WHERE id = 1;
DELETE FROM t_full WHERE id = 2;
INSERT INTO t_index VALUES (1, 'c1', 'v');
UPDATE t_index SET v = 'w' WHERE code = 'c1';
UPDATE t_index SET code = 'c2' WHERE code = 'c1';
DELETE FROM t_index WHERE code = 'c2';
INSERT INTO t_nothing VALUES (1, 'n');
INSERT INTO t_toast SELECT 1, string_agg(md5(random()::text), ''), 0 FROM generate_series(1, 256);
UPDATE t_toast SET counter = 1 WHERE id = 1;
DELETE FROM t_toast WHERE id = 1;
INSERT INTO tr_a (v) VALUES ('a1'), ('a2');
INSERT INTO tr_b (a_id) VALUES (1);
TRUNCATE tr_a RESTART IDENTITY CASCADE;
TRUNCATE t_full;
BEGIN;
INSERT INTO t_full VALUES (3, 'with message');
SELECT pg_logical_emit_message(true, 'corpus.tx', 'hello transactional');
COMMIT;
SELECT pg_logical_emit_message(false, 'corpus.nontx', '\x00ff10'::bytea);
SELECT pg_replication_origin_session_setup('corpus_origin');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/ABCDEF', '2020-01-01 00:00:00+00');
INSERT INTO t_default (name) VALUES ('from origin');
COMMIT;
SELECT pg_replication_origin_session_reset();
SQL
capture basic.stream corpus_basic --option proto_version=1 --option publication_names=pub_basic,pub_insert_only \
  --option messages=true

# --- binary.stream: binary=true ---
new_slot corpus_binary
sql >/dev/null <<'SQL'
INSERT INTO t_bin VALUES (1, 'text', '\xdeadbeef', 12.5, '2024-02-29 12:34:56.789+00', 'ok', 1.5, true),
                         (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE t_bin SET v = 'changed', n = -1 WHERE id = 1;
DELETE FROM t_bin WHERE id = 2;
SQL
capture binary.stream corpus_binary --option proto_version=1 --option publication_names=pub_bin --option binary=true

# --- streaming.stream: protocol 2, streaming=on, logical_decoding_work_mem = 64kB ---
new_slot corpus_streaming
streaming_workload
capture streaming.stream corpus_streaming --option proto_version=2 --option publication_names=pub_stream \
  --option streaming=on

# --- two_phase.stream: protocol 3, two_phase=on (+ streaming=on for Stream Prepare) ---
new_slot corpus_two_phase true
sql >/dev/null <<'SQL'
BEGIN;
INSERT INTO t_2pc VALUES (1, 'p1');
PREPARE TRANSACTION 'corpus_gid_1';
COMMIT PREPARED 'corpus_gid_1';
BEGIN;
INSERT INTO t_2pc VALUES (2, 'p2');
PREPARE TRANSACTION 'corpus_gid_2';
ROLLBACK PREPARED 'corpus_gid_2';
BEGIN;
INSERT INTO t_2pc SELECT g, 'big' FROM generate_series(1000, 1999) g;
PREPARE TRANSACTION 'corpus_gid_3';
COMMIT PREPARED 'corpus_gid_3';
SQL
capture two_phase.stream corpus_two_phase --option proto_version=3 --option publication_names=pub_2pc \
  --option two_phase=on --option streaming=on

psql -X -q -d postgres -c "DROP DATABASE $DB"
ls -l "$OUT"/*.stream >&2
