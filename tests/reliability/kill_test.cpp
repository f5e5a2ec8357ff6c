// The kill test of docs/guarantees.md: a workload of >= 200k row changes (two writers, three tables,
// small / large / rolled-back transactions) runs against the shared PostgreSQL while the
// `replicator` program (file sink, file position store) is SIGKILLed at random moments >= 20 times
// and restarted each time. A sampler reads the slot's confirmed_flush_lsn throughout, and an
// LD_PRELOAD probe (fsync_probe.c) records how much of the sink file was fdatasync()ed.
// At the end: every committed change is in the file, nothing else is; duplicates are exact
// re-deliveries in a later run of transactions at or after the position that run resumed from;
// the final table state rebuilt from the file equals the source; the server never confirmed a
// transaction that was not durable in the file.
// Sizing: KILL_TEST_CHANGES (200000), KILL_TEST_KILLS (20), KILL_TEST_SECONDS (workload pacing, 40),
// KILL_TEST_SEED; KILL_TEST_LONG=1 for a long run (1M changes, 100 kills, 300 s). Pass them with
// bazel test --test_env=KILL_TEST_LONG=1. KILL_TEST_STREAMING=1 (the kill_streaming_test target)
// streams in-progress transactions (proto_version 2, streaming: true).
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

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
#include "tests/reliability/sink_check.hpp"
#include "tests/reliability/workload.hpp"
#include "tests/support/pg.hpp"

using namespace std::chrono_literals;
using namespace replicator::test;

TEST_CASE("kill test: SIGKILL at random moments loses nothing, duplicates only re-deliveries after a restart") {
  const bool long_run = env_or("KILL_TEST_LONG") == "1";
  // KILL_TEST_DEFAULT_*: the defaults a test target sets (the variables without _DEFAULT_ win).
  const std::uint64_t target_changes =
      env_number("KILL_TEST_CHANGES", long_run ? 1'000'000 : env_number("KILL_TEST_DEFAULT_CHANGES", 200'000));
  const std::uint64_t min_kills = env_number("KILL_TEST_KILLS", long_run ? 100 : 20);
  const auto pace = std::chrono::seconds(
      env_number("KILL_TEST_SECONDS", long_run ? 300 : env_number("KILL_TEST_DEFAULT_SECONDS", 40)));
  const auto seed = static_cast<std::uint32_t>(env_number("KILL_TEST_SEED", 20261125));
  // Streaming of in-progress transactions (proto 2): large ones arrive in chunks before their commit.
  const bool streaming = env_or("KILL_TEST_STREAMING") == "1";
  std::cout << "kill test" << (streaming ? " (streaming)" : "") << ": " << target_changes
            << " changes, >= " << min_kills << " kills, workload paced over " << pace.count() << " s, seed " << seed
            << std::endl;
  const auto t0 = std::chrono::steady_clock::now();

  PgSession db;
  Workload w({}, "kt");
  const std::string slot = unique_name("kt_slot");
  CleanupSql cleanup(w.drop_sql() + "; " + drop_slot_sql(slot));
  w.create(db);
  // The slot exists before the first change, so the whole workload is in it.
  db.exec("SELECT pg_create_logical_replication_slot(" + db.quote_literal(slot) + ", 'pgoutput')");

  const std::string dir = make_scratch_dir("kill");
  const std::string sink = dir + "/changes.jsonl";
  const std::string probe_log = dir + "/durable.log";
  const std::string cfg = dir + "/replicator.yaml";
  write_file(cfg, program_config(Server::shared(), slot, w.publication(),
                                 "postgresql_create_slot: false\nsink: file\nsink_file: " + yaml_quote(sink) +
                                     "\nposition_store: file\nposition_file: " + yaml_quote(dir + "/position") + "\n" +
                                     (streaming ? "proto_version: 2\nstreaming: true\n" : "")));
  const std::vector<std::string> env{"LD_PRELOAD=" + runfile("tests/reliability/libfsync_probe.so"),
                                     "REPLICATOR_PROBE_FILE=" + sink, "REPLICATOR_PROBE_LOG=" + probe_log,
                                     "REPLICATOR_PROBE_SYNC_DELAY_US=20000"};

  // Sampler: confirmed_flush_lsn first, then the durable size (which only grows), so a sample never
  // credits the sink with less than it had when the server held that position.
  std::vector<FlushSample> samples;
  std::atomic<bool> sampling{true};
  std::exception_ptr sampler_error;
  std::thread sampler([&] {
    try {
      PgSession s;
      DurableSize durable(probe_log);
      const std::string sql =
          "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = " + s.quote_literal(slot);
      while (sampling) {
        const auto c = s.scalar(sql);
        if (c) samples.push_back({parse_lsn(*c), durable.read()});
        std::this_thread::sleep_for(15ms);
      }
    } catch (...) {
      sampler_error = std::current_exception();
    }
  });

  std::atomic<bool> workload_done{false};
  std::exception_ptr workload_error;
  std::thread writer([&] {
    try {
      w.run(2, target_changes, pace, seed);
    } catch (...) {
      workload_error = std::current_exception();
    }
    workload_done = true;
  });

  // A failed REQUIRE must not leave joinable threads behind (std::terminate).
  struct Joiner {
    std::function<void()> fn;
    ~Joiner() { fn(); }
  } joiner{[&] {
    w.stop();
    sampling = false;
    if (writer.joinable()) writer.join();
    if (sampler.joinable()) sampler.join();
  }};

  std::mt19937 rng(seed);
  std::vector<std::size_t> segment_starts;
  std::vector<std::string> err_logs;
  std::size_t kills = 0;
  std::size_t kills_while_streaming = 0;
  std::size_t kills_after_fsync = 0;
  std::size_t kills_during_workload = 0;
  const std::size_t max_runs = static_cast<std::size_t>(min_kills) * 4 + 400;
  auto start_run = [&](std::size_t i) {
    segment_starts.push_back(complete_size(sink));
    err_logs.push_back(dir + "/err_" + std::to_string(i) + ".log");
    return std::make_unique<Child>(std::vector<std::string>{program_path(), "--config", cfg}, dir + "/stdout.log",
                                   err_logs.back(), env);
  };
  while ((!workload_done || kills < min_kills) && kills < max_runs) {
    auto child = start_run(kills);
    // Three kinds of moments: within the first 300 ms (connecting, catching up); anywhere in
    // 0.3-2.5 s of streaming; and right after a sink fdatasync (seen in the probe's log, with the
    // probe's 20 ms delay), i.e. after the batch is durable but before its position is saved.
    const unsigned kind = rng() % 10;
    if (kind < 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10 + rng() % 290));
    } else if (kind < 6) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 2200));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 900));
      DurableSize probe(probe_log);
      const std::size_t records = (probe.read(), probe.records());
      const auto give_up = std::chrono::steady_clock::now() + 3s;
      while (std::chrono::steady_clock::now() < give_up && (probe.read(), probe.records()) == records) {
        std::this_thread::sleep_for(1ms);
      }
      ++kills_after_fsync;
    }
    if (!child->running()) {
      FAIL("the program exited by itself (code " << child->wait_exit(0ms) << "):\n" << read_file(err_logs.back()));
    }
    child->signal(SIGKILL);
    REQUIRE(child->wait_exit(10s) == 128 + SIGKILL);
    ++kills;
    if (!workload_done) ++kills_during_workload;
    if (read_file(err_logs.back()).find("msg=streaming ") != std::string::npos) ++kills_while_streaming;
  }
  writer.join();
  if (workload_error) std::rethrow_exception(workload_error);
  const std::string end_of_workload = *db.scalar("SELECT pg_current_wal_lsn()");

  // A last run catches up: the slot confirms past the end of the workload, then a clean stop.
  {
    auto child = start_run(kills);
    const bool caught_up = wait_until(
        [&] {
          return (confirmed_at_least(db, slot, end_of_workload) &&
                  read_file(err_logs.back()).find("msg=streaming ") != std::string::npos) ||
                 !child->running();
        },
        180s);
    INFO(read_file(err_logs.back()));
    REQUIRE(child->running());
    REQUIRE(caught_up);
    child->signal(SIGTERM);
    REQUIRE(child->wait_exit(30s) == 0);
  }
  std::this_thread::sleep_for(50ms);
  sampling = false;
  sampler.join();
  if (sampler_error) std::rethrow_exception(sampler_error);

  // ---- checks
  const SinkLog log = SinkLog::parse(sink, w, segment_starts);
  std::vector<std::optional<std::uint64_t>> resume;
  bool reconnected = false;
  for (const auto& path : err_logs) {
    const std::string text = read_file(path);
    resume.push_back(resume_lsn_from_log(text));
    reconnected = reconnected || text.find("streaming resumed") != std::string::npos;
    CHECK(text.find("level=error") == std::string::npos);
  }
  const DeliveryReport r = check_delivery(log, w.changes(), resume, reconnected);
  const auto state_diffs = compare_final_state(log, w, db);
  const FlushCheck flush = check_flush_samples(log, samples);
  DurableSize durable(probe_log);
  const std::size_t durable_at_end = durable.read();
  const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0);

  std::cout << "kill test: " << kills << " SIGKILLs (" << kills_during_workload << " while the workload ran, "
            << kills_while_streaming << " while streaming, " << kills_after_fsync << " right after a sink fdatasync), "
            << r.expected << " committed changes in " << w.stats().committed << " transactions ("
            << w.stats().rolled_back << " rolled back), " << r.delivered << " delivered, " << r.missing << " lost, "
            << r.extra << " extra, " << r.duplicates << " duplicates (" << r.duplicates_before_resume_lsn
            << " with a change LSN before the resume position, in transactions committed after it), "
            << r.incomplete_txns << " transactions cut by a kill, " << log.txns.size() << " transaction blocks, "
            << flush.samples << " confirmed_flush_lsn samples (" << flush.ahead_of_last_commit
            << " past the last durable commit by keepalive advance, " << flush.violations
            << " ahead of the durable sink), " << durable.records() << " fdatasync records, " << elapsed.count() << " s"
            << std::endl;
  print_all("delivery", r.problems);
  print_all("final state", state_diffs);
  if (!flush.example.empty()) print_all("confirmed_flush_lsn", {flush.example});
  if (!r.problems.empty() || !state_diffs.empty() || flush.violations != 0) {
    std::vector<std::string> keep{sink, probe_log};
    keep.insert(keep.end(), err_logs.begin(), err_logs.end());
    keep_for_inspection(keep);
  }
  CHECK(kills_during_workload >= min_kills);
  CHECK(r.expected >= target_changes);
  CHECK(r.missing == 0);
  CHECK(r.extra == 0);
  CHECK(r.delivered == r.expected);
  CHECK(r.problems.empty());
  CHECK(state_diffs.empty());
  CHECK(flush.samples > 100);
  CHECK(flush.violations == 0);
  CHECK(durable.records() > 0);
  CHECK(durable_at_end == read_file(sink).size());  // the clean stop left everything durable
  CHECK(!resume.empty());
}
