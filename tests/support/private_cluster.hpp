// PrivateCluster: a throw-away PostgreSQL of one test (its own data directory, port and unix socket
// under /tmp), for tests that stop, crash, freeze, promote or reconfigure a server, which the shared
// one of scripts/with_postgres.sh must never be. initdb and postgresql.conf go through
// scripts/pg_cluster.sh, the one place that knows which settings a server build accepts; the build is
// $REPLICATOR_PG_BIN (any major of the matrix). Started in the constructor, removed at scope end.
//   replicator::test::PrivateCluster pg({.conf = {"max_slot_wal_keep_size = 1MB"}});
//   pg.sql("CREATE TABLE t (id int primary key)");   // as the superuser, over the unix socket
//   PgSession db(pg.params());                        // tests/support/pg.hpp, over TCP
//   pg.stop(PrivateCluster::StopMode::immediate); pg.start();   // a crash; restarts keep the data
// As root, the server runs as the postgres OS user: test targets need tags = ["no-sandbox"].
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/ports.hpp"

namespace replicator::test {

struct PrivateClusterOptions {
  // A PostgreSQL bin directory; empty: $REPLICATOR_PG_BIN (the major under test), else Debian's 15.
  // Tests of one major pick it with REPLICATOR_PG<major>_BIN (scripts/with_postgres.sh exports them).
  std::string bin;
  std::vector<std::string> conf;  // extra postgresql.conf lines (after the defaults, so they win)
  // pg_hba.conf lines for TCP (127.0.0.1). The superuser always gets `local all postgres trust`
  // first, so setup SQL works whatever the TCP rules are.
  std::vector<std::string> hba = {"host all all 127.0.0.1/32 trust", "host replication all 127.0.0.1/32 trust"};
  // Files to place in the data directory before the first start (name, contents), e.g. TLS keys.
  std::vector<std::pair<std::string, std::string>> files;
};

class PrivateCluster {
 public:
  enum class StopMode { smart, fast, immediate };

  explicit PrivateCluster(PrivateClusterOptions options = {}) : options_(std::move(options)) {
    const char* bin = std::getenv("REPLICATOR_PG_BIN");
    bin_ = !options_.bin.empty() ? options_.bin : (bin != nullptr && *bin != '\0') ? bin : "/usr/lib/postgresql/15/bin";
    if (::access((bin_ + "/initdb").c_str(), X_OK) != 0) {
      throw std::runtime_error("PrivateCluster: no initdb in " + bin_ + " (set REPLICATOR_PG_BIN)");
    }
    char tmpl[] = "/tmp/replicator-private-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) throw std::runtime_error("running as root but there is no postgres OS user");
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
      if (::chown(dir_.c_str(), uid_, gid_) != 0) throw std::runtime_error("chown " + dir_ + " failed");
    }
    port_ = free_loopback_port();
    std::vector<std::string> init = {"/bin/bash",           cluster_script(),       "init", bin_, dir_,
                                     std::to_string(port_), "shared_buffers = 16MB"};
    for (const auto& line : options_.conf) init.push_back(line);
    run(init, dir_ + "/init.log", RunAs::self);
    write_hba(options_.hba);
    for (const auto& [name, text] : options_.files) put_file(name, text, 0600);
    start();
  }

  PrivateCluster(const PrivateCluster&) = delete;
  PrivateCluster& operator=(const PrivateCluster&) = delete;

  ~PrivateCluster() {
    if (running_) {
      resume();  // a SIGSTOPped server would not stop
      try {
        run_as_postgres({bin_ + "/pg_ctl", "-D", data_dir(), "-m", "immediate", "-w", "stop"}, dir_ + "/ctl.log");
      } catch (...) {}
    }
    if (!dir_.empty() && dir_.rfind("/tmp/replicator-private-", 0) == 0) {
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::execl("/bin/rm", "rm", "-rf", dir_.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
      }
      int st = 0;
      if (pid > 0) ::waitpid(pid, &st, 0);
    }
  }

  [[nodiscard]] const std::string& host() const noexcept { return host_; }  // 127.0.0.1
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] const std::string& dir() const noexcept { return dir_; }  // also the unix socket directory
  [[nodiscard]] std::string data_dir() const { return dir_ + "/data"; }
  [[nodiscard]] std::string log_path() const { return dir_ + "/server.log"; }
  [[nodiscard]] std::string log() const { return read_text(log_path()); }

  [[nodiscard]] std::string data() const { return data_dir(); }
  [[nodiscard]] std::string server_log() const { return log(); }

  // Connection parameters for PgSession over TCP (they override the PG* environment of the shared server).
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> params(const std::string& dbname = "postgres") const {
    return {{"host", host_}, {"port", std::to_string(port_)}, {"user", "postgres"}, {"dbname", dbname}};
  }
  // The same as a libpq connection string.
  [[nodiscard]] std::string conninfo(const std::string& dbname = "postgres") const {
    return "host=" + host_ + " port=" + std::to_string(port_) + " user=postgres dbname=" + dbname;
  }

  // Connection parameters for the superuser over the unix socket (for tests::PgSession).
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> superuser_params() const {
    return {{"host", dir_}, {"port", std::to_string(port_)}, {"user", "postgres"}, {"dbname", "postgres"}};
  }

  // Runs SQL as the superuser (unix socket); returns the first column of the first row ("" if none).
  std::string sql(const std::string& statement, const std::string& dbname = "postgres") const {
    auto params = superuser_params();
    params[3].second = dbname;
    std::vector<const char*> keys, values;
    for (const auto& [k, v] : params) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdbParams(keys.data(), values.data(), 0), &PQfinish);
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
      throw std::runtime_error("private cluster: connect failed: " + std::string(PQerrorMessage(conn.get())));
    }
    std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn.get(), statement.c_str()), &PQclear);
    const auto status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error("private cluster: SQL failed: " + statement + ": " + PQerrorMessage(conn.get()));
    }
    if (PQntuples(res.get()) == 0 || PQnfields(res.get()) == 0) return {};
    return std::string(PQgetvalue(res.get(), 0, 0), static_cast<std::size_t>(PQgetlength(res.get(), 0, 0)));
  }

  // wait = false: do not wait until connections are accepted (a standby with hot_standby = off never
  // accepts any, and pg_ctl -w would time out).
  void start(bool wait = true) {
    run_as_postgres({bin_ + "/pg_ctl", "-D", data_dir(), "-l", log_path(), wait ? "-w" : "-W", "-t", "60", "start"},
                    dir_ + "/ctl.log");
    running_ = true;
  }
  // mode: fast, smart or immediate.
  void stop(const std::string& mode = "fast") {
    resume();
    run_as_postgres({bin_ + "/pg_ctl", "-D", data_dir(), "-m", mode, "-w", "-t", "60", "stop"}, dir_ + "/ctl.log");
    running_ = false;
  }
  void stop(StopMode mode) {
    stop(std::string(mode == StopMode::smart ? "smart" : mode == StopMode::fast ? "fast" : "immediate"));
  }
  void restart(StopMode mode = StopMode::fast) {
    stop(mode);
    start();
  }
  [[nodiscard]] bool running() const noexcept { return running_; }
  // Promotes a cluster started in standby mode (see start_as_standby) and waits until it accepts writes.
  void promote() {
    run_as_postgres({bin_ + "/pg_ctl", "-D", data_dir(), "-w", "-t", "60", "promote"}, dir_ + "/ctl.log");
  }
  // Restarts the stopped cluster as a standby of itself (standby.signal, no primary): it replays its
  // own WAL and waits. promote() then switches it to a new timeline, as a failover or PITR would.
  void start_as_standby(bool wait = true) {
    put_file("standby.signal", "", 0600);
    start(wait);
  }

  [[nodiscard]] pid_t postmaster_pid() const {
    std::istringstream in(read_text(data_dir() + "/postmaster.pid"));
    long pid = 0;
    in >> pid;
    if (pid <= 0) throw std::runtime_error("private cluster: no postmaster.pid");
    return static_cast<pid_t>(pid);
  }

  // Freezes / thaws one server process (e.g. a walsender) with SIGSTOP / SIGCONT.
  void freeze(pid_t pid) {
    ::kill(pid, SIGSTOP);
    frozen_.push_back(pid);
  }
  void resume() {
    for (pid_t pid : frozen_) ::kill(pid, SIGCONT);
    frozen_.clear();
  }

  // Replaces pg_hba.conf's TCP lines and reloads the configuration.
  void set_hba(const std::vector<std::string>& lines) {
    write_hba(lines);
    if (running_) sql("SELECT pg_reload_conf()");
  }

  // Writes a file (relative to the data directory) owned by the server's OS user.
  void put_file(const std::string& relative, const std::string& text, mode_t mode) const {
    const std::string path = data_dir() + "/" + relative;
    {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f << text;
      if (!f) throw std::runtime_error("private cluster: cannot write " + path);
    }
    ::chmod(path.c_str(), mode);
    if (::geteuid() == 0 && ::chown(path.c_str(), uid_, gid_) != 0) {
      throw std::runtime_error("private cluster: chown " + path + " failed");
    }
  }

  static std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  void write_hba(const std::vector<std::string>& lines) const {
    std::string hba = "local all postgres trust\nlocal replication postgres trust\n";
    for (const auto& line : lines) hba += line + "\n";
    put_file("pg_hba.conf", hba, 0600);
  }

  // scripts/pg_cluster.sh: $REPLICATOR_PG_CLUSTER (exported by scripts/with_postgres.sh), else the
  // copy in the test's runfiles, else the source tree's.
  static std::string cluster_script() {
    const char* env = std::getenv("REPLICATOR_PG_CLUSTER");
    if (env != nullptr && *env != '\0') return env;
    if (const char* rf = std::getenv("TEST_SRCDIR"); rf != nullptr) {
      const std::string p = std::string(rf) + "/replicator/scripts/pg_cluster.sh";
      if (::access(p.c_str(), R_OK) == 0) return p;
    }
    return "scripts/pg_cluster.sh";
  }

  enum class RunAs { self, postgres };

  // Runs a command with its output appended to `log`; RunAs::postgres switches to the postgres OS
  // user when root (the server refuses root). scripts/pg_cluster.sh runs as self: it switches itself.
  void run(const std::vector<std::string>& argv, const std::string& log, RunAs who) const {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      if (who == RunAs::postgres && ::geteuid() == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid_) != 0 || ::setuid(uid_) != 0) ::_exit(126);
      }
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      std::string what = argv[0];
      for (std::size_t i = 1; i < argv.size() && i < 3; ++i) what += " " + argv[i];
      throw std::runtime_error("private cluster: " + what + " failed:\n" + read_text(log) + "\n" +
                               read_text(log_path()));
    }
  }
  void run_as_postgres(const std::vector<std::string>& argv, const std::string& log) const {
    run(argv, log, RunAs::postgres);
  }

  PrivateClusterOptions options_;
  std::string bin_;
  std::string dir_;
  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  bool running_ = false;
  std::vector<pid_t> frozen_;
};

}  // namespace replicator::test
