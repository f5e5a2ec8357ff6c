// pg/slot_health.hpp against real servers: slot health of a fresh slot (columns chosen by the
// server's version), a missing slot, heartbeats (default and heartbeat_query, a failing one),
// SlotMonitor's checks and heartbeats (held off by note_activity), and a slot that lost its WAL
// (max_slot_wal_keep_size on a private cluster): lost(), invalidation_reason on 17+, safe_wal_size.
#include "replicator/pg/slot_health.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/support/env_config.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/private_cluster.hpp"

using namespace replicator;
using namespace std::chrono_literals;
using replicator::test::CleanupSql;
using replicator::test::env_config;
using replicator::test::PgSession;
using replicator::test::PrivateCluster;
using replicator::test::PrivateClusterOptions;
using replicator::test::unique_name;

namespace {
PgConnection connect(const ConnectionConfig& cfg) {
  auto c = PgConnection::connect(cfg, ConnectionKind::normal);
  if (!c) FAIL(c.error().message);
  return std::move(*c);
}
}  // namespace

TEST_CASE("slot health of a fresh slot, and of none", "[slot_health]") {
  PgSession db;
  const std::string slot = unique_name("health");
  CleanupSql drop("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot +
                  "'");
  db.exec("SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput')");
  auto conn = connect(env_config());
  auto h = check_slot_health(conn, slot);
  if (!h) FAIL(h.error().message);
  REQUIRE(h->has_value());
  const SlotHealth& s = **h;
  CHECK(s.slot.name == slot);
  CHECK(s.slot.wal_status == "reserved");
  CHECK_FALSE(s.slot.active);
  CHECK_FALSE(s.lost());
  CHECK_FALSE(s.unreserved());
  CHECK(s.server_version == db.server_version());
  CHECK(s.current_wal.is_valid());
  CHECK(s.retained_wal_bytes < (64u << 20));
  CHECK_FALSE(s.safe_wal_size.has_value());  // max_slot_wal_keep_size = -1 on the shared server

  auto none = check_slot_health(conn, unique_name("absent"));
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  CHECK_FALSE(check_slot_health(conn, "Not A Slot Name"));  // refused before any SQL
}

TEST_CASE("heartbeats write WAL; heartbeat_query runs instead; a failing one is an error", "[slot_health]") {
  auto conn = connect(env_config());
  PgSession db;
  const auto before =
      Lsn::parse(*db.scalar("SELECT pg_current_wal_insert_lsn()"));  // not flushed yet: the WAL writer does
  REQUIRE(before);
  REQUIRE(emit_heartbeat(conn));
  const auto after = Lsn::parse(*db.scalar("SELECT pg_current_wal_insert_lsn()"));
  CHECK(*after > *before);
  const std::string table = unique_name("hb");
  CleanupSql drop("DROP TABLE IF EXISTS " + table);
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, at timestamptz); INSERT INTO " + table +
          " VALUES (1, NULL)");
  REQUIRE(emit_heartbeat(conn, "UPDATE " + table + " SET at = now() WHERE id = 1"));
  CHECK(db.scalar("SELECT at IS NOT NULL FROM " + table) == "t");
  auto bad = emit_heartbeat(conn, "UPDATE no_such_table_here SET x = 1");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().sqlstate == "42P01");
}

TEST_CASE("SlotMonitor checks at its interval and writes heartbeats only when idle", "[slot_health]") {
  PgSession db;
  const std::string slot = unique_name("monitor");
  CleanupSql drop("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot +
                  "'");
  db.exec("SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput')");
  std::atomic<int> checks{0}, heartbeats{0}, failures{0};
  SlotMonitorOptions o;
  o.connection = env_config();
  o.slot = slot;
  o.check_interval = 100ms;
  o.heartbeat_interval = 200ms;
  SlotMonitorCallbacks cb;
  cb.health = [&](const SlotHealth& h) {
    if (h.slot.name == slot) ++checks;
  };
  cb.heartbeat = [&](bool ok) { ok ? ++heartbeats : ++failures; };
  cb.failed = [&](const ReplicationError&, std::string_view) { ++failures; };
  {
    SlotMonitor monitor(o, cb);
    // Busy: activity every 20 ms holds heartbeats off.
    const auto busy_until = std::chrono::steady_clock::now() + 700ms;
    while (std::chrono::steady_clock::now() < busy_until) {
      monitor.note_activity();
      std::this_thread::sleep_for(20ms);
    }
    CHECK(heartbeats.load() == 0);
    CHECK(checks.load() >= 3);
    // Idle: heartbeats come.
    std::this_thread::sleep_for(1000ms);
  }
  CHECK(heartbeats.load() >= 2);
  CHECK(heartbeats.load() <= 6);
  CHECK(failures.load() == 0);

  std::atomic<int> missing{0};
  SlotMonitorCallbacks absent;
  absent.missing = [&] { ++missing; };
  o.slot = unique_name("absent");
  {
    SlotMonitor monitor(o, absent);
    std::this_thread::sleep_for(350ms);
  }
  CHECK(missing.load() >= 2);
}

TEST_CASE("a slot whose WAL was removed is lost, with invalidation_reason on 17+", "[slot_health]") {
  PrivateClusterOptions options;
  options.conf = {"max_slot_wal_keep_size = 1MB", "wal_keep_size = 0"};
  PrivateCluster pg(options);
  const std::string slot = unique_name("lost");
  pg.sql("CREATE TABLE t (id int, v text)");
  pg.sql("SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput')");
  ConnectionConfig cfg;
  cfg.host = pg.host();
  cfg.port = pg.port();
  cfg.dbname = "postgres";
  cfg.user = "postgres";
  auto conn = connect(cfg);
  auto fresh = check_slot_health(conn, slot);
  REQUIRE(fresh);
  REQUIRE(fresh->has_value());
  CHECK((*fresh)->safe_wal_size.has_value());  // a limit is set: the server computes it
  for (int round = 0; round < 10; ++round) {
    pg.sql("INSERT INTO t SELECT g, 'filler' FROM generate_series(1, 500) g");
    pg.sql("SELECT pg_switch_wal()");
    pg.sql("CHECKPOINT");
    auto h = check_slot_health(conn, slot);
    REQUIRE(h);
    REQUIRE(h->has_value());
    if ((*h)->lost()) break;
    std::this_thread::sleep_for(100ms);
  }
  auto h = check_slot_health(conn, slot);
  REQUIRE(h);
  REQUIRE(h->has_value());
  const SlotHealth& s = **h;
  CHECK(s.lost());
  CHECK(s.slot.wal_status == "lost");
  if (s.server_version >= 170000) CHECK(s.slot.invalidation_reason == "wal_removed");
  else CHECK(s.slot.invalidation_reason.empty());
  CHECK_THAT(slot_invalidated_error(s.slot).message, Catch::Contains("Drop and re-create"));
}
