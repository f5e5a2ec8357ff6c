// PostgresApplySink with apply_workers 4 between two real servers (tests/support/apply_fixture.hpp):
// a random workload of dependent (same keys, hot rows) and independent transactions with key
// changes, deletes, a TRUNCATE, a column added mid-stream (the target first), a keyless REPLICA
// IDENTITY FULL table and a table with a second unique index; the target equals the source as a
// multiset. Then restarts from the workers' origins (4 workers again, then 1) with no duplicate and
// no gap, a row lock held on the target (the batch goes again on one connection), and the resume
// point taken as the highest origin of the family.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include "replicator/live.hpp"
#include "replicator/sink/postgres_apply.hpp"
#include "tests/support/apply_fixture.hpp"
#include "tests/support/pg.hpp"

using namespace replicator;
using namespace std::chrono_literals;
using replicator::test::ApplyFixture;
using replicator::test::PgSession;
using replicator::test::target_cluster;

namespace {

// Batches of many transactions, so that a backlog is applied in parallel.
CombinedBatcher many_per_batch() { return CombinedBatcher(ByLimits{.max_rows = 400, .max_age = 200ms}); }

PostgresApplyOptions with_workers(int n) {
  PostgresApplyOptions o;
  o.workers = n;
  return o;
}

// Random small transactions on the tables of the test; a tenth roll back.
struct Workload {
  ApplyFixture& f;
  std::string keyed, pair, keyless, uniq, trunc;
  std::mt19937 rng{20261205};
  int next_id = 100;
  bool added = false;  // keyed has the column `added`

  int any_id() { return 1 + static_cast<int>(rng() % static_cast<unsigned>(next_id)); }
  std::string n(unsigned mod) { return std::to_string(rng() % mod); }

  std::string statement() {
    switch (rng() % 14) {
      case 0: {
        const std::string id = std::to_string(next_id++);
        return added ? "INSERT INTO " + keyed + " VALUES (" + id + ", " + n(100) + ", 'i', 'a" + id + "')"
                     : "INSERT INTO " + keyed + " VALUES (" + id + ", " + n(100) + ", 'i')";
      }
      case 1:
      case 2: return "UPDATE " + keyed + " SET v = v + 1 WHERE id = " + std::to_string(1 + rng() % 20);  // hot rows
      case 3: return "UPDATE " + keyed + " SET v = " + n(1000) + " WHERE id = " + std::to_string(any_id());
      case 4: return "DELETE FROM " + keyed + " WHERE id = " + std::to_string(any_id());
      case 5:  // the key changes
        return "UPDATE " + keyed + " SET id = " + std::to_string(next_id++) + " WHERE id = " + std::to_string(any_id());
      case 6:
        return "INSERT INTO " + pair + " VALUES (" + n(10) + ", 'b" + n(3) + "', " + n(100) +
               ") ON CONFLICT (a, b) DO UPDATE SET c = excluded.c";
      case 7: return "DELETE FROM " + pair + " WHERE a = " + n(10) + " AND b = 'b" + n(3) + "'";
      case 8: return "INSERT INTO " + keyless + " VALUES (" + n(5) + ", 'dup')";
      case 9:
        return "DELETE FROM " + keyless + " WHERE ctid = (SELECT ctid FROM " + keyless + " WHERE a = " + n(5) +
               " LIMIT 1)";
      case 10:
        return "INSERT INTO " + uniq + " VALUES (" + std::to_string(next_id++) + ", 'e" + n(6) +
               "') ON CONFLICT DO NOTHING";
      case 11: return "UPDATE " + uniq + " SET email = 'x' || id WHERE email = 'e" + n(6) + "'";
      case 12: return "DELETE FROM " + uniq + " WHERE email = 'e" + n(6) + "'";
      default: return "INSERT INTO " + trunc + " VALUES (" + std::to_string(next_id++) + ", " + n(10) + ")";
    }
  }
  void run(int transactions) {
    for (int t = 0; t < transactions; ++t) {
      std::string sql = "BEGIN;";
      for (unsigned i = 0; i < 1 + rng() % 4; ++i) sql += statement() + ";";
      sql += rng() % 10 == 0 ? "ROLLBACK" : "COMMIT";
      f.src.exec(sql);
    }
  }
};

// The flushed progress of the origin and of each worker's origin (":w<n>") on the target.
Lsn origin_progress(const ApplyFixture& f, int worker) {
  auto v = f.tgt.scalar("SELECT pg_replication_origin_progress(" +
                        f.tgt.quote_literal(detail::apply_worker_origin(f.origin, worker)) + ", true)::text");
  return v ? Lsn::parse(*v).value() : Lsn{};
}
Lsn family_progress(const ApplyFixture& f) {
  Lsn l;
  for (int w = 0; w < 4; ++w) l = std::max(l, origin_progress(f, w));
  return l;
}

}  // namespace

TEST_CASE("parallel apply: a random workload applied by 4 workers equals the source; restarts resume exactly") {
  ApplyFixture f;
  Workload w{f,
             f.table("par_keyed", "id int PRIMARY KEY, v int, note text"),
             f.table("par_pair", "a int NOT NULL, b text NOT NULL, c int, PRIMARY KEY (a, b)"),
             f.table("par_keyless", "a int, b text", "ALTER TABLE %t REPLICA IDENTITY FULL;"),
             f.table("par_uniq", "id int PRIMARY KEY, email text UNIQUE"),  // a second unique index: in order
             f.table("par_trunc", "id int PRIMARY KEY, v int")};
  f.publish();

  auto r = f.make(with_workers(4), false, many_per_batch());
  REQUIRE_OK(ApplyFixture::start(r));  // the slot exists from here on
  REQUIRE(r.sink().workers() == 4);
  f.src.exec("INSERT INTO " + w.keyed + " SELECT g, 0, 'hot' FROM generate_series(1, 20) g");
  // A backlog: the batches hold many transactions each.
  w.run(150);
  f.src.exec("TRUNCATE " + w.trunc);
  w.run(100);
  f.tgt.exec("ALTER TABLE " + w.keyed + " ADD COLUMN added text DEFAULT 'd'");  // the target first
  f.src.exec("ALTER TABLE " + w.keyed + " ADD COLUMN added text DEFAULT 'd'");
  w.added = true;
  w.run(150);
  REQUIRE_OK(f.run_until_equal(r));
  f.check_equal();
  CHECK(r.sink().stats().conflicts_total() == 0);
  // The other workers committed transactions of their own (their origins moved).
  int workers_used = 0;
  for (int k = 1; k < 4; ++k) workers_used += origin_progress(f, k).is_valid() ? 1 : 0;
  CHECK(workers_used > 0);
  std::cout << "parallel apply: " << r.sink().stats().transactions << " transactions, " << workers_used
            << " other workers committed some, " << r.sink().serial_retries() << " batches again on one connection"
            << std::endl;
  CHECK(r.sink().durable_lsn() == family_progress(f));

  // Restart with 4 workers: from the highest origin, nothing applied twice (the keyless table and
  // the inserts, which conflict with on_conflict error, would show it), nothing missed.
  REQUIRE_OK(r.shutdown());
  r.sink().disconnect();
  r.transport().close();
  w.run(150);
  {
    auto r2 = f.make(with_workers(4), false, many_per_batch());
    REQUIRE_OK(ApplyFixture::start(r2));
    REQUIRE(r2.stored_position().has_value());
    CHECK(r2.stored_position()->lsn == family_progress(f));
    REQUIRE_OK(f.run_until_equal(r2));
    f.check_equal();
    CHECK(r2.sink().stats().conflicts_total() == 0);

    // A row lock held on the target: the transaction that waits for it times out
    // (parallel_lock_timeout), the rest of the batch goes again on one connection, which waits.
    std::atomic<bool> locked{false};
    std::thread locker([&] {
      PgSession db(target_cluster().params());
      db.exec("BEGIN; SELECT 1 FROM " + w.keyed + " WHERE id = 1 FOR UPDATE");
      locked = true;
      std::this_thread::sleep_for(3s);
      db.exec("COMMIT");
    });
    while (!locked) std::this_thread::sleep_for(10ms);
    const auto retries = r2.sink().serial_retries();
    for (int i = 0; i < 30; ++i) {
      w.run(1);
      f.src.exec("UPDATE " + w.keyed + " SET v = v + 1 WHERE id = 1");
    }
    const Status st = f.run_until_equal(r2);
    locker.join();
    REQUIRE_OK(st);
    f.check_equal();
    CHECK(r2.sink().serial_retries() > retries);

    REQUIRE_OK(r2.shutdown());
    r2.sink().disconnect();
    r2.transport().close();
  }

  // From 4 workers to 1: the one resumes at the highest origin of the four (its own may be behind).
  INFO("worker 0 at " << origin_progress(f, 0).to_string() << ", all at " << family_progress(f).to_string());
  w.run(150);
  auto r3 = f.make(with_workers(1), false, many_per_batch());
  REQUIRE_OK(ApplyFixture::start(r3));
  REQUIRE(r3.stored_position().has_value());
  CHECK(r3.stored_position()->lsn == family_progress(f));
  REQUIRE_OK(f.run_until_equal(r3));
  f.check_equal();
  CHECK(r3.sink().stats().conflicts_total() == 0);
  CHECK(r3.sink().serial_retries() == 0);
}

TEST_CASE("parallel apply: the resume point is the highest origin of the family") {
  ApplyFixture f;
  const auto t = f.table("par_family", "a int, b text", "ALTER TABLE %t REPLICA IDENTITY FULL;");
  f.publish();
  auto r = f.make();
  REQUIRE_OK(ApplyFixture::start(r));
  f.src.exec("INSERT INTO " + t + " VALUES (1, 'applied')");
  REQUIRE_OK(f.run_until_equal(r));
  REQUIRE_OK(r.shutdown());
  r.sink().disconnect();
  r.transport().close();

  // Two transactions the target does not have, and a worker origin that says it has them (as if a
  // parallel worker committed them), next to an origin of another name that must not count.
  f.src.exec("INSERT INTO " + t + " VALUES (2, 'behind the worker origin')");
  f.src.exec("INSERT INTO " + t + " VALUES (3, 'behind the worker origin')");
  const std::string lsn = *f.src.scalar("SELECT pg_current_wal_lsn()::text");
  const std::string worker = f.tgt.quote_literal(f.origin + ":w3"), other = f.tgt.quote_literal(f.origin + ":wx");
  f.tgt.exec("SELECT pg_replication_origin_create(" + worker + "), pg_replication_origin_create(" + other + ")");
  f.tgt.exec("SELECT pg_replication_origin_advance(" + worker + ", '" + lsn + "')");
  f.tgt.exec("SELECT pg_replication_origin_advance(" + other + ", 'FFFFFFFF/0')");

  auto r2 = f.make();
  REQUIRE_OK(ApplyFixture::start(r2));
  REQUIRE(r2.stored_position().has_value());
  CHECK(r2.stored_position()->lsn.to_string() == lsn);
  f.src.exec("INSERT INTO " + t + " VALUES (4, 'after')");
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline && r2.sink().stats().transactions < 1) {
    auto more = r2.run_once(50ms);
    REQUIRE(more);
  }
  CHECK(r2.sink().stats().transactions == 1);
  CHECK(test::dump(f.tgt, t) == std::vector<std::string>{"(1,applied)", "(4,after)"});
}
