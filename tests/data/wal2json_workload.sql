-- The workload streamed through a pgoutput slot and a wal2json slot at once, for the wal2json
-- tests (scripts/capture_wal2json.sh records it; tests/wal2json/decoder_test.cpp runs it live).
-- Steps are separated by "-- step" lines; each runs as one simple-protocol query. The schema
-- part (before "-- changes") runs before the slots are created.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE t_default (id serial PRIMARY KEY, name text, m mood, amount posint, p pair, note varchar(20));
CREATE TABLE t_full (id int, v text, big text);
ALTER TABLE t_full REPLICA IDENTITY FULL;
ALTER TABLE t_full ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE t_index (id int NOT NULL, code text NOT NULL, v text);
CREATE UNIQUE INDEX t_index_code ON t_index (code);
ALTER TABLE t_index REPLICA IDENTITY USING INDEX t_index_code;
CREATE TABLE t_nothing (id int, v text);
ALTER TABLE t_nothing REPLICA IDENTITY NOTHING;
CREATE TABLE t_toast (id int PRIMARY KEY, big text, counter int);
ALTER TABLE t_toast ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE tr_a (id serial PRIMARY KEY, v text);
CREATE TABLE tr_b (id serial PRIMARY KEY, a_id int REFERENCES tr_a (id));
CREATE TABLE t_types (id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, n numeric(12,3), nn numeric, f4 float4, f8 float8,
  flag bool, t text, vc varchar(10), c char(3), b bytea, d date, tm time, ttz timetz, ts timestamp, tstz timestamptz,
  iv interval, u uuid, j json, jb jsonb, ip inet, cid cidr, mac macaddr, ia int[], ta text[], pt point, mo money,
  bits bit(4), vb varbit, o oid, tsv tsvector);
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."Odd ""Table""" ("Id" int PRIMARY KEY, "Col Name" text, "ÿ" text);
CREATE PUBLICATION pub_all FOR ALL TABLES;
-- changes
INSERT INTO t_default (name, m, amount, p, note) VALUES ('alice', 'happy', 5, ROW(1, 'x'), 'short'), (NULL, NULL, NULL, NULL, NULL);
-- step
UPDATE t_default SET name = 'bob' WHERE id = 1;
-- step
UPDATE t_default SET id = 10 WHERE id = 2;
-- step
DELETE FROM t_default WHERE id = 10;
-- step
INSERT INTO t_full VALUES (1, 'a', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g));
UPDATE t_full SET v = 'b' WHERE id = 1;
DELETE FROM t_full WHERE id = 1;
-- step
INSERT INTO t_index VALUES (1, 'c1', 'x');
UPDATE t_index SET v = 'y' WHERE code = 'c1';
UPDATE t_index SET code = 'c2' WHERE code = 'c1';
DELETE FROM t_index WHERE code = 'c2';
-- step
INSERT INTO t_nothing VALUES (1, 'only inserts');
-- step
INSERT INTO t_toast VALUES (1, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g), 0);
-- step
UPDATE t_toast SET counter = counter + 1 WHERE id = 1;
-- step
UPDATE t_toast SET big = 'small now', counter = 2 WHERE id = 1;
-- step
INSERT INTO t_types VALUES (1, -32768, 2147483647, -9223372036854775808, 12345.678, 'NaN', 'Infinity', '-Infinity',
  true, E'quote " backslash \\ newline \n tab \t unicode é ☃ \u0001', 'varchar', 'ab', '\xdeadbeef00', '2026-12-03',
  '12:34:56.789', '12:34:56+05:30', '2026-12-03 12:34:56.123456', '2026-12-03 12:34:56.123456+00', '1 year 2 days 03:04:05',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": [1, "v", null]}', '{"k": [1, "v", null]}', '192.168.0.1/24',
  '10.0.0.0/8', '08:00:2b:01:02:03', '{1,NULL,3}', '{"a b","c\"d",NULL}', '(1.5,-2)', '12.34', B'1010', B'101',
  4294967295, 'a fat cat');
INSERT INTO t_types (id, nn, f4, f8, flag, b, t) VALUES (2, 0.000001, 1.5e-7, 1e300, false, '', '');
INSERT INTO t_types (id) VALUES (3);
-- step
INSERT INTO "My Schema"."Odd ""Table""" VALUES (1, 'spaced', 'ÿ');
UPDATE "My Schema"."Odd ""Table""" SET "Col Name" = 'renamed' WHERE "Id" = 1;
-- step
INSERT INTO tr_a (v) VALUES ('a');
INSERT INTO tr_b (a_id) VALUES (1);
-- step
TRUNCATE tr_a, tr_b;
-- step
SELECT pg_logical_emit_message(true, 'app', 'transactional "quoted" message');
-- step
SELECT pg_logical_emit_message(false, 'app', 'non-transactional');
-- step
BEGIN;
INSERT INTO t_default (name) VALUES ('in a message txn');
SELECT pg_logical_emit_message(true, 'app', 'inside');
COMMIT;
-- step
ALTER TABLE t_default ADD COLUMN extra int DEFAULT 7;
-- step
INSERT INTO t_default (name) VALUES ('after DDL');
-- step
ALTER TABLE t_default DROP COLUMN note;
-- step
UPDATE t_default SET name = 'after drop' WHERE id = 1;
