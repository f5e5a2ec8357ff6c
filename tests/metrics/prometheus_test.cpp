// The program's metrics endpoint scraped by a real Prometheus (Debian's package, started here on a
// free loopback port, scraping every second): after a workload against the test PostgreSQL, the
// query API shows sum(replicator_changes_total) == the changes written, replicator_lag_bytes back to
// 0 and up == 1; `promtool check metrics` accepts the exposition; /healthz and /readyz answer.
#include <catch2/catch.hpp>

#include <csignal>
#include <string>

#include "metrics_support.hpp"

using namespace std::chrono_literals;
using namespace replicator::test;

TEST_CASE("Prometheus scrapes the program; its API agrees with the workload", "[prometheus]") {
  PgSession db;
  const std::string table = unique_name("prom_t"), pub = unique_name("prom_pub"), slot = unique_name("prom_slot");
  CleanupSql drop_table("DROP TABLE IF EXISTS " + table);
  CleanupSql drop_pub("DROP PUBLICATION IF EXISTS " + pub);
  CleanupSql drop_slot("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" +
                       slot + "'");
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, v text)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);

  const std::string dir = test_tmpdir() + "/" + unique_name("prom");
  REQUIRE(std::system(("mkdir -p '" + dir + "'").c_str()) == 0);
  const std::uint16_t metrics_port = free_loopback_port();
  const std::string metrics_address = "127.0.0.1:" + std::to_string(metrics_port);
  write_file(dir + "/replicator.yaml", program_config(slot, pub,
                                                      "metrics_address: " + metrics_address +
                                                          "\nslot_check_interval_ms: 500\nsink: file\nsink_file: " +
                                                          yaml_quote(dir + "/out.jsonl") + "\n"));
  Child program({program_path(), "--config", dir + "/replicator.yaml"}, dir + "/stdout", dir + "/err.log");
  INFO(read_file(dir + "/err.log"));
  REQUIRE(wait_ready(program, metrics_port));
  CHECK(http_get("127.0.0.1", metrics_port, "/healthz").status == 200);

  Prometheus prom(dir, {metrics_address});

  // 500 inserts, 120 updates, 80 deletes, in a few transactions.
  constexpr int kChanges = 500 + 120 + 80;
  for (int t = 0; t < 5; ++t) {
    db.exec("INSERT INTO " + table + " SELECT g, 'v' || g FROM generate_series(" + std::to_string(t * 100 + 1) + ", " +
            std::to_string(t * 100 + 100) + ") g");
  }
  db.exec("UPDATE " + table + " SET v = 'u' WHERE id <= 120");
  db.exec("DELETE FROM " + table + " WHERE id > 420");

  std::optional<double> changes;
  const bool counted = wait_until(
      [&] {
        changes = prom.query_value("sum(replicator_changes_total)");
        return changes && *changes == kChanges;
      },
      90s);
  INFO("prometheus log: " << prom.log());
  CHECK(counted);
  CHECK(changes.value_or(-1) == kChanges);
  CHECK(prom.query_value("sum(replicator_changes_total{op=\"insert\"})").value_or(-1) == 500);
  CHECK(prom.query_value("sum(replicator_changes_total{op=\"update\"})").value_or(-1) == 120);
  CHECK(prom.query_value("sum(replicator_changes_total{op=\"delete\"})").value_or(-1) == 80);

  std::optional<double> lag;
  CHECK(wait_until(
      [&] {
        lag = prom.query_value("replicator_lag_bytes");
        return lag && *lag == 0;
      },
      60s));
  CHECK(lag.value_or(-1) == 0);
  CHECK(prom.query_value("up{job=\"replicator\"}").value_or(-1) == 1);
  CHECK(prom.query_value("replicator_streaming").value_or(-1) == 1);
  CHECK(prom.query_value("replicator_slot_active").value_or(-1) == 1);
  CHECK(wait_until([&] { return prom.query_value("replicator_slot_wal_status{status=\"reserved\"}").value_or(0) == 1; },
                   30s));
  CHECK(prom.query_value("replicator_confirmed_lsn").value_or(0) > 0);
  CHECK(prom.query_value("replicator_batches_total").value_or(0) >= 1);

  const auto scrape = http_get("127.0.0.1", metrics_port, "/metrics");
  REQUIRE(scrape.status == 200);
  CHECK(promtool_check(dir, scrape.body) == "");
  CHECK(exposed(scrape.body, "replicator_build_info{version=\"0.1.0\"}") == "1");

  program.signal(SIGTERM);
  CHECK(program.wait_exit(30s) == 0);
}
