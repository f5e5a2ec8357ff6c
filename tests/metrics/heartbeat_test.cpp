// Retained WAL of an idle publication's slot while the cluster writes heavily elsewhere (an
// unpublished table of the same database, then another database), with heartbeats on and off, on a
// private cluster (no other test's open transaction holds restart_lsn back).
// With heartbeats the retained WAL must stay bounded; the figures of both runs are printed (and
// recorded in docs/metrics.md: which cases really need the heartbeat).
#include <catch2/catch.hpp>

#include <csignal>
#include <iostream>
#include <string>
#include <thread>

#include "metrics_support.hpp"
#include "tests/support/private_cluster.hpp"

using namespace std::chrono_literals;
using namespace replicator::test;

namespace {

constexpr std::uint64_t kBound = 32ull << 20;  // a couple of WAL segments past the last checkpoint
constexpr std::uint64_t kWarnBytes = 16ull << 20;

std::uint64_t retained(const PgSession& db, const std::string& slot) {
  return std::stoull(db.scalar("SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint "
                               "FROM pg_replication_slots WHERE slot_name = " +
                               db.quote_literal(slot))
                         .value_or("0"));
}

// About 60 MB of WAL in `db`'s table `table` (created here), in 6 transactions.
void heavy_writes(const PgSession& db, const std::string& table) {
  db.exec("CREATE TABLE IF NOT EXISTS " + table + " (id bigint, pad text)");
  for (int t = 0; t < 6; ++t)
    db.exec("INSERT INTO " + table + " SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 40000) g");
}

struct Figures {
  std::uint64_t during_same_db = 0, after_same_db = 0, during_other_db = 0, after_other_db = 0, heartbeats = 0;
};

Figures run_case(bool heartbeats) {
  PrivateCluster pg;
  PgSession db(pg.params());
  const std::string pub_table = unique_name("hb_pub_t"), other = unique_name("hb_other_t");
  const std::string pub = unique_name("hb_pub"), slot = unique_name("hb_slot"), otherdb = unique_name("hb_db");
  db.exec("CREATE TABLE " + pub_table + " (id int PRIMARY KEY)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + pub_table);
  db.exec("CREATE DATABASE " + otherdb);

  const std::string dir = test_tmpdir() + "/" + unique_name(heartbeats ? "hb_on" : "hb_off");
  REQUIRE(std::system(("mkdir -p '" + dir + "'").c_str()) == 0);
  const std::uint16_t port = free_loopback_port();
  write_file(dir + "/replicator.yaml",
             program_config(slot, pub,
                            "metrics_address: 127.0.0.1:" + std::to_string(port) + "\nslot_check_interval_ms: 500\n" +
                                "heartbeat_interval_ms: " + (heartbeats ? "500" : "0") +
                                "\nslot_retained_wal_warn_bytes: " + std::to_string(kWarnBytes) + "\n",
                            pg.host(), std::to_string(pg.port())));
  Child program({program_path(), "--config", dir + "/replicator.yaml"}, dir + "/out.jsonl", dir + "/err.log");
  INFO(read_file(dir + "/err.log"));
  REQUIRE(wait_ready(program, port));

  // Settles: the slot's retained WAL once things are quiet (CHECKPOINT logs a running-xacts record).
  auto settle = [&] {
    std::uint64_t r = 0;
    wait_until(
        [&] {
          db.exec("CHECKPOINT");
          r = retained(db, slot);
          return r < kBound / 4;
        },
        30s);
    return r;
  };
  Figures f;
  heavy_writes(db, other);
  std::this_thread::sleep_for(2s);  // a few heartbeat intervals, no checkpoint yet
  f.during_same_db = retained(db, slot);
  if (f.during_same_db > kWarnBytes) {  // the guardrail: a warning line and the metric while above
    CHECK(wait_until(
        [&] {
          return read_file(dir + "/err.log").find("retains more WAL than slot_retained_wal_warn_bytes") !=
                 std::string::npos;
        },
        10s));
    CHECK(exposed(http_get("127.0.0.1", port, "/metrics").body, "replicator_slot_retained_wal_warning") == "1");
  }
  f.after_same_db = settle();
  if (f.during_same_db > kWarnBytes && f.after_same_db < kWarnBytes) {
    CHECK(wait_until(
        [&] {
          return read_file(dir + "/err.log").find("below slot_retained_wal_warn_bytes again") != std::string::npos;
        },
        10s));
  }
  {
    PgSession elsewhere(pg.params(otherdb));
    heavy_writes(elsewhere, "busy");
  }
  std::this_thread::sleep_for(2s);
  f.during_other_db = retained(db, slot);
  f.after_other_db = settle();
  const auto scrape = http_get("127.0.0.1", port, "/metrics");
  f.heartbeats = std::stoull("0" + exposed(scrape.body, "replicator_heartbeats_total"));
  CHECK(std::stoull("0" + exposed(scrape.body, "replicator_slot_retained_wal_bytes")) < 1ull << 40);
  program.signal(SIGTERM);
  CHECK(program.wait_exit(30s) == 0);
  std::cout << "heartbeats " << (heartbeats ? "on " : "off") << ": retained WAL 2 s after 60 MB into an unpublished "
            << "table: " << f.during_same_db << " bytes, after a CHECKPOINT: " << f.after_same_db
            << "; 2 s after 60 MB into another database: " << f.during_other_db
            << ", after a CHECKPOINT: " << f.after_other_db << "; heartbeats written: " << f.heartbeats << "\n";
  return f;
}

}  // namespace

TEST_CASE("with heartbeats an idle slot's retained WAL stays bounded", "[heartbeat]") {
  const Figures on = run_case(true);
  CHECK(on.heartbeats > 0);
  CHECK(on.after_same_db < kBound);
  CHECK(on.after_other_db < kBound);
  // Without heartbeats: measured and printed for docs/metrics.md; the program confirms the
  // keepalive's WAL end when nothing is in flight, which may already be enough here.
  const Figures off = run_case(false);
  CHECK(off.heartbeats == 0);
}

// max_slot_wal_keep_size small, no checkpoint coming (max_wal_size large, checkpoint_timeout long):
// heavy writes elsewhere leave the slot holding more WAL than it may keep, so the server reports
// wal_status unreserved until the next checkpoint, and the program must say so loudly (and expose it).
TEST_CASE("a slot past max_slot_wal_keep_size is unreserved and the program warns loudly", "[heartbeat]") {
  PrivateClusterOptions options;
  options.conf = {"max_slot_wal_keep_size = 1MB", "wal_keep_size = 0", "max_wal_size = 4GB", "checkpoint_timeout = 1h"};
  PrivateCluster pg(options);
  PgSession db(pg.params());
  const std::string pub_table = unique_name("ur_pub_t"), pub = unique_name("ur_pub"), slot = unique_name("ur_slot");
  db.exec("CREATE TABLE " + pub_table + " (id int PRIMARY KEY)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + pub_table);
  const std::string dir = test_tmpdir() + "/" + unique_name("unreserved");
  REQUIRE(std::system(("mkdir -p '" + dir + "'").c_str()) == 0);
  const std::uint16_t port = free_loopback_port();
  write_file(dir + "/replicator.yaml",
             program_config(slot, pub,
                            "metrics_address: 127.0.0.1:" + std::to_string(port) + "\nslot_check_interval_ms: 200\n",
                            pg.host(), std::to_string(pg.port())));
  Child program({program_path(), "--config", dir + "/replicator.yaml"}, dir + "/out.jsonl", dir + "/err.log");
  INFO(read_file(dir + "/err.log"));
  REQUIRE(wait_ready(program, port));
  heavy_writes(db, unique_name("ur_other"));
  for (int i = 0; i < 3; ++i) db.exec("SELECT pg_switch_wal()");
  const bool warned = wait_until(
      [&] {
        return read_file(dir + "/err.log").find("REPLICATION SLOT AT RISK: wal_status is unreserved") !=
               std::string::npos;
      },
      20s);
  INFO("wal_status now: " << db.scalar("SELECT wal_status FROM pg_replication_slots WHERE slot_name = " +
                                       db.quote_literal(slot))
                                 .value_or("(no slot)"));
  CHECK(warned);
  CHECK(read_file(dir + "/err.log").find("level=warn msg=\"REPLICATION SLOT AT RISK") != std::string::npos);
  program.signal(SIGTERM);
  CHECK(program.wait_exit(30s) == 0);
}
