#!/usr/bin/env bash
# Starts a private PostgreSQL (Debian's 15 by default; REPLICATOR_PG_BIN=<bin dir> picks another build)
# through scripts/pg_cluster.sh (initdb in a temp dir, wal_level=logical, a free port on 127.0.0.1), runs the given command with PGHOST/PGPORT/PGUSER/PGDATABASE exported, and stops the server at exit,
# even on failure. Usage: scripts/with_postgres.sh COMMAND [ARGS...]
set -euo pipefail
PG_BIN=${REPLICATOR_PG_BIN:-/usr/lib/postgresql/15/bin}
[[ -x "$PG_BIN/initdb" ]] || { echo "no PostgreSQL in $PG_BIN (run scripts/install_deps.sh)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/replicator-pg.XXXXXX)
chmod 755 "$WORK"
PGDATA="$WORK/data"
SCRIPTS=$(cd "$(dirname "$0")" && pwd)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

cleanup() {
  local rc=$?
  "$SCRIPTS/pg_cluster.sh" stop "$PG_BIN" "$WORK" immediate >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

"$SCRIPTS/pg_cluster.sh" init "$PG_BIN" "$WORK" "$PORT"
"$SCRIPTS/pg_cluster.sh" start "$PG_BIN" "$WORK"
MAJOR=$("$SCRIPTS/pg_cluster.sh" major "$PG_BIN")

export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
export REPLICATOR_PG_MAJOR=$MAJOR REPLICATOR_PG_CLUSTER=$SCRIPTS/pg_cluster.sh REPLICATOR_PG_BIN=$PG_BIN REPLICATOR_PGDATA=$PGDATA REPLICATOR_PG_LOG="$WORK/server.log"
# Other majors already installed (scripts/install_pg_majors.sh), for tests that start a private
# cluster of a given major (e.g. the "unsupported major" test on 13): REPLICATOR_PG13_BIN, ...
# REPLICATOR_PG15_ARCHIVE_BIN is the Debian archive's current 15 build, unpacked (another 15 build).
for m in 13 14 15 15-archive 16 17 18; do
  if b=$(REPLICATOR_OFFLINE_ONLY=1 "$SCRIPTS/install_pg_majors.sh" "$m" 2>/dev/null | cut -d' ' -f2) && [[ -n $b ]]; then
    export "REPLICATOR_PG${m/-archive/_ARCHIVE}_BIN=$b"
  fi
done
echo "PostgreSQL $MAJOR running on 127.0.0.1:$PORT (data in $PGDATA)" >&2
set +e
"$@"
rc=$?
set -e
exit $rc
