// End-to-end tests of the `replicator` program against the real PostgreSQL started by
// scripts/with_postgres.sh: stream a workload, stop with SIGTERM (exit 0), restart and resume
// without loss; bad configs exit 2 naming the key with nothing started; fatal errors exit 1 with one
// clear line; a killed walsender is reconnected; the password never reaches the logs.
#include <simdjson.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <random>
#include <thread>
#include <csignal>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "process.hpp"
#include "tests/support/pg.hpp"

using namespace std::chrono_literals;
using replicator::test::Child;
using replicator::test::CleanupSql;
using replicator::test::env_or;
using replicator::test::PgSession;
using replicator::test::program_path;
using replicator::test::read_file;
using replicator::test::read_lines;
using replicator::test::test_tmpdir;
using replicator::test::unique_name;
using replicator::test::count_occurrences;
using replicator::test::wait_until;
using replicator::test::write_file;
using replicator::test::yaml_quote;

namespace {

// One change line of the program's output, reduced to what the checks need.
struct Event {
  std::string op;     // insert / update / delete / truncate
  std::string table;  // schema-less table name (truncate: the first table)
  std::string id;     // the row's id (new row, else key / old row); empty for truncate
  std::string lsn;
  std::uint64_t xid = 0;
  std::string raw;
};

std::uint64_t lsn_value(const std::string& text) {
  const auto slash = text.find('/');
  return (std::stoull(text.substr(0, slash), nullptr, 16) << 32) | std::stoull(text.substr(slash + 1), nullptr, 16);
}

// Which lines read_events() parses: all of them (the program has stopped), or only the ones ended
// by a newline (it is still writing: the last one may be half there, which is not a torn line).
enum class Lines { all, complete };

// Parses the JSON lines in `path`; lines that are not row changes or truncates are skipped.
std::vector<Event> read_events(const std::string& path, Lines which = Lines::all) {
  std::vector<Event> out;
  simdjson::dom::parser parser;
  std::string text = read_file(path);  // once: the file may grow meanwhile
  if (which == Lines::complete) text.resize(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS) FAIL("not JSON: " << line);
    std::string_view op;
    if (doc["op"].get(op) != simdjson::SUCCESS) continue;
    if (op != "insert" && op != "update" && op != "delete" && op != "truncate") continue;
    Event e;
    e.op = std::string(op);
    e.raw = line;
    std::string_view sv;
    if (doc["lsn"].get(sv) == simdjson::SUCCESS) e.lsn = std::string(sv);
    std::uint64_t xid = 0;
    if (doc["xid"].get(xid) == simdjson::SUCCESS) e.xid = xid;
    if (op == "truncate") {
      simdjson::dom::array tables;
      if (doc["tables"].get(tables) == simdjson::SUCCESS) {
        for (auto t : tables) {
          std::string_view name;
          if (t.get(name) == simdjson::SUCCESS) {
            e.table = std::string(name.substr(name.find('.') + 1));
            break;
          }
        }
      }
    } else {
      if (doc["table"].get(sv) == simdjson::SUCCESS) e.table = std::string(sv);
      for (const char* tuple : {"new", "key", "old"}) {
        simdjson::dom::object obj;
        if (doc[tuple].get(obj) != simdjson::SUCCESS) continue;
        if (obj["id"].get(sv) == simdjson::SUCCESS) {
          e.id = std::string(sv);
          break;
        }
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::size_t count_events(const std::string& path) {
  return read_events(path, Lines::complete).size();
}

// A config for the test server; `extra` is appended as more YAML lines.
std::string base_config(const std::string& slot, const std::string& pub, const std::string& extra = {}) {
  return "postgresql_host: " + yaml_quote(env_or("PGHOST", "127.0.0.1")) + "\n" +
         "postgresql_port: " + env_or("PGPORT", "5432") + "\n" +
         "postgresql_database: " + yaml_quote(env_or("PGDATABASE", "postgres")) + "\n" +
         "postgresql_user: " + yaml_quote(env_or("PGUSER", "postgres")) + "\n" + "postgresql_slot_name: " + slot +
         "\n" + "postgresql_publication_name: " + yaml_quote(pub) + "\n" +
         "status_interval_ms: 200\n"
         "batch_max_delay_ms: 10\n" +
         extra;
}

bool slot_active(const PgSession& db, const std::string& slot) {
  return db.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(slot) +
                   " AND active")
             .value_or("0") == "1";
}

// Waits until the program streams from `slot`; false early when it exits.
bool wait_streaming(const PgSession& db, const std::string& slot, Child& child) {
  return wait_until([&] { return slot_active(db, slot) || !child.running(); }, 30s) && child.running();
}
// Same, and the program has logged that it streams: a slot is already active while
// CREATE_REPLICATION_SLOT waits for its consistent point (a row committed then is a snapshot read).
bool wait_streaming(const PgSession& db, const std::string& slot, Child& child, const std::string& log_path) {
  return wait_streaming(db, slot, child) &&
         wait_until([&] { return read_file(log_path).find("msg=streaming") != std::string::npos || !child.running(); },
                    30s) &&
         child.running();
}

bool slot_exists(const PgSession& db, const std::string& slot) {
  return db.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(slot))
             .value_or("0") == "1";
}

std::string drop_slot_sql(const std::string& slot) {
  return "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot + "'";
}

// A scratch directory per test case.
std::string scratch(const std::string& name) {
  const std::string dir = test_tmpdir() + "/" + unique_name(name);
  REQUIRE(std::system(("mkdir -p '" + dir + "'").c_str()) == 0);
  return dir;
}

struct RunResult {
  int code;
  std::string err;
};

// Runs the program to completion (it must exit by itself within `timeout`).
RunResult run_to_exit(const std::vector<std::string>& args, const std::string& dir,
                      std::chrono::milliseconds timeout = 30s) {
  std::vector<std::string> argv{program_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string out = dir + "/" + unique_name("out") + ".jsonl";
  const std::string err = dir + "/" + unique_name("err") + ".log";
  Child child(argv, out, err);
  const int code = child.wait_exit(timeout);
  return {code, read_file(err)};
}

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (line.find(needle) != std::string::npos) ++n;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return n;
}

// Per transaction (xid), events must be contiguous and in LSN order.
void check_transaction_order(const std::vector<Event>& events) {
  std::set<std::uint64_t> finished;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    INFO(e.raw);
    CHECK(finished.count(e.xid) == 0);
    if (i + 1 < events.size() && events[i + 1].xid == e.xid) {
      CHECK(lsn_value(e.lsn) <= lsn_value(events[i + 1].lsn));
    } else {
      finished.insert(e.xid);
    }
  }
}

}  // namespace

TEST_CASE("streams every change once, stops on SIGTERM with exit 0, resumes after a restart") {
  PgSession db;
  const std::string a = unique_name("e2e_a");
  const std::string b = unique_name("e2e_b");
  const std::string pub = unique_name("e2e_pub");
  const std::string slot = unique_name("e2e_slot");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + a + ", " + b + "; " +
                     drop_slot_sql(slot));
  db.exec("CREATE TABLE " + a + " (id int PRIMARY KEY, v text, n numeric(10,2), ts timestamptz, flag bool, doc jsonb)");
  db.exec("CREATE TABLE " + b + " (id bigint PRIMARY KEY, note text)");
  db.exec("ALTER TABLE " + b + " REPLICA IDENTITY FULL");
  db.exec("CREATE TABLE " + a + "_unpublished (id int PRIMARY KEY)");
  CleanupSql cleanup2("DROP TABLE IF EXISTS " + a + "_unpublished");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + a + ", " + b);

  const std::string dir = scratch("e2e_stream");
  const std::string cfg = dir + "/replicator.yaml";
  write_file(cfg, base_config(slot, pub, "position_store: file\nposition_file: " + dir + "/pos\n"));

  // ---- first run
  const std::string out1 = dir + "/out1.jsonl";
  const std::string err1 = dir + "/err1.log";
  {
    Child child({program_path(), "--config", cfg}, out1, err1);
    REQUIRE(wait_streaming(db, slot, child, err1));
    db.exec("INSERT INTO " + a +
            " SELECT g, 'row ' || g, g * 1.5, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 hour', g % 2 = 0,"
            " jsonb_build_object('g', g) FROM generate_series(1, 20) g");
    db.exec("BEGIN; UPDATE " + a + " SET v = 'changed' WHERE id <= 5; DELETE FROM " + a +
            " WHERE id BETWEEN 16 AND 20; INSERT INTO " + b +
            " SELECT g, 'note ' || g FROM generate_series(1, 10) g; COMMIT");
    db.exec("INSERT INTO " + a + "_unpublished VALUES (1), (2)");  // not in the publication: never streamed
    db.exec("BEGIN; UPDATE " + b + " SET note = 'x' WHERE id = 3; DELETE FROM " + b + " WHERE id = 4; COMMIT");
    db.exec("TRUNCATE " + b);
    const bool all = wait_until([&] { return count_events(out1) >= 43; }, 30s);
    INFO(read_file(err1));
    REQUIRE(all);
    child.signal(SIGTERM);
    REQUIRE(child.wait_exit(20s) == 0);
  }
  const auto events = read_events(out1);
  INFO(read_file(out1));
  REQUIRE(events.size() == 43);
  std::map<std::string, int> seen;
  for (const auto& e : events) seen[e.op + " " + e.table + " " + e.id]++;
  for (const auto& [what, n] : seen) {
    INFO(what);
    CHECK(n == 1);
  }
  for (int i = 1; i <= 20; ++i) CHECK(seen.count("insert " + a + " " + std::to_string(i)) == 1);
  for (int i = 1; i <= 5; ++i) CHECK(seen.count("update " + a + " " + std::to_string(i)) == 1);
  for (int i = 16; i <= 20; ++i) CHECK(seen.count("delete " + a + " " + std::to_string(i)) == 1);
  for (int i = 1; i <= 10; ++i) CHECK(seen.count("insert " + b + " " + std::to_string(i)) == 1);
  CHECK(seen.count("update " + b + " 3") == 1);
  CHECK(seen.count("delete " + b + " 4") == 1);
  CHECK(seen.count("truncate " + b + " ") == 1);
  check_transaction_order(events);
  // Text values arrive as the server prints them.
  CHECK(events.front().raw.find("\"v\":\"row 1\"") != std::string::npos);
  CHECK(events.front().raw.find("\"n\":\"1.50\"") != std::string::npos);

  const std::string log1 = read_file(err1);
  CHECK(log1.find("level=error") == std::string::npos);

  // The server's confirmed position is not past the last event written.
  const auto confirmed =
      db.scalar("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(slot));
  REQUIRE(confirmed);

  // ---- changes while stopped, then a second run: exactly the new changes, nothing twice
  db.exec("INSERT INTO " + a + " SELECT g, 'later' FROM generate_series(100, 104) g");
  db.exec("UPDATE " + a + " SET v = 'again' WHERE id = 1");
  const std::string out2 = dir + "/out2.jsonl";
  const std::string err2 = dir + "/err2.log";
  {
    Child child({program_path(), "--config", cfg}, out2, err2);
    const bool all = wait_until([&] { return count_events(out2) >= 6; }, 30s);
    INFO(read_file(err2));
    REQUIRE(all);
    std::this_thread::sleep_for(300ms);  // anything extra (a duplicate) would show up now
    child.signal(SIGINT);
    REQUIRE(child.wait_exit(20s) == 0);
  }
  const auto events2 = read_events(out2);
  INFO(read_file(out2));
  REQUIRE(events2.size() == 6);
  for (int i = 100; i <= 104; ++i) CHECK(events2[static_cast<std::size_t>(i - 100)].id == std::to_string(i));
  CHECK(events2[5].op == "update");
  CHECK(events2[5].id == "1");
  CHECK(lsn_value(events2.front().lsn) > lsn_value(events.back().lsn));
}

TEST_CASE("bad configuration exits 2 with one line naming the key, and starts nothing") {
  PgSession db;
  const std::string dir = scratch("e2e_badcfg");
  struct Case {
    std::string name;
    std::string yaml_extra;  // appended to a valid config
    std::string expect;      // must appear in the error line
    std::vector<std::string> flags;
  };
  const std::vector<Case> cases = {
      {"unknown key", "postgresql_hots: x\n", "postgresql_hots: unknown key; did you mean postgresql_host?", {}},
      {"wrong type", "batch_max_changes: lots\n", "batch_max_changes: must be an integer", {}},
      {"port out of range", "", "postgresql_port: must be an integer from 1 to 65535", {"--postgresql-port=70000"}},
      {"bad lsn", "postgresql_start_lsn: nowhere\n", "postgresql_start_lsn: must be an LSN", {}},
      {"unreadable cert",
       "postgresql_ssl_cert: /nonexistent/client.crt\npostgresql_ssl_key: /nonexistent/client.key\n",
       "postgresql_ssl_cert: cannot read '/nonexistent/client.crt'",
       {}},
      {"bad ssl mode", "postgresql_ssl_mode: sometimes\n", "postgresql_ssl_mode: must be one of", {}},
      {"wal2json with a pgoutput option",
       "postgresql_plugin_name: wal2json\nbinary: true\n",
       "binary: binary is a pgoutput option; wal2json has none",
       {}},
      {"invalid yaml", "include_tables: [a, b\n", "invalid YAML", {}},
      {"unknown flag", "", "--slot-name: unknown flag; did you mean --postgresql-slot-name?", {"--slot-name=x"}},
      {"file sink without a file", "sink: file\n", "sink_file: required when sink is file", {}},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const std::string slot = unique_name("badcfg");
      CleanupSql cleanup(drop_slot_sql(slot));
      const std::string cfg = dir + "/" + slot + ".yaml";
      write_file(cfg, base_config(slot, "no_such_pub_needed", c.yaml_extra));
      std::vector<std::string> args{"--config", cfg};
      args.insert(args.end(), c.flags.begin(), c.flags.end());
      const auto r = run_to_exit(args, dir);
      INFO(r.err);
      CHECK(r.code == 2);
      CHECK(r.err.find(c.expect) != std::string::npos);
      CHECK(count_lines_with(r.err, "level=") == 1);
      CHECK_FALSE(slot_exists(db, slot));
    }
  }
  SECTION("missing required key, with the file path and line of a bad value") {
    const std::string cfg = dir + "/missing.yaml";
    write_file(cfg, "postgresql_port: 5432\npostgresql_slot_name: s\n");
    const auto r = run_to_exit({"--config", cfg}, dir);
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find("postgresql_database: required key is missing") != std::string::npos);
    write_file(cfg, "postgresql_database: d\npostgresql_port: [1]\n");
    const auto r2 = run_to_exit({"--config", cfg}, dir);
    CHECK(r2.code == 2);
    CHECK(r2.err.find(cfg + ":2:") != std::string::npos);
  }
  SECTION("missing config file") {
    const auto r = run_to_exit({"--config", dir + "/nope.yaml"}, dir);
    CHECK(r.code == 2);
    CHECK(r.err.find("No such file") != std::string::npos);
  }
}

TEST_CASE("a missing publication is fatal: exit 1, one clear line, no slot left behind") {
  PgSession db;
  const std::string dir = scratch("e2e_nopub");
  const std::string slot = unique_name("nopub");
  const std::string pub = unique_name("missing_pub");
  CleanupSql cleanup(drop_slot_sql(slot));
  const std::string cfg = dir + "/c.yaml";
  write_file(cfg, base_config(slot, pub));
  const auto r = run_to_exit({"--config", cfg}, dir);
  INFO(r.err);
  CHECK(r.code == 1);
  CHECK(count_lines_with(r.err, "level=error") == 1);
  CHECK(count_lines_with(r.err, pub) >= 1);
  CHECK(r.err.find("CREATE PUBLICATION") != std::string::npos);
  CHECK_FALSE(slot_exists(db, slot));
}

TEST_CASE("a role without REPLICATION is fatal (exit 1), and the password never appears in the logs") {
  PgSession db;
  const std::string dir = scratch("e2e_auth");
  const std::string role = unique_name("norepl");
  const std::string password = "pw_" + unique_name("secret");
  const std::string slot = unique_name("auth");
  const std::string table = unique_name("auth_t");
  const std::string pub = unique_name("auth_pub");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table + "; " +
                     drop_slot_sql(slot) + "; DROP ROLE IF EXISTS " + role);
  db.exec("CREATE ROLE " + role + " LOGIN PASSWORD " + db.quote_literal(password));
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  const std::string cfg = dir + "/c.yaml";
  // base_config sets postgresql_user already; the role comes in as a flag (flags win over the file).
  write_file(cfg, base_config(slot, pub, "log_level: debug\npostgresql_password: " + yaml_quote(password) + "\n"));
  SECTION("no REPLICATION attribute") {
    const auto r = run_to_exit({"--config", cfg, "--postgresql-user=" + role}, dir);
    INFO(r.err);
    CHECK(r.code == 1);
    CHECK(count_lines_with(r.err, "level=error") == 1);
    CHECK(r.err.find(password) == std::string::npos);
  }
  SECTION("a role that does not exist") {
    const auto r = run_to_exit({"--config", cfg, "--postgresql-user=" + role + "_nobody"}, dir);
    INFO(r.err);
    CHECK(r.code == 1);
    CHECK(r.err.find(password) == std::string::npos);
  }
  SECTION("a healthy run with a REPLICATION role, at debug level") {
    db.exec("ALTER ROLE " + role + " REPLICATION");
    db.exec("GRANT SELECT ON " + table + " TO " + role);
    const std::string out = dir + "/ok.jsonl";
    const std::string err = dir + "/ok.log";
    Child child({program_path(), "--config", cfg, "--postgresql-user=" + role}, out, err, {"PGPASSWORD=" + password});
    const bool streaming = wait_streaming(db, slot, child, err);
    INFO(read_file(err));
    REQUIRE(streaming);
    db.exec("INSERT INTO " + table + " VALUES (1)");
    REQUIRE(wait_until([&] { return count_events(out) >= 1; }, 30s));
    child.signal(SIGTERM);
    CHECK(child.wait_exit(20s) == 0);
    const std::string log = read_file(err);
    CHECK(log.find("level=debug") != std::string::npos);
    CHECK(log.find(password) == std::string::npos);
  }
  SECTION("--print-config redacts it") {
    const std::string out = dir + "/print.txt";
    const std::string err = dir + "/print.log";
    Child child({program_path(), "--config", cfg, "--print-config"}, out, err);
    CHECK(child.wait_exit(10s) == 0);
    const std::string printed = read_file(out);
    CHECK(printed.find("postgresql_password: '<redacted>'") != std::string::npos);
    CHECK(printed.find(password) == std::string::npos);
  }
}

TEST_CASE("a terminated walsender is retried: the program reconnects and loses nothing") {
  PgSession db;
  const std::string table = unique_name("e2e_retry");
  const std::string pub = unique_name("retry_pub");
  const std::string slot = unique_name("retry");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table + "; " +
                     drop_slot_sql(slot));
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  const std::string dir = scratch("e2e_retry");
  const std::string cfg = dir + "/c.yaml";
  write_file(cfg, base_config(slot, pub, "reconnect_initial_ms: 50\nreconnect_max_ms: 500\n"));
  const std::string out = dir + "/out.jsonl";
  const std::string err = dir + "/err.log";
  Child child({program_path(), "--config", cfg}, out, err);
  REQUIRE(wait_streaming(db, slot, child, err));
  db.exec("INSERT INTO " + table + " SELECT generate_series(1, 10)");
  REQUIRE(wait_until([&] { return count_events(out) >= 10; }, 30s));
  for (int round = 0; round < 2; ++round) {
    db.exec("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = " +
            db.quote_literal(slot));
    db.exec("INSERT INTO " + table + " SELECT generate_series(" + std::to_string(11 + round * 10) + ", " +
            std::to_string(20 + round * 10) + ")");
    const bool got = wait_until([&] { return count_events(out) >= static_cast<std::size_t>(20 + round * 10); }, 30s);
    INFO(read_file(err));
    REQUIRE(got);
  }
  REQUIRE(child.running());
  child.signal(SIGTERM);
  CHECK(child.wait_exit(20s) == 0);
  const auto events = read_events(out);
  // At-least-once: every id present; a duplicate may only repeat an event after a reconnect.
  std::set<std::string> ids;
  for (const auto& e : events) ids.insert(e.id);
  CHECK(ids.size() == 30);
  const std::string log = read_file(err);
  INFO(log);
  CHECK(log.find("reconnecting") != std::string::npos);
  CHECK(log.find("level=error") == std::string::npos);
}

TEST_CASE("a temporary slot exists only while the program runs") {
  PgSession db;
  const std::string table = unique_name("e2e_temp");
  const std::string pub = unique_name("temp_pub");
  const std::string slot = unique_name("temp");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table + "; " +
                     drop_slot_sql(slot));
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  const std::string dir = scratch("e2e_temp");
  const std::string cfg = dir + "/c.yaml";
  write_file(cfg, base_config(slot, pub, "postgresql_temp_slot: true\n"));
  Child child({program_path(), "--config", cfg}, dir + "/out.jsonl", dir + "/err.log");
  REQUIRE(wait_streaming(db, slot, child, dir + "/err.log"));
  CHECK(db.scalar("SELECT temporary FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(slot)) == "t");
  db.exec("INSERT INTO " + table + " VALUES (1)");
  REQUIRE(wait_until([&] { return count_events(dir + "/out.jsonl") >= 1; }, 30s));
  child.signal(SIGTERM);
  CHECK(child.wait_exit(20s) == 0);
  CHECK(wait_until([&] { return !slot_exists(db, slot); }, 10s));
}

namespace {

// Commit lines of the complete lines in `path` (a file being written may end mid-line): xid -> end_lsn.
std::map<std::uint64_t, std::uint64_t> committed_xids(const std::string& path) {
  std::map<std::uint64_t, std::uint64_t> out;
  const std::string text = read_file(path);
  simdjson::dom::parser parser;
  std::size_t start = 0;
  for (;;) {
    const auto nl = text.find('\n', start);
    if (nl == std::string::npos) break;  // an incomplete last line is not there yet
    const std::string line = text.substr(start, nl - start);
    start = nl + 1;
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS) continue;
    std::string_view op;
    std::string_view end;
    std::uint64_t xid = 0;
    if (doc["op"].get(op) != simdjson::SUCCESS || op != "commit") continue;
    if (doc["xid"].get(xid) != simdjson::SUCCESS || doc["end_lsn"].get(end) != simdjson::SUCCESS) continue;
    out[xid] = lsn_value(std::string(end));
  }
  return out;
}

}  // namespace

TEST_CASE("SIGKILL at random moments: no committed change is lost, the slot never confirms past the sink") {
  PgSession db;
  const std::string table = unique_name("e2e_kill");
  const std::string pub = unique_name("kill_pub");
  const std::string slot = unique_name("kill");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table + "; " +
                     drop_slot_sql(slot));
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, v int)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  const std::string dir = scratch("e2e_kill");
  const std::string sink = dir + "/changes.jsonl";
  const std::string cfg = dir + "/c.yaml";
  write_file(cfg, base_config(slot, pub,
                              "sink: file\nsink_file: " + sink + "\nposition_store: file\nposition_file: " + dir +
                                  "/pos\nbatch_max_changes: 50\nreconnect_initial_ms: 20\n"
                                  "reconnect_max_ms: 300\n"));
  // The slot must exist before the workload starts, or the first changes predate it.
  {
    // Killed before the snapshot's consistent point is saved, the next start would redo the snapshot
    // on a new slot, and the workload's first rows would arrive as reads: wait until it streams.
    Child first({program_path(), "--config", cfg}, dir + "/stdout.log", dir + "/err.log");
    const bool active = wait_streaming(db, slot, first, dir + "/err.log");
    INFO(read_file(dir + "/err.log"));
    REQUIRE(active);
    first.signal(SIGKILL);
    first.wait_exit(10s);
  }

  // Workload: transactions of 1-20 inserts; every 3rd also updates, every 5th also deletes.
  std::set<std::string> expected;
  std::atomic<bool> workload_done{false};
  std::thread workload([&] {
    PgSession w;
    int next_id = 1;
    for (int tx = 0; tx < 300; ++tx) {
      const int n = 1 + (tx * 7) % 20;
      std::string sql = "BEGIN; INSERT INTO " + table + " SELECT g, 0 FROM generate_series(" + std::to_string(next_id) +
                        ", " + std::to_string(next_id + n - 1) + ") g;";
      for (int i = next_id; i < next_id + n; ++i) expected.insert("insert " + std::to_string(i) + " 0");
      if (tx % 3 == 0) {
        sql +=
            " UPDATE " + table + " SET v = " + std::to_string(tx + 1) + " WHERE id = " + std::to_string(next_id) + ";";
        expected.insert("update " + std::to_string(next_id) + " " + std::to_string(tx + 1));
      }
      if (tx % 5 == 0 && n > 1) {
        sql += " DELETE FROM " + table + " WHERE id = " + std::to_string(next_id + 1) + ";";
        expected.insert("delete " + std::to_string(next_id + 1) + " -");
      }
      sql += " COMMIT;";
      w.exec(sql);
      next_id += n;
      std::this_thread::sleep_for(5ms);
    }
    workload_done = true;
  });

  struct Sample {
    std::uint64_t confirmed;
    std::map<std::uint64_t, std::uint64_t> in_sink;
  };
  std::vector<Sample> samples;
  auto sample = [&] {
    const auto c =
        db.scalar("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(slot));
    if (!c) return;
    // Read the sink after the server's position: whatever was confirmed must already be there.
    samples.push_back({lsn_value(*c), committed_xids(sink)});
  };

  int kills = 0;
  std::mt19937 rng(12345);
  while (!workload_done || kills < 4) {
    Child child({program_path(), "--config", cfg}, dir + "/stdout.log", dir + "/err.log");
    const auto run_for = std::chrono::milliseconds(150 + rng() % 500);
    const auto until = std::chrono::steady_clock::now() + run_for;
    while (std::chrono::steady_clock::now() < until) {
      sample();
      std::this_thread::sleep_for(40ms);
    }
    child.signal(SIGKILL);
    CHECK(child.wait_exit(10s) == 128 + SIGKILL);
    ++kills;
    if (kills > 40) break;
  }
  workload.join();

  // A last run drains the rest; then a clean stop.
  {
    // err.log holds every run's lines: this run's own "streaming" line is the one past the count.
    auto streaming_lines = [&] { return count_occurrences(read_file(dir + "/err.log"), "msg=streaming"); };
    const std::size_t streamed_before = streaming_lines();
    Child child({program_path(), "--config", cfg}, dir + "/stdout.log", dir + "/err.log");
    // Before SIGTERM, the program must have started: a signal in the first milliseconds (before
    // main installs its handler, the ASan runtime still starting) is the default action's death.
    REQUIRE(wait_until([&] { return streaming_lines() > streamed_before || !child.running(); }, 30s));
    const bool drained = wait_until(
        [&] {
          std::set<std::string> got;
          for (const auto& e : read_events(sink, Lines::complete)) got.insert(e.op + " " + e.id);
          std::size_t found = 0;
          for (const auto& x : expected) found += got.count(x.substr(0, x.rfind(' '))) ? 1 : 0;
          return found == expected.size();
        },
        60s);
    INFO(read_file(dir + "/err.log"));
    REQUIRE(drained);
    sample();
    child.signal(SIGTERM);
    REQUIRE(child.wait_exit(20s) == 0);
  }

  // Every committed change is in the sink (at least once), with its value.
  simdjson::dom::parser parser;
  std::map<std::string, int> seen;
  for (const auto& line : read_lines(sink)) {
    simdjson::dom::element doc;
    REQUIRE(parser.parse(line).get(doc) == simdjson::SUCCESS);  // no torn line survives a restart
    std::string_view op;
    REQUIRE(doc["op"].get(op) == simdjson::SUCCESS);
    if (op != "insert" && op != "update" && op != "delete") continue;
    std::string_view id;
    std::string v = "-";
    if (op == "delete") {
      REQUIRE(doc["key"]["id"].get(id) == simdjson::SUCCESS);
    } else {
      REQUIRE(doc["new"]["id"].get(id) == simdjson::SUCCESS);
      std::string_view vv;
      REQUIRE(doc["new"]["v"].get(vv) == simdjson::SUCCESS);
      v = std::string(vv);
    }
    seen[std::string(op) + " " + std::string(id) + " " + v]++;
  }
  std::size_t missing = 0;
  std::size_t duplicates = 0;
  for (const auto& x : expected) {
    if (seen.count(x) == 0) ++missing;
    else duplicates += static_cast<std::size_t>(seen[x] - 1);
  }
  std::cout << "kill test: " << kills << " SIGKILLs, " << expected.size() << " changes, " << duplicates
            << " duplicates, " << samples.size() << " confirmed_flush_lsn samples\n";
  CHECK(missing == 0);
  CHECK(seen.size() == expected.size());  // nothing that was not committed

  // Whenever the server had a position confirmed, every transaction ending at or before it was in the sink.
  const auto all = committed_xids(sink);
  std::size_t violations = 0;
  for (const auto& s : samples) {
    for (const auto& [xid, end] : all) {
      if (end <= s.confirmed && s.in_sink.count(xid) == 0) ++violations;
    }
  }
  CHECK(violations == 0);
}

TEST_CASE("filters, a file sink and drop_slot_on_exit") {
  PgSession db;
  const std::string keep = unique_name("e2e_keep");
  const std::string skip = unique_name("e2e_skip");
  const std::string pub = unique_name("filter_pub");
  const std::string slot = unique_name("filter");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + keep + ", " + skip + "; " +
                     drop_slot_sql(slot));
  db.exec("CREATE TABLE " + keep + " (id int PRIMARY KEY)");
  db.exec("CREATE TABLE " + skip + " (id int PRIMARY KEY)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + keep + ", " + skip);
  const std::string dir = scratch("e2e_filter");
  const std::string sink = dir + "/out.jsonl";
  const std::string cfg = dir + "/c.yaml";
  write_file(cfg, base_config(slot, pub,
                              "sink: file\nsink_file: " + sink +
                                  "\npostgresql_drop_slot_on_exit: true\n"
                                  "include_tables: [public.e2e_keep_*]\ninclude_operations: [insert, delete]\n"));
  Child child({program_path(), "--config", cfg}, dir + "/stdout.log", dir + "/err.log");
  REQUIRE(wait_streaming(db, slot, child, dir + "/err.log"));
  db.exec("INSERT INTO " + skip + " VALUES (1)");
  db.exec("INSERT INTO " + keep + " VALUES (1), (2)");
  db.exec("UPDATE " + keep + " SET id = 3 WHERE id = 2");
  db.exec("DELETE FROM " + keep + " WHERE id = 1");
  REQUIRE(wait_until([&] { return count_events(sink) >= 3; }, 30s));
  std::this_thread::sleep_for(300ms);
  child.signal(SIGTERM);
  REQUIRE(child.wait_exit(20s) == 0);
  const auto events = read_events(sink);
  REQUIRE(events.size() == 3);
  CHECK(events[0].op == "insert");
  CHECK(events[1].op == "insert");
  CHECK(events[2].op == "delete");
  for (const auto& e : events) CHECK(e.table == keep);
  CHECK(read_file(dir + "/stdout.log").empty());  // a file sink leaves stdout alone
  CHECK_FALSE(slot_exists(db, slot));
}

TEST_CASE("a stop signal while waiting to reconnect exits 0") {
  const std::string dir = scratch("e2e_down");
  const std::string cfg = dir + "/c.yaml";
  // Port 1 on localhost: connection refused, a retryable error.
  write_file(cfg, base_config(unique_name("down"), "p", "reconnect_initial_ms: 50\nreconnect_max_ms: 200\n") + "");
  Child child({program_path(), "--config", cfg, "--postgresql-host=127.0.0.1", "--postgresql-port=1"},
              dir + "/out.jsonl", dir + "/err.log");
  REQUIRE(wait_until([&] { return count_lines_with(read_file(dir + "/err.log"), "reconnecting") >= 3; }, 20s));
  child.signal(SIGTERM);
  CHECK(child.wait_exit(10s) == 0);
  const std::string log = read_file(dir + "/err.log");
  INFO(log);
  CHECK(log.find("level=error") == std::string::npos);
  CHECK(log.find("attempt=3") != std::string::npos);
}

TEST_CASE("position_store postgresql: the position row round-trips in another database and a restart resumes from it") {
  PgSession db;
  const std::string table = unique_name("e2e_pgpos");
  const std::string pub = unique_name("pgpos_pub");
  const std::string slot = unique_name("pgpos");
  const std::string posdb = unique_name("posdb");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table + "; " +
                     drop_slot_sql(slot));
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  db.exec("CREATE DATABASE " + posdb);
  CleanupSql drop_db("DROP DATABASE IF EXISTS " + posdb + " WITH (FORCE)");
  const std::string dir = scratch("e2e_pgpos");
  const std::string cfg = dir + "/c.yaml";
  write_file(cfg, base_config(slot, pub,
                              "position_store: postgresql\nposition_table: cdc.positions\nposition_dsn: \"dbname=" +
                                  posdb + "\"\n"));
  PgSession pos({{"dbname", posdb}});
  pos.exec("CREATE SCHEMA cdc");
  auto run_once = [&](const std::string& out, int first_id, int count) {
    Child child({program_path(), "--config", cfg}, out, dir + "/err.log");
    const bool streaming = wait_streaming(db, slot, child, dir + "/err.log");
    INFO(read_file(dir + "/err.log"));
    REQUIRE(streaming);
    db.exec("INSERT INTO " + table + " SELECT generate_series(" + std::to_string(first_id) + ", " +
            std::to_string(first_id + count - 1) + ")");
    REQUIRE(wait_until([&] { return count_events(out) >= static_cast<std::size_t>(count); }, 30s));
    child.signal(SIGTERM);
    REQUIRE(child.wait_exit(20s) == 0);
  };
  run_once(dir + "/out1.jsonl", 1, 5);
  const auto saved = pos.scalar("SELECT lsn::text FROM cdc.positions WHERE slot_name = " + pos.quote_literal(slot));
  REQUIRE(saved);
  const auto confirmed = db.scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = " +
                                   db.quote_literal(slot));
  CHECK(lsn_value(*saved) >= lsn_value(*confirmed));  // the server is never told more than was saved
  const auto events1 = read_events(dir + "/out1.jsonl");
  CHECK(lsn_value(*saved) > lsn_value(events1.back().lsn));

  run_once(dir + "/out2.jsonl", 6, 3);
  const auto events2 = read_events(dir + "/out2.jsonl");
  REQUIRE(events2.size() == 3);
  CHECK(events2.front().id == "6");
  const std::string log = read_file(dir + "/err.log");
  CHECK(log.find("resume_from=" + *saved) != std::string::npos);
}
