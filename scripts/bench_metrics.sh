#!/usr/bin/env bash
# A/B of the program's replication rate with metrics on (metrics_address set, scraped every second)
# and off: one backlog of ROWS inserts is written after 2*RUNS slots were created, then the program
# (-c opt) drains one slot per run to /dev/null, alternating off/on; prints each run's rate and the
# medians. Starts its own server (scripts/with_postgres.sh).
#   ROWS=300000 RUNS=5 scripts/bench_metrics.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-300000}
RUNS=${RUNS:-5}
OUTPUT_BASE=${BENCH_OUTPUT_BASE:-$HOME/.cache/bazel-ob-bench}

if [[ -z ${PGHOST:-} ]]; then
  exec scripts/with_postgres.sh "$0" "$@"
fi
bazel_opt=(bazel --output_base="$OUTPUT_BASE")
flags=(-c opt --config=opt --symlink_prefix=/)
echo "bench_metrics: building //src:replicator (-c opt)" >&2
"${bazel_opt[@]}" build "${flags[@]}" //src:replicator >&2
bin=$("${bazel_opt[@]}" info "${flags[@]}" bazel-bin 2>/dev/null)/src/replicator
work=$(mktemp -d /tmp/replicator-bench-metrics.XXXXXX)
trap 'rm -rf "$work"' EXIT
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }

sql -c "DROP TABLE IF EXISTS bench_m; CREATE TABLE bench_m (id int PRIMARY KEY, a text, b int)" \
    -c "DROP PUBLICATION IF EXISTS bench_m_pub; CREATE PUBLICATION bench_m_pub FOR TABLE bench_m"
for i in $(seq 1 $((2 * RUNS))); do
  sql -c "SELECT pg_drop_replication_slot('bench_m_$i') FROM pg_replication_slots WHERE slot_name = 'bench_m_$i'" >/dev/null
  sql -c "SELECT pg_create_logical_replication_slot('bench_m_$i', 'pgoutput')" >/dev/null
done
# ROWS changes in transactions of 1000 rows.
sql -c "DO \$\$ BEGIN FOR t IN 0..$((ROWS / 1000 - 1)) LOOP
          INSERT INTO bench_m SELECT g, md5(g::text), g FROM generate_series(t * 1000 + 1, t * 1000 + 1000) g;
          COMMIT; END LOOP; END \$\$"
target=$(sql -c "SELECT pg_current_wal_lsn()")
echo "bench_metrics: $ROWS changes in the backlog (up to $target)" >&2

run() {  # slot, metrics(on|off) -> prints the rate
  local slot=$1 mode=$2 port extra=""
  if [[ $mode == on ]]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    extra="metrics_address: 127.0.0.1:$port"
  fi
  cat >"$work/$slot.yaml" <<YAML
postgresql_host: $PGHOST
postgresql_port: $PGPORT
postgresql_database: postgres
postgresql_user: postgres
postgresql_slot_name: $slot
postgresql_publication_name: bench_m_pub
snapshot_mode: never
batch_max_changes: 10000
$extra
YAML
  local start end pid scraper=""
  start=$(date +%s.%N)
  "$bin" --config "$work/$slot.yaml" >/dev/null 2>"$work/$slot.log" &
  pid=$!
  if [[ $mode == on ]]; then
    ( while kill -0 $pid 2>/dev/null; do curl -s -o /dev/null "http://127.0.0.1:$port/metrics" 2>/dev/null || true; sleep 1; done ) &
    scraper=$!
  fi
  until [[ $(sql -c "SELECT confirmed_flush_lsn >= '$target' FROM pg_replication_slots WHERE slot_name = '$slot'") == t ]]; do
    sleep 0.05
    kill -0 $pid 2>/dev/null || { cat "$work/$slot.log" >&2; exit 1; }
  done
  end=$(date +%s.%N)
  kill -TERM $pid; wait $pid || true
  [[ -n $scraper ]] && { kill $scraper 2>/dev/null || true; wait $scraper 2>/dev/null || true; }
  python3 -c "print(round($ROWS / ($end - $start)))"
}

off=() on=()
for r in $(seq 1 "$RUNS"); do
  off+=("$(run "bench_m_$((2 * r - 1))" off)")
  on+=("$(run "bench_m_$((2 * r))" on)")
  echo "run $r: metrics off ${off[-1]} changes/s, metrics on ${on[-1]} changes/s"
done
python3 - "${off[*]}" "${on[*]}" <<'PY'
import statistics, sys
off = [int(x) for x in sys.argv[1].split()]; on = [int(x) for x in sys.argv[2].split()]
mo, mn = statistics.median(off), statistics.median(on)
print(f"median: metrics off {mo:.0f} changes/s, on {mn:.0f} changes/s, on/off = {mn / mo:.3f}")
PY
for i in $(seq 1 $((2 * RUNS))); do sql -c "SELECT pg_drop_replication_slot('bench_m_$i')" >/dev/null; done
