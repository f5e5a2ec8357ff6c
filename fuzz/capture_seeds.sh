#!/usr/bin/env bash
# Captures the seeds of values_text, values_binary and copy_row from a private PostgreSQL: values as
# the server prints them (DateStyle ISO) and sends them (the type's send function), and
# COPY ... TO STDOUT in text and binary format. Writes fuzz/corpus/<target>/pg_*.
#   fuzz/capture_seeds.sh [PG_BIN_DIR]      # default /usr/lib/postgresql/15/bin
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-/usr/lib/postgresql/15/bin}
dir=$(mktemp -d /tmp/replicator-seeds.XXXXXX)
port=$((20000 + RANDOM % 20000))
scripts/pg_cluster.sh init "$BIN" "$dir" "$port" >/dev/null
scripts/pg_cluster.sh start "$BIN" "$dir"
trap 'scripts/pg_cluster.sh stop "$BIN" "$dir" fast; rm -rf "$dir"' EXIT

# psql prints the value's output text; SETTING is one SET (e.g. a TimeZone) before the query.
query() {  # SETTING SQL
  psql -h "$dir" -p "$port" -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 \
    -c "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; $1" -c "$2"
}
# A seed: the fuzzer's selector byte, then the bytes.
text_seed() {  # NAME SELECTOR EXPR [SETTING]
  local value
  value=$(query "${4:-}" "SELECT $3")
  { printf "\\x$(printf %02x "$2")"; printf '%s' "$value"; } >"fuzz/corpus/values_text/pg_$1"
}
binary_seed() {  # NAME SELECTOR EXPR (a bytea: the send function's result)
  { printf "\\x$(printf %02x "$2")"; query "" "SELECT encode($3, 'hex')" | xxd -r -p; } >"fuzz/corpus/values_binary/pg_$1"
}
copy_seed() {  # NAME COLUMNS CHUNK QUERY
  { printf "\\x$(printf %02x $(($2 << 1)))\\x$(printf %02x "$3")"; query "" "COPY ($4) TO STDOUT"; } \
    >"fuzz/corpus/copy_row/pg_$1_text"
  { printf "\\x$(printf %02x $(($2 << 1 | 1)))\\x$(printf %02x "$3")"; query "" "COPY ($4) TO STDOUT (FORMAT binary)"; } \
    >"fuzz/corpus/copy_row/pg_$1_binary"
}
mkdir -p fuzz/corpus/values_text fuzz/corpus/values_binary fuzz/corpus/copy_row

# values_text selector: parser in the low nibble (0 bool, 1 int, 2 float, 3 numeric, 4 timestamp,
# 5 timestamptz, 6 date, 7 uuid, 8 bytea, 9 array), type in the high nibble (int: int2 int4 int8
# oid; float: float4 float8; array: the kArrayTypes index).
text_seed bool_t 0x00 "true"
text_seed bool_f 0x00 "false"
text_seed int2_min 0x01 "(-32768)::int2"
text_seed int4_max 0x11 "2147483647::int4"
text_seed int4_zero 0x11 "0::int4"
text_seed int8_min 0x21 "(-9223372036854775808)::int8"
text_seed oid_max 0x31 "4294967295::oid"
text_seed float4_max 0x02 "3.4028235e38::float4"
text_seed float4_denorm 0x02 "1.4e-45::float4"
text_seed float4_neg 0x02 "(-1.5)::float4"
text_seed float4_nan 0x02 "'NaN'::float4"
text_seed float8_big 0x12 "1e100::float8"
text_seed float8_denorm 0x12 "5e-324::float8"
text_seed float8_max 0x12 "1.7976931348623157e308::float8"
text_seed float8_tenth 0x12 "0.1::float8"
text_seed float8_negzero 0x12 "'-0'::float8"
text_seed float8_neginf 0x12 "'-Infinity'::float8"
text_seed numeric_neg 0x03 "(-12.3400)::numeric"
text_seed numeric_small 0x03 "0.00001::numeric"
text_seed numeric_long 0x03 "123456789012345678901234567890.5::numeric"
text_seed numeric_zero 0x03 "0::numeric"
text_seed numeric_nan 0x03 "'NaN'::numeric"
text_seed numeric_inf 0x03 "'Infinity'::numeric"
text_seed numeric_neginf 0x03 "'-Infinity'::numeric"
text_seed timestamp 0x04 "'2026-11-25 16:30:51.5'::timestamp"
text_seed timestamp_bc 0x04 "'0044-03-15 12:00:00 BC'::timestamp"
text_seed timestamp_min 0x04 "'4713-01-01 00:00:00 BC'::timestamp"
text_seed timestamp_max 0x04 "'294276-12-31 23:59:59.999999'::timestamp"
text_seed timestamp_inf 0x04 "'infinity'::timestamp"
text_seed timestamptz_utc 0x05 "'2026-11-25 16:30:51.123456+00'::timestamptz"
text_seed timestamptz_kolkata 0x05 "'2026-11-25 16:30:51.123456+00'::timestamptz" "SET TimeZone = 'Asia/Kolkata'"
text_seed timestamptz_st_johns 0x05 "'2026-01-25 16:30:51+00'::timestamptz" "SET TimeZone = 'America/St_Johns'"
text_seed timestamptz_lmt 0x05 "'1850-01-01 00:00:00+00'::timestamptz" "SET TimeZone = 'Europe/Amsterdam'"
text_seed timestamptz_bc 0x05 "'0044-03-15 12:00:00+00 BC'::timestamptz"
text_seed timestamptz_max 0x05 "'294276-12-31 23:59:59.999999+00'::timestamptz"
text_seed timestamptz_neginf 0x05 "'-infinity'::timestamptz"
text_seed date 0x06 "'2026-11-25'::date"
text_seed date_bc 0x06 "'0044-03-15 BC'::date"
text_seed date_min 0x06 "'4714-11-24 BC'::date"
text_seed date_max 0x06 "'5874897-12-31'::date"
text_seed date_inf 0x06 "'infinity'::date"
text_seed uuid 0x07 "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid"
text_seed bytea_hex 0x08 "'\\x00015c41ff'::bytea"
text_seed bytea_empty 0x08 "''::bytea"
text_seed bytea_escape 0x08 "'\\x00015c41ff'::bytea" "SET bytea_output = 'escape'"
text_seed int4_array 0x09 "'{{1,2},{3,NULL}}'::int4[]"
text_seed int4_array_bounds 0x09 "'[0:1]={7,8}'::int4[]"
text_seed int4_array_empty 0x09 "'{}'::int4[]"
text_seed int2_array 0x19 "'{-32768,32767}'::int2[]"
text_seed int8_array_3d 0x29 "'{{{1},{2}},{{3},{4}}}'::int8[]"
text_seed text_array 0x39 "ARRAY['a b', '\"q\"', 'back\\slash', 'NULL', '', E'tab\\there', '{x}', NULL]"
text_seed varchar_array 0x49 "ARRAY['x', 'y,z']::varchar[]"
text_seed bool_array 0x59 "'{t,f,NULL}'::bool[]"
text_seed float4_array 0x69 "'{1.5,NaN,-Infinity}'::float4[]"
text_seed float8_array 0x79 "'{0.1,1e300,-0}'::float8[]"
text_seed numeric_array 0x89 "'{1.50,-0.001,NaN}'::numeric[]"
text_seed timestamp_array 0x99 "ARRAY['2026-11-25 16:30:51'::timestamp, '0044-03-15 12:00:00 BC']"
text_seed timestamptz_array 0xA9 "ARRAY['2026-11-25 16:30:51.5+00'::timestamptz, 'infinity']" "SET TimeZone = 'Asia/Kolkata'"
text_seed date_array 0xB9 "'{2026-11-25,infinity}'::date[]"
text_seed uuid_array 0xC9 "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]"
text_seed bytea_array 0xD9 "ARRAY['\\x01ff'::bytea, NULL]"
text_seed json_array 0xE9 "ARRAY['{\"a\": 1}'::json]"
text_seed jsonb_array 0xF9 "ARRAY['{\"a\": [1, 2.5, null], \"b\": \"x\"}'::jsonb]"

# values_binary selector: decoder in the low nibble (0 int, 1 bool, 2 float, 3 numeric,
# 4 timestamp, 5 date, 6 uuid, 7 jsonb, 8 array), type in the high nibble as above (timestamp:
# even timestamp, odd timestamptz).
binary_seed int2 0x00 "int2send((-2)::int2)"
binary_seed int4 0x10 "int4send(2147483647)"
binary_seed int8 0x20 "int8send((-9223372036854775808)::int8)"
binary_seed oid 0x30 "oidsend(4294967295::oid)"
binary_seed bool_t 0x01 "boolsend(true)"
binary_seed bool_f 0x01 "boolsend(false)"
binary_seed float4_max 0x02 "float4send(3.4028235e38::float4)"
binary_seed float4_nan 0x02 "float4send('NaN'::float4)"
binary_seed float8_denorm 0x12 "float8send(5e-324::float8)"
binary_seed float8_tenth 0x12 "float8send(0.1::float8)"
binary_seed float8_neginf 0x12 "float8send('-Infinity'::float8)"
binary_seed numeric_neg 0x03 "numeric_send((-12.3400)::numeric)"
binary_seed numeric_small 0x03 "numeric_send(0.00001::numeric)"
binary_seed numeric_long 0x03 "numeric_send(123456789012345678901234567890.5::numeric)"
binary_seed numeric_10000 0x03 "numeric_send(10000::numeric)"
binary_seed numeric_zero 0x03 "numeric_send(0::numeric)"
binary_seed numeric_nan 0x03 "numeric_send('NaN'::numeric)"
binary_seed numeric_inf 0x03 "numeric_send('Infinity'::numeric)"
binary_seed timestamp 0x04 "timestamp_send('2026-11-25 16:30:51.5'::timestamp)"
binary_seed timestamp_min 0x04 "timestamp_send('4713-01-01 00:00:00 BC'::timestamp)"
binary_seed timestamp_inf 0x04 "timestamp_send('infinity'::timestamp)"
binary_seed timestamptz 0x14 "timestamptz_send('2026-11-25 16:30:51.5+05:30'::timestamptz)"
binary_seed timestamptz_max 0x14 "timestamptz_send('294276-12-31 23:59:59.999999+00'::timestamptz)"
binary_seed timestamptz_neginf 0x14 "timestamptz_send('-infinity'::timestamptz)"
binary_seed date 0x05 "date_send('2026-11-25'::date)"
binary_seed date_min 0x05 "date_send('4714-11-24 BC'::date)"
binary_seed date_max 0x05 "date_send('5874897-12-31'::date)"
binary_seed date_inf 0x05 "date_send('infinity'::date)"
binary_seed uuid 0x06 "uuid_send('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)"
binary_seed jsonb 0x07 "jsonb_send('{\"a\": [1, 2.5, null], \"b\": \"x\"}'::jsonb)"
binary_seed int4_array 0x08 "array_send('{{1,2},{3,NULL}}'::int4[])"
binary_seed int4_array_bounds 0x08 "array_send('[0:1]={7,8}'::int4[])"
binary_seed int4_array_empty 0x08 "array_send('{}'::int4[])"
binary_seed int2_array 0x18 "array_send('{-32768,32767}'::int2[])"
binary_seed int8_array_3d 0x28 "array_send('{{{1},{2}},{{3},{4}}}'::int8[])"
binary_seed text_array 0x38 "array_send(ARRAY['a b', '\"q\"', 'back\\slash', 'NULL', '', NULL])"
binary_seed varchar_array 0x48 "array_send(ARRAY['x', 'y,z']::varchar[])"
binary_seed bool_array 0x58 "array_send('{t,f,NULL}'::bool[])"
binary_seed float4_array 0x68 "array_send('{1.5,NaN,-Infinity}'::float4[])"
binary_seed float8_array 0x78 "array_send('{0.1,1e300,-0}'::float8[])"
binary_seed numeric_array 0x88 "array_send('{1.50,-0.001,NaN}'::numeric[])"
binary_seed timestamp_array 0x98 "array_send(ARRAY['2026-11-25 16:30:51'::timestamp, '0044-03-15 12:00:00 BC'])"
binary_seed timestamptz_array 0xA8 "array_send(ARRAY['2026-11-25 16:30:51.5+00'::timestamptz, 'infinity'])"
binary_seed date_array 0xB8 "array_send('{2026-11-25,infinity}'::date[])"
binary_seed uuid_array 0xC8 "array_send(ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid])"
binary_seed bytea_array 0xD8 "array_send(ARRAY['\\x01ff'::bytea, NULL])"
binary_seed json_array 0xE8 "array_send(ARRAY['{\"a\": 1}'::json])"
binary_seed jsonb_array 0xF8 "array_send(ARRAY['{\"a\": [1, 2.5, null], \"b\": \"x\"}'::jsonb])"

# copy_row: COLUMNS must match the query; CHUNK is the chunked run's piece size (0: 1 byte).
copy_seed types 11 64 "SELECT 1::int4, 'plain'::text, E'tab\\there\\nnew line \\\\ back\\r\\b\\f\\v'::text, NULL::text,
  '\\x00ff'::bytea, '{1,NULL}'::int4[], '2026-11-25 16:30:51.5+00'::timestamptz, 12.50::numeric, true,
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{\"k\": [1, \"\\\\t\"]}'::jsonb"
copy_seed rows 3 5 "SELECT g, repeat('x', g), CASE WHEN g % 2 = 0 THEN NULL ELSE E'\\\\N' || g END
  FROM generate_series(1, 5) g"
copy_seed utf8 2 0 "SELECT 'żółw ☃'::text, 'a\\b'::text"
copy_seed empty_text 1 3 "SELECT ''::text"
copy_seed no_rows 2 7 "SELECT 1, 2 WHERE false"
copy_seed no_columns 0 1 "SELECT FROM generate_series(1, 3)"
echo "seeds written under fuzz/corpus/{values_text,values_binary,copy_row}" >&2
