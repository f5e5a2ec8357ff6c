// A private PostgreSQL 15 cluster for one test: its own data directory, port and socket, so a test
// may stop, freeze, promote or reconfigure it without touching the shared server of
// scripts/with_postgres.sh. Started in the constructor, removed (immediate stop, rm -rf) at scope end.
//   replicator::test::PrivateCluster pg({.conf = {"max_slot_wal_keep_size = 1MB"}});
//   pg.sql("CREATE TABLE t (id int primary key)");   // as the superuser, over the unix socket
//   pg.stop("fast"); pg.start();                      // restarts keep the data directory
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

namespace replicator::test {

struct PrivateClusterOptions {
  std::vector<std::string> conf;  // extra postgresql.conf lines (after the defaults, so they win)
  // pg_hba.conf lines for TCP (127.0.0.1). The superuser always gets `local all postgres trust`
  // first, so setup SQL works whatever the TCP rules are.
  std::vector<std::string> hba = {"host all all 127.0.0.1/32 trust", "host replication all 127.0.0.1/32 trust"};
  // Files to place in the data directory before the first start (name, contents), e.g. TLS keys.
  std::vector<std::pair<std::string, std::string>> files;
};

class PrivateCluster {
 public:
  explicit PrivateCluster(PrivateClusterOptions options = {}) : options_(std::move(options)) {
    const char* bin = std::getenv("REPLICATOR_PG_BIN");
    bin_ = (bin != nullptr && *bin != '\0') ? bin : "/usr/lib/postgresql/15/bin";
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
    port_ = free_port();
    run_as_postgres({bin_ + "/initdb", "-D", data_dir(), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                     "--locale=C.UTF-8", "-N"},
                    dir_ + "/initdb.log");
    std::string conf = "listen_addresses = '127.0.0.1'\nport = " + std::to_string(port_) +
                       "\nunix_socket_directories = '" + dir_ +
                       "'\nwal_level = logical\nmax_wal_senders = 16\nmax_replication_slots = 16\n"
                       "max_connections = 50\nfsync = off\nfull_page_writes = off\nsynchronous_commit = on\n"
                       "shared_buffers = 16MB\nlog_min_messages = warning\n";
    for (const auto& line : options_.conf) conf += line + "\n";
    append_file(data_dir() + "/postgresql.conf", conf);
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
      } catch (...) {
      }
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
  static std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("private cluster: no free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  static void append_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::app);
    f << text;
    if (!f) throw std::runtime_error("private cluster: cannot write " + path);
  }

  void write_hba(const std::vector<std::string>& lines) const {
    std::string hba = "local all postgres trust\nlocal replication postgres trust\n";
    for (const auto& line : lines) hba += line + "\n";
    put_file("pg_hba.conf", hba, 0600);
  }

  // Runs a server tool as the postgres OS user (the server refuses root); output to `log`.
  void run_as_postgres(const std::vector<std::string>& argv, const std::string& log) const {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      if (::geteuid() == 0) {
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
      throw std::runtime_error("private cluster: " + argv[0] + " failed:\n" + read_text(log) + "\n" + read_text(log_path()));
    }
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
