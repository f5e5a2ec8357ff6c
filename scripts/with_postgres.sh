#!/usr/bin/env bash
# Starts a private PostgreSQL 15 (initdb in a temp dir, wal_level=logical, a free port on 127.0.0.1),
# runs the given command with PGHOST/PGPORT/PGUSER/PGDATABASE exported, and stops the server at exit,
# even on failure. Usage: scripts/with_postgres.sh COMMAND [ARGS...]
set -euo pipefail
PG_BIN=${REPLICATOR_PG_BIN:-/usr/lib/postgresql/15/bin}
[[ -x "$PG_BIN/initdb" ]] || { echo "PostgreSQL 15 not found in $PG_BIN (run scripts/install_deps.sh)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/replicator-pg.XXXXXX)
chmod 755 "$WORK"
PGDATA="$WORK/data"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$WORK"; fi

cleanup() {
  local rc=$?
  as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

as_postgres "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 \
  || { cat "$WORK/initdb.log" >&2; exit 1; }
cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
wal_level = logical
max_wal_senders = 64
max_replication_slots = 64
max_prepared_transactions = 32
max_connections = 200
logical_decoding_work_mem = 64kB
output_plugin_libraries = 'pgoutput, test_decoding, wal2json'
fsync = off
full_page_writes = off
synchronous_commit = on
wal_sender_timeout = 60s
log_min_messages = warning
CONF
cat >"$PGDATA/pg_hba.conf" <<HBA
local all all trust
local replication all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
HBA
as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$WORK/server.log" -w -t 60 start >/dev/null \
  || { cat "$WORK/server.log" >&2; exit 1; }

export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
export REPLICATOR_PG_BIN=$PG_BIN REPLICATOR_PGDATA=$PGDATA REPLICATOR_PG_LOG="$WORK/server.log"
echo "PostgreSQL 15 running on 127.0.0.1:$PORT (data in $PGDATA)" >&2
set +e
"$@"
rc=$?
set -e
exit $rc
