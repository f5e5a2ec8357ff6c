#!/usr/bin/env bash
# scripts/pg_cluster.sh against every server build this machine has (REPLICATOR_PG<major>_BIN from
# scripts/with_postgres.sh: Debian's 15 as installed, the archive's current 15, npm's 13-18): each
# starts, decodes logically, and gets output_plugin_libraries exactly when the build knows the setting
# (with wal2json listed where the build has it, so a wal2json slot works there).
set -euo pipefail
SCRIPT=${REPLICATOR_PG_CLUSTER:-$TEST_SRCDIR/replicator/scripts/pg_cluster.sh}
PSQL=/usr/lib/postgresql/15/bin/psql  # npm builds have no psql; Debian's client talks to every major
failures=0 builds=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

for var in REPLICATOR_PG13_BIN REPLICATOR_PG14_BIN REPLICATOR_PG15_BIN REPLICATOR_PG15_ARCHIVE_BIN \
           REPLICATOR_PG16_BIN REPLICATOR_PG17_BIN REPLICATOR_PG18_BIN; do
  bin=${!var:-}
  [[ -n $bin ]] || continue
  builds=$((builds + 1))
  dir=$(mktemp -d /tmp/replicator-harness.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  version=$("$bin/postgres" --version)
  echo "== $var: $version"
  if ! bash "$SCRIPT" init "$bin" "$dir" "$port" || ! bash "$SCRIPT" start "$bin" "$dir"; then
    fail "$version did not start"; cat "$dir/server.log" >&2 || true; rm -rf "$dir"; continue
  fi
  q() { "$PSQL" -X -At -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$1"; }
  [[ $(q "SHOW wal_level") == logical ]] || fail "$version: wal_level is not logical"
  q "SELECT pg_create_logical_replication_slot('h_pgoutput', 'pgoutput')" >/dev/null || fail "$version: no pgoutput slot"
  knows=no
  names=$("$bin/postgres" --describe-config | cut -f1)  # not `| grep -q`: its early exit fails the pipe
  [[ $'\n'"$names"$'\n' == *$'\n'output_plugin_libraries$'\n'* ]] && knows=yes
  named=no
  grep -q '^output_plugin_libraries' "$dir/data/postgresql.conf" && named=yes || true
  [[ $knows == "$named" ]] || fail "$version: knows output_plugin_libraries=$knows but the config names it=$named"
  libdir=$(cd "$bin/.." && pwd)/lib
  if [[ -e "$libdir/wal2json.so" || -e "$libdir/postgresql/wal2json.so" ]]; then
    q "SELECT pg_create_logical_replication_slot('h_wal2json', 'wal2json')" >/dev/null || fail "$version: wal2json refused"
    q "CREATE TABLE h(id int primary key)" >/dev/null
    q "INSERT INTO h VALUES (1)" >/dev/null
    [[ $(q "SELECT count(*) FROM pg_logical_slot_get_changes('h_wal2json', NULL, NULL, 'format-version', '2')") -ge 3 ]] \
      || fail "$version: wal2json decoded nothing"
    echo "   wal2json slot decodes (output_plugin_libraries named: $named)"
  fi
  bash "$SCRIPT" stop "$bin" "$dir" fast || fail "$version did not stop"
  rm -rf "$dir"
done
echo "$builds builds checked, $failures failures"
((builds > 0)) || { echo "no server builds found (run under scripts/with_postgres.sh)" >&2; exit 1; }
((failures == 0))
