"""The live-path benchmark's driver (run it through scripts/bench_live.sh, which starts the server
and builds the program). Environment: PGHOST/PGPORT/PGUSER (the private server), BENCH_REPLICATOR,
BENCH_PG_RECVLOGICAL, BENCH_ROUNDS (5), BENCH_SCALE (1.0: ~1M changes), BENCH_LATENCY_ROWS (1000),
BENCH_CLIENTS (comma list of client names to run; default all), BENCH_NATS_URLS (adds the NATS row)."""
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import bench_common

HOST, PORT, USER = os.environ["PGHOST"], os.environ["PGPORT"], os.environ.get("PGUSER", "postgres")
DB = "replicator_bench_live"
PUB = bench_common.PUB
REPLICATOR = os.environ["BENCH_REPLICATOR"]
RECVLOGICAL = os.environ["BENCH_PG_RECVLOGICAL"]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
LATENCY_ROWS = int(os.environ.get("BENCH_LATENCY_ROWS", "1000"))
TICKS = int(os.environ.get("BENCH_CLOCK_TICKS", os.sysconf("SC_CLK_TCK")))


def psql(sql, db=DB, capture=True):
    return bench_common.psql(HOST, PORT, USER, db, sql, capture)


def build_backlog():
    """Creates the database, the base slot, then the workload (scripts/bench_common.py); returns
    (end_lsn, changes)."""
    return bench_common.build_backlog(psql, DB, SCALE)


def walsender_cpu_ticks(slot):
    pid = psql(f"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{slot}'")
    return int(pid) if pid else None


proc_ticks = bench_common.proc_ticks


def proc_peak_rss_kib(pid):
    """VmHWM of a running process (its own peak, not the largest child's as getrusage reports)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_client(argv, slot, stdout=subprocess.DEVNULL):
    """Runs one client to completion; returns wall s, client CPU s, peak RSS KiB, walsender CPU s."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE)
    ws_pid, ws_ticks, peak_kib = None, 0, 0
    while p.poll() is None:
        if ws_pid is None:
            ws_pid = walsender_cpu_ticks(slot)
        if ws_pid is not None:
            t = proc_ticks(ws_pid)
            if t is not None:
                ws_ticks = t
        peak_kib = max(peak_kib, proc_peak_rss_kib(p.pid))
        time.sleep(0.05)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    if p.returncode != 0:
        sys.exit(f"{argv[0]} exited {p.returncode}: {err[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak_kib, ws_ticks / TICKS


def recvlogical_argv(slot, end, out="/dev/null"):
    return [RECVLOGICAL, "-h", HOST, "-p", PORT, "-U", USER, "-d", DB, "--slot", slot, "--start", "--no-loop",
            "-o", "proto_version=1", "-o", f"publication_names={PUB}", "-f", out] + (["-E", end] if end else [])


def replicator_argv(slot, end, extra):
    return [REPLICATOR, f"--postgresql-host={HOST}", f"--postgresql-port={PORT}", f"--postgresql-user={USER}",
            f"--postgresql-database={DB}", f"--postgresql-slot-name={slot}", f"--postgresql-publication-name={PUB}",
            "--postgresql-create-slot=false", "--snapshot-mode=never", "--log-level=warn"] + \
        ([f"--postgresql-end-lsn={end}"] if end else []) + extra


def main():
    print(f"bench_live: building the backlog (scale {SCALE}) ...", file=sys.stderr)
    t0 = time.monotonic()
    end, changes = build_backlog()
    print(f"bench_live: {changes} changes up to {end} in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="replicator-bench-live.")
    clients = {
        "pg_recvlogical -f /dev/null": lambda s: recvlogical_argv(s, end),
        "replicator JSON lines, stdout": lambda s: replicator_argv(s, end, ["--sink=stdout"]),
        # A/B for the read coalescing (LibpqTransportOptions::coalesce_bytes): the same run with it off.
        "replicator JSON lines, stdout, stream_coalesce_bytes 0": lambda s: replicator_argv(
            s, end, ["--sink=stdout", "--stream-coalesce-bytes=0"]),
        "replicator JSON lines, file + fdatasync": lambda s: replicator_argv(
            s, end, ["--sink=file", f"--sink-file={tmp}/{s}.jsonl"]),
        "replicator Debezium, stdout": lambda s: replicator_argv(s, end, ["--sink=stdout", "--sink-format=debezium"]),
    }
    if os.environ.get("BENCH_NATS_URLS"):
        # A stream per run (named after its slot), 3 replicas, created by the program.
        clients["replicator JSON lines, NATS JetStream 3 replicas"] = lambda s: replicator_argv(
            s, end, ["--sink=nats", f"--nats-url={os.environ['BENCH_NATS_URLS']}", f"--nats-stream={s.upper()}",
                     f"--nats-subject-prefix={s}", "--nats-create-stream=true", "--nats-replicas=3"])
    if os.environ.get("BENCH_CLIENTS"):
        wanted = os.environ["BENCH_CLIENTS"].split(",")
        clients = {k: v for k, v in clients.items() if any(w in k for w in wanted)}
    results = {name: [] for name in clients}
    run = 0
    for rnd in range(ROUNDS):
        for name, argv in clients.items():  # A/B alternating within each round
            run += 1
            slot = f"bench_run_{run}"
            psql(f"SELECT pg_copy_logical_replication_slot('bench_base', '{slot}')")
            wall, cpu, rss, ws = run_client(argv(slot), slot)
            psql(f"SELECT pg_drop_replication_slot('{slot}')")
            for f in os.listdir(tmp):
                os.remove(os.path.join(tmp, f))
            results[name].append((wall, cpu, rss, ws))
            print(f"  round {rnd + 1} {name}: {changes / wall:,.0f} changes/s, {cpu / changes * 1e6:.2f} us CPU/change, "
                  f"{rss / 1024:.0f} MB", file=sys.stderr)

    base = statistics.median(changes / r[0] for r in results.get("pg_recvlogical -f /dev/null", [(1, 0, 0, 0)]))
    print(f"\n{changes:,} changes, end LSN {end}, medians of {ROUNDS} rounds\n")
    print("| client | changes/s | vs pg_recvlogical | client CPU per change | walsender CPU per change | peak RSS |")
    print("|---|---|---|---|---|---|")
    for name, rs in results.items():
        rate = statistics.median(changes / r[0] for r in rs)
        cpu = statistics.median(r[1] for r in rs) / changes * 1e6
        ws = statistics.median(r[3] for r in rs) / changes * 1e6
        rss = statistics.median(r[2] for r in rs) / 1024
        print(f"| `{name}` | {rate / 1000:.0f}k | {rate / base:.2f}x | {cpu:.2f} us | {ws:.2f} us | {rss:.0f} MB |")
    if LATENCY_ROWS > 0:
        latency()


MARKER = re.compile(rb"L(\d{16})E")


def take_marks(buf, now_us, lat):
    """Records the latency of every complete marker in buf; returns the unconsumed tail."""
    last = 0
    for m in MARKER.finditer(buf):
        lat.append((now_us - int(m.group(1))) / 1000)
        last = m.end()
    rest = buf[last:]
    return rest[-24:]  # a marker cut by the chunk boundary is at most 18 bytes


def read_marks(pipe, lat):
    buf = b""
    while True:
        chunk = os.read(pipe.fileno(), 1 << 16)
        if not chunk:
            return
        buf = take_marks(buf + chunk, time.time() * 1e6, lat)


def latency():
    """Insert-to-reader latency on a trickle of single-row transactions (one every 10 ms)."""
    print(f"\nLatency: {LATENCY_ROWS} single-row transactions, one every 10 ms, synchronous_commit on\n")
    print("| client | p50 | p99 |")
    print("|---|---|---|")
    for name, argv in [("pg_recvlogical", lambda s: recvlogical_argv(s, None, "-")),
                       ("replicator (defaults)", lambda s: replicator_argv(s, None, ["--sink=stdout"])),
                       ("replicator, batch_flush_when_idle false", lambda s: replicator_argv(
                           s, None, ["--sink=stdout", "--batch-flush-when-idle=false"]))]:
        slot = f"bench_latency_{abs(hash(name)) % 100000}"
        psql(f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')")
        p = subprocess.Popen(argv(slot), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        lat = []
        # A reader thread stamps each chunk the moment it arrives.
        reader = threading.Thread(target=read_marks, args=(p.stdout, lat), daemon=True)
        reader.start()
        time.sleep(1.0)  # connected and streaming
        writer = subprocess.Popen(["psql", "-X", "-q", "-h", HOST, "-p", PORT, "-U", USER, "-d", DB],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        for _ in range(LATENCY_ROWS):
            writer.stdin.write("INSERT INTO tick (mark) VALUES ('L' || lpad((extract(epoch from clock_timestamp()) "
                               "* 1000000)::bigint::text, 16, '0') || 'E');\n")
            writer.stdin.flush()
            time.sleep(0.01)
        writer.stdin.close()
        writer.wait()
        deadline = time.monotonic() + 10
        while len(lat) < LATENCY_ROWS and time.monotonic() < deadline:
            time.sleep(0.1)
        p.terminate()
        p.wait()
        psql(f"SELECT pg_drop_replication_slot('{slot}')")
        lat.sort()
        if not lat:
            print(f"| {name} | (no rows seen) | |")
            continue
        p50 = lat[len(lat) // 2]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"| {name} | {p50:.2f} ms | {p99:.2f} ms |")


if __name__ == "__main__":
    main()
