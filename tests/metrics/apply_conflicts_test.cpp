// sink: postgresql counts every conflict in the program's metric replicator_apply_conflicts_total
// {kind, resolution} (docs/apply.md, "Conflicts"): the program applies the shared server into a
// private target cluster whose rows were made to disagree with the source (a row only on the target,
// rows only on the source), with the metrics endpoint on; /metrics is scraped once the last source
// transaction is on the target. Once with apply_on_conflict skip / apply_on_missing skip, once with
// upsert / insert (other resolutions, other target rows).
#include <catch2/catch.hpp>

#include <csignal>
#include <sstream>
#include <string>

#include "metrics_support.hpp"
#include "tests/support/private_cluster.hpp"

using namespace std::chrono_literals;
using namespace replicator::test;

namespace {

struct Policy {
  std::string on_conflict, on_missing;
  // The expected resolution label of each kind, and the target's rows at the end.
  std::string insert_exists, update_missing, delete_missing;
  std::string target_rows;
};

// How many lines of `text` contain `needle`.
std::size_t lines_with(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

std::string rows_of(const PgSession& db, const std::string& table) {
  return db.scalar("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM " + table).value_or("");
}

void run_case(const Policy& p) {
  PrivateCluster target;
  PgSession src;
  PgSession tgt(target.params());
  const std::string table = unique_name("acm_t"), pub = unique_name("acm_pub"), slot = unique_name("acm_slot");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table +
                     "; SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" +
                     slot + "'");
  const std::string ddl = "CREATE TABLE " + table + " (id int PRIMARY KEY, v text)";
  src.exec(ddl);
  tgt.exec(ddl);
  // Rows 2 and 4 exist only on the source (written before the slot: never sent), row 1 only on the target.
  src.exec("INSERT INTO " + table + " VALUES (2, 'source only'), (4, 'source only')");
  tgt.exec("INSERT INTO " + table + " VALUES (1, 'target only')");
  src.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  src.exec("SELECT pg_create_logical_replication_slot(" + src.quote_literal(slot) + ", 'pgoutput')");
  src.exec("INSERT INTO " + table + " VALUES (1, 'from source')");             // insert_exists
  src.exec("UPDATE " + table + " SET v = 'updated' WHERE id = 2");             // update_missing
  src.exec("DELETE FROM " + table + " WHERE id = 4");                          // delete_missing
  src.exec("INSERT INTO " + table + " VALUES (3, 'last')");                    // no conflict: the end

  const std::string dir = test_tmpdir() + "/" + unique_name("acm");
  REQUIRE(std::system(("mkdir -p '" + dir + "'").c_str()) == 0);
  const std::uint16_t port = free_loopback_port();
  write_file(dir + "/replicator.yaml",
             program_config(slot, pub,
                            "postgresql_create_slot: false\nsink: postgresql\napply_dsn: " +
                                yaml_quote(target.conninfo()) + "\napply_on_conflict: " + p.on_conflict +
                                "\napply_on_missing: " + p.on_missing + "\nmetrics_address: 127.0.0.1:" +
                                std::to_string(port) + "\n"));
  Child program({program_path(), "--config", dir + "/replicator.yaml"}, dir + "/out.log", dir + "/err.log");
  const bool applied = wait_until(
      [&] { return !program.running() || tgt.scalar("SELECT v FROM " + table + " WHERE id = 3") == "last"; }, 60s);
  INFO(read_file(dir + "/err.log"));
  REQUIRE(applied);
  REQUIRE(program.running());

  const auto reply = http_get("127.0.0.1", port, "/metrics");
  REQUIRE(reply.status == 200);
  INFO(reply.body);
  auto series = [](const std::string& kind, const std::string& resolution) {
    return "replicator_apply_conflicts_total{kind=\"" + kind + "\",resolution=\"" + resolution + "\"}";
  };
  CHECK(exposed(reply.body, series("insert_exists", p.insert_exists)) == "1");
  CHECK(exposed(reply.body, series("update_missing", p.update_missing)) == "1");
  CHECK(exposed(reply.body, series("delete_missing", p.delete_missing)) == "1");
  // Nothing else was counted: three conflict series in all.
  CHECK(lines_with(reply.body, "replicator_apply_conflicts_total{") == 3);
  CHECK(rows_of(tgt, table) == p.target_rows);

  program.signal(SIGTERM);
  CHECK(program.wait_exit(30s) == 0);
  const std::string log = read_file(dir + "/err.log");
  CHECK(lines_with(log, "msg=\"apply conflict\"") == 3);
  CHECK(log.find("kind=insert_exists resolution=" + p.insert_exists) != std::string::npos);
  CHECK(log.find("level=error") == std::string::npos);
}

}  // namespace

TEST_CASE("apply conflicts counted in replicator_apply_conflicts_total, skip and skip") {
  run_case({.on_conflict = "skip",
            .on_missing = "skip",
            .insert_exists = "skipped",
            .update_missing = "skipped",
            .delete_missing = "skipped",
            .target_rows = "1=target only,3=last"});
}

TEST_CASE("apply conflicts counted in replicator_apply_conflicts_total, upsert and insert") {
  run_case({.on_conflict = "upsert",
            .on_missing = "insert",
            .insert_exists = "updated",
            .update_missing = "inserted",
            .delete_missing = "skipped",  // a delete has nothing to insert
            .target_rows = "1=from source,2=updated,3=last"});
}
