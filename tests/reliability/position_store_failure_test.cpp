// Failing position stores (docs/guarantees.md): while the store cannot save, the position the
// program reports to the server must not move past the last successful save (the slot's
// confirmed_flush_lsn stays put although the workload goes on), the save is retried, and once the
// store recovers the program catches up with nothing lost.
// - file store: the position file's directory is replaced by a regular file (root ignores chmod, so
//   a read-only directory cannot be simulated by permissions), and, where a mount namespace can be
//   made, the position directory is a tmpfs that is remounted read-only (EROFS);
// - postgresql store: the database holding the position table (a private cluster) is stopped.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
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

// The lsn= line of a FilePositionStore file; nullopt when there is none.
std::optional<std::uint64_t> file_position(const std::string& path) {
  const std::string text = read_file(path);
  const auto at = text.find("\nlsn=");
  if (at == std::string::npos) return std::nullopt;
  return parse_lsn(text.substr(at + 5, text.find('\n', at + 5) - (at + 5)));
}

// Runs the workload in the background; joins on scope exit.
class BackgroundWorkload {
 public:
  BackgroundWorkload(Workload& w, std::uint64_t changes, std::chrono::milliseconds pace) : w_(w) {
    thread_ = std::thread([this, changes, pace] {
      try {
        w_.run(1, changes, pace);
      } catch (...) {
        error_ = std::current_exception();
      }
      done_ = true;
    });
  }
  ~BackgroundWorkload() {
    w_.stop();
    if (thread_.joinable()) thread_.join();
  }
  void join() {
    thread_.join();
    if (error_) std::rethrow_exception(error_);
  }
  [[nodiscard]] bool done() const { return done_; }

 private:
  Workload& w_;
  std::thread thread_;
  std::exception_ptr error_;
  std::atomic<bool> done_{false};
};

// Samples the slot's confirmed_flush_lsn for `how_long`.
std::vector<std::uint64_t> sample_confirmed(const PgSession& db, const std::string& slot,
                                            std::chrono::milliseconds how_long) {
  std::vector<std::uint64_t> out;
  const auto end = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < end) {
    if (auto c = confirmed_flush(db, slot)) out.push_back(parse_lsn(*c));
    std::this_thread::sleep_for(20ms);
  }
  return out;
}

struct Outcome {
  DeliveryReport report;
  std::vector<std::string> diffs;
};

Outcome verify(const std::string& sink, const Workload& w, const PgSession& db) {
  const SinkLog log = SinkLog::parse(sink, w, {0});
  Outcome o{check_delivery(log, w.changes(), {std::nullopt}, true), compare_final_state(log, w, db)};
  print_all("delivery", o.report.problems);
  print_all("final state", o.diffs);
  if (!o.report.problems.empty() || !o.diffs.empty()) keep_for_inspection({sink});
  return o;
}

// How a file position store is broken and repaired. `pid` is the program's.
struct FileStoreFault {
  std::string name;
  std::string error_text;  // what the failed save logs
  std::function<std::vector<std::string>(const std::string& posdir, const std::string& cfg)> argv;
  std::function<std::string(pid_t, const std::string& posdir)> visible;  // posdir as the test sees it
  std::function<void(pid_t, const std::string& posdir)> break_store;
  std::function<std::string(pid_t, const std::string& posdir)> frozen;  // holds the last save while broken
  std::function<void(pid_t, const std::string& posdir)> repair;
};

void file_store_failure(const FileStoreFault& fault) {
  PgSession db;
  Workload w({}, "pf");
  const std::string slot = unique_name("pf_slot");
  CleanupSql cleanup(w.drop_sql() + "; " + drop_slot_sql(slot));
  w.create(db);
  db.exec("SELECT pg_create_logical_replication_slot(" + db.quote_literal(slot) + ", 'pgoutput')");
  const std::string dir = make_scratch_dir("posfail_file");
  const std::string posdir = dir + "/positions";
  REQUIRE(::mkdir(posdir.c_str(), 0755) == 0);
  const std::string sink = dir + "/changes.jsonl";
  const std::string err = dir + "/err.log";
  const std::string cfg = dir + "/replicator.yaml";
  write_file(cfg, program_config(Server::shared(), slot, w.publication(),
                                 "postgresql_create_slot: false\nreconnect_initial_ms: 50\nreconnect_max_ms: 400\n"
                                 "sink: file\nsink_file: " +
                                     yaml_quote(sink) + "\nposition_store: file\nposition_file: " +
                                     yaml_quote(posdir + "/position") + "\n"));
  Child child(fault.argv(posdir, cfg), dir + "/stdout.log", err);
  const pid_t pid = child.pid();
  auto position = [&] { return file_position(fault.visible(pid, posdir) + "/position"); };
  BackgroundWorkload load(w, 12'000, 9s);
  {
    const bool saving = wait_until([&] { return position().has_value() || !child.running(); }, 30s);
    INFO(read_file(err));
    REQUIRE(child.running());
    REQUIRE(saving);
  }
  std::this_thread::sleep_for(1s);

  const std::size_t failures_before = count_occurrences(read_file(err), fault.error_text);
  fault.break_store(pid, posdir);
  const auto during = sample_confirmed(db, slot, 3s);
  const auto last_saved = file_position(fault.frozen(pid, posdir) + "/position");
  const std::string wal_after = *db.scalar("SELECT pg_current_wal_lsn()");
  REQUIRE(last_saved);
  std::size_t ahead = 0;
  for (auto c : during) ahead += c > *last_saved ? 1 : 0;
  const std::string log_broken = read_file(err);
  const std::size_t retries = count_occurrences(log_broken, fault.error_text) - failures_before;
  std::cout << "file store failure (" << fault.name << "): " << during.size() << " samples while broken, last saved "
            << lsn_text(*last_saved) << ", confirmed max "
            << lsn_text(during.empty() ? 0 : *std::max_element(during.begin(), during.end())) << ", source WAL at "
            << wal_after << ", " << retries << " failed saves logged" << std::endl;
  INFO(log_broken.substr(log_broken.size() > 4000 ? log_broken.size() - 4000 : 0));
  CHECK(!during.empty());
  CHECK(ahead == 0);
  CHECK(parse_lsn(wal_after) > *last_saved);  // the workload went on: there was something to confirm
  CHECK(retries >= 2);                        // retried, not given up
  CHECK(child.running());

  // Repair: the saves succeed again and the slot catches up with the end of the workload.
  fault.repair(pid, posdir);
  load.join();
  const std::string end = *db.scalar("SELECT pg_current_wal_lsn()");
  {
    const bool caught_up = wait_until([&] { return confirmed_at_least(db, slot, end) || !child.running(); }, 60s);
    INFO(read_file(err));
    REQUIRE(child.running());
    REQUIRE(caught_up);
  }
  CHECK(position().value_or(0) >= parse_lsn(end));  // saved before confirmed
  child.signal(SIGTERM);
  REQUIRE(child.wait_exit(30s) == 0);
  const Outcome o = verify(sink, w, db);
  std::cout << "file store failure (" << fault.name << "): " << o.report.expected << " changes, " << o.report.missing
            << " lost, " << o.report.duplicates << " duplicates (re-sent after each failed save)" << std::endl;
  CHECK(o.report.missing == 0);
  CHECK(o.report.extra == 0);
  CHECK(o.report.problems.empty());
  CHECK(o.diffs.empty());
  CHECK(read_file(err).find("level=error") == std::string::npos);
}

// Runs `cmd`, up to `tries` times while it fails (a remount is refused while a file is open for writing).
bool run_retrying(const std::string& cmd, int tries = 100) {
  for (int i = 0; i < tries; ++i) {
    if (std::system((cmd + " 2>/dev/null").c_str()) == 0) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

}  // namespace

TEST_CASE("file position store: its directory replaced by a file stops the slot; the save is retried and catches up") {
  FileStoreFault f;
  f.name = "directory replaced by a file";
  f.error_text = "Not a directory";
  f.argv = [](const std::string&, const std::string& cfg) {
    return std::vector<std::string>{program_path(), "--config", cfg};
  };
  f.visible = [](pid_t, const std::string& posdir) { return posdir; };
  f.break_store = [](pid_t, const std::string& posdir) {
    REQUIRE(std::rename(posdir.c_str(), (posdir + ".away").c_str()) == 0);
    write_file(posdir, "not a directory\n");  // ENOTDIR for every path under it
  };
  f.frozen = [](pid_t, const std::string& posdir) { return posdir + ".away"; };
  f.repair = [](pid_t, const std::string& posdir) {
    REQUIRE(::unlink(posdir.c_str()) == 0);
    REQUIRE(std::rename((posdir + ".away").c_str(), posdir.c_str()) == 0);
  };
  file_store_failure(f);
}

TEST_CASE(
    "file position store on a file system remounted read-only: the slot stops; the save is retried and catches up") {
  // The program runs in a mount namespace of its own with a tmpfs on the position directory, which
  // the test remounts read-only (EROFS) and back. Needs CAP_SYS_ADMIN (root, outside a sandbox).
  if (std::system("unshare -m true >/dev/null 2>&1") != 0) {
    WARN("skipped: cannot create a mount namespace here (unshare -m)");
    return;
  }
  FileStoreFault f;
  f.name = "read-only file system";
  f.error_text = "Read-only file system";
  f.argv = [](const std::string& posdir, const std::string& cfg) {
    return std::vector<std::string>{"/usr/bin/unshare",
                                    "-m",
                                    "--propagation",
                                    "private",
                                    "/bin/sh",
                                    "-c",
                                    "mount -t tmpfs -o size=8m tmpfs \"$1\" && exec \"$2\" --config \"$3\"",
                                    "sh",
                                    posdir,
                                    program_path(),
                                    cfg};
  };
  // /proc/PID/root shows the file system as the program sees it (its mount namespace).
  f.visible = [](pid_t pid, const std::string& posdir) { return "/proc/" + std::to_string(pid) + "/root" + posdir; };
  f.break_store = [](pid_t pid, const std::string& posdir) {
    REQUIRE(run_retrying("nsenter -t " + std::to_string(pid) + " -m mount -o remount,ro '" + posdir + "'"));
  };
  f.frozen = f.visible;
  f.repair = [](pid_t pid, const std::string& posdir) {
    REQUIRE(run_retrying("nsenter -t " + std::to_string(pid) + " -m mount -o remount,rw '" + posdir + "'"));
  };
  file_store_failure(f);
}

TEST_CASE("postgresql position store: its database down stops the slot; the save is retried and catches up") {
  PrivateCluster target;  // holds the position table; the source is the shared server
  PgSession db;
  Workload w({}, "pp");
  const std::string slot = unique_name("pp_slot");
  CleanupSql cleanup(w.drop_sql() + "; " + drop_slot_sql(slot));
  w.create(db);
  db.exec("SELECT pg_create_logical_replication_slot(" + db.quote_literal(slot) + ", 'pgoutput')");
  const std::string dir = make_scratch_dir("posfail_pg");
  const std::string sink = dir + "/changes.jsonl";
  const std::string err = dir + "/err.log";
  const std::string cfg = dir + "/replicator.yaml";
  write_file(cfg, program_config(Server::shared(), slot, w.publication(),
                                 "postgresql_create_slot: false\nreconnect_initial_ms: 50\nreconnect_max_ms: 400\n"
                                 "sink: file\nsink_file: " +
                                     yaml_quote(sink) +
                                     "\nposition_store: postgresql\nposition_table: positions.replicator\n"
                                     "position_dsn: " +
                                     yaml_quote(target.conninfo() + " connect_timeout=2") + "\n"));
  {
    PgSession t(target.params());
    t.exec("CREATE SCHEMA positions");
  }
  auto stored = [&]() -> std::optional<std::uint64_t> {
    try {
      PgSession t(target.params());
      const auto v = t.scalar("SELECT lsn::text FROM positions.replicator WHERE slot_name = " + t.quote_literal(slot));
      if (!v) return std::nullopt;
      return parse_lsn(*v);
    } catch (...) {
      return std::nullopt;  // the table is not there yet
    }
  };
  Child child({program_path(), "--config", cfg}, dir + "/stdout.log", err);
  BackgroundWorkload load(w, 12'000, 9s);
  {
    const bool saving = wait_until([&] { return stored().has_value() || !child.running(); }, 30s);
    INFO(read_file(err));
    REQUIRE(child.running());
    REQUIRE(saving);
  }
  std::this_thread::sleep_for(1s);

  // The position database goes down (fast shutdown: its connections are closed).
  const std::size_t failures_before = count_occurrences(read_file(err), "position store");
  target.stop(PrivateCluster::StopMode::fast);
  std::this_thread::sleep_for(300ms);  // a save already under way may still finish
  const auto before = confirmed_flush(db, slot);
  const auto during = sample_confirmed(db, slot, 3s);
  const std::string wal_after = *db.scalar("SELECT pg_current_wal_lsn()");
  target.start();
  // Nothing can be saved while the database is down, so the confirmed position must not move at all;
  // and it is never past what the table holds (the table only moves forward).
  const auto last_saved = stored();
  REQUIRE(last_saved);
  REQUIRE(before);
  std::size_t ahead = 0;
  for (auto c : during) ahead += c != parse_lsn(*before) ? 1 : 0;
  CHECK(parse_lsn(*before) <= *last_saved);
  const std::string log_broken = read_file(err);
  const std::size_t retries = count_occurrences(log_broken, "position store") - failures_before;
  std::cout << "postgresql store failure: " << during.size() << " samples while down, confirmed before " << *before
            << ", confirmed max " << lsn_text(during.empty() ? 0 : *std::max_element(during.begin(), during.end()))
            << ", source WAL at " << wal_after << ", " << retries << " failed saves logged" << std::endl;
  INFO(log_broken.substr(log_broken.size() > 4000 ? log_broken.size() - 4000 : 0));
  CHECK(!during.empty());
  CHECK(ahead == 0);
  // The source moved on while the slot stood still. (Not compared with last_saved: once the
  // database is back the program may save a newer position before stored() reads it.)
  CHECK(parse_lsn(wal_after) > parse_lsn(*before));
  CHECK(retries >= 2);
  CHECK(child.running());

  load.join();
  const std::string end = *db.scalar("SELECT pg_current_wal_lsn()");
  {
    const bool caught_up = wait_until([&] { return confirmed_at_least(db, slot, end) || !child.running(); }, 60s);
    INFO(read_file(err));
    REQUIRE(child.running());
    REQUIRE(caught_up);
  }
  child.signal(SIGTERM);
  REQUIRE(child.wait_exit(30s) == 0);
  CHECK(stored().value_or(0) >= parse_lsn(end));
  const Outcome o = verify(sink, w, db);
  std::cout << "postgresql store failure: " << o.report.expected << " changes, " << o.report.missing << " lost, "
            << o.report.duplicates << " duplicates" << std::endl;
  CHECK(o.report.missing == 0);
  CHECK(o.report.extra == 0);
  CHECK(o.report.problems.empty());
  CHECK(o.diffs.empty());
  CHECK(read_file(err).find("level=error") == std::string::npos);
}
