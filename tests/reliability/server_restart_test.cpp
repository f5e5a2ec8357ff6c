// Server restarts mid-stream (docs/guarantees.md): a private PostgreSQL is stopped in fast and in
// immediate (crash) mode and started again several times while a workload writes and the
// `replicator` program streams from it. The program must reconnect by itself (the same process,
// retryable errors with backoff) and lose nothing; duplicates are exact re-deliveries of
// transactions at or after a position it resumed from.
// The workload's writers reconnect too; a COMMIT cut by the stop is settled by its ledger row.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/program/process.hpp"
#include "tests/reliability/harness.hpp"
#include "tests/support/private_cluster.hpp"
#include "tests/reliability/sink_check.hpp"
#include "tests/reliability/workload.hpp"
#include "tests/support/pg.hpp"

using namespace std::chrono_literals;
using namespace replicator::test;

namespace {

// Every "streaming resumed ... from=X" of the program's log.
std::vector<std::uint64_t> resumed_from(const std::string& log) {
  std::vector<std::uint64_t> out;
  for (auto p = log.find("msg=\"streaming resumed\""); p != std::string::npos;
       p = log.find("msg=\"streaming resumed\"", p + 1)) {
    const auto eol = log.find('\n', p);
    const std::string line = log.substr(p, eol - p);
    const auto f = line.find(" from=");
    if (f != std::string::npos) out.push_back(parse_lsn(line.substr(f + 6, line.find(' ', f + 6) - (f + 6))));
  }
  return out;
}

}  // namespace

TEST_CASE("server restarts (fast and immediate) mid-stream: the program reconnects by itself and loses nothing") {
  const std::uint64_t changes = env_number("RESTART_TEST_CHANGES", 40'000);
  PrivateCluster pg;
  PgSession db(pg.params());
  Workload w(pg.params(), "rs");
  w.create(db);
  const std::string slot = unique_name("rs_slot");
  db.exec("SELECT pg_create_logical_replication_slot(" + db.quote_literal(slot) + ", 'pgoutput')");

  const std::string dir = make_scratch_dir("restart");
  const std::string sink = dir + "/changes.jsonl";
  const std::string err = dir + "/err.log";
  const std::string cfg = dir + "/replicator.yaml";
  Server server{pg.host(), std::to_string(pg.port()), "postgres", "postgres"};
  write_file(cfg, program_config(server, slot, w.publication(),
                                 "postgresql_create_slot: false\npostgresql_connect_timeout_s: 2\n"
                                 "replication_timeout_ms: 5000\nreconnect_max_ms: 500\n"
                                 "sink: file\nsink_file: " +
                                     yaml_quote(sink) +
                                     "\nposition_store: file\nposition_file: " + yaml_quote(dir + "/position") + "\n"));
  Child child({program_path(), "--config", cfg}, dir + "/stdout.log", err);
  {
    const bool streaming =
        wait_until([&] { return slot_active(db, slot) || !child.running(); }, 30s) && child.running();
    INFO(read_file(err));
    REQUIRE(streaming);
  }

  std::atomic<bool> done{false};
  std::exception_ptr workload_error;
  std::thread writer([&] {
    try {
      w.run(2, changes, 14s);
    } catch (...) {
      workload_error = std::current_exception();
    }
    done = true;
  });
  struct Joiner {
    std::function<void()> fn;
    ~Joiner() { fn(); }
  } joiner{[&] {
    w.stop();
    if (writer.joinable()) writer.join();
  }};

  // Four restarts, alternating the stop mode; each time the program must be streaming again (the
  // slot active) before the next one.
  const PrivateCluster::StopMode modes[] = {PrivateCluster::StopMode::fast, PrivateCluster::StopMode::immediate,
                                            PrivateCluster::StopMode::fast, PrivateCluster::StopMode::immediate};
  int restarts = 0;
  for (auto mode : modes) {
    std::this_thread::sleep_for(2s);
    pg.stop(mode);
    std::this_thread::sleep_for(700ms);  // the program's reconnects are refused meanwhile
    pg.start();
    ++restarts;
    PgSession after(pg.params());
    const bool back = wait_until([&] { return slot_active(after, slot) || !child.running(); }, 60s) && child.running();
    INFO(read_file(err));
    REQUIRE(back);
  }
  writer.join();
  if (workload_error) std::rethrow_exception(workload_error);

  PgSession db2(pg.params());
  const std::string end = *db2.scalar("SELECT pg_current_wal_lsn()");
  {
    const bool caught_up = wait_until([&] { return confirmed_at_least(db2, slot, end) || !child.running(); }, 120s);
    INFO(read_file(err));
    REQUIRE(child.running());
    REQUIRE(caught_up);
  }
  child.signal(SIGTERM);
  REQUIRE(child.wait_exit(30s) == 0);

  const std::string log_text = read_file(err);
  const auto resumes = resumed_from(log_text);
  const SinkLog log = SinkLog::parse(sink, w, {0});
  std::optional<std::uint64_t> lowest;
  for (auto r : resumes) lowest = lowest ? std::min(*lowest, r) : r;
  const DeliveryReport r = check_delivery(log, w.changes(), {lowest}, true);
  const auto diffs = compare_final_state(log, w, db2);
  std::cout << "server restart test: " << restarts << " restarts (fast/immediate), " << resumes.size()
            << " reconnects by the program, " << r.expected << " committed changes (" << w.stats().failed
            << " transactions cut by a stop, " << w.stats().failed_committed << " of them committed), " << r.delivered
            << " delivered, " << r.missing << " lost, " << r.duplicates << " duplicates" << std::endl;
  print_all("delivery", r.problems);
  print_all("final state", diffs);
  if (!r.problems.empty() || !diffs.empty()) keep_for_inspection({sink, err});
  INFO(log_text.substr(0, 4000));
  CHECK(resumes.size() >= static_cast<std::size_t>(restarts));
  CHECK(log_text.find("level=error") == std::string::npos);
  CHECK(r.missing == 0);
  CHECK(r.extra == 0);
  CHECK(r.delivered == r.expected);
  CHECK(r.problems.empty());
  CHECK(diffs.empty());
}
