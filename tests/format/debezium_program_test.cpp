// The `replicator` program with sink_format: debezium, exclude_columns and unchanged_toast:
// from_old, against the server of scripts/with_postgres.sh: Debezium envelopes on stdout, the
// excluded column absent, the unchanged TOAST column filled from the old row (REPLICA IDENTITY FULL);
// and the debezium_* keys with an enum and a domain column.
#include <catch2/catch.hpp>

#include <csignal>
#include <string>

#include "tests/program/process.hpp"
#include "tests/support/pg.hpp"

using namespace replicator::test;
using namespace std::chrono_literals;

TEST_CASE("replicator with sink_format: debezium") {
  REQUIRE(have_server());
  PgSession db;
  const std::string table = unique_name("dbzprog");
  const std::string slot = unique_name("dbzpslot");
  const std::string pub = unique_name("dbzppub");
  const std::string t = db.quote_ident(table);
  CleanupSql drop("DROP TABLE IF EXISTS " + t + "; DROP PUBLICATION IF EXISTS " + db.quote_ident(pub));
  CleanupSql drop_slot("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = " +
                       db.quote_literal(slot));
  db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text, secret text, big text)");
  db.exec("ALTER TABLE " + t + " REPLICA IDENTITY FULL");
  db.exec("CREATE PUBLICATION " + db.quote_ident(pub) + " FOR TABLE " + t);

  const std::string dir = test_tmpdir();
  const std::string cfg = dir + "/dbz.yaml";
  write_file(cfg, "postgresql_host: '" + env_or("PGHOST", "127.0.0.1") + "'\n" +
                      "postgresql_port: " + env_or("PGPORT", "5432") + "\n" + "postgresql_database: '" +
                      env_or("PGDATABASE", "postgres") + "'\n" + "postgresql_user: '" + env_or("PGUSER", "postgres") +
                      "'\n" + "postgresql_slot_name: " + slot + "\npostgresql_publication_name: " + pub + "\n" +
                      "snapshot_mode: never\nbinary: true\nsink_format: debezium\ndebezium_server_name: shop\n"
                      "exclude_columns: [\"" +
                      table +
                      ".secret\"]\nunchanged_toast: from_old\n"
                      "batch_max_delay_ms: 10\n");
  const std::string out = dir + "/dbz.out", err = dir + "/dbz.err";
  Child p({program_path(), "--config", cfg}, out, err);
  // The slot exists once the program streams.
  REQUIRE(wait_until(
      [&] {
        return db.scalar("SELECT count(*)::text FROM pg_replication_slots WHERE active AND slot_name = " +
                         db.quote_literal(slot)) == "1";
      },
      20s));
  db.exec("INSERT INTO " + t +
          " VALUES (1, 'a', 's', (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 300)))");
  db.exec("UPDATE " + t + " SET v = 'b' WHERE id = 1");
  db.exec("DELETE FROM " + t + " WHERE id = 1");
  // 60 s: the walsender decodes every test's WAL on the shared server, and a big transaction
  // of another test running beside this one (under ASan, on 2 cores) can hold it up for a while.
  if (!wait_until([&] { return read_lines(out).size() >= 3; }, 60s))
    FAIL("3 changes did not arrive within 60 s; the program's log:\n" << read_file(err));
  p.signal(SIGTERM);
  CHECK(p.wait_exit(20s) == 0);
  INFO(read_file(err));
  const auto lines = read_lines(out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].rfind("{\"before\":null,\"after\":{\"id\":1,\"v\":\"a\",\"big\":\"", 0) == 0);
  CHECK(lines[0].find("\"source\":{\"version\":\"replicator\",\"connector\":\"postgresql\",\"name\":\"shop\",") !=
        std::string::npos);
  CHECK(lines[0].find(",\"op\":\"c\",") != std::string::npos);
  for (const auto& l : lines) CHECK(l.find("secret") == std::string::npos);
  // The update's "after" has the big value filled from the old row, not the placeholder.
  CHECK(lines[1].find("__debezium_unavailable_value") == std::string::npos);
  CHECK(lines[1].find("\"after\":{\"id\":1,\"v\":\"b\",\"big\":\"") != std::string::npos);
  CHECK(lines[1].find(",\"op\":\"u\",") != std::string::npos);
  CHECK(lines[2].rfind("{\"before\":{\"id\":1,\"v\":\"b\",\"big\":\"", 0) == 0);
  CHECK(lines[2].find("\"after\":null") != std::string::npos);
}

// The debezium_* keys reach the formatter, and the program loads the type catalog (enum labels,
// a domain's base type) over a normal connection when the Relation names types it does not know.
TEST_CASE("replicator with the debezium handling-mode keys, schemas, keys and tombstones") {
  REQUIRE(have_server());
  PgSession db;
  const std::string table = unique_name("dbzmodes");
  const std::string slot = unique_name("dbzmslot");
  const std::string pub = unique_name("dbzmpub");
  const std::string t = db.quote_ident(table);
  CleanupSql drop("DROP TABLE IF EXISTS " + t + "; DROP PUBLICATION IF EXISTS " + db.quote_ident(pub) +
                  "; DROP TYPE IF EXISTS dbzp_mood; DROP DOMAIN IF EXISTS dbzp_qty");
  CleanupSql drop_slot("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = " +
                       db.quote_literal(slot));
  db.exec("DROP TYPE IF EXISTS dbzp_mood CASCADE; DROP DOMAIN IF EXISTS dbzp_qty CASCADE");
  db.exec("CREATE TYPE dbzp_mood AS ENUM ('sad', 'ok')");
  db.exec("CREATE DOMAIN dbzp_qty AS int2");
  db.exec("CREATE TABLE " + t +
          " (id int PRIMARY KEY, m dbzp_mood, q dbzp_qty, n numeric(6,3), iv interval, by bytea)");
  db.exec("CREATE PUBLICATION " + db.quote_ident(pub) + " FOR TABLE " + t);

  const std::string dir = test_tmpdir();
  const std::string cfg = dir + "/dbzm.yaml";
  write_file(cfg, "postgresql_host: '" + env_or("PGHOST", "127.0.0.1") + "'\n" +
                      "postgresql_port: " + env_or("PGPORT", "5432") + "\n" + "postgresql_database: '" +
                      env_or("PGDATABASE", "postgres") + "'\n" + "postgresql_user: '" + env_or("PGUSER", "postgres") +
                      "'\n" + "postgresql_slot_name: " + slot + "\npostgresql_publication_name: " + pub + "\n" +
                      "snapshot_mode: never\nsink_format: debezium\ndebezium_server_name: shop\n"
                      "debezium_decimal_handling_mode: string\ndebezium_interval_handling_mode: string\n"
                      "debezium_binary_handling_mode: hex\ndebezium_schemas: true\ndebezium_keys: true\n"
                      "debezium_tombstones: true\nbatch_max_delay_ms: 10\n");
  const std::string out = dir + "/dbzm.out", err = dir + "/dbzm.err";
  Child p({program_path(), "--config", cfg}, out, err);
  REQUIRE(wait_until(
      [&] {
        return db.scalar("SELECT count(*)::text FROM pg_replication_slots WHERE active AND slot_name = " +
                         db.quote_literal(slot)) == "1";
      },
      20s));
  db.exec("INSERT INTO " + t + " VALUES (7, 'ok', 12, -1.5, '1 day 00:00:01', '\\x0a0b')");
  db.exec("DELETE FROM " + t + " WHERE id = 7");
  // 60 s: the walsender decodes every test's WAL on the shared server, and a big transaction
  // of another test running beside this one (under ASan, on 2 cores) can hold it up for a while.
  if (!wait_until([&] { return read_lines(out).size() >= 3; }, 60s))
    FAIL("3 changes did not arrive within 60 s; the program's log:\n" << read_file(err));
  p.signal(SIGTERM);
  CHECK(p.wait_exit(20s) == 0);
  INFO(read_file(err));
  const auto lines = read_lines(out);
  REQUIRE(lines.size() == 3);  // insert, delete, tombstone
  const std::string& c = lines[0];
  CHECK(c.rfind("{\"key\":{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,"
                "\"field\":\"id\"}],\"optional\":false,\"name\":\"shop.public." +
                    table +
                    ".Key\"},\"payload\":{\"id\":7}},"
                    "\"value\":{\"schema\":",
                0) == 0);
  CHECK(c.find("{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,"
               "\"parameters\":{\"allowed\":\"sad,ok\"},\"field\":\"m\"}") != std::string::npos);
  CHECK(c.find("{\"type\":\"int16\",\"optional\":true,\"field\":\"q\"}") != std::string::npos);  // domain over int2
  CHECK(c.find("\"payload\":{\"before\":null,\"after\":{\"id\":7,\"m\":\"ok\",\"q\":12,\"n\":\"-1.500\","
               "\"iv\":\"P0Y0M1DT0H0M1S\",\"by\":\"0a0b\"}") != std::string::npos);
  CHECK(lines[1].find(",\"op\":\"d\",") != std::string::npos);
  CHECK(lines[2] ==
        "{\"key\":{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,"
        "\"field\":\"id\"}],\"optional\":false,\"name\":\"shop.public." +
            table +
            ".Key\"},\"payload\":"
            "{\"id\":7}},\"value\":null}");
}
