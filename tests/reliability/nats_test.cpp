// The `replicator` program into a real 3-node NATS JetStream cluster (3 replicas), under faults:
// (a) a workload streams through and the stream holds exactly the committed changes, in commit
// order; (b) the program is SIGKILLed 10 times during the workload: every change is in the stream
// exactly once (the duplicate window drops re-sends), still in commit order; (c) NATS nodes are
// killed mid-stream (the stream leader first): publishing goes on with the quorum, nothing lost,
// nothing twice; with two nodes down flushes fail and the slot does not advance, then it recovers;
// (d) a standby instance (same slot, shared PostgreSQL position store) waits quietly while the slot
// is in use and streams within 10 s of the active one's SIGKILL, nothing lost.
// The consumer is a libnats pull consumer (tests/support/nats_cluster.hpp read_stream()); the
// stream is rebuilt as JSON lines and checked with the file sink's checks (sink_check.hpp).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/program/process.hpp"
#include "tests/reliability/harness.hpp"
#include "tests/reliability/sink_check.hpp"
#include "tests/reliability/workload.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/nats_cluster.hpp"
#include "tests/support/nats_jwt.hpp"
#include "tests/support/pg.hpp"

using namespace std::chrono_literals;
using namespace replicator::test;

namespace {

NatsCluster& cluster() {
  static NatsCluster c(3);
  static const bool ready = c.wait_ready(30s);
  REQUIRE(ready);
  return c;
}

std::string nats_config(const std::string& stream, const std::string& dir) {
  std::string urls;
  for (const auto& u : cluster().urls()) urls += (urls.empty() ? "" : ", ") + yaml_quote(u);
  return "postgresql_create_slot: false\nsink: nats\nnats_url: [" + urls + "]\nnats_stream: " + stream +
         "\nnats_subject_prefix: " + stream +
         "\nnats_create_stream: true\nnats_replicas: 3\n"
         "nats_publish_transactions: true\nnats_ack_timeout_ms: 2000\n"
         "position_store: file\nposition_file: " +
         yaml_quote(dir + "/position") + "\n";
}

// A workload on its own thread, joined (and stopped) even when a REQUIRE fails.
struct Background {
  Workload& w;
  std::thread t;
  std::atomic<bool> done{false};
  std::exception_ptr error;
  Background(Workload& workload, int workers, std::uint64_t changes, std::chrono::milliseconds pace) : w(workload) {
    t = std::thread([this, workers, changes, pace] {
      try {
        w.run(workers, changes, pace);
      } catch (...) {
        error = std::current_exception();
      }
      done = true;
    });
  }
  void join() {
    if (t.joinable()) t.join();
    if (error) std::rethrow_exception(std::exchange(error, nullptr));
  }
  ~Background() {
    w.stop();
    if (t.joinable()) t.join();
  }
};

struct StreamCheck {
  std::size_t messages = 0;         // read by the consumer
  std::size_t stored = 0;           // the stream's own count, asked after reading
  std::size_t rows = 0;
  std::size_t missing = 0;
  std::size_t duplicates = 0;
  std::size_t extra = 0;
  std::size_t out_of_order = 0;     // Nats-Msg-Id (commit LSN, index) not above the previous one
  std::size_t incomplete_txns = 0;  // begin without commit in the stream
  std::vector<std::string> problems;
};

std::uint64_t parse_hex_lsn(const std::string& s) {
  const auto slash = s.find('/');
  return (std::stoull(s.substr(0, slash), nullptr, 16) << 32) | std::stoull(s.substr(slash + 1), nullptr, 16);
}

// Reads the whole stream, then checks it against the workload's committed changes.
StreamCheck check_stream(const std::string& stream, const Workload& w, const std::string& dir,
                         const NatsCluster& from = cluster()) {
  StreamCheck r;
  const auto msgs = read_stream(from, stream);
  r.messages = msgs.size();
  r.stored = from.stream_messages(stream).value_or(0);
  // Tells a reader that stopped early apart from changes the sink never stored.
  if (r.messages != r.stored)
    r.problems.push_back("the consumer read " + std::to_string(r.messages) + " of the stream's " +
                         std::to_string(r.stored) + " messages");
  std::string text;
  std::pair<std::uint64_t, std::uint64_t> last{0, 0};
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> last_per_subject;
  for (const auto& m : msgs) {
    text += m.data;
    text += '\n';
    const auto id = m.headers.count("Nats-Msg-Id") ? m.headers.at("Nats-Msg-Id") : std::string();
    const auto dash = id.rfind('-');
    if (dash == std::string::npos) {
      r.problems.push_back("message " + std::to_string(m.seq) + " without a stable id");
      continue;
    }
    const std::pair<std::uint64_t, std::uint64_t> key{parse_hex_lsn(id.substr(0, dash)),
                                                      std::stoull(id.substr(dash + 1))};
    if (key <= last) {
      if (r.out_of_order++ < 5)
        r.problems.push_back("out of commit order at stream seq " + std::to_string(m.seq) + ": " + id);
    }
    auto& per = last_per_subject[m.subject];
    if (key <= per && r.out_of_order < 5) r.problems.push_back("out of order on subject " + m.subject + ": " + id);
    per = key;
    last = key;
  }
  const std::string path = dir + "/stream.jsonl";
  write_file(path, text);
  const SinkLog log = SinkLog::parse(path, w, {0});
  r.rows = log.rows.size();
  for (const auto& t : log.txns)
    if (!t.complete) ++r.incomplete_txns;
  ChangeSet seen;
  for (const auto& row : log.rows) {
    if (!seen.insert(row.key).second) ++r.duplicates;
    if (!w.changes().count(row.key)) ++r.extra;
  }
  for (const auto& k : w.changes())
    if (!seen.count(k)) ++r.missing;
  return r;
}

void report(const StreamCheck& r) {
  std::cout << "  stream: " << r.messages << " messages (stored " << r.stored << "), " << r.rows << " row changes, missing " << r.missing
            << ", duplicates " << r.duplicates << ", extra " << r.extra << ", out of order " << r.out_of_order
            << ", incomplete transactions " << r.incomplete_txns << std::endl;
  print_all("problems", r.problems);
}

void require_exact(const StreamCheck& r, const Workload& w) {
  report(r);
  CHECK(r.problems.empty());
  CHECK(r.missing == 0);
  CHECK(r.duplicates == 0);
  CHECK(r.extra == 0);
  CHECK(r.out_of_order == 0);
  CHECK(r.incomplete_txns == 0);
  CHECK(r.rows == w.changes().size());
}

struct Setup {
  PgSession db;
  Workload w;
  std::string slot;
  std::string stream;
  std::string dir;
  std::string cfg;
  CleanupSql cleanup;
  explicit Setup(const std::string& name)
      : w({}, name),
        slot(unique_name(name + "_slot")),
        stream(unique_name(name)),
        dir(make_scratch_dir(name)),
        cfg(dir + "/replicator.yaml"),
        cleanup(w.drop_sql() + "; " + drop_slot_sql(slot)) {
    w.create(db);
    db.exec("SELECT pg_create_logical_replication_slot(" + db.quote_literal(slot) + ", 'pgoutput')");
    for (auto& c : stream)
      if (c == '-') c = '_';
    write_file(cfg, program_config(Server::shared(), slot, w.publication(), nats_config(stream, dir)));
  }
  std::unique_ptr<Child> start(const std::string& log, const std::string& config = {}) const {
    return std::make_unique<Child>(std::vector<std::string>{program_path(), "--config", config.empty() ? cfg : config},
                                   dir + "/stdout.log", log);
  }
  // Starts a run and waits until the slot is confirmed past the current end of WAL, then stops it.
  void catch_up(const std::string& log) {
    const std::string end = *db.scalar("SELECT pg_current_wal_lsn()");
    auto child = start(log);
    stop_when_confirmed(*child, log, end, 120s);
  }
  // Waits until the slot is confirmed past `end` (default: the current end of WAL) while `child`
  // runs, then stops it with SIGTERM: exit 0.
  void stop_when_confirmed(Child& child, const std::string& log, std::string end = {},
                           std::chrono::seconds timeout = 60s) {
    if (end.empty()) end = *db.scalar("SELECT pg_current_wal_lsn()");
    const bool ok = wait_until([&] { return confirmed_at_least(db, slot, end) || !child.running(); }, timeout);
    INFO(read_file(log));
    REQUIRE(child.running());
    REQUIRE(ok);
    child.signal(SIGTERM);
    REQUIRE(child.wait_exit(30s) == 0);
  }
};

// The shared config's text pointed at one server of another cluster, with one replica.
std::string one_node_config(std::string text, const std::string& url) {
  const auto at = text.find("nats_url:");
  text.replace(at, text.find('\n', at) - at, "nats_url: [" + yaml_quote(url) + "]");
  text.replace(text.find("nats_replicas: 3"), std::string("nats_replicas: 3").size(), "nats_replicas: 1");
  return text;
}

}  // namespace

TEST_CASE("nats program streams a workload into a 3-replica stream, exactly once in commit order") {
  Setup s("nats_a");
  auto child = s.start(s.dir + "/run.log");
  {
    Background bg(s.w, 2, 6000, 4s);
    bg.join();
  }
  s.stop_when_confirmed(*child, s.dir + "/run.log");
  const std::string log = read_file(s.dir + "/run.log");
  CHECK(log.find("msg=\"nats connected\"") != std::string::npos);
  CHECK(log.find("level=error") == std::string::npos);
  require_exact(check_stream(s.stream, s.w, s.dir), s.w);
}

TEST_CASE("nats program killed 10 times during the workload, every change in the stream exactly once") {
  Setup s("nats_b");
  std::mt19937 rng(20261203);
  std::size_t kills = 0, streaming_kills = 0;
  {
    Background bg(s.w, 2, 20000, 12s);
    while (kills < 10) {
      const std::string log = s.dir + "/run_" + std::to_string(kills) + ".log";
      auto child = s.start(log);
      std::this_thread::sleep_for(std::chrono::milliseconds(250 + rng() % 1000));
      if (!child->running()) FAIL("the program exited by itself:\n" << read_file(log));
      child->signal(SIGKILL);
      REQUIRE(child->wait_exit(10s) == 128 + SIGKILL);
      ++kills;
      if (read_file(log).find("msg=streaming ") != std::string::npos) ++streaming_kills;
    }
    bg.join();
  }
  s.catch_up(s.dir + "/final.log");
  std::cout << "nats kill test: " << kills << " SIGKILLs (" << streaming_kills << " while streaming)" << std::endl;
  CHECK(streaming_kills >= 5);
  require_exact(check_stream(s.stream, s.w, s.dir), s.w);
}

TEST_CASE("nats nodes killed mid-stream, the quorum keeps publishing; two down holds the slot until they return") {
  Setup s("nats_c");
  NatsCluster& c = cluster();
  const std::string run_log = s.dir + "/run.log";
  auto child = s.start(run_log);
  {
    Background bg(s.w, 2, 24000, 22s);
    REQUIRE(wait_until([&] { return c.stream_leader(s.stream) >= 0; }, 20s));
    std::this_thread::sleep_for(2s);
    // 1. The stream's leader dies: a new one is elected, publishing goes on.
    const int leader = c.stream_leader(s.stream);
    REQUIRE(leader >= 0);
    c.kill(leader);
    std::cout << "killed stream leader " << c.name(leader) << std::endl;
    std::this_thread::sleep_for(4s);
    c.start(leader);
    std::this_thread::sleep_for(3s);
    // 2. Another node (not the leader now).
    const int now_leader = c.stream_leader(s.stream);
    const int other = (now_leader + 1) % 3;
    c.kill(other);
    std::this_thread::sleep_for(3s);
    c.start(other);
    std::this_thread::sleep_for(3s);
    // 3. Two of three down: no quorum, no ack, the slot must hold still.
    const int keep = c.stream_leader(s.stream) >= 0 ? c.stream_leader(s.stream) : 0;
    const int a = (keep + 1) % 3, b = (keep + 2) % 3;
    c.kill(a);
    c.kill(b);
    std::this_thread::sleep_for(3s);  // flushes in flight settle (ack timeout 2 s)
    const auto held = confirmed_flush(s.db, s.slot);
    std::this_thread::sleep_for(4s);
    CHECK(confirmed_flush(s.db, s.slot) == held);
    REQUIRE(child->running());
    c.start(a);
    c.start(b);
    bg.join();
  }
  REQUIRE(c.wait_ready(30s));
  const std::string end = *s.db.scalar("SELECT pg_current_wal_lsn()");
  const bool caught_up = wait_until([&] { return confirmed_at_least(s.db, s.slot, end) || !child->running(); }, 120s);
  const std::string log = read_file(run_log);
  INFO(log);
  REQUIRE(child->running());
  REQUIRE(caught_up);
  child->signal(SIGTERM);
  CHECK(child->wait_exit(30s) == 0);
  CHECK(log.find("level=error") == std::string::npos);
  CHECK(log.find("JetStream") != std::string::npos);  // the failed flushes were logged as retries
  std::size_t retries = 0, refused_order = 0;
  for (std::size_t p = log.find("failed, reconnecting"); p != std::string::npos;
       p = log.find("failed, reconnecting", p + 1))
    ++retries;
  for (std::size_t p = log.find("refused by the order guard"); p != std::string::npos;
       p = log.find("refused by the order guard", p + 1))
    ++refused_order;
  std::cout << "node kills: " << retries << " retried flushes, " << refused_order
            << " of them with later publishes refused by the order guard (Nats-Expected-Last-Msg-Id)" << std::endl;
  require_exact(check_stream(s.stream, s.w, s.dir), s.w);
}

TEST_CASE("nats standby instance takes the slot over within 10 s of the active one's SIGKILL") {
  Setup s("nats_d");
  // Both instances keep their position in one PostgreSQL table (the shared server).
  const std::string table = unique_name("standby_pos");
  CleanupSql drop_table("DROP TABLE IF EXISTS " + table);
  const auto port_a = free_loopback_port(), port_b = free_loopback_port();
  auto config_for = [&](std::uint16_t metrics_port) {
    std::string text = read_file(s.cfg);
    text.replace(text.find("position_store: file"), std::string("position_store: file").size(),
                 "position_store: postgresql");
    // The default backoff (up to 30 s): the standby's wait for a slot in use is capped anyway.
    text.replace(text.find("reconnect_max_ms: 300"), std::string("reconnect_max_ms: 300").size(),
                 "reconnect_max_ms: 30000");
    text.replace(text.find("reconnect_initial_ms: 20"), std::string("reconnect_initial_ms: 20").size(),
                 "reconnect_initial_ms: 1000");
    text += "position_table: " + table + "\nmetrics_address: 127.0.0.1:" + std::to_string(metrics_port) + "\n";
    const std::string path = s.dir + "/instance_" + std::to_string(metrics_port) + ".yaml";
    write_file(path, text);
    return path;
  };
  const std::string cfg_a = config_for(port_a), cfg_b = config_for(port_b);
  const std::string log_a = s.dir + "/a.log", log_b = s.dir + "/b.log";
  {
    Background bg(s.w, 2, 12000, 14s);
    auto a = s.start(log_a, cfg_a);
    const bool a_streams =
        wait_until([&] { return read_file(log_a).find("msg=streaming ") != std::string::npos; }, 30s);
    INFO(read_file(log_a));
    REQUIRE(a_streams);
    auto b = s.start(log_b, cfg_b);
    REQUIRE(wait_until([&] { return read_file(log_b).find("msg=\"standby:") != std::string::npos; }, 20s));
    std::this_thread::sleep_for(3s);  // several retries: still quiet
    const std::string waiting = read_file(log_b);
    CHECK(count_occurrences(waiting, "msg=\"standby:") == 1);  // one line, then quiet
    CHECK(waiting.find("level=warn") == std::string::npos);
    CHECK(waiting.find("msg=streaming ") == std::string::npos);
    const auto metrics = http_get("127.0.0.1", port_b, "/metrics");
    CHECK(metrics.body.find("\nreplicator_streaming 0") != std::string::npos);
    a->signal(SIGKILL);
    REQUIRE(a->wait_exit(10s) == 128 + SIGKILL);
    const auto killed = std::chrono::steady_clock::now();
    REQUIRE(wait_until([&] { return read_file(log_b).find("msg=streaming ") != std::string::npos; }, 15s));
    const auto took = std::chrono::steady_clock::now() - killed;
    std::cout << "standby streaming " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
              << " ms after the active instance's SIGKILL" << std::endl;
    CHECK(took < 10s);
    CHECK(wait_until(
        [&] {
          return http_get("127.0.0.1", port_b, "/metrics").body.find("\nreplicator_streaming 1") != std::string::npos;
        },
        5s));
    bg.join();
    s.stop_when_confirmed(*b, log_b);
  }
  require_exact(check_stream(s.stream, s.w, s.dir), s.w);
}

TEST_CASE("nats program with refused credentials and a missing stream stop it with one line, exit 1") {
  Setup s("nats_e");
  NatsClusterOptions so;
  so.nodes = 1;
  so.extra_args = {"--user", "cdc", "--pass", "s3cret-right"};
  NatsCluster secured(so);
  secured.user = "cdc";
  secured.password = "s3cret-right";
  REQUIRE(secured.wait_ready(20s));
  auto run = [&](const std::string& extra, bool create) {
    std::string text = read_file(s.cfg);
    if (!create)
      text.replace(text.find("nats_create_stream: true"), std::string("nats_create_stream: true").size(),
                   "nats_create_stream: false");
    text = one_node_config(text, secured.url(0));
    const std::string path = s.dir + "/e_" + std::to_string(text.size() + extra.size()) + ".yaml";
    write_file(path, text + extra);
    const std::string log = path + ".log";
    auto child = s.start(log, path);
    const int rc = child->wait_exit(30s);
    return std::make_pair(rc, read_file(log));
  };
  const auto [bad_rc, bad_log] = run("nats_user: cdc\nnats_password: s3cret-wrong\n", true);
  INFO(bad_log);
  CHECK(bad_rc == 1);
  CHECK(count_occurrences(bad_log, "level=error") == 1);
  CHECK(bad_log.find("refused the credentials") != std::string::npos);
  CHECK(bad_log.find("s3cret-wrong") == std::string::npos);
  const auto [missing_rc, missing_log] = run("nats_user: cdc\nnats_password: s3cret-right\n", false);
  INFO(missing_log);
  CHECK(missing_rc == 1);
  CHECK(count_occurrences(missing_log, "level=error") == 1);
  CHECK(missing_log.find("does not exist") != std::string::npos);
}

TEST_CASE("nats program with a JWT credentials file streams into an operator-mode server; an expired one stops it with one line") {
  Setup s("nats_j");
  const auto op = NatsOperator::make();
  NatsClusterOptions so;
  so.nodes = 1;
  so.config = op.server_config();
  NatsCluster secured(so);
  secured.creds_file = s.dir + "/cdc.creds";
  write_file(secured.creds_file, op.creds());
  REQUIRE(secured.wait_ready(20s));
  // The shared config, pointed at the operator-mode server with one replica and the creds file.
  auto config_with = [&](const std::string& creds) {
    const std::string text = one_node_config(read_file(s.cfg), secured.url(0));
    const std::string path = s.dir + "/" + std::to_string(text.size() + creds.size()) + ".yaml";
    write_file(path, text + "nats_creds_file: " + yaml_quote(creds) + "\n");
    return path;
  };

  const std::string log = s.dir + "/jwt.log";
  auto child = s.start(log, config_with(secured.creds_file));
  {
    Background bg(s.w, 2, 1500, 2s);
    bg.join();
  }
  s.stop_when_confirmed(*child, log);
  CHECK(read_file(log).find("level=error") == std::string::npos);
  CHECK(read_file(log).find(op.user.seed()) == std::string::npos);
  require_exact(check_stream(s.stream, s.w, s.dir, secured), s.w);

  // The same user with a JWT that expired a minute ago: refused by the server, fatal, the seed unsaid.
  const std::string expired = s.dir + "/expired.creds";
  write_file(expired, jwt::creds_file(op.user_jwt(std::time(nullptr) - 60), op.user.seed()));
  const std::string bad_log = s.dir + "/expired.log";
  auto bad = s.start(bad_log, config_with(expired));
  const int rc = bad->wait_exit(30s);
  const std::string text = read_file(bad_log);
  INFO(text);
  CHECK(rc == 1);
  CHECK(count_occurrences(text, "level=error") == 1);
  CHECK(text.find("nats_creds_file") != std::string::npos);
  CHECK(text.find(op.user.seed()) == std::string::npos);
}
