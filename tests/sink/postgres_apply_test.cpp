// PostgresApplySink between two real servers: the source of scripts/with_postgres.sh and a
// private target cluster. Column types (arrays, json, numeric, timestamps, bytea, enums, domains)
// in text and binary, every replica identity (duplicate rows of a keyless FULL table touched one at
// a time), unchanged TOAST columns, TRUNCATE, a column added mid-stream, a large streamed
// transaction, restarts without a duplicate (the origin is the position), the source confirmed only
// up to the target's flushed origin, and every conflict policy.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "replicator/concepts.hpp"
#include "replicator/live.hpp"
#include "replicator/sink/postgres_apply.hpp"
#include "tests/support/apply_fixture.hpp"
#include "tests/support/env_config.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/private_cluster.hpp"

using namespace replicator;
using namespace std::chrono_literals;
using replicator::test::CleanupSql;
using replicator::test::env_config;
using replicator::test::PgSession;
using replicator::test::PrivateCluster;
using replicator::test::unique_name;

namespace {
using Fixture = replicator::test::ApplyFixture;
using replicator::test::ApplyReplicator;
using replicator::test::dump;
using replicator::test::target_config;
}  // namespace

TEST_CASE("PostgresApplySink is a sink and its origin a position store") {
  STATIC_REQUIRE(replicator::SinkPolicy<replicator::PostgresApplySink>);
  STATIC_REQUIRE(replicator::PositionStorePolicy<replicator::PostgresApplySink::PositionStore>);
}

TEST_CASE("apply: types, replica identities, TOAST, TRUNCATE, a column added mid-stream, restart") {
  Fixture f;
  const bool binary = GENERATE(false, true);
  INFO("binary " << binary);
  const std::string mood = unique_name("mood"), pos = unique_name("posint");
  f.both("CREATE TYPE " + mood + " AS ENUM ('sad', 'ok', 'happy'); CREATE DOMAIN " + pos + " AS int CHECK (VALUE > 0)");
  CleanupSql drop_types_src{"DROP TYPE IF EXISTS " + mood + " CASCADE; DROP DOMAIN IF EXISTS " + pos + " CASCADE"};
  const auto types = f.table("types",
                             "id int PRIMARY KEY, a int[], s text[], j json, jb jsonb, n numeric(20,5), "
                             "ts timestamptz, t timestamp, d date, b bytea, e " +
                                 mood + ", p " + pos + ", f float8, u uuid, txt text");
  const auto full = f.table("full", "a int, j json, txt text", "ALTER TABLE %t REPLICA IDENTITY FULL;");
  const auto byindex = f.table(
      "byindex", "a int NOT NULL, b text NOT NULL, c text",
      "CREATE UNIQUE INDEX ON %t (a, b); ALTER TABLE %t REPLICA IDENTITY USING INDEX " + std::string("%t_a_b_idx;"));
  const auto nothing = f.table("nothing", "a int, b text", "ALTER TABLE %t REPLICA IDENTITY NOTHING;");
  const auto toast = f.table("toast", "id int PRIMARY KEY, big text, other int",
                             "ALTER TABLE %t ALTER COLUMN big SET STORAGE EXTERNAL;");
  const auto trunc = f.table("trunc", "id serial PRIMARY KEY, v text");
  f.publish();

  auto r = f.make({}, binary);
  REQUIRE_OK(Fixture::start(r));  // the slot exists from here on

  f.src.exec("INSERT INTO " + types +
             " VALUES (1, '{1,2,NULL}', '{\"a b\",\"c,d\"}', '{\"k\": [1, 2]}', "
             "'{\"x\": {\"y\": null}}', 12345.67891, '2024-02-29 12:34:56.789+05', '1999-12-31 23:59:59', "
             "'2000-01-01', '\\x00ff10', 'happy', 7, 1.5e-300, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'it''s'), "
             "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
  f.src.exec("UPDATE " + types + " SET e = 'sad', n = -0.00001, a = '{}' WHERE id = 1");
  f.src.exec("UPDATE " + types + " SET id = 3 WHERE id = 2");  // the key changes: found by the old key
  f.src.exec("INSERT INTO " + full + " VALUES (1, '{\"a\": 1}', 'dup'), (1, '{\"a\": 1}', 'dup'), (2, NULL, NULL)");
  f.src.exec("UPDATE " + full + " SET txt = 'changed' WHERE ctid = (SELECT ctid FROM " + full +
             " WHERE a = 1 LIMIT 1)");                 // one of two equal rows
  f.src.exec("DELETE FROM " + full + " WHERE a = 2");  // NULLs in the old row
  f.src.exec("INSERT INTO " + byindex + " VALUES (1, 'x', 'c1'), (1, 'y', NULL)");
  f.src.exec("UPDATE " + byindex + " SET c = 'c2', b = 'z' WHERE a = 1 AND b = 'x'");
  f.src.exec("DELETE FROM " + byindex + " WHERE b = 'y'");
  f.src.exec("INSERT INTO " + nothing + " VALUES (1, 'only inserts')");
  f.src.exec("INSERT INTO " + toast + " SELECT 1, string_agg(md5(i::text), '') , 1 FROM generate_series(1, 400) i");
  f.src.exec("UPDATE " + toast + " SET other = 2 WHERE id = 1");  // big is not sent: left out of SET
  f.src.exec("INSERT INTO " + trunc + " (v) SELECT 'r' || i FROM generate_series(1, 5) i");
  f.src.exec("TRUNCATE " + trunc + " RESTART IDENTITY");
  f.src.exec("INSERT INTO " + trunc + " (v) VALUES ('after')");  // id 1 again on both sides
  // A streamed transaction (past logical_decoding_work_mem).
  f.src.exec("INSERT INTO " + byindex + " SELECT i, 'bulk', repeat('x', 100) FROM generate_series(100, 6000) i");
  REQUIRE_OK(f.run_until_equal(r));
  f.check_equal();
  CHECK(r.sink().stats().conflicts_total() == 0);

  // A column added mid-stream: the target first, then the source.
  f.tgt.exec("ALTER TABLE " + types + " ADD COLUMN added text DEFAULT 'tgt'");
  f.src.exec("ALTER TABLE " + types + " ADD COLUMN added text DEFAULT 'tgt'");
  f.src.exec("INSERT INTO " + types + " (id, added) VALUES (10, 'new column')");
  f.src.exec("UPDATE " + types + " SET added = 'set' WHERE id = 1");
  REQUIRE_OK(f.run_until_equal(r));

  // Restart: what the target has is not applied again (a keyless table would show a duplicate).
  const auto applied = r.sink().stats().transactions;
  CHECK(applied > 0);
  REQUIRE_OK(r.shutdown());
  r.sink().disconnect();  // a process that ended: its target session lets go of the origin
  {
    auto r2 = f.make({}, binary);
    REQUIRE_OK(Fixture::start(r2));
    REQUIRE(r2.stored_position().has_value());  // from the origin
    CHECK(r2.stored_position()->lsn == f.origin_flushed());
    f.src.exec("INSERT INTO " + full + " VALUES (3, NULL, 'after restart')");
    REQUIRE_OK(f.run_until_equal(r2));
    f.check_equal();
    CHECK(r2.sink().stats().transactions == 1);
  }
}

TEST_CASE("apply: transactions the origin already has are not applied again, whatever the source resends") {
  Fixture f;
  const auto keyless = f.table("resent", "a int, b text", "ALTER TABLE %t REPLICA IDENTITY FULL;");
  f.publish();
  // A second slot from the same point: it sends again everything the first one was confirmed for.
  const std::string again = unique_name("apply_again");
  CleanupSql drop_again{"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" +
                        again + "'"};
  auto r = f.make();
  REQUIRE_OK(Fixture::start(r));
  f.src.exec("SELECT pg_create_logical_replication_slot('" + again + "', 'pgoutput')");
  for (int i = 0; i < 3; ++i) f.src.exec("INSERT INTO " + keyless + " VALUES (1, 'same')");
  REQUIRE_OK(f.run_until_equal(r));
  REQUIRE_OK(r.shutdown());
  r.sink().disconnect();
  r.transport().close();

  // Positions kept elsewhere (nothing stored): the slot sends the three transactions again.
  LibpqTransportOptions o;
  o.slot_name = again;
  o.publication_names = {f.pub};
  LiveReplicator<PostgresApplySink, TransactionBatcher, MemoryPositionStore> r2(
      LibpqTransport(env_config(), o), PgOutputEventDecoder{}, TransactionBatcher{}, MemoryPositionStore{},
      PostgresApplySink(target_config(), PostgresApplyOptions{.origin_name = f.origin}),
      ReplicatorOptions{.slot_name = again});
  REQUIRE_OK(r2.start());
  f.src.exec("INSERT INTO " + keyless + " VALUES (2, 'new')");
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline && r2.sink().stats().transactions < 1) {
    auto more = r2.run_once(50ms);
    REQUIRE(more);
  }
  f.check_equal();  // three (1, same) rows, not six
  CHECK(r2.sink().stats().skipped_transactions == 3);
  CHECK(r2.sink().stats().transactions == 1);
}

TEST_CASE("apply: a missing target table or column is named") {
  Fixture f;
  const auto t = f.table("missing", "id int PRIMARY KEY, v text, extra int");
  f.tgt.exec("ALTER TABLE " + t + " DROP COLUMN extra");
  f.publish();
  auto r = f.make();
  REQUIRE_OK(Fixture::start(r));
  f.src.exec("INSERT INTO " + t + " VALUES (1, 'a', 2)");
  Status st = f.run_until_error(r);
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK_THAT(st.error().message, Catch::Contains("has no column \"extra\"") && Catch::Contains(t));

  f.tgt.exec("DROP TABLE " + t);
  r.sink().disconnect();
  r.transport().close();
  auto r2 = f.make();
  REQUIRE_OK(Fixture::start(r2));
  st = f.run_until_error(r2);
  REQUIRE_FALSE(st);
  CHECK_THAT(st.error().message, Catch::Contains("target table public." + t + " does not exist"));
}

TEST_CASE("apply: apply_table_map applies into a renamed table") {
  Fixture f;
  const auto t = f.table("mapped", "id int PRIMARY KEY, v text");
  const auto renamed = unique_name("renamed");
  f.tgt.exec("CREATE SCHEMA IF NOT EXISTS other; CREATE TABLE other." + renamed + " (id int PRIMARY KEY, v text)");
  f.tgt.exec("DROP TABLE " + t);
  f.publish();
  PostgresApplyOptions o;
  o.table_map = {{"public." + t, "other." + renamed}};
  auto r = f.make(o);
  REQUIRE_OK(Fixture::start(r));
  f.src.exec("INSERT INTO " + t + " VALUES (1, 'a'), (2, 'b'); UPDATE " + t + " SET v = 'c' WHERE id = 2");
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline && dump(f.tgt, "other." + renamed) != dump(f.src, t)) {
    auto more = r.run_once(50ms);
    REQUIRE(more);
  }
  CHECK(dump(f.tgt, "other." + renamed) == dump(f.src, t));
}

TEST_CASE("apply: a conflict deep in a transaction names its row, pipelined (multi-row INSERTs) or not; fixed, the whole transaction applies") {
  Fixture f;
  const auto t = f.table("deep", "id int PRIMARY KEY, v text");
  f.publish();
  f.tgt.exec("INSERT INTO " + t + " VALUES (500, 'target')");
  const bool pipeline = GENERATE(true, false);
  INFO("apply_pipeline " << pipeline);
  PostgresApplyOptions o;
  o.pipeline = pipeline;
  auto count = [&] { return f.tgt.scalar("SELECT count(*) FROM " + t); };
  {
    auto r = f.make(o);
    REQUIRE_OK(Fixture::start(r));
    // 700 rows: the conflict lies in the second of three pipeline syncs (256 rows each).
    f.src.exec("INSERT INTO " + t + " SELECT g, 'source' FROM generate_series(1, 700) g");
    const Status st = Fixture::run_until_error(r);
    REQUIRE_FALSE(st);
    CHECK_FALSE(st.error().retryable());
    CHECK_THAT(st.error().message, Catch::Contains("conflict insert_exists") && Catch::Contains("(id)=(500)"));
    // Pipelined, the rows went out 64 to an INSERT: the server's detail names the row.
    if (pipeline) CHECK_THAT(st.error().message, Catch::Contains("one of 64 rows inserted together"));
    CHECK(r.sink().stats().conflicts[static_cast<int>(ApplyConflictKind::insert_exists)] == 1);
    CHECK(count() == "1");  // nothing of the transaction was committed
  }
  f.tgt.exec("DELETE FROM " + t);
  auto r = f.make(o);
  REQUIRE_OK(Fixture::start(r));
  REQUIRE_OK(f.run_until_equal(r));
  CHECK(count() == "700");
  CHECK(r.sink().stats().inserts == 700);
}

TEST_CASE("apply: updates and deletes by key go out many rows to a statement; a missing one is judged alone; a key twice keeps its order") {
  Fixture f;
  const auto t = f.table("together", "id int PRIMARY KEY, v text, n int");
  const auto k = f.table("together_k", "\"the id\" int, \"sp ace\" text, v text, PRIMARY KEY (\"the id\", \"sp ace\")");
  f.publish();
  const auto missing = GENERATE(ApplyMissingPolicy::error, ApplyMissingPolicy::skip);
  INFO("on_missing " << to_string(missing));
  PostgresApplyOptions o;
  o.on_missing = missing;
  std::vector<ApplyConflict> seen;
  o.on_conflict_found = [&](const ApplyConflict& c) { seen.push_back(c); };
  auto r = f.make(o);
  REQUIRE_OK(Fixture::start(r));
  f.src.exec("INSERT INTO " + t + " SELECT g, 'row ' || g, 0 FROM generate_series(1, 300) g");
  f.src.exec("INSERT INTO " + k + " SELECT g % 7, 'it''s \"' || g, 'k' FROM generate_series(1, 100) g");
  REQUIRE_OK(f.run_until_equal(r));

  // The target loses row 250 (and, with skip, row 100) before one transaction updates every row,
  // updates 1, 2, 1 again one by one, deletes 201..300 and changes the composite-key table.
  f.tgt.exec("DELETE FROM " + t + " WHERE id = 250" + (missing == ApplyMissingPolicy::skip ? " OR id = 100" : ""));
  f.src.exec("BEGIN; UPDATE " + t + " SET v = 'updated', n = n + 1; UPDATE " + t + " SET n = n + 10 WHERE id = 1; UPDATE " +
             t + " SET n = n + 10 WHERE id = 2; UPDATE " + t + " SET n = n + 10 WHERE id = 1; DELETE FROM " + t +
             " WHERE id > 200; UPDATE " + k + " SET v = 'k2'; DELETE FROM " + k + " WHERE \"the id\" = 3; COMMIT");
  auto n_of = [&](int id) { return f.tgt.scalar("SELECT n FROM " + t + " WHERE id = " + std::to_string(id)); };
  if (missing == ApplyMissingPolicy::error) {
    const Status st = Fixture::run_until_error(r);
    REQUIRE_FALSE(st);
    CHECK_FALSE(st.error().retryable());
    // Named exactly, though it went out in a statement of 64 rows.
    CHECK_THAT(st.error().message, Catch::Contains("conflict update_missing") && Catch::Contains("(id)=(250)"));
    CHECK(n_of(1) == "0");  // nothing of the transaction was committed
    r.transport().close();  // the slot and the origin are free for the next run
    r.sink().disconnect();
    f.tgt.exec("INSERT INTO " + t + " VALUES (250, 'row 250', 0)");
    auto again = f.make(o);
    REQUIRE_OK(Fixture::start(again));
    REQUIRE_OK(f.run_until_equal(again));
    CHECK(again.sink().stats().updates >= 303);
    CHECK(again.sink().stats().deletes >= 100);
  } else {
    f.src.exec("INSERT INTO " + t + " VALUES (1000, 'marker', 0)");
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (f.tgt.scalar("SELECT count(*) FROM " + t + " WHERE id = 1000") != "1" &&
           std::chrono::steady_clock::now() < deadline) {
      auto more = r.run_once(50ms);
      REQUIRE_OK(more);
    }
    REQUIRE(f.tgt.scalar("SELECT count(*) FROM " + t + " WHERE id = 1000") == "1");
    f.src.exec("DELETE FROM " + t + " WHERE id = 1000");
    f.tgt.exec("DELETE FROM " + t + " WHERE id = 1000");
    const auto& c = r.sink().stats().conflicts;
    CHECK(c[static_cast<int>(ApplyConflictKind::update_missing)] == 2);
    CHECK(c[static_cast<int>(ApplyConflictKind::delete_missing)] == 1);
    std::vector<std::string> keys;
    for (const auto& x : seen) keys.push_back(std::string(to_string(x.kind)) + " " + x.key);
    std::sort(keys.begin(), keys.end());
    CHECK(keys == std::vector<std::string>{"delete_missing (id)=(250)", "update_missing (id)=(100)",
                                           "update_missing (id)=(250)"});
    f.tgt.exec("INSERT INTO " + t + " SELECT * FROM (VALUES (100, 'updated', 1)) v");
    f.check_equal();
  }
  CHECK(n_of(1) == "21");  // +1, then +10 twice: the repeated key was not folded into one statement
  CHECK(n_of(2) == "11");
  CHECK(f.tgt.scalar("SELECT count(*) FROM " + t) == "200");
}

TEST_CASE("apply: REPLICA IDENTITY FULL updates and deletes go out many rows to one scan; equal rows each take their own; a row changed twice is changed twice") {
  Fixture f;
  // No index at all, duplicates, a jsonb column (compared as text) and NULLs.
  const auto t = f.table("full_together", "a int, b text, j jsonb", "ALTER TABLE %t REPLICA IDENTITY FULL;");
  f.publish();
  auto r = f.make();
  REQUIRE_OK(Fixture::start(r));
  f.src.exec("INSERT INTO " + t + " SELECT g, 'row ' || g, jsonb_build_object('n', g) FROM generate_series(1, 200) g");
  f.src.exec("INSERT INTO " + t + " SELECT 1, 'dup', '{\"d\": 1}' FROM generate_series(1, 3)");
  f.src.exec("INSERT INTO " + t + " SELECT 300, NULL, NULL FROM generate_series(1, 2)");
  REQUIRE_OK(f.run_until_equal(r));
  const auto before = r.sink().stats().updates;
  f.src.exec("BEGIN; UPDATE " + t + " SET b = b || '!' WHERE a <= 150; UPDATE " + t + " SET b = 'q' WHERE a = 5; UPDATE " +
             t + " SET b = 'r' WHERE a = 5; UPDATE " + t + " SET a = 301 WHERE a = 300; DELETE FROM " + t +
             " WHERE a > 180 AND a < 300; COMMIT");
  REQUIRE_OK(f.run_until_equal(r));
  CHECK(r.sink().stats().updates - before == 150 + 3 + 2 + 2);
  CHECK(f.tgt.scalar("SELECT count(*) FROM " + t + " WHERE b = 'dup!'") == "3");  // each duplicate updated once
  CHECK(f.tgt.scalar("SELECT b FROM " + t + " WHERE a = 5") == "r");
  CHECK(f.tgt.scalar("SELECT count(*) FROM " + t + " WHERE a = 301 AND b IS NULL") == "2");
  // A row the target lacks: missing, named, nothing committed.
  f.tgt.exec("DELETE FROM " + t + " WHERE a = 100");
  f.src.exec("UPDATE " + t + " SET b = 'again' WHERE a BETWEEN 90 AND 110");
  const Status st = Fixture::run_until_error(r);
  REQUIRE_FALSE(st);
  CHECK_THAT(st.error().message, Catch::Contains("conflict update_missing") && Catch::Contains("=(100, row 100!"));
  CHECK(f.tgt.scalar("SELECT count(*) FROM " + t + " WHERE b = 'again'") == "0");
}

TEST_CASE("apply: a COMMIT the target refuses (a deferred constraint) commits nothing and moves no origin, pipelined or not") {
  Fixture f;
  const auto t = f.table("deferred", "id int PRIMARY KEY, v text");
  f.publish();
  // Only the target checks v, and only at COMMIT.
  f.tgt.exec("ALTER TABLE " + t + " ADD CONSTRAINT " + t + "_v UNIQUE (v) DEFERRABLE INITIALLY DEFERRED");
  f.tgt.exec("INSERT INTO " + t + " VALUES (0, 'taken')");
  const bool pipeline = GENERATE(true, false);
  INFO("apply_pipeline " << pipeline);
  PostgresApplyOptions o;
  o.pipeline = pipeline;
  o.replica_role = false;  // with session_replication_role = replica the deferred check (a trigger) does not fire
  {
    auto r = f.make(o);
    REQUIRE_OK(Fixture::start(r));
    f.src.exec("INSERT INTO " + t + " SELECT g, 'row ' || g FROM generate_series(1, 100) g UNION ALL SELECT 101, 'taken'");
    const Status st = Fixture::run_until_error(r);
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error().message, Catch::Contains("COMMIT") && Catch::Contains("duplicate key"));
    CHECK(f.tgt.scalar("SELECT count(*) FROM " + t) == "1");  // nothing of the transaction
    CHECK(f.tgt.scalar("SELECT coalesce(pg_replication_origin_progress('" + f.origin + "', false)::text, 'none')") ==
          "none");
    CHECK(r.sink().stats().transactions == 0);
  }
  f.tgt.exec("DELETE FROM " + t + " WHERE id = 0");
  auto r = f.make(o);
  REQUIRE_OK(Fixture::start(r));
  REQUIRE_OK(f.run_until_equal(r));
  CHECK(r.sink().stats().inserts == 101);
}

TEST_CASE("apply: conflict policies") {
  Fixture f;
  const auto t = f.table("conflict", "id int PRIMARY KEY, v text, at timestamptz");
  f.publish();
  // Rows only the target has: 1 (old), 2 (from the future), and none for 3.
  f.tgt.exec("INSERT INTO " + t + " VALUES (1, 'target', '2000-01-01'), (2, 'target', '2999-01-01')");
  std::vector<ApplyConflict> seen;

  const auto policy = GENERATE(ApplyConflictPolicy::error, ApplyConflictPolicy::skip, ApplyConflictPolicy::upsert,
                               ApplyConflictPolicy::keep_newer);
  const auto missing = GENERATE(ApplyMissingPolicy::error, ApplyMissingPolicy::skip, ApplyMissingPolicy::insert);
  if (policy == ApplyConflictPolicy::error && missing != ApplyMissingPolicy::error) return;
  if (policy != ApplyConflictPolicy::error && missing == ApplyMissingPolicy::error) return;
  INFO("on_conflict " << to_string(policy) << ", on_missing " << to_string(missing));
  PostgresApplyOptions o;
  o.on_conflict = policy;
  o.on_missing = missing;
  o.commit_time_column = "at";
  o.on_conflict_found = [&](const ApplyConflict& c) { seen.push_back(c); };
  auto r = f.make(o);
  REQUIRE_OK(Fixture::start(r));
  // 1 and 2 exist on the target: inserts conflict; 3 and 4 do not: update / delete find nothing.
  f.src.exec("INSERT INTO " + t + " VALUES (1, 'source', now()), (2, 'source', now())");
  f.src.exec("INSERT INTO " + t + " VALUES (3, 'x', now()), (4, 'y', now())");
  auto run = [&](const std::function<bool()>& done) -> Status {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    auto next_check = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < deadline) {
      auto more = r.run_once(50ms);
      if (!more) return more.error();
      if (std::chrono::steady_clock::now() < next_check) continue;
      next_check = std::chrono::steady_clock::now() + 100ms;
      if (done()) return ok_status();
    }
    return ReplicationError::fatal("not done within 20 s");
  };
  auto row = [&](int id) { return f.tgt.scalar("SELECT v FROM " + t + " WHERE id = " + std::to_string(id)); };

  if (policy == ApplyConflictPolicy::error) {
    auto st = run([] { return false; });
    REQUIRE_FALSE(st);
    CHECK_FALSE(st.error().retryable());
    CHECK_THAT(st.error().message, Catch::Contains("conflict insert_exists") && Catch::Contains("(id)=(1)") &&
                                       Catch::Contains("duplicate key"));
    CHECK(r.sink().stats().conflicts[0] == 1);
    CHECK(row(1) == "target");  // nothing of the transaction was applied
    return;
  }
  // Once rows 3 and 4 arrived, the target loses them before the source changes them.
  REQUIRE_OK(run([&] { return f.tgt.scalar("SELECT count(*) FROM " + t + " WHERE id IN (3, 4)") == "2"; }));
  f.tgt.exec("DELETE FROM " + t + " WHERE id IN (3, 4)");
  f.src.exec("UPDATE " + t + " SET v = 'updated', at = now() WHERE id = 3");
  f.src.exec("DELETE FROM " + t + " WHERE id = 4");
  f.src.exec("INSERT INTO " + t + " VALUES (5, 'marker', now())");
  REQUIRE_OK(run([&] { return row(5).has_value(); }));

  const auto& c = r.sink().stats().conflicts;
  CHECK(c[static_cast<int>(ApplyConflictKind::insert_exists)] == 2);
  CHECK(c[static_cast<int>(ApplyConflictKind::update_missing)] == 1);
  CHECK(c[static_cast<int>(ApplyConflictKind::delete_missing)] == 1);
  CHECK(seen.size() == 4);
  for (const auto& s : seen) CHECK(s.table == "public." + t);
  switch (policy) {
    case ApplyConflictPolicy::skip:
      CHECK(row(1) == "target");
      CHECK(row(2) == "target");
      break;
    case ApplyConflictPolicy::upsert:
      CHECK(row(1) == "source");
      CHECK(row(2) == "source");
      break;
    case ApplyConflictPolicy::keep_newer:
      CHECK(row(1) == "source");  // the target's row was older than the commit
      CHECK(row(2) == "target");  // the target's row is newer
      break;
    default: break;
  }
  CHECK(row(3) == (missing == ApplyMissingPolicy::insert ? std::optional<std::string>("updated") : std::nullopt));
  CHECK_FALSE(row(4).has_value());
  if (policy == ApplyConflictPolicy::keep_newer) {
    // An update older than the target's row is not applied, and counted.
    f.tgt.exec("UPDATE " + t + " SET at = '2999-01-01' WHERE id = 5");
    f.src.exec("UPDATE " + t + " SET v = 'older' WHERE id = 5");
    f.src.exec("INSERT INTO " + t + " VALUES (6, 'marker', now())");
    REQUIRE_OK(run([&] { return row(6).has_value(); }));
    CHECK(row(5) == "marker");
    CHECK(c[static_cast<int>(ApplyConflictKind::update_older)] == 1);
  }
}
