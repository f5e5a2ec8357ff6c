// capture: records a live pgoutput stream into a stream file (include/replicator/transport/frame.hpp).
//   capture --dbname "host=127.0.0.1 port=5432 dbname=app" --slot s1 --create-slot --temporary
//           --option proto_version=2 --option publication_names=pub --output out.stream
// One frame per XLogData message; keepalives are answered; standby status updates report what is
// written and fsynced. Stops at --end-lsn or after --idle-timeout-ms without XLogData.
#include <libpq-fe.h>
#include <sys/select.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "replicator/core/lsn.hpp"
#include "replicator/transport/copy_data.hpp"
#include "replicator/core/timestamp.hpp"
#include "replicator/transport/frame.hpp"

namespace {

using replicator::Lsn;
using replicator::PgTimestamp;

struct Options {
  std::string dbname;
  std::string slot;
  bool create_slot = false;
  bool temporary = false;
  bool two_phase = false;
  std::vector<std::pair<std::string, std::string>> plugin_options;
  std::string plugin = "pgoutput";  // --plugin: another output plugin (wal2json) takes any --option key
  Lsn start_lsn;
  std::optional<Lsn> end_lsn;
  long idle_timeout_ms = 2000;
  std::string output;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "capture: %s\n", message.c_str());
  std::exit(1);
}

void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: capture --dbname CONNINFO --slot NAME [--create-slot] [--temporary] [--two-phase]\n"
               "               [--option key=value]... [--start-lsn X/Y] [--end-lsn X/Y]\n"
               "               [--idle-timeout-ms N] --output FILE\n"
               "  --option keys: proto_version, publication_names, binary, messages, streaming, two_phase, origin\n"
               "  --plugin NAME: the slot's output plugin (default pgoutput; with another, any --option key)\n");
  std::exit(code);
}

Lsn parse_lsn_arg(std::string_view flag, const char* text) {
  auto r = Lsn::parse(text);
  if (!r) die(std::string(flag) + ": not an LSN (X/Y): " + text);
  return *r;
}

Options parse_args(int argc, char** argv) {
  Options o;
  bool have_output = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) die(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") usage(0);
    else if (a == "--dbname") o.dbname = value();
    else if (a == "--slot") o.slot = value();
    else if (a == "--create-slot") o.create_slot = true;
    else if (a == "--temporary") o.temporary = true;
    else if (a == "--two-phase") o.two_phase = true;
    else if (a == "--plugin") o.plugin = value();
    else if (a == "--start-lsn") o.start_lsn = parse_lsn_arg(a, value());
    else if (a == "--end-lsn") o.end_lsn = parse_lsn_arg(a, value());
    else if (a == "--output") {
      o.output = value();
      have_output = true;
    } else if (a == "--idle-timeout-ms") {
      const char* v = value();
      char* end = nullptr;
      errno = 0;
      const long ms = std::strtol(v, &end, 10);
      if (errno != 0 || end == v || *end != '\0' || ms <= 0)
        die(std::string("--idle-timeout-ms: not a positive number: ") + v);
      o.idle_timeout_ms = ms;
    } else if (a == "--option") {
      const std::string kv = value();
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) die("--option needs key=value, got: " + kv);
      std::string key = kv.substr(0, eq);
      static constexpr std::string_view known[] = {"proto_version", "publication_names", "binary", "messages",
                                                   "streaming",     "two_phase",         "origin"};
      bool ok = false;
      for (auto k : known) ok = ok || k == key || o.plugin != "pgoutput";
      if (!ok) die("unknown --option key: " + key);
      o.plugin_options.emplace_back(std::move(key), kv.substr(eq + 1));
    } else {
      std::fprintf(stderr, "capture: unknown argument: %s\n", argv[i]);
      usage(2);
    }
  }
  if (o.dbname.empty()) die("--dbname is required");
  if (o.slot.empty()) die("--slot is required");
  if (!have_output || o.output.empty()) die("--output is required");
  if (o.temporary && !o.create_slot) die("--temporary needs --create-slot");
  return o;
}

std::string quote_ident(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}
std::string quote_literal(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string one_line(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}

PgTimestamp now() {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  return PgTimestamp::from_unix_micros(us);
}

class Capture {
 public:
  Capture(PGconn* conn, std::FILE* out, const Options& o) : conn_(conn), out_(out), o_(o) {}

  void run() {
    const auto idle = std::chrono::milliseconds(o_.idle_timeout_ms);
    auto last_data = std::chrono::steady_clock::now();
    auto last_status = last_data;
    while (!done_) {
      char* buf = nullptr;
      const int n = PQgetCopyData(conn_, &buf, 1);
      if (n > 0) {
        handle(std::as_bytes(std::span<const char>(buf, static_cast<std::size_t>(n))), last_data);
        PQfreemem(buf);
        // A busy stream still reports its progress about once a second.
        if (++since_check_ >= 256) {
          since_check_ = 0;
          const auto t = std::chrono::steady_clock::now();
          if (t - last_status >= std::chrono::seconds(1)) {
            send_status(false);
            last_status = t;
          }
        }
        continue;
      }
      if (n == -1) {  // the server ended the COPY
        server_ended_ = true;
        break;
      }
      if (n == -2) die("reading the replication stream: " + one_line(PQerrorMessage(conn_)));
      // Nothing buffered: wait for the socket, the idle deadline or the next status update.
      const auto t = std::chrono::steady_clock::now();
      if (t - last_data >= idle) break;
      if (t - last_status >= std::chrono::seconds(1)) {
        send_status(false);
        last_status = t;
      }
      const auto wait =
          std::min<std::chrono::steady_clock::duration>(idle - (t - last_data), std::chrono::milliseconds(500));
      const int fd = PQsocket(conn_);
      if (fd < 0) die("the connection has no socket");
      fd_set rd;
      FD_ZERO(&rd);
      FD_SET(fd, &rd);
      timeval tv{};
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(wait).count();
      tv.tv_sec = static_cast<time_t>(us / 1'000'000);
      tv.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
      const int rc = select(fd + 1, &rd, nullptr, nullptr, &tv);
      if (rc < 0 && errno != EINTR) die(std::string("select: ") + std::strerror(errno));
      if (rc > 0 && PQconsumeInput(conn_) == 0)
        die("reading the replication stream: " + one_line(PQerrorMessage(conn_)));
    }
    send_status(false);
  }

  void finish() {
    if (!server_ended_) {
      if (PQputCopyEnd(conn_, nullptr) != 1) die("ending COPY: " + one_line(PQerrorMessage(conn_)));
      if (PQflush(conn_) != 0) die("ending COPY: " + one_line(PQerrorMessage(conn_)));
      // The server may still send data before its CopyDone: drain it (not written).
      while (true) {
        char* buf = nullptr;
        const int n = PQgetCopyData(conn_, &buf, 0);
        if (buf) PQfreemem(buf);
        if (n == -1) break;
        if (n == -2) die("ending COPY: " + one_line(PQerrorMessage(conn_)));
      }
    }
    while (PGresult* res = PQgetResult(conn_)) {
      const auto st = PQresultStatus(res);
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_OUT) {
        const std::string msg = one_line(PQresultErrorMessage(res));
        PQclear(res);
        die("replication ended with an error: " + msg);
      }
      PQclear(res);
    }
  }

  [[nodiscard]] std::size_t frames() const { return frames_; }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }
  [[nodiscard]] Lsn written() const { return written_; }

 private:
  void handle(std::span<const std::byte> data, std::chrono::steady_clock::time_point& last_data) {
    auto msg = replicator::protocol::decode_copy_data(data);
    if (!msg) die("unexpected CopyData from the server: " + msg.error().describe());
    if (const auto* x = std::get_if<replicator::protocol::XLogDataView>(&*msg)) {
      if (o_.end_lsn && x->wal_start > *o_.end_lsn) {
        done_ = true;
        return;
      }
      const auto h = replicator::transport::frame_header(x->wal_start, static_cast<std::uint32_t>(x->payload.size()));
      if (std::fwrite(h.data(), 1, h.size(), out_) != h.size() ||
          std::fwrite(x->payload.data(), 1, x->payload.size(), out_) != x->payload.size())
        die("writing " + o_.output + ": " + std::strerror(errno));
      ++frames_;
      bytes_ += h.size() + x->payload.size();
      if (x->wal_start > written_) written_ = x->wal_start;
      last_data = std::chrono::steady_clock::now();
      if (o_.end_lsn && x->wal_start == *o_.end_lsn) done_ = true;
      return;
    }
    const auto& k = std::get<replicator::protocol::PrimaryKeepaliveView>(*msg);
    if (k.reply_requested) send_status(false);
    // Caught up past the end position: nothing at or before it is still to come.
    if (o_.end_lsn && k.wal_end >= *o_.end_lsn) done_ = true;
  }

  // Reports what is in the file; `flushed` only after fflush + fsync.
  void send_status(bool reply_requested) {
    if (std::fflush(out_) != 0) die("writing " + o_.output + ": " + std::strerror(errno));
    if (fsync(fileno(out_)) != 0 && errno != EINVAL) die("fsync " + o_.output + ": " + std::strerror(errno));
    const auto msg =
        replicator::protocol::make_standby_status_update(written_, written_, written_, now(), reply_requested);
    if (PQputCopyData(conn_, reinterpret_cast<const char*>(msg.data()), static_cast<int>(msg.size())) != 1 ||
        PQflush(conn_) != 0)
      die("sending a standby status update: " + one_line(PQerrorMessage(conn_)));
  }

  PGconn* conn_;
  std::FILE* out_;
  const Options& o_;
  bool done_ = false;
  bool server_ended_ = false;
  unsigned since_check_ = 0;
  std::size_t frames_ = 0;
  std::size_t bytes_ = 0;
  Lsn written_;
};

void exec_command(PGconn* conn, const std::string& sql, ExecStatusType expected, const char* what) {
  PGresult* res = PQexec(conn, sql.c_str());
  if (PQresultStatus(res) != expected) {
    const std::string msg = one_line(PQresultErrorMessage(res));
    PQclear(res);
    die(std::string(what) + ": " + msg);
  }
  PQclear(res);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);

  const char* keys[] = {"dbname", "replication", "fallback_application_name", nullptr};
  const char* values[] = {o.dbname.c_str(), "database", "replicator-capture", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK)
    die("cannot connect: " + one_line(conn ? PQerrorMessage(conn) : "out of memory"));

  if (o.create_slot) {
    std::string sql = "CREATE_REPLICATION_SLOT " + quote_ident(o.slot) + (o.temporary ? " TEMPORARY" : "") +
                      " LOGICAL " + quote_ident(o.plugin) + " (SNAPSHOT 'nothing'" +
                      (o.two_phase ? ", TWO_PHASE true" : "") + ")";
    exec_command(conn, sql, PGRES_TUPLES_OK, "creating the replication slot");
  }

  std::string start = "START_REPLICATION SLOT " + quote_ident(o.slot) + " LOGICAL " + o.start_lsn.to_string();
  if (!o.plugin_options.empty()) {
    start += " (";
    for (std::size_t i = 0; i < o.plugin_options.size(); ++i) {
      if (i) start += ", ";
      start += quote_ident(o.plugin_options[i].first) + " " + quote_literal(o.plugin_options[i].second);
    }
    start += ")";
  }

  std::FILE* out = std::fopen(o.output.c_str(), "wb");
  if (out == nullptr) die("cannot create " + o.output + ": " + std::strerror(errno));

  exec_command(conn, start, PGRES_COPY_BOTH, "starting replication");

  Capture capture(conn, out, o);
  capture.run();
  capture.finish();
  if (std::fclose(out) != 0) die("closing " + o.output + ": " + std::strerror(errno));
  PQfinish(conn);
  std::fprintf(stderr, "capture: wrote %zu messages (%zu bytes) to %s, last LSN %s\n", capture.frames(),
               capture.bytes(), o.output.c_str(), capture.written().to_string().c_str());
  return 0;
}
