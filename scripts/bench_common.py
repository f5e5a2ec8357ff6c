"""Shared by the live benchmarks (scripts/bench_live.py, scripts/bench_apply.py): psql, a process's CPU
ticks, and the ~1M-change backlog, in one place so both measure the same stream: bulk inserts,
updates, deletes, TOAST with unchanged-TOAST updates, REPLICA IDENTITY FULL, one 200k-row
transaction, 50k single-row transactions, all behind a base slot created before the first change. Sizes scale with BENCH_SCALE (1.0: ~1M changes)."""
import subprocess

PUB = "bench_pub"

# The tables, also created on an apply target (scripts/bench_apply.py).
TABLES_SQL = """
CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, amount numeric(12,2), status text,
                     created_at timestamptz DEFAULT now(), note text);
CREATE TABLE events (id bigint, kind text, payload jsonb, at timestamptz);
ALTER TABLE events REPLICA IDENTITY FULL;
CREATE TABLE documents (id int PRIMARY KEY, title text, body text, version int);
ALTER TABLE documents ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE tick (id bigserial PRIMARY KEY, mark text);
"""
TABLES = ("orders", "events", "documents", "tick")


def proc_ticks(pid):
    """CPU clock ticks (user + system) a process has used so far; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def psql(host, port, user, db, sql, capture=True):
    """Runs sql with psql (stops on the first error); returns its unaligned output."""
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", str(port), "-U", user,
                        "-d", db, "-c", sql], check=True, capture_output=capture, text=True)
    return r.stdout.strip() if capture else ""


def build_backlog(sql, db, scale, slot="bench_base"):
    """Creates database db, its tables, publication bench_pub and the logical slot `slot` (pgoutput),
    then the workload. sql(statement, db=name) runs one statement and returns its output.
    Returns (end_lsn, changes): the WAL position after the last commit and the number of row changes."""
    def n(x):
        return max(1, int(x * scale))

    sql(f"DROP DATABASE IF EXISTS {db}", db="postgres")
    sql(f"CREATE DATABASE {db}", db="postgres")
    sql(TABLES_SQL + f"""
CREATE PUBLICATION {PUB} FOR TABLE {", ".join(TABLES)};
CREATE PROCEDURE single_row_txns(k int) LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..k LOOP
    INSERT INTO orders (customer, amount, status) VALUES ('single-' || i, i % 1000, 'new');
    COMMIT;
  END LOOP;
END $$;
""", db=db)
    sql(f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')", db=db)
    changes = 0
    bulk, per_txn = n(300_000), 10_000
    for start in range(0, bulk, per_txn):
        k = min(per_txn, bulk - start)
        sql(f"INSERT INTO orders (customer, amount, status, note) SELECT 'customer-' || (g % 997), g % 10000 + 0.25, "
            f"'new', CASE WHEN g % 5 = 0 THEN 'note ' || g END FROM generate_series(1, {k}) g", db=db)
        changes += k
    upd = n(200_000)
    for start in range(0, upd, per_txn):
        k = min(per_txn, upd - start)
        sql(f"UPDATE orders SET status = 'shipped', amount = amount + 1 WHERE id > {start} AND id <= {start + k}",
            db=db)
        changes += k
    dele = n(100_000)
    sql(f"DELETE FROM orders WHERE id > {bulk - dele}", db=db)
    changes += dele
    ev = n(100_000)
    sql(f"INSERT INTO events SELECT g, 'kind-' || (g % 7), jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b')), "
        f"now() FROM generate_series(1, {ev}) g", db=db)
    changes += ev
    evu = n(50_000)
    sql(f"UPDATE events SET kind = 'seen' WHERE id <= {evu}", db=db)
    changes += evu
    docs = n(2_000)
    sql(f"INSERT INTO documents SELECT g, 'doc ' || g, repeat(md5(g::text), 640), 1 FROM generate_series(1, {docs}) g",
        db=db)
    sql("UPDATE documents SET version = version + 1", db=db)  # body unchanged: unchanged-TOAST columns
    changes += 2 * docs
    big = n(200_000)
    sql(f"INSERT INTO events SELECT 1000000 + g, 'big', NULL, now() FROM generate_series(1, {big}) g", db=db)
    changes += big
    singles = n(50_000)
    sql(f"CALL single_row_txns({singles})", db=db)
    changes += singles
    end = sql("SELECT pg_current_wal_lsn()", db=db)
    return end, changes
