// Helpers shared by the hardening tests: where a server is (shared or private), a YAML config for
// the `replicator` program pointing at it, running the program to its exit, and log checks.
//   Target srv = Target::shared();                    // PGHOST/PGPORT of scripts/with_postgres.sh
//   auto r = run_program(config(srv, slot, pub), dir); // exit code and stderr
//   CHECK(r.code == 1); CHECK(error_lines(r.err).size() == 1);
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "tests/program/process.hpp"
#include "tests/support/pg.hpp"

namespace replicator::test {

// A server and the role to connect as.
struct Target {
  std::string host = "127.0.0.1";
  int port = 5432;
  std::string dbname = "postgres";
  std::string user = "postgres";
  std::string password;  // empty: none

  static Target shared() {
    REQUIRE(have_server());
    Target t;
    t.host = env_or("PGHOST");
    t.port = std::stoi(env_or("PGPORT"));
    t.dbname = env_or("PGDATABASE", "postgres");
    t.user = env_or("PGUSER", "postgres");
    return t;
  }
  // Parameters for PgSession (as this role).
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> params() const {
    std::vector<std::pair<std::string, std::string>> p{
        {"host", host}, {"port", std::to_string(port)}, {"dbname", dbname}, {"user", user}};
    if (!password.empty()) p.emplace_back("password", password);
    return p;
  }
};

// A program config for `t`; `extra` is appended as more YAML lines (a key in `extra` replaces the
// default below).
inline std::string program_config(const Target& t, const std::string& slot, const std::string& pub,
                                  const std::string& extra = {}) {
  const std::pair<std::string, std::string> defaults[] = {
      {"postgresql_host", yaml_quote(t.host)},
      {"postgresql_port", std::to_string(t.port)},
      {"postgresql_database", yaml_quote(t.dbname)},
      {"postgresql_user", yaml_quote(t.user)},
      {"postgresql_slot_name", slot},
      {"postgresql_publication_name", yaml_quote(pub)},
      {"postgresql_password", t.password.empty() ? std::string() : yaml_quote(t.password)},
      {"status_interval_ms", "200"},
      {"batch_max_delay_ms", "10"},
      {"reconnect_initial_ms", "50"},
      {"reconnect_max_ms", "500"},
      {"postgresql_connect_timeout_s", "5"},
  };
  std::string y;
  for (const auto& [key, value] : defaults) {
    const bool overridden = extra.rfind(key + ":", 0) == 0 || extra.find("\n" + key + ":") != std::string::npos;
    if (!value.empty() && !overridden) y += key + ": " + value + "\n";
  }
  return y + extra;
}

// A scratch directory per test case (under TEST_TMPDIR).
inline std::string scratch_dir(const std::string& name) {
  const std::string dir = test_tmpdir() + "/" + unique_name(name);
  REQUIRE(std::system(("mkdir -p '" + dir + "'").c_str()) == 0);
  return dir;
}

struct ProgramRun {
  int code = -1;    // exit code; -1: still running after the timeout (then killed)
  std::string out;  // stdout (JSON lines)
  std::string err;  // stderr (logfmt)
};

// Writes `yaml` to a file in `dir` and runs the program on it until it exits by itself.
inline ProgramRun run_program(const std::string& yaml, const std::string& dir,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30),
                              const std::vector<std::string>& extra_args = {}) {
  const std::string name = unique_name("run");
  const std::string cfg = dir + "/" + name + ".yaml";
  write_file(cfg, yaml);
  std::vector<std::string> argv{program_path(), "--config", cfg};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  const std::string out = dir + "/" + name + ".out";
  const std::string err = dir + "/" + name + ".err";
  ProgramRun r;
  {
    Child child(argv, out, err);
    r.code = child.wait_exit(timeout);
  }
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// The lines of `text` that contain `needle`.
inline std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (line.find(needle) != std::string::npos) out.push_back(std::move(line));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}
inline std::vector<std::string> error_lines(const std::string& err) { return lines_with(err, "level=error"); }

inline bool slot_exists(const PgSession& db, const std::string& slot) {
  return db.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(slot))
             .value_or("0") == "1";
}
inline bool slot_active(const PgSession& db, const std::string& slot) {
  return db.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(slot) +
                   " AND active")
             .value_or("0") == "1";
}
inline std::string drop_slot_sql(const std::string& slot) {
  return "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot +
         "' AND NOT active";
}

}  // namespace replicator::test
