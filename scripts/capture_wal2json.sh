#!/usr/bin/env bash
# Records tests/data/wal2json_workload.sql through a wal2json slot and a pgoutput slot at once:
# tests/data/wal2json.stream (format-version 2 with the options LibpqTransport sends) and
# tests/data/wal2json_pgoutput.stream (the same changes as pgoutput, the reference for the test).
#   scripts/with_postgres.sh scripts/capture_wal2json.sh [OUTDIR]    (CAPTURE=/path/to/capture skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PGHOST:?run under scripts/with_postgres.sh}"
OUT=${1:-tests/data}
mkdir -p "$OUT"
if [[ -z ${CAPTURE:-} ]]; then
  bazel build //tools:capture >&2
  CAPTURE=$(bazel info bazel-bin 2>/dev/null)/tools/capture
fi
DB=replicator_wal2json
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export PGDATABASE=$DB
CONN="host=$PGHOST port=$PGPORT dbname=$DB"
WORKLOAD=tests/data/wal2json_workload.sql

# The schema part, then both slots, then every step as its own query.
sed '/^-- changes$/q' "$WORKLOAD" | psql -X -q -v ON_ERROR_STOP=1 >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c "SELECT pg_create_logical_replication_slot('cap_w2j', 'wal2json')" \
  -c "SELECT pg_create_logical_replication_slot('cap_pgo', 'pgoutput')" >/dev/null
sed -n '/^-- changes$/,$p' "$WORKLOAD" | awk -v RS='-- step\n' '{ printf "%s%c", $0, 0 }' |
  while IFS= read -r -d '' step; do psql -X -q -v ON_ERROR_STOP=1 -c "$step" >/dev/null; done
END=$(psql -XAtq -c "SELECT pg_current_wal_lsn()")

"$CAPTURE" --plugin wal2json --dbname "$CONN" --slot cap_w2j --end-lsn "$END" --idle-timeout-ms 5000 \
  --output "$OUT/wal2json.stream" --option format-version=2 --option include-xids=1 --option include-lsn=1 \
  --option include-timestamp=1 --option include-type-oids=1 --option include-pk=1 --option include-transaction=1 \
  --option write-in-chunks=0
"$CAPTURE" --dbname "$CONN" --slot cap_pgo --end-lsn "$END" --idle-timeout-ms 5000 \
  --output "$OUT/wal2json_pgoutput.stream" --option proto_version=1 --option publication_names=pub_all \
  --option messages=true
psql -X -q -c "SELECT pg_drop_replication_slot('cap_w2j')" -c "SELECT pg_drop_replication_slot('cap_pgo')" >/dev/null
ls -l "$OUT/wal2json.stream" "$OUT/wal2json_pgoutput.stream" >&2
