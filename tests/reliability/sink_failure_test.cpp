// A full disk under the file sink (docs/guarantees.md): the sink file lives on a small tmpfs in a
// mount namespace of the program's own; the test fills it with a ballast file while a workload
// runs, so writes fail with ENOSPC (a retryable error: the program reconnects with backoff and
// resends). The slot must not confirm anything the sink did not make durable (fsync probe, as in
// the kill test), no torn line may remain, and once the ballast is gone the program catches up
// with nothing lost.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <algorithm>
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
#include "tests/reliability/sink_check.hpp"
#include "tests/reliability/workload.hpp"
#include "tests/support/pg.hpp"

using namespace std::chrono_literals;
using namespace replicator::test;

TEST_CASE("out of disk under the file sink: retried, the slot never passes the durable sink, nothing lost") {
  if (!can_unshare_mounts()) {
    WARN("skipped: cannot create a mount namespace here (unshare -m)");
    return;
  }
  PgSession db;
  Workload w({}, "sf");
  const std::string slot = unique_name("sf_slot");
  CleanupSql cleanup(w.drop_sql() + "; " + drop_slot_sql(slot));
  w.create(db);
  db.exec("SELECT pg_create_logical_replication_slot(" + db.quote_literal(slot) + ", 'pgoutput')");
  const std::string dir = make_scratch_dir("sinkfull");
  const std::string sinkdir = dir + "/sink";
  REQUIRE(::mkdir(sinkdir.c_str(), 0755) == 0);
  const std::string sink = sinkdir + "/changes.jsonl";  // inside the program's tmpfs
  const std::string probe_log = dir + "/durable.log";
  const std::string err = dir + "/err.log";
  const std::string cfg = dir + "/replicator.yaml";
  write_file(cfg, program_config(Server::shared(), slot, w.publication(),
                                 "postgresql_create_slot: false\nreconnect_initial_ms: 50\nreconnect_max_ms: 400\n"
                                 "sink: file\nsink_file: " +
                                     yaml_quote(sink) +
                                     "\nposition_store: file\nposition_file: " + yaml_quote(dir + "/position") + "\n"));
  Child child(in_private_tmpfs(sinkdir, "64m", {program_path(), "--config", cfg}), dir + "/stdout.log", err,
              {"LD_PRELOAD=" + runfile("tests/reliability/libfsync_probe.so"), "REPLICATOR_PROBE_FILE=" + sink,
               "REPLICATOR_PROBE_LOG=" + probe_log});
  const std::string pid = std::to_string(child.pid());
  const std::string visible_sink = "/proc/" + pid + "/root" + sink;  // the tmpfs as the program sees it
  const std::string in_ns = "nsenter -t " + pid + " -m ";

  std::vector<FlushSample> samples;
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    try {
      PgSession s;
      DurableSize durable(probe_log);
      while (sampling) {
        if (auto c = confirmed_flush(s, slot)) samples.push_back({parse_lsn(*c), durable.read()});
        std::this_thread::sleep_for(15ms);
      }
    } catch (...) {}
  });
  std::atomic<bool> done{false};
  std::exception_ptr workload_error;
  std::thread writer([&] {
    try {
      w.run(1, 12'000, 9s);
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
    sampling = false;
    if (writer.joinable()) writer.join();
    if (sampler.joinable()) sampler.join();
  }};

  {
    const bool writing = wait_until([&] { return complete_size(visible_sink) > 0 || !child.running(); }, 30s);
    INFO(read_file(err));
    REQUIRE(child.running());
    REQUIRE(writing);
  }
  std::this_thread::sleep_for(1s);

  // Fill the file system: every later write of the sink fails with ENOSPC (a partial write may
  // leave half a batch, which the sink cuts back to its last flush before writing again).
  const std::size_t failures_before = count_occurrences(read_file(err), "No space left on device");
  (void)std::system((in_ns + "sh -c 'cat /dev/zero > \"$0\"/ballast' '" + sinkdir + "' 2>/dev/null").c_str());
  std::this_thread::sleep_for(3s);
  const std::string log_full = read_file(err);
  const std::size_t retries = count_occurrences(log_full, "No space left on device") - failures_before;
  const std::string wal_during = *db.scalar("SELECT pg_current_wal_lsn()");
  const auto confirmed_during = confirmed_flush(db, slot);
  REQUIRE(std::system((in_ns + "rm -f '" + sinkdir + "/ballast'").c_str()) == 0);
  {
    INFO(log_full.substr(log_full.size() > 4000 ? log_full.size() - 4000 : 0));
    CHECK(retries >= 2);
    CHECK(child.running());
    REQUIRE(confirmed_during);
    CHECK(parse_lsn(*confirmed_during) < parse_lsn(wal_during));  // held back while the disk was full
  }

  writer.join();
  if (workload_error) std::rethrow_exception(workload_error);
  const std::string end = *db.scalar("SELECT pg_current_wal_lsn()");
  {
    const bool caught_up = wait_until([&] { return confirmed_at_least(db, slot, end) || !child.running(); }, 60s);
    INFO(read_file(err));
    REQUIRE(child.running());
    REQUIRE(caught_up);
  }
  // Keep a copy: the tmpfs goes away with the program.
  const std::string copy = dir + "/changes.jsonl";
  REQUIRE(std::system(("cp '" + visible_sink + "' '" + copy + "'").c_str()) == 0);
  child.signal(SIGTERM);
  REQUIRE(child.wait_exit(30s) == 0);
  sampling = false;
  sampler.join();

  const SinkLog log = SinkLog::parse(copy, w, {0});  // throws on a torn line
  const DeliveryReport r = check_delivery(log, w.changes(), {std::nullopt}, true);
  const auto diffs = compare_final_state(log, w, db);
  const FlushCheck flush = check_flush_samples(log, samples);
  std::cout << "sink out of disk: " << retries << " failed writes logged while full, " << r.expected << " changes, "
            << r.missing << " lost, " << r.duplicates << " duplicates, " << flush.samples
            << " confirmed_flush_lsn samples, " << flush.violations << " ahead of the durable sink" << std::endl;
  print_all("delivery", r.problems);
  print_all("final state", diffs);
  if (!flush.example.empty()) print_all("confirmed_flush_lsn", {flush.example});
  CHECK(r.missing == 0);
  CHECK(r.extra == 0);
  CHECK(r.problems.empty());
  CHECK(diffs.empty());
  CHECK(flush.samples > 100);
  CHECK(flush.violations == 0);
  CHECK(read_file(err).find("level=error") == std::string::npos);
}
