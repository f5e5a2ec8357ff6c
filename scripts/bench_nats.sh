#!/usr/bin/env bash
# Live benchmark of the NATS JetStream sink and of scale-out: a private PostgreSQL 15
# (scripts/with_postgres.sh) and a 3-node JetStream cluster on loopback (nats-server, free ports,
# temp store dirs, stopped at exit). For each case a backlog of BENCH_NATS_CHANGES row changes
# (inserts, 100 per transaction, two tables) is written while the slot(s) exist, then the
# `replicator` program(s) (-c opt) drain it; the rate is changes / seconds until every slot's
# confirmed_flush_lsn passed the end of the backlog (so it includes startup and the last ack).
#   scripts/bench_nats.sh                         # file sink, NATS R3 one pipeline, NATS R3 two pipelines
#   BENCH_NATS_CHANGES=400000 scripts/bench_nats.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CHANGES=${BENCH_NATS_CHANGES:-100000}
if [[ -z ${PGHOST:-} ]]; then
  exec scripts/with_postgres.sh "$0" "$@"   # come back with a private server
fi

echo "bench_nats: building //src:replicator (-c opt)" >&2
bazel build -c opt --symlink_prefix=/ //src:replicator >&2
bin="$(bazel info -c opt --symlink_prefix=/ bazel-bin 2>/dev/null)/src/replicator"

work=$(mktemp -d /tmp/replicator-bench-nats.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=scripts/nats_cluster.sh
source scripts/nats_cluster.sh
start_nats_cluster "$work"
nats_urls="[${nats_urls//,/, }]"

db=replicator_bench_nats
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
sql <<'SQL'
CREATE TABLE bench_a (id bigint PRIMARY KEY, v text, n int);
CREATE TABLE bench_b (id bigint PRIMARY KEY, v text, n int);
CREATE PUBLICATION pub_ab FOR TABLE bench_a, bench_b;
CREATE PUBLICATION pub_a FOR TABLE bench_a;
CREATE PUBLICATION pub_b FOR TABLE bench_b;
SQL

# backlog START: CHANGES inserts from id START on, 100 per transaction, half into each table.
backlog() {
  sql <<SQL
DO \$\$ BEGIN
  FOR t IN 0 .. ($CHANGES / 200) - 1 LOOP
    INSERT INTO bench_a SELECT g, md5(g::text), g % 1000 FROM generate_series($1 + t * 100, $1 + t * 100 + 99) g;
    INSERT INTO bench_b SELECT g, md5(g::text), g % 1000 FROM generate_series($1 + t * 100, $1 + t * 100 + 99) g;
    COMMIT;
  END LOOP;
END \$\$;
SQL
}

config() {  # slot publication sink-lines...
  local slot=$1 pub=$2
  shift 2
  printf 'postgresql_host: %s\npostgresql_port: %s\npostgresql_database: %s\npostgresql_user: %s\n' \
    "$PGHOST" "$PGPORT" "$db" "${PGUSER:-postgres}"
  printf 'postgresql_slot_name: %s\npostgresql_publication_name: %s\npostgresql_create_slot: false\n' "$slot" "$pub"
  printf 'snapshot_mode: never\nlog_level: warn\nstatus_interval_ms: 200\n'
  printf '%s\n' "$@"
}

# run LABEL SLOT:PUB:SINKLINES... : drains the backlog with one program per slot, prints the rate.
start_id=1
run() {
  local label=$1
  shift
  local slots=() cfgs=() n=0
  for spec in "$@"; do
    IFS='|' read -r slot pub sinklines <<<"$spec"
    sql -c "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput')" >/dev/null
    slots+=("$slot")
    # shellcheck disable=SC2086
    config "$slot" "$pub" "${sinklines//;/$'\n'}" >"$work/$slot.yaml"
    cfgs+=("$work/$slot.yaml")
  done
  backlog "$start_id"
  start_id=$((start_id + CHANGES))
  local end
  end=$(sql -Atc "SELECT pg_current_wal_lsn()")
  local t0 run_pids=()
  t0=$(date +%s.%N)
  for c in "${cfgs[@]}"; do
    "$bin" --config "$c" >/dev/null 2>>"$work/$label.log" &
    run_pids+=($!)
    pids+=($!)
  done
  local list
  list=$(printf "'%s'," "${slots[@]}")
  list=${list%,}
  until [[ $(sql -Atc "SELECT count(*) FROM pg_replication_slots WHERE slot_name IN ($list) AND confirmed_flush_lsn >= '$end'") == "${#slots[@]}" ]]; do
    sleep 0.05
  done
  local t1
  t1=$(date +%s.%N)
  for p in "${run_pids[@]}"; do kill -TERM "$p"; done
  for p in "${run_pids[@]}"; do wait "$p" || true; done
  for s in "${slots[@]}"; do sql -c "SELECT pg_drop_replication_slot('$s')" >/dev/null; done
  python3 -c "import sys; c=$CHANGES; s=$t1-$t0; print(f'{sys.argv[1]:<48} {c:>8} changes {s:7.2f} s {c/s:>10,.0f} changes/s')" "$label"
  if grep -q "level=error" "$work/$label.log"; then
    echo "bench_nats: errors in $label:" >&2
    cat "$work/$label.log" >&2
    exit 1
  fi
}

echo "bench_nats: $CHANGES changes per case, load average $(cut -d' ' -f1-3 /proc/loadavg)"
run "file sink (fdatasync per batch)" "s_file|pub_ab|sink: file;sink_file: $work/out.jsonl"
nats="sink: nats;nats_url: $nats_urls;nats_create_stream: true;nats_replicas: 3"
run "NATS R3, 1 pipeline (both tables)" "s_one|pub_ab|$nats;nats_stream: ONE;nats_subject_prefix: one"
run "NATS R3, 1 pipeline, nats_order_guard: false" "s_nog|pub_ab|$nats;nats_stream: NOGUARD;nats_subject_prefix: noguard;nats_order_guard: false"
run "NATS R3, 2 pipelines (a table each, 2 streams)" \
  "s_two_a|pub_a|$nats;nats_stream: TWO_A;nats_subject_prefix: two_a" \
  "s_two_b|pub_b|$nats;nats_stream: TWO_B;nats_subject_prefix: two_b"
run "NATS R3, 2 pipelines into 1 stream (no guard)" \
  "s_shr_a|pub_a|$nats;nats_stream: SHARED;nats_subject_prefix: shared;nats_order_guard: false" \
  "s_shr_b|pub_b|$nats;nats_stream: SHARED;nats_subject_prefix: shared;nats_order_guard: false"
run "file sink, 2 pipelines" "s_f2a|pub_a|sink: file;sink_file: $work/a.jsonl" "s_f2b|pub_b|sink: file;sink_file: $work/b.jsonl"
echo "bench_nats: load average after $(cut -d' ' -f1-3 /proc/loadavg)"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db"
