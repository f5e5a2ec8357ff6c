// PostgresPositionStore against the real server: create, round trip, upsert per slot, quoting,
// bad rows, an unreachable server.
#include <catch2/catch.hpp>

#include "replicator/position/postgres.hpp"
#include "tests/support/pg.hpp"

using namespace replicator;

namespace {
ConnectionConfig config() {
  ConnectionConfig cfg;
  cfg.host = test::env_or("PGHOST");
  cfg.port = static_cast<std::uint16_t>(std::stoi(test::env_or("PGPORT", "5432")));
  cfg.user = test::env_or("PGUSER");
  cfg.dbname = test::env_or("PGDATABASE");
  return cfg;
}
Position sample(std::string slot, std::uint64_t lsn) {
  return Position{Lsn{lsn}, 1, std::move(slot), 7300000000000000123ULL,
                  std::chrono::system_clock::time_point(std::chrono::microseconds(1764088251123456))};
}
}  // namespace

TEST_CASE("PostgresPositionStore round-trips and upserts one row per slot") {
  REQUIRE(test::have_server());
  test::PgSession db;
  const std::string table = test::unique_name("pos");
  test::CleanupSql drop("DROP TABLE IF EXISTS public." + db.quote_ident(table));
  const std::string slot_a = test::unique_name("slot_a");
  const std::string slot_b = test::unique_name("slot_b");

  PostgresPositionStore a(config(), slot_a, {.schema = "public", .table = table});
  auto empty = a.load();  // creates the table
  REQUIRE(empty);
  CHECK_FALSE(empty->has_value());
  REQUIRE(a.save(sample(slot_a, 0x16B3748)));
  auto p = a.load();
  REQUIRE(p);
  REQUIRE(p->has_value());
  CHECK(**p == sample(slot_a, 0x16B3748));

  REQUIRE(a.save(sample(slot_a, 0x1000000000)));
  PostgresPositionStore b(config(), slot_b, {.schema = "public", .table = table});
  REQUIRE(b.save(sample(slot_b, 0x42)));
  CHECK(a.load().value()->lsn == Lsn{0x1000000000});
  CHECK(b.load().value()->lsn == Lsn{0x42});
  CHECK(db.scalar("SELECT count(*) FROM public." + db.quote_ident(table)) == "2");
  CHECK(db.scalar("SELECT lsn::text FROM public." + db.quote_ident(table) +
                  " WHERE slot_name = " + db.quote_literal(slot_a)) == "10/0");

  SECTION("a position of another slot is refused") { REQUIRE_FALSE(a.save(sample(slot_b, 1))); }
  SECTION("a damaged row is a clear error") {
    db.exec("UPDATE public." + db.quote_ident(table) +
            " SET timeline = -1 WHERE slot_name = " + db.quote_literal(slot_a));
    auto bad = a.load();
    REQUIRE_FALSE(bad);
    CHECK_THAT(bad.error().message, Catch::Contains("timeline") && Catch::Contains(slot_a));
  }
  SECTION("the connection is re-made after it was lost") {
    db.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'replicator' AND "
        "pid <> pg_backend_pid() AND query LIKE '%" +
        table + "%'");
    // The first call may see the dead connection (retryable); the store reconnects afterwards.
    auto first = a.save(sample(slot_a, 0x2000000000));
    if (!first) CHECK(first.error().retryable());
    REQUIRE(a.save(sample(slot_a, 0x2000000000)));
    CHECK(a.load().value()->lsn == Lsn{0x2000000000});
  }
}

TEST_CASE("PostgresPositionStore quotes schema and table names") {
  REQUIRE(test::have_server());
  test::PgSession db;
  const std::string schema = "we\"ird; schema " + test::unique_name("s");
  const std::string table = "Tab\"le; DROP TABLE x; --";
  db.exec("CREATE SCHEMA " + db.quote_ident(schema));
  test::CleanupSql drop("DROP SCHEMA IF EXISTS " + db.quote_ident(schema) + " CASCADE");
  const std::string slot = test::unique_name("slot");
  PostgresPositionStore s(config(), slot, {.schema = schema, .table = table});
  REQUIRE(s.save(sample(slot, 0x99)));
  CHECK(s.load().value()->lsn == Lsn{0x99});
  CHECK(db.scalar("SELECT count(*) FROM " + db.quote_ident(schema) + "." + db.quote_ident(table)) == "1");
}

TEST_CASE("PostgresPositionStore: missing table without create_table, unreachable server") {
  REQUIRE(test::have_server());
  const std::string slot = test::unique_name("slot");
  PostgresPositionStore s(config(), slot, {.table = test::unique_name("missing"), .create_table = false});
  auto r = s.load();
  REQUIRE_FALSE(r);
  CHECK_FALSE(r.error().retryable());
  CHECK(r.error().sqlstate == "42P01");

  ConnectionConfig down = config();
  down.host = "127.0.0.1";
  down.port = 1;  // nothing listens there
  down.connect_timeout_s = 2;
  PostgresPositionStore unreachable(down, slot);
  auto st = unreachable.save(sample(slot, 1));
  REQUIRE_FALSE(st);
  CHECK(st.error().retryable());

  PostgresPositionStore bad_slot(config(), "Bad-Slot");
  REQUIRE_FALSE(bad_slot.load());
}
