// The `replicator` program with postgresql_plugin_name: wal2json against the server of
// scripts/with_postgres.sh: the same workload streamed by a pgoutput run and a wal2json run gives
// the same JSON lines (only the publication's tables: they become wal2json's add-tables), a
// restart resumes without loss or repeats, and a slot of the other plugin is refused with one line.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <thread>
#include <string>
#include <vector>

#include "process.hpp"
#include "tests/support/pg.hpp"

using namespace std::chrono_literals;
using replicator::test::Child;
using replicator::test::CleanupSql;
using replicator::test::env_or;
using replicator::test::PgSession;
using replicator::test::program_path;
using replicator::test::read_file;
using replicator::test::read_lines;
using replicator::test::test_tmpdir;
using replicator::test::unique_name;
using replicator::test::wait_until;
using replicator::test::write_file;

namespace {

std::string config(const std::string& slot, const std::string& pub, const std::string& plugin, const std::string& dir) {
  return "postgresql_host: '" + env_or("PGHOST", "127.0.0.1") + "'\n" + "postgresql_port: " + env_or("PGPORT", "5432") +
         "\n" + "postgresql_database: '" + env_or("PGDATABASE", "postgres") + "'\n" + "postgresql_user: '" +
         env_or("PGUSER", "postgres") + "'\n" + "postgresql_slot_name: " + slot + "\n" +
         "postgresql_publication_name: " + pub + "\n" + "postgresql_plugin_name: " + plugin + "\n" +
         "messages: true\n"
         "status_interval_ms: 200\n"
         "batch_max_delay_ms: 10\n"
         "position_store: file\n"
         "position_file: " +
         dir + "/" + slot + ".pos\n";
}

// Lines that are row changes, truncates or messages (begin/commit lines are compared too, but
// counted by these).
std::size_t count_changes(const std::string& path) {
  std::size_t n = 0;
  for (const auto& line : read_lines(path))
    if (line.find("\"op\":\"begin\"") == std::string::npos && line.find("\"op\":\"commit\"") == std::string::npos) ++n;
  return n;
}

bool slot_active(const PgSession& db, const std::string& slot) {
  return db.scalar("SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = " + db.quote_literal(slot))
             .value_or("0") == "1";
}

bool wait_streaming(const PgSession& db, const std::string& slot, Child& child, const std::string& log) {
  return wait_until(
             [&] {
               return (slot_active(db, slot) && read_file(log).find("msg=streaming") != std::string::npos) ||
                      !child.running();
             },
             30s) &&
         child.running();
}

}  // namespace

TEST_CASE("program with wal2json streams the same JSON lines as with pgoutput, resumes, refuses a pgoutput slot") {
  PgSession db;
  const std::string a = unique_name("w2j_a");
  const std::string other = unique_name("w2j_other");
  const std::string pub = unique_name("w2j_pub");
  const std::string slot_p = unique_name("w2j_pgo");
  const std::string slot_w = unique_name("w2j_w2j");
  const std::string drop_slots =
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('" + slot_p + "', '" +
      slot_w + "')";
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + a + ", " + other + "; " +
                     drop_slots);
  db.exec("CREATE TABLE " + a +
          " (id int PRIMARY KEY, v text, n numeric(10,2), f float8, ts timestamptz, flag bool, "
          "b bytea, doc jsonb, big text)");
  db.exec("ALTER TABLE " + a + " ALTER COLUMN big SET STORAGE EXTERNAL");
  db.exec("CREATE TABLE " + other + " (id int PRIMARY KEY)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + a);

  const std::string dir = test_tmpdir() + "/" + unique_name("w2j_e2e");
  REQUIRE(std::system(("mkdir -p '" + dir + "'").c_str()) == 0);
  write_file(dir + "/p.yaml", config(slot_p, pub, "pgoutput", dir));
  write_file(dir + "/w.yaml", config(slot_w, pub, "wal2json", dir));

  auto workload = [&](int from) {
    const std::string f = std::to_string(from);
    db.exec(
        "INSERT INTO " + a +
        " SELECT g, 'row \"' || g || '\"', g * 1.25, g / 4.0, '2026-01-01 00:00:00+00'::timestamptz "
        "+ g * interval '1 minute', g % 2 = 0, decode(md5(g::text), 'hex'), jsonb_build_object('g', g, 's', 'x\ny'), "
        "(SELECT string_agg(md5((g * 1000 + k)::text), '') FROM generate_series(1, 100) k) "
        "FROM generate_series(" +
        f + ", " + f + " + 9) g");
    db.exec("BEGIN; UPDATE " + a + " SET v = 'changed' WHERE id < " + f + " + 3; DELETE FROM " + a +
            " WHERE id = " + f + " + 9; INSERT INTO " + other + " VALUES (" + f +
            "); SELECT pg_logical_emit_message(true, 'app', 'm" + f + "'); COMMIT");
    db.exec("UPDATE " + a + " SET id = id + 100 WHERE id = " + f + " + 8");
  };
  constexpr std::size_t kChanges = 10 + 3 + 1 + 1 + 1;  // inserts, updates, delete, message, key update

  const std::string out_p = dir + "/p.jsonl", err_p = dir + "/p.log";
  const std::string out_w = dir + "/w1.jsonl", err_w = dir + "/w1.log";
  {
    Child p({program_path(), "--config", dir + "/p.yaml"}, out_p, err_p);
    Child w({program_path(), "--config", dir + "/w.yaml"}, out_w, err_w);
    REQUIRE(wait_streaming(db, slot_p, p, err_p));
    const bool w_streaming = wait_streaming(db, slot_w, w, err_w);
    INFO(read_file(err_w));
    REQUIRE(w_streaming);
    workload(1);
    db.exec("TRUNCATE " + a);
    const bool done =
        wait_until([&] { return count_changes(out_p) >= kChanges + 1 && count_changes(out_w) >= kChanges + 1; }, 30s);
    INFO(read_file(err_w));
    REQUIRE(done);
    std::this_thread::sleep_for(300ms);  // anything extra would show up now
    p.signal(SIGTERM);
    w.signal(SIGTERM);
    CHECK(p.wait_exit(20s) == 0);
    CHECK(w.wait_exit(20s) == 0);
  }
  const auto lines_p = read_lines(out_p);
  const auto lines_w = read_lines(out_w);
  REQUIRE(lines_p.size() == lines_w.size());
  for (std::size_t i = 0; i < lines_p.size(); ++i) {
    INFO("line " << i);
    CHECK(lines_w[i] == lines_p[i]);
  }
  CHECK(read_file(out_w).find(other) == std::string::npos);    // not in the publication
  CHECK(read_file(out_w).find("\\\\x") != std::string::npos);  // bytea in PostgreSQL's text form
  CHECK(read_file(err_w).find("level=error") == std::string::npos);

  // Changes while stopped, then a restart: exactly those, from the saved position.
  workload(50);
  const std::string out_w2 = dir + "/w2.jsonl", err_w2 = dir + "/w2.log";
  {
    Child w({program_path(), "--config", dir + "/w.yaml"}, out_w2, err_w2);
    const bool done = wait_until([&] { return count_changes(out_w2) >= kChanges; }, 30s);
    INFO(read_file(err_w2));
    REQUIRE(done);
    std::this_thread::sleep_for(300ms);
    w.signal(SIGINT);
    CHECK(w.wait_exit(20s) == 0);
  }
  CHECK(count_changes(out_w2) == kChanges);
  CHECK(read_file(out_w2).find("\"id\":\"50\"") != std::string::npos);
  CHECK(read_file(out_w2).find("\"id\":\"1\"") == std::string::npos);

  // The pgoutput slot with plugin wal2json: one fatal line, exit 1.
  write_file(dir + "/wrong.yaml", config(slot_p, pub, "wal2json", dir));
  Child wrong({program_path(), "--config", dir + "/wrong.yaml"}, dir + "/wrong.jsonl", dir + "/wrong.log");
  CHECK(wrong.wait_exit(30s) == 1);
  const std::string err = read_file(dir + "/wrong.log");
  INFO(err);
  CHECK(err.find("uses output plugin \\\"pgoutput\\\", not \\\"wal2json\\\"") != std::string::npos);
}
