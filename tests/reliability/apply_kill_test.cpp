// sink: postgresql under SIGKILL (docs/apply.md): the `replicator` program applies a workload of
// the shared PostgreSQL into a private target cluster and is SIGKILLed 10 times at random moments
// (KILL_TEST_KILLS), restarted each time; once with one apply connection, once with apply_workers 4. A keyed table (inserts, updates, deletes, a key change)
// and a keyless REPLICA IDENTITY FULL table with equal rows: at the end both tables are the same
// multiset on both sides (EXCEPT ALL both ways), so neither a lost nor a twice-applied transaction
// can hide, and no run logged an error.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/program/process.hpp"
#include "tests/reliability/harness.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/private_cluster.hpp"

using namespace std::chrono_literals;
using namespace replicator::test;

namespace {

std::vector<std::string> rows(const PgSession& db, const std::string& table) {
  db.exec("SET TimeZone = 'UTC'");
  std::vector<std::string> out;
  for (const auto& r : db.query("SELECT t::text FROM " + table + " t")) out.push_back(r[0].value_or("NULL"));
  std::sort(out.begin(), out.end());
  return out;
}

// Rows in `a` that `b` lacks, counting repeats (a EXCEPT ALL b).
std::size_t except_all(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> d;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(d));
  return d.size();
}

// One run of the test with `workers` apply connections (apply_workers).
void kill_test(int workers) {
  const std::uint64_t kills_wanted = env_number("KILL_TEST_KILLS", 10);
  const auto seed = static_cast<std::uint32_t>(env_number("KILL_TEST_SEED", 20261203));
  PrivateCluster target;
  PgSession src;
  PgSession tgt(target.params());
  const std::string keyed = unique_name("ak_keyed"), keyless = unique_name("ak_keyless");
  const std::string pub = unique_name("ak_pub"), slot = unique_name("ak_slot");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + keyed + ", " + keyless + "; " +
                     drop_slot_sql(slot));
  const std::string ddl = "CREATE TABLE " + keyed + " (id int PRIMARY KEY, v int, note text, at timestamptz); " +
                          "CREATE TABLE " + keyless + " (a int, b text); ALTER TABLE " + keyless +
                          " REPLICA IDENTITY FULL";
  src.exec(ddl);
  tgt.exec(ddl);
  src.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + keyed + ", " + keyless);
  src.exec("SELECT pg_create_logical_replication_slot(" + src.quote_literal(slot) + ", 'pgoutput')");

  const std::string dir = make_scratch_dir("apply_kill");
  const std::string cfg = dir + "/replicator.yaml";
  write_file(cfg, program_config(Server::shared(), slot, pub,
                                 "postgresql_create_slot: false\nsink: postgresql\napply_dsn: " +
                                     yaml_quote("host=127.0.0.1 port=" + std::to_string(target.port()) +
                                                " user=postgres dbname=postgres") +
                                     "\nproto_version: 2\nstreaming: true\napply_workers: " +
                                     std::to_string(workers) + "\n"));

  // The workload: small transactions of every kind, now and then a large (streamed) one.
  std::atomic<bool> stop{false};
  std::exception_ptr workload_error;
  std::thread writer([&] {
    try {
      PgSession db;
      std::mt19937 rng(seed);
      int next_id = 1;
      while (!stop) {
        const unsigned kind = rng() % 20;
        std::string sql = "BEGIN;";
        if (kind == 0) {
          sql += "INSERT INTO " + keyed + " SELECT g, g % 7, repeat('n', 200), now() FROM generate_series(" +
                 std::to_string(next_id) + ", " + std::to_string(next_id + 1999) + ") g;";
          next_id += 2000;
        } else {
          for (unsigned i = 0; i < 1 + rng() % 5; ++i) {
            const int id = 1 + static_cast<int>(rng() % static_cast<unsigned>(next_id));
            switch (rng() % 6) {
              case 0:
                sql += "INSERT INTO " + keyed + " VALUES (" + std::to_string(next_id++) + ", 1, 'i', now());";
                break;
              case 1:
                sql += "UPDATE " + keyed + " SET v = v + 1, at = now() WHERE id = " + std::to_string(id) + ";";
                break;
              case 2: sql += "DELETE FROM " + keyed + " WHERE id = " + std::to_string(id) + ";"; break;
              case 3: sql += "INSERT INTO " + keyless + " VALUES (" + std::to_string(id % 10) + ", 'dup');"; break;
              case 4:
                sql += "DELETE FROM " + keyless + " WHERE ctid = (SELECT ctid FROM " + keyless +
                       " WHERE a = " + std::to_string(id % 10) + " LIMIT 1);";
                break;
              default:
                sql += "UPDATE " + keyed + " SET id = " + std::to_string(next_id++) +
                       " WHERE id = " + std::to_string(id) + ";";
            }
          }
        }
        sql += rng() % 10 == 0 ? "ROLLBACK" : "COMMIT";
        db.exec(sql);
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 5));
      }
    } catch (...) {
      workload_error = std::current_exception();
    }
  });
  struct Joiner {
    std::function<void()> fn;
    ~Joiner() { fn(); }
  } joiner{[&] {
    stop = true;
    if (writer.joinable()) writer.join();
  }};

  std::mt19937 rng(seed + 1);
  std::vector<std::string> err_logs;
  auto start_run = [&] {
    err_logs.push_back(dir + "/err_" + std::to_string(err_logs.size()) + ".log");
    return std::make_unique<Child>(std::vector<std::string>{program_path(), "--config", cfg}, dir + "/stdout.log",
                                   err_logs.back());
  };
  for (std::uint64_t k = 0; k < kills_wanted; ++k) {
    auto child = start_run();
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 10 < 3 ? 50 + rng() % 250 : 300 + rng() % 1700));
    if (!child->running()) FAIL("the program exited by itself:\n" << read_file(err_logs.back()));
    child->signal(SIGKILL);
    REQUIRE(child->wait_exit(10s) == 128 + SIGKILL);
  }
  stop = true;
  writer.join();
  if (workload_error) std::rethrow_exception(workload_error);

  // A last run catches up, then stops cleanly.
  auto child = start_run();
  const bool equal = wait_until(
      [&] { return rows(src, keyed) == rows(tgt, keyed) && rows(src, keyless) == rows(tgt, keyless); }, 120s);
  INFO(read_file(err_logs.back()));
  REQUIRE(child->running());
  child->signal(SIGTERM);
  CHECK(child->wait_exit(30s) == 0);
  for (const auto& table : {keyed, keyless}) {
    const auto s = rows(src, table), t = rows(tgt, table);
    INFO("table " << table << ": source " << s.size() << " rows, target " << t.size());
    CHECK(except_all(s, t) == 0);  // nothing lost
    CHECK(except_all(t, s) == 0);  // nothing twice (the keyless table would show it)
  }
  CHECK(equal);
  if (workers > 1) {  // the other workers committed transactions too (their origins moved)
    const auto moved = tgt.scalar("SELECT count(pg_replication_origin_progress(roname, true)) FROM "
                                  "pg_replication_origin WHERE roname LIKE " +
                                  tgt.quote_literal("replicator_" + slot + ":w%"));
    CHECK(moved.value_or("0") != "0");
  }
  CHECK(rows(src, keyed).size() > 1000);
  for (const auto& path : err_logs) {
    INFO(path);
    CHECK(read_file(path).find("level=error") == std::string::npos);
  }
  std::cout << "apply kill test, " << workers << " workers: " << kills_wanted << " kills, " << rows(src, keyed).size() << " + "
            << rows(src, keyless).size() << " rows equal on both sides" << std::endl;
}

}  // namespace

TEST_CASE("apply kill test: SIGKILLed 10 times, the target equals the source with no duplicate") { kill_test(1); }

TEST_CASE("apply kill test: apply_workers 4, SIGKILLed 10 times, the target equals the source with no duplicate") {
  kill_test(4);
}
