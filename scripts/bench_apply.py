"""The apply benchmark's driver (run it through scripts/bench_apply.sh, which starts the two servers and
builds the program). The backlog of scripts/bench_common.py (the live benchmark's) is built once on the
source behind a base slot; each run copies that slot (pg_copy_logical_replication_slot), empties the
target database, and applies the whole backlog into it:
  - native: CREATE SUBSCRIPTION ... WITH (create_slot = false, slot_name = <the copy>, copy_data = false),
  - the program with sink: postgresql (apply_workers 1, then 2 and 4 where the program has that key;
    and 1 worker with apply_pipeline false, a round trip per row).
A run ends when the target's replication origin of that run (the subscription's pg_<oid>, the
program's replicator_<slot>) has moved past the last source transaction: the same condition for both,
polled inside the target server. Every run's target is then checked equal to the source (row count
and a hash of the rows of each table). Methods alternate within each round (A/B); medians are printed.
Environment: BENCH_SRC_PORT, BENCH_TGT_PORT (servers on 127.0.0.1, user postgres), BENCH_REPLICATOR,
BENCH_ROUNDS (3), BENCH_SCALE (1.0: ~1M changes), BENCH_WORKERS (the parallel runs, "2,4"),
BENCH_METHODS (comma list of substrings of the method names to run, or a ";" list when one holds a comma;
=name for exactly one; default all), BENCH_BASELINE (another
build of the program, e.g. of the previous commit: adds its 1-worker run, for an A/B of a change in one run)."""
import os
import re
import statistics
import subprocess
import sys
import time

import bench_common

HOST, USER = "127.0.0.1", "postgres"
SRC_PORT, TGT_PORT = os.environ["BENCH_SRC_PORT"], os.environ["BENCH_TGT_PORT"]
DB = "replicator_bench_apply"
REPLICATOR = os.environ["BENCH_REPLICATOR"]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
WORKERS = [int(w) for w in os.environ.get("BENCH_WORKERS", "2,4").split(",") if w]
TICKS = os.sysconf("SC_CLK_TCK")
TIMEOUT_S = int(os.environ.get("BENCH_RUN_TIMEOUT_S", "3600"))


def src(sql, db=DB):
    return bench_common.psql(HOST, SRC_PORT, USER, db, sql)


def tgt(sql, db=DB):
    return bench_common.psql(HOST, TGT_PORT, USER, db, sql)


def log(msg):
    print(f"bench_apply: {msg}", file=sys.stderr, flush=True)


def digest(sql):
    """Row count and a hash of every row, per table (same TimeZone on both sides)."""
    return {t: sql(f"SET TimeZone = 'UTC'; SELECT count(*) || ' ' || coalesce(sum(hashtext(x::text)::bigint), 0) "
                   f"FROM {t} x") for t in bench_common.TABLES}


def reset_target():
    tgt(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    tgt(f"CREATE DATABASE {DB}", db="postgres")
    tgt(bench_common.TABLES_SQL)
    tgt("CHECKPOINT")


def wait_origin(origin, after_lsn, proc=None):
    """Blocks until the target's origin `origin` (or one of its parallel workers' origins,
    `origin:w<n>`: they commit in source order, so the highest is where the apply is) has a
    remote_lsn past after_lsn (a loop inside the target server, 10 ms apart); fails when proc (the
    program) exits first. Returns the time it ended."""
    # The origin's name comes in as a setting (bench.origin), not spliced into the SQL.
    do = ("DO $$ DECLARE o text := current_setting('bench.origin'); BEGIN LOOP EXIT WHEN coalesce(("
          "SELECT max(remote_lsn) > '" + after_lsn + "'::pg_lsn FROM pg_replication_origin_status "
          "WHERE external_id = o OR (starts_with(external_id, o || ':w') "
          "AND substr(external_id, length(o) + 3) ~ '^[0-9]+$')), false); "
          "PERFORM pg_sleep(0.01); END LOOP; END $$")
    env = dict(os.environ, PGOPTIONS=f"-c bench.origin={origin} -c statement_timeout={TIMEOUT_S * 1000}")
    waiter = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", TGT_PORT, "-U", USER,
                               "-d", DB, "-c", do], env=env, stderr=subprocess.PIPE, text=True)
    while waiter.poll() is None:
        if proc is not None and proc.poll() is not None:
            waiter.kill()
            waiter.wait()
            return None
        time.sleep(0.005)
    done = time.monotonic()
    if waiter.returncode != 0:
        sys.exit(f"bench_apply: waiting for origin {origin} failed: {waiter.stderr.read()}")
    return done


def drop_source_slot(slot):
    deadline = time.monotonic() + 30
    while src(f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active") != "0":
        if time.monotonic() > deadline:
            sys.exit(f"bench_apply: slot {slot} still active")
        time.sleep(0.05)
    src(f"SELECT pg_drop_replication_slot('{slot}')")


def ticks(pids):
    return sum(bench_common.proc_ticks(p) or 0 for p in pids)


def target_pids(sql):
    return [int(p) for p in tgt(sql).split()]


def run_native(slot, after_lsn):
    """Returns wall seconds, client CPU seconds (none: 0), target apply CPU seconds (the apply worker)."""
    conninfo = f"host={HOST} port={SRC_PORT} user={USER} dbname={DB}"
    t0 = time.monotonic()
    tgt(f"CREATE SUBSCRIPTION bench_sub CONNECTION '{conninfo}' PUBLICATION {bench_common.PUB} "
        f"WITH (create_slot = false, slot_name = '{slot}', copy_data = false)")
    origin = "pg_" + tgt("SELECT oid FROM pg_subscription WHERE subname = 'bench_sub'")
    done = wait_origin(origin, after_lsn)
    # The apply worker (and any parallel apply worker of 16+), still running: its CPU so far.
    server_cpu = ticks(target_pids("SELECT pid FROM pg_stat_subscription WHERE subname = 'bench_sub' "
                                   "AND pid IS NOT NULL")) / TICKS
    tgt("ALTER SUBSCRIPTION bench_sub DISABLE")
    tgt("ALTER SUBSCRIPTION bench_sub SET (slot_name = NONE)")
    tgt("DROP SUBSCRIPTION bench_sub")  # and its origin
    return done - t0, 0.0, server_cpu


def replicator_argv(slot, workers, extra=(), binary=REPLICATOR):
    return [binary, f"--postgresql-host={HOST}", f"--postgresql-port={SRC_PORT}", f"--postgresql-user={USER}",
            f"--postgresql-database={DB}", f"--postgresql-slot-name={slot}",
            f"--postgresql-publication-name={bench_common.PUB}", "--postgresql-create-slot=false",
            "--snapshot-mode=never", "--log-level=warn", "--sink=postgresql",
            f"--apply-dsn=host={HOST} port={TGT_PORT} user={USER} dbname={DB}"] + \
        ([f"--apply-workers={workers}"] if workers > 1 else []) + list(extra)


def accepts_workers(workers):
    """None when the program takes apply_workers: N, else its refusal."""
    r = subprocess.run(replicator_argv("bench_probe", workers) + ["--print-config"], capture_output=True, text=True)
    if r.returncode == 0:
        return None
    last = (r.stderr.strip().splitlines() or ["exit " + str(r.returncode)])[-1]
    msg = re.search(r'msg="((?:[^"\\]|\\.)*)"', last)  # the logfmt line's message
    return msg.group(1) if msg else last


def run_program(slot, after_lsn, workers, extra=(), binary=REPLICATOR):
    t0 = time.monotonic()
    p = subprocess.Popen(replicator_argv(slot, workers, extra, binary), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = wait_origin(f"replicator_{slot}", after_lsn, p)
    if done is None:
        sys.exit(f"bench_apply: the program exited {p.returncode}: {p.stderr.read()[-2000:]}")
    client_cpu = ticks([p.pid]) / TICKS
    server_cpu = ticks(target_pids("SELECT pid FROM pg_stat_activity WHERE application_name = 'replicator-apply'")) \
        / TICKS
    p.terminate()
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    if p.returncode != 0:
        sys.exit(f"bench_apply: the program exited {p.returncode} on SIGTERM: {err[-2000:]}")
    tgt(f"SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin "
        f"WHERE roname = 'replicator_{slot}' OR roname LIKE 'replicator_{slot}:w%'")
    return done - t0, client_cpu, server_cpu


def main():
    log(f"building the backlog on the source (scale {SCALE}) ...")
    t0 = time.monotonic()
    end, changes = bench_common.build_backlog(src, DB, SCALE)
    # A last transaction: every earlier commit ends at or before `last`, so an origin past `last`
    # has applied everything (the end LSN itself may lie past the last commit record).
    last = src("SELECT pg_current_wal_insert_lsn()")
    src("INSERT INTO tick (mark) VALUES ('bench_apply: the last transaction')")
    changes += 1
    expected = digest(src)
    log(f"{changes} changes up to {end} in {time.monotonic() - t0:.0f} s")

    methods = {"native CREATE SUBSCRIPTION": lambda s: run_native(s, last),
               "replicator sink: postgresql, 1 worker": lambda s: run_program(s, last, 1),
               # A/B of libpq pipeline mode (a round trip per row, as before it)
               "replicator sink: postgresql, 1 worker, apply_pipeline false":
                   lambda s: run_program(s, last, 1, ["--apply-pipeline=false"])}
    if os.environ.get("BENCH_BASELINE"):
        methods["baseline build (BENCH_BASELINE), 1 worker"] = \
            lambda s: run_program(s, last, 1, binary=os.environ["BENCH_BASELINE"])
    skipped = []
    for w in WORKERS:
        refusal = accepts_workers(w)
        if refusal is None:
            methods[f"replicator sink: postgresql, apply_workers {w}"] = lambda s, w=w: run_program(s, last, w)
        else:
            skipped.append(f"apply_workers {w}: skipped, the program refuses the key ({refusal})")
            log(skipped[-1])
    if os.environ.get("BENCH_METHODS"):
        spec = os.environ["BENCH_METHODS"]
        wanted = spec.split(";" if ";" in spec else ",")  # names hold commas: ";" separates them then
        methods = {k: v for k, v in methods.items()
                   if any(k == w[1:] if w.startswith("=") else w in k for w in wanted)}
    results = {name: [] for name in methods}
    run = 0
    for rnd in range(ROUNDS):
        for name, method in methods.items():  # A/B alternating within each round
            run += 1
            slot = f"bench_apply_run_{run}"
            reset_target()
            src(f"SELECT pg_copy_logical_replication_slot('bench_base', '{slot}')")
            wall, client_cpu, server_cpu = method(slot)
            drop_source_slot(slot)
            got = digest(tgt)
            if got != expected:
                sys.exit(f"bench_apply: {name}: the target differs from the source: {got} != {expected}")
            results[name].append((wall, client_cpu, server_cpu))
            log(f"round {rnd + 1} {name}: {changes / wall:,.0f} rows/s ({wall:.1f} s; CPU: client {client_cpu:.1f} s, "
                f"target backends {server_cpu:.1f} s), target equals source")

    native = results.get("native CREATE SUBSCRIPTION")
    base = statistics.median(changes / r[0] for r in native) if native else None
    print(f"\n{changes:,} changes, medians of {ROUNDS} rounds (A/B alternating), each target checked equal "
          f"to the source\n")
    print("| apply | rows/s | seconds | vs native | client CPU per change | target backend CPU per change |")
    print("|---|---|---|---|---|---|")
    for name, rs in results.items():
        rate = statistics.median(changes / r[0] for r in rs)
        ratio = f"{rate / base:.2f}x" if base else "-"
        client = statistics.median(r[1] for r in rs) / changes * 1e6
        server = statistics.median(r[2] for r in rs) / changes * 1e6
        print(f"| {name} | {rate / 1000:.1f}k | {statistics.median(r[0] for r in rs):.1f} | {ratio} | "
              f"{client:.1f} us | {server:.1f} us |")
    for line in skipped:
        print(line)


if __name__ == "__main__":
    main()
