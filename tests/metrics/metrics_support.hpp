// Shared by the program-level metrics tests: free loopback ports, the program's config for the
// test server, a real Prometheus (Debian's package) scraping it, and its query API.
//   Prometheus prom(dir, {"127.0.0.1:" + std::to_string(metrics_port)});
//   auto v = prom.query_value("sum(replicator_changes_total)");   // std::optional<double>
#pragma once

#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/program/process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/ports.hpp"

namespace replicator::test {

inline bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// Fails the test (never skips) when the Debian package prometheus is missing.
inline std::string require_tool(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/bin/"}) {
    if (executable(std::string(dir) + name)) return std::string(dir) + name;
  }
  FAIL(name +
       " is not installed: apt-get install prometheus (scripts/install_deps.sh installs it; the "
       "README test command runs that)");
  return {};
}

// The program's config for the scripts/with_postgres.sh server (or host:port); `extra` is more YAML lines.
inline std::string program_config(const std::string& slot, const std::string& pub, const std::string& extra = {},
                                  const std::string& host = env_or("PGHOST", "127.0.0.1"),
                                  const std::string& port = env_or("PGPORT", "5432")) {
  return "postgresql_host: " + yaml_quote(host) + "\n" + "postgresql_port: " + port + "\n" +
         "postgresql_database: " + yaml_quote(env_or("PGDATABASE", "postgres")) + "\n" +
         "postgresql_user: " + yaml_quote(env_or("PGUSER", "postgres")) + "\n" + "postgresql_slot_name: " + slot +
         "\npostgresql_publication_name: " + yaml_quote(pub) + "\n" +
         "status_interval_ms: 200\nbatch_max_delay_ms: 10\nsnapshot_mode: never\n" + extra;
}

// Waits until the program's /readyz answers 200 (true), or it exited or `timeout` passed (false).
inline bool wait_ready(Child& program, std::uint16_t metrics_port,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  return wait_until(
             [&] {
               if (!program.running()) return true;
               try {
                 return http_get("127.0.0.1", metrics_port, "/readyz", std::chrono::seconds(2)).status == 200;
               } catch (...) {
                 return false;
               }
             },
             timeout) &&
         program.running();
}

// One series' value from a Prometheus text exposition ("" when absent).
inline std::string exposed(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return {};
  const auto start = at + series.size() + 2;
  return text.substr(start, text.find('\n', start) - start);
}

// A Prometheus server of the test's own: TSDB in `dir`, scraping `targets` every second.
class Prometheus {
 public:
  Prometheus(const std::string& dir, const std::vector<std::string>& targets) : port_(free_loopback_port()) {
    const std::string bin = require_tool("prometheus");
    std::string cfg =
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: replicator\n    static_configs:\n      - targets: [";
    for (std::size_t i = 0; i < targets.size(); ++i) cfg += (i ? ", '" : "'") + targets[i] + "'";
    cfg += "]\n";
    write_file(dir + "/prometheus.yml", cfg);
    REQUIRE(std::system(("mkdir -p '" + dir + "/tsdb'").c_str()) == 0);
    log_ = dir + "/prometheus.log";
    child_ = std::make_unique<Child>(
        std::vector<std::string>{bin, "--config.file=" + dir + "/prometheus.yml",
                                 "--storage.tsdb.path=" + dir + "/tsdb",
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"},
        dir + "/prometheus.out", log_);
    const bool ready = wait_until(
        [&] {
          if (!child_->running()) return true;
          try {
            return http_get("127.0.0.1", port_, "/-/ready", std::chrono::seconds(2)).status == 200;
          } catch (...) {
            return false;
          }
        },
        std::chrono::seconds(60));
    if (!ready || !child_->running()) FAIL("prometheus did not start: " << read_file(log_));
  }
  ~Prometheus() {
    if (child_ && child_->running()) {
      child_->signal(SIGTERM);
      if (child_->wait_exit(std::chrono::seconds(10)) < 0) child_->signal(SIGKILL);
    }
  }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::string log() const { return read_file(log_); }

  // The instant query's values (one per series); empty when none or on error.
  std::vector<double> query(const std::string& promql) {
    const auto r = http_get("127.0.0.1", port_, "/api/v1/query?query=" + url_encode(promql), std::chrono::seconds(10));
    std::vector<double> out;
    if (r.status != 200) return out;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(r.body).get(doc) != simdjson::SUCCESS) return out;
    simdjson::dom::array result;
    if (doc["data"]["result"].get(result) != simdjson::SUCCESS) return out;
    for (auto series : result) {
      std::string_view v;
      if (series["value"].at(1).get(v) == simdjson::SUCCESS)
        out.push_back(std::strtod(std::string(v).c_str(), nullptr));
    }
    return out;
  }
  std::optional<double> query_value(const std::string& promql) {
    auto v = query(promql);
    if (v.size() != 1) return std::nullopt;
    return v[0];
  }

 private:
  std::uint16_t port_;
  std::string log_;
  std::unique_ptr<Child> child_;
};

// `promtool check metrics` on an exposition: "" when it passes, else what it said.
inline std::string promtool_check(const std::string& dir, const std::string& text) {
  const std::string bin = require_tool("promtool");
  write_file(dir + "/exposition.txt", text);
  FILE* p = ::popen((bin + " check metrics < '" + dir + "/exposition.txt' 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int rc = ::pclose(p);
  return rc == 0 ? std::string() : (out.empty() ? "promtool failed" : out);
}

}  // namespace replicator::test
