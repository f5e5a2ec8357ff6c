#include "replicator/pg/slot.hpp"

#include <catch2/catch.hpp>

#include "tests/support/env_config.hpp"
#include "tests/support/pg.hpp"

using namespace replicator;
using replicator::test::CleanupSql;
using replicator::test::env_config;
using replicator::test::PgSession;
using replicator::test::unique_name;

namespace {

struct Connections {
  PgConnection mgmt;
  PgConnection repl;
};

Connections connect_both() {
  auto cfg = env_config();
  auto mgmt = PgConnection::connect(cfg, ConnectionKind::normal);
  REQUIRE(mgmt);
  auto repl = PgConnection::connect(cfg, ConnectionKind::replication);
  REQUIRE(repl);
  return {std::move(*mgmt), std::move(*repl)};
}

// Drops a slot at scope end if it still exists.
CleanupSql drop_slot_later(const std::string& slot) {
  return CleanupSql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot +
                    "'");
}

}  // namespace

TEST_CASE("slot names follow the server's rule") {
  for (const char* ok : {"a", "slot_1", "abc_def_123", "0"}) {
    INFO(ok);
    CHECK(validate_slot_name(ok));
  }
  CHECK(validate_slot_name(std::string(63, 'a')));
  for (std::string bad : {std::string(), std::string(64, 'a'), std::string("Upper"), std::string("has space"),
                          std::string("quote\"d"), std::string("semi;colon"), std::string("dash-ed"),
                          std::string("x'); DROP TABLE t; --"), std::string("nul\0x", 5), std::string("\xc3\xa9")}) {
    INFO(bad);
    auto st = validate_slot_name(bad);
    REQUIRE_FALSE(st);
    CHECK_FALSE(st.error().retryable());
    CHECK(st.error().message.find("invalid replication slot name") != std::string::npos);
  }
}

TEST_CASE("an invalid slot name is rejected before any SQL is sent") {
  PgConnection not_connected;  // any SQL attempt would fail with "not connected" instead
  auto found = find_slot(not_connected, "bad name");
  REQUIRE_FALSE(found);
  CHECK(found.error().message.find("invalid replication slot name") != std::string::npos);
  SlotOptions opts;
  opts.name = "Bad";
  auto ensured = ensure_slot(not_connected, not_connected, opts, "postgres");
  REQUIRE_FALSE(ensured);
  CHECK(ensured.error().message.find("invalid replication slot name") != std::string::npos);
  auto dropped = drop_slot(not_connected, "x;y");
  REQUIRE_FALSE(dropped);
  CHECK(dropped.error().message.find("invalid replication slot name") != std::string::npos);
}

TEST_CASE("ensure_slot creates, reuses and drops a permanent slot") {
  auto c = connect_both();
  const auto slot = unique_name("slot_perm");
  auto cleanup = drop_slot_later(slot);
  const std::string db = test::env_or("PGDATABASE", "postgres");

  SlotOptions opts;
  opts.name = slot;
  auto created = ensure_slot(c.mgmt, c.repl, opts, db);
  REQUIRE(created);
  CHECK(created->created);
  CHECK(created->name == slot);
  CHECK(created->plugin == "pgoutput");
  CHECK(created->consistent_point.is_valid());
  CHECK(created->snapshot_name.empty());  // SNAPSHOT 'nothing'

  auto found = find_slot(c.mgmt, slot);
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->database == db);
  CHECK_FALSE((*found)->temporary);
  CHECK_FALSE((*found)->active);

  auto reused = ensure_slot(c.mgmt, c.repl, opts, db);
  REQUIRE(reused);
  CHECK_FALSE(reused->created);
  CHECK(reused->plugin == "pgoutput");
  CHECK(reused->confirmed_flush == created->consistent_point);

  SECTION("wrong database is fatal") {
    auto other = ensure_slot(c.mgmt, c.repl, opts, "some_other_db");
    REQUIRE_FALSE(other);
    CHECK_FALSE(other.error().retryable());
    CHECK(other.error().message.find("belongs to database") != std::string::npos);
  }
  SECTION("asking for a temporary slot with a permanent slot's name is fatal") {
    opts.temporary = true;
    auto temp = ensure_slot(c.mgmt, c.repl, opts, db);
    REQUIRE_FALSE(temp);
    CHECK_FALSE(temp.error().retryable());
  }
  SECTION("drop") {
    REQUIRE(drop_slot(c.repl, slot));
    auto gone = find_slot(c.mgmt, slot);
    REQUIRE(gone);
    CHECK_FALSE(gone->has_value());
    auto again = drop_slot(c.repl, slot);
    REQUIRE_FALSE(again);
    CHECK(again.error().sqlstate == "42704");
    CHECK_FALSE(again.error().retryable());
  }
}

TEST_CASE("a slot made by another plugin is a fatal mismatch") {
  auto c = connect_both();
  PgSession admin;
  const auto slot = unique_name("slot_td");
  auto cleanup = drop_slot_later(slot);
  admin.exec("SELECT pg_create_logical_replication_slot('" + slot + "', 'test_decoding')");
  SlotOptions opts;
  opts.name = slot;
  auto r = ensure_slot(c.mgmt, c.repl, opts, test::env_or("PGDATABASE", "postgres"));
  REQUIRE_FALSE(r);
  CHECK_FALSE(r.error().retryable());
  CHECK(r.error().message.find("test_decoding") != std::string::npos);
  CHECK(r.error().message.find("pg_drop_replication_slot") != std::string::npos);
}

TEST_CASE("a missing slot with creation turned off is fatal and says how to create it") {
  auto c = connect_both();
  SlotOptions opts;
  opts.name = unique_name("slot_missing");
  opts.create_if_missing = false;
  auto r = ensure_slot(c.mgmt, c.repl, opts, test::env_or("PGDATABASE", "postgres"));
  REQUIRE_FALSE(r);
  CHECK_FALSE(r.error().retryable());
  CHECK(r.error().sqlstate == "42704");
  CHECK(r.error().message.find("pg_create_logical_replication_slot('" + opts.name + "', 'pgoutput')") !=
        std::string::npos);
}

TEST_CASE("temporary slots live as long as their replication connection") {
  const auto slot = unique_name("slot_temp");
  auto cleanup = drop_slot_later(slot);
  PgSession admin;
  {
    auto c = connect_both();
    SlotOptions opts;
    opts.name = slot;
    opts.temporary = true;
    opts.snapshot = SnapshotAction::export_snapshot;
    auto created = ensure_slot(c.mgmt, c.repl, opts, test::env_or("PGDATABASE", "postgres"));
    REQUIRE(created);
    CHECK(created->created);
    CHECK(created->temporary);
    CHECK_FALSE(created->snapshot_name.empty());  // exported
    auto found = find_slot(c.mgmt, slot);
    REQUIRE(found);
    REQUIRE(found->has_value());
    CHECK((*found)->temporary);

    // Another session sees it as someone else's temporary slot: retry later.
    auto other = connect_both();
    SlotOptions reuse;
    reuse.name = slot;
    auto r = ensure_slot(other.mgmt, other.repl, reuse, test::env_or("PGDATABASE", "postgres"));
    REQUIRE_FALSE(r);
    CHECK(r.error().retryable());
    CHECK(r.error().sqlstate == "55006");
  }
  // Gone shortly after the connection closed.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = !admin.scalar("SELECT 1 FROM pg_replication_slots WHERE slot_name = '" + slot + "'").has_value();
    if (!gone) ::usleep(50'000);
  }
  CHECK(gone);
}

TEST_CASE("two_phase slots") {
  auto c = connect_both();
  if (c.repl.server_version() < 150000) return;
  const auto slot = unique_name("slot_2pc");
  auto cleanup = drop_slot_later(slot);
  SlotOptions opts;
  opts.name = slot;
  opts.two_phase = true;
  auto created = ensure_slot(c.mgmt, c.repl, opts, test::env_or("PGDATABASE", "postgres"));
  REQUIRE(created);
  auto found = find_slot(c.mgmt, slot);
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->two_phase);
}

TEST_CASE("publications: missing is fatal with the SQL to create it; present lists its tables") {
  auto c = connect_both();
  PgSession admin;
  const auto pub = unique_name("pub");

  auto missing = check_publication(c.mgmt, pub);
  REQUIRE_FALSE(missing);
  CHECK_FALSE(missing.error().retryable());
  CHECK(missing.error().message.find("CREATE PUBLICATION \"" + pub + "\" FOR ALL TABLES;") != std::string::npos);

  const auto t1 = unique_name("tbl_a");
  const auto t2 = unique_name("tbl_b");
  admin.exec("CREATE TABLE " + t1 + " (id int primary key); CREATE TABLE " + t2 + " (id int primary key)");
  CleanupSql drop_tables("DROP TABLE IF EXISTS " + t1 + ", " + t2);
  admin.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + t1 + ", " + t2 + " WITH (publish = 'insert, update')");
  CleanupSql drop_pub("DROP PUBLICATION IF EXISTS " + pub);

  auto info = check_publication(c.mgmt, pub);
  REQUIRE(info);
  CHECK(info->name == pub);
  CHECK_FALSE(info->all_tables);
  CHECK(info->inserts);
  CHECK(info->updates);
  CHECK_FALSE(info->deletes);
  CHECK_FALSE(info->truncates);
  REQUIRE(info->tables.size() == 2);
  CHECK(info->tables[0] == TableName{"public", std::min(t1, t2)});
  CHECK(info->tables[1] == TableName{"public", std::max(t1, t2)});

  // Names with quotes, semicolons and spaces are quoted, never executed.
  const std::string weird = "we\"ird; DROP TABLE " + t1 + "; --";
  auto odd = check_publication(c.mgmt, weird);
  REQUIRE_FALSE(odd);
  CHECK(odd.error().message.find("CREATE PUBLICATION \"we\"\"ird; DROP TABLE") != std::string::npos);
  CHECK(admin.scalar("SELECT count(*) FROM " + t1) == "0");  // still there
}
