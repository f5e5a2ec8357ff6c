// sink: postgresql tags what it applies with its replication origin (docs/apply.md, "Exactly once"),
// so a two-way setup can filter it: the program applies the shared server into a private target
// cluster of the same build, while the target also takes local writes; two more runs of the program
// then read the target's own slots, one with `origin: none` (pgoutput's origin option, PostgreSQL
// 16+) and one with the default (any). The first sees only the target's local changes, the second
// every change; the target's commit timestamps name the program's origin as the applied rows'
// writer. On 14 and 15 (no origin option) the test says it skipped. Tagged pg_matrix: run against
// every major.
#include <catch2/catch.hpp>

#include <csignal>
#include <string>
#include <vector>

#include "tests/program/process.hpp"
#include "tests/reliability/harness.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/private_cluster.hpp"

using namespace std::chrono_literals;
using namespace replicator::test;

namespace {

// "insert 1", "update 1", ... for the row changes of `table` in a JSON lines output, in order.
std::vector<std::string> changes_of(const std::string& path, const std::string& table) {
  std::vector<std::string> out;
  for (const auto& line : read_lines(path)) {
    if (line.find("\"table\":\"" + table + "\"") == std::string::npos) continue;
    const auto op = line.find("\"op\":\"");
    const auto id = line.find("\"new\":{\"id\":\"");
    if (op == std::string::npos || id == std::string::npos) continue;
    out.push_back(line.substr(op + 6, line.find('"', op + 6) - op - 6) + " " +
                  line.substr(id + 13, line.find('"', id + 13) - id - 13));
  }
  return out;
}

}  // namespace

TEST_CASE("apply tags its changes with its origin, a target slot with origin none leaves them out (16+)") {
  PgSession src;
  const int version = src.server_version();
  if (version < 160000) {
    WARN("PostgreSQL " << version / 10000 << ": pgoutput has no origin option before 16, skipped");
    return;
  }
  // The same build as the shared server ($REPLICATOR_PG_BIN); commit timestamps keep each commit's origin.
  PrivateClusterOptions options;
  options.conf = {"track_commit_timestamp = on"};
  PrivateCluster target(options);
  PgSession tgt(target.params());
  const std::string table = unique_name("ao_t"), pub = unique_name("ao_pub"), slot = unique_name("ao_slot");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table + "; " +
                     drop_slot_sql(slot));
  const std::string ddl = "CREATE TABLE " + table + " (id int PRIMARY KEY, v text)";
  src.exec(ddl);
  src.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  src.exec("SELECT pg_create_logical_replication_slot(" + src.quote_literal(slot) + ", 'pgoutput')");
  // The target publishes the same table; its slots exist before anything is written there.
  tgt.exec(ddl);
  tgt.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  const std::string none_slot = slot + "_none", any_slot = slot + "_any";
  for (const auto& s : {none_slot, any_slot})
    tgt.exec("SELECT pg_create_logical_replication_slot(" + tgt.quote_literal(s) + ", 'pgoutput')");

  const std::string dir = make_scratch_dir("apply_origin");
  write_file(dir + "/apply.yaml",
             program_config(Server::shared(), slot, pub,
                            "postgresql_create_slot: false\nsink: postgresql\napply_dsn: " +
                                yaml_quote(target.conninfo()) + "\n"));
  Child apply({program_path(), "--config", dir + "/apply.yaml"}, dir + "/apply.out", dir + "/apply.log");
  auto on_target = [&](const std::string& id, const std::string& v) {
    const bool seen = wait_until(
        [&] { return !apply.running() || tgt.scalar("SELECT v FROM " + table + " WHERE id = " + id) == v; }, 60s);
    INFO(read_file(dir + "/apply.log"));
    REQUIRE(apply.running());
    REQUIRE(seen);
  };
  // Applied and local changes interleaved on the target.
  src.exec("INSERT INTO " + table + " VALUES (1, 'applied')");
  src.exec("INSERT INTO " + table + " VALUES (2, 'applied')");
  on_target("2", "applied");
  tgt.exec("INSERT INTO " + table + " VALUES (101, 'local')");
  src.exec("UPDATE " + table + " SET v = 'applied update' WHERE id = 1");
  on_target("1", "applied update");
  tgt.exec("INSERT INTO " + table + " VALUES (102, 'local')");
  tgt.exec("UPDATE " + table + " SET v = 'local update' WHERE id = 2");  // a local change of an applied row
  tgt.exec("INSERT INTO " + table + " VALUES (103, 'local, the last')");
  apply.signal(SIGTERM);
  CHECK(apply.wait_exit(30s) == 0);

  // The target's slots, read by the program (JSON lines to stdout) until the last local change.
  const Server target_server{target.host(), std::to_string(target.port()), "postgres", "postgres"};
  auto read_slot = [&](const std::string& name, const std::string& extra) {
    write_file(dir + "/" + name + ".yaml", program_config(target_server, name, pub,
                                                          "postgresql_create_slot: false\nsnapshot_mode: never\n"
                                                          "sink: stdout\n" +
                                                              extra));
    const std::string out = dir + "/" + name + ".jsonl", log = dir + "/" + name + ".log";
    Child reader({program_path(), "--config", dir + "/" + name + ".yaml"}, out, log);
    const bool done = wait_until(
        [&] { return !reader.running() || read_file(out).find("\"new\":{\"id\":\"103\"") != std::string::npos; }, 60s);
    INFO(read_file(log));
    REQUIRE(reader.running());
    REQUIRE(done);
    reader.signal(SIGTERM);
    CHECK(reader.wait_exit(30s) == 0);
    return changes_of(out, table);
  };
  CHECK(read_slot(none_slot, "origin: none\n") ==
        std::vector<std::string>{"insert 101", "insert 102", "update 2", "insert 103"});
  CHECK(read_slot(any_slot, "") == std::vector<std::string>{"insert 1", "insert 2", "insert 101", "update 1",
                                                            "insert 102", "update 2", "insert 103"});
  // The tag itself: each row's last writer's origin (track_commit_timestamp), the program's or none.
  CHECK(tgt.scalar("SELECT string_agg(id || '=' || coalesce((SELECT roname FROM pg_replication_origin WHERE roident "
                   "= (pg_xact_commit_timestamp_origin(t.xmin)).roident), 'local'), ',' ORDER BY id) FROM " +
                   table + " t") == "1=replicator_" + slot + ",2=local,101=local,102=local,103=local");
}
