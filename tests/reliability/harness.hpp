// Small pieces shared by the reliability tests: the program's YAML config for a server, sizing from
// the environment, runfiles, and polling the slot on the source.
//   write_file(cfg, program_config({"127.0.0.1", 5432, "postgres", "postgres"}, slot, pub, "sink: file\n..."));
//   wait_until([&] { return confirmed_at_least(db, slot, end_lsn); }, 60s);
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/program/process.hpp"
#include "tests/support/pg.hpp"

namespace replicator::test {

inline std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const std::string v = env_or(name);
  return v.empty() ? fallback : std::stoull(v);
}

// A file of a data dependency: $TEST_SRCDIR/$TEST_WORKSPACE/<rel>.
inline std::string runfile(const std::string& rel) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir ? srcdir : ".") + "/" + (ws ? ws : "replicator") + "/" + rel;
}

struct Server {
  std::string host;
  std::string port;
  std::string database = "postgres";
  std::string user = "postgres";
  // The shared server of scripts/with_postgres.sh (PG* environment).
  static Server shared() {
    return {env_or("PGHOST", "127.0.0.1"), env_or("PGPORT", "5432"), env_or("PGDATABASE", "postgres"),
            env_or("PGUSER", "postgres")};
  }
};

// A config for `server`: quick batches, status updates and reconnects unless `extra` (more YAML
// lines) sets those keys itself.
inline std::string program_config(const Server& s, const std::string& slot, const std::string& publication,
                                  const std::string& extra) {
  std::string out = "postgresql_host: " + yaml_quote(s.host) + "\npostgresql_port: " + s.port + "\n" +
                    "postgresql_database: " + yaml_quote(s.database) + "\npostgresql_user: " + yaml_quote(s.user) +
                    "\npostgresql_slot_name: " + slot + "\npostgresql_publication_name: " + yaml_quote(publication) +
                    "\n";
  const std::string wrapped = "\n" + extra;
  for (const char* line : {"batch_max_changes: 500", "batch_max_delay_ms: 20", "status_interval_ms: 100",
                           "reconnect_initial_ms: 20", "reconnect_max_ms: 300"}) {
    const std::string l(line);
    if (wrapped.find("\n" + l.substr(0, l.find(':') + 1)) == std::string::npos) out += l + "\n";
  }
  return out + extra;
}

inline std::string make_scratch_dir(const std::string& name) {
  const std::string dir = test_tmpdir() + "/" + unique_name(name);
  if (std::system(("mkdir -p '" + dir + "'").c_str()) != 0) throw std::runtime_error("cannot create " + dir);
  return dir;
}

// The size of `path` cut back to its last complete line: where the next run starts appending
// (the sink trims a line cut by a kill when it opens the file).
inline std::size_t complete_size(const std::string& path) {
  const std::string text = read_file(path);
  const auto nl = text.rfind('\n');
  return nl == std::string::npos ? 0 : nl + 1;
}

inline std::optional<std::string> confirmed_flush(const PgSession& db, const std::string& slot) {
  return db.scalar("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(slot));
}

inline bool confirmed_at_least(const PgSession& db, const std::string& slot, const std::string& lsn) {
  return db.scalar("SELECT confirmed_flush_lsn >= " + db.quote_literal(lsn) +
                   "::pg_lsn FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(slot)) == "t";
}

inline bool slot_active(const PgSession& db, const std::string& slot) {
  return db.scalar("SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = " +
                   db.quote_literal(slot)) == "1";
}

inline std::string drop_slot_sql(const std::string& slot) {
  return "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot + "'";
}

}  // namespace replicator::test

namespace replicator::test {

// argv that runs `argv` in a mount namespace of its own with a fresh tmpfs of `size` (e.g. "8m")
// mounted on `dir` (which must exist). The process keeps its pid (unshare and sh exec), so
// /proc/<pid>/root<dir> shows the tmpfs from outside and `nsenter -t <pid> -m` can remount it.
inline std::vector<std::string> in_private_tmpfs(const std::string& dir, const std::string& size,
                                                 const std::vector<std::string>& argv) {
  std::vector<std::string> out{"/usr/bin/unshare",
                               "-m",
                               "--propagation",
                               "private",
                               "/bin/sh",
                               "-c",
                               "mount -t tmpfs -o size=" + size + " tmpfs \"$0\" && exec \"$@\"",
                               dir};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

// Reads the log of fsync_probe.c (libfsync_probe.so) incrementally: the last complete "<size>\n" line.
class DurableSize {
 public:
  explicit DurableSize(std::string path) : path_(std::move(path)) {}
  std::size_t read() {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return value_;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(offset_));
      if (n <= 0) break;
      pending_.append(buf, static_cast<std::size_t>(n));
      offset_ += static_cast<std::size_t>(n);
    }
    ::close(fd);
    std::size_t start = 0;
    for (auto nl = pending_.find('\n'); nl != std::string::npos; nl = pending_.find('\n', start)) {
      if (nl > start) value_ = std::max<std::size_t>(value_, std::stoull(pending_.substr(start, nl - start)));
      ++records_;
      start = nl + 1;
    }
    pending_.erase(0, start);
    return value_;
  }
  [[nodiscard]] std::size_t records() const noexcept { return records_; }

 private:
  std::string path_;
  std::size_t offset_ = 0;
  std::string pending_;
  std::size_t value_ = 0;
  std::size_t records_ = 0;
};

// True when mount namespaces can be made here (root with CAP_SYS_ADMIN, no sandbox).
inline bool can_unshare_mounts() { return std::system("unshare -m true >/dev/null 2>&1") == 0; }

}  // namespace replicator::test
