// PrivateCluster: a throw-away PostgreSQL 15 of a test's own (initdb in a temp dir under /tmp, a
// free port on 127.0.0.1, wal_level=logical), for tests that stop, crash or restart the server,
// which the shared server of scripts/with_postgres.sh must never be. Binaries: $REPLICATOR_PG_BIN.
//   PrivateCluster pg;                          // initdb + start; stopped (immediate) and removed at scope exit
//   PgSession db(pg.params());                  // tests/support/pg.hpp, connected to this cluster
//   pg.stop(PrivateCluster::StopMode::immediate);  pg.start();
// When run as root, initdb and the server run as the `postgres` OS user (runuser), as
// scripts/with_postgres.sh does; the test target needs tags = ["no-sandbox"] for that.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace replicator::test {

class PrivateCluster {
 public:
  enum class StopMode { smart, fast, immediate };

  struct Options {
    std::vector<std::string> extra_conf;  // more postgresql.conf lines
  };

  PrivateCluster() : PrivateCluster(Options{}) {}
  explicit PrivateCluster(const Options& options) {
    const char* bin = std::getenv("REPLICATOR_PG_BIN");
    bin_ = (bin != nullptr && *bin != '\0') ? bin : "/usr/lib/postgresql/15/bin";
    if (::access((bin_ + "/initdb").c_str(), X_OK) != 0) {
      throw std::runtime_error("PrivateCluster: no initdb in " + bin_ + " (set REPLICATOR_PG_BIN)");
    }
    // Under /tmp, not TEST_TMPDIR: the postgres OS user must be able to reach it (/root is 0700).
    char tmpl[] = "/tmp/replicator-private-pg.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("PrivateCluster: mkdtemp failed");
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);
    if (::geteuid() == 0) run("chown postgres:postgres " + q(dir_));
    port_ = free_port();
    try {
      if (run(as_postgres(q(bin_ + "/initdb") + " -D " + q(data()) +
                          " -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >" + q(dir_ + "/initdb.log") + " 2>&1")) != 0) {
        throw std::runtime_error("PrivateCluster: initdb failed: " + slurp(dir_ + "/initdb.log"));
      }
      std::ofstream conf(data() + "/postgresql.conf", std::ios::app);
      conf << "listen_addresses = '127.0.0.1'\n"
           << "port = " << port_ << "\n"
           << "unix_socket_directories = '" << dir_ << "'\n"
           << "wal_level = logical\nmax_wal_senders = 20\nmax_replication_slots = 20\nmax_connections = 50\n"
           << "fsync = off\nfull_page_writes = off\nsynchronous_commit = on\nlog_min_messages = warning\n";
      for (const auto& line : options.extra_conf) conf << line << "\n";
      conf.close();
      std::ofstream hba(data() + "/pg_hba.conf", std::ios::trunc);
      hba << "local all all trust\nlocal replication all trust\n"
          << "host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n";
      hba.close();
      if (!conf || !hba) throw std::runtime_error("PrivateCluster: cannot write the configuration");
      start();
    } catch (...) {
      destroy();
      throw;
    }
  }

  PrivateCluster(const PrivateCluster&) = delete;
  PrivateCluster& operator=(const PrivateCluster&) = delete;
  ~PrivateCluster() { destroy(); }

  void start() {
    if (run(as_postgres(q(bin_ + "/pg_ctl") + " -D " + q(data()) + " -l " + q(log_path()) +
                        " -w -t 60 start >/dev/null 2>&1")) != 0) {
      throw std::runtime_error("PrivateCluster: pg_ctl start failed: " + slurp(log_path()));
    }
  }

  // pg_ctl stop -m fast (clean, disconnects clients) / immediate (a crash: recovery at next start).
  void stop(StopMode mode = StopMode::fast) {
    const char* m = mode == StopMode::smart ? "smart" : mode == StopMode::fast ? "fast" : "immediate";
    if (run(as_postgres(q(bin_ + "/pg_ctl") + " -D " + q(data()) + " -m " + m + " -w -t 60 stop >/dev/null 2>&1")) != 0) {
      throw std::runtime_error(std::string("PrivateCluster: pg_ctl stop -m ") + m + " failed");
    }
  }

  void restart(StopMode mode = StopMode::fast) {
    stop(mode);
    start();
  }

  [[nodiscard]] bool running() const {
    return run(as_postgres(q(bin_ + "/pg_ctl") + " -D " + q(data()) + " status >/dev/null 2>&1")) == 0;
  }

  [[nodiscard]] std::string host() const { return "127.0.0.1"; }
  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
  [[nodiscard]] std::string data() const { return dir_ + "/data"; }
  [[nodiscard]] std::string log_path() const { return dir_ + "/server.log"; }
  [[nodiscard]] std::string server_log() const { return slurp(log_path()); }

  // Connection parameters for PgSession (they override the PG* environment of the shared server).
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> params(const std::string& dbname = "postgres") const {
    return {{"host", host()}, {"port", std::to_string(port_)}, {"user", "postgres"}, {"dbname", dbname}};
  }
  // The same as a libpq connection string.
  [[nodiscard]] std::string conninfo(const std::string& dbname = "postgres") const {
    return "host=" + host() + " port=" + std::to_string(port_) + " user=postgres dbname=" + dbname;
  }

 private:
  static std::string q(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }
  static std::string as_postgres(const std::string& cmd) {
    if (::geteuid() != 0) return cmd;
    return "runuser -u postgres -- sh -c " + q(cmd);
  }
  static int run(const std::string& cmd) {
    const int rc = std::system(cmd.c_str());
    return rc == -1 ? -1 : WEXITSTATUS(rc);
  }
  static std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("PrivateCluster: socket() failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("PrivateCluster: cannot find a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }
  void destroy() noexcept {
    if (dir_.empty()) return;
    run(as_postgres(q(bin_ + "/pg_ctl") + " -D " + q(data()) + " -m immediate -w stop >/dev/null 2>&1"));
    if (std::getenv("REPLICATOR_KEEP_PRIVATE_CLUSTER") == nullptr) run("rm -rf " + q(dir_));
    dir_.clear();
  }

  std::string bin_;
  std::string dir_;
  int port_ = 0;
};

}  // namespace replicator::test
