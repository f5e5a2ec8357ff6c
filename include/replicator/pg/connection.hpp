// Connections to PostgreSQL through libpq: the settings (ConnectionConfig), a normal or
// replication connection (PgConnection), IDENTIFY_SYSTEM, and one error taxonomy, fatal versus
// retryable, decided from SQLSTATE and libpq's connection state rather than message text.
//   ConnectionConfig cfg; cfg.host = "127.0.0.1"; cfg.dbname = "app";
//   auto repl = PgConnection::connect(cfg, ConnectionKind::replication);  // Result<PgConnection, ReplicationError>
//   if (!repl) { log(repl.error().message); if (repl.error().retryable()) backoff(); }
//   auto id = identify_system(*repl);  // systemid, timeline, xlogpos, dbname
#pragma once

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/pg/detail/libpq_text.hpp"

namespace replicator {

// ---------------------------------------------------------------------------------------------
// Error taxonomy

// Fatal: retrying cannot help (authentication, privileges, missing objects, bad parameters,
// protocol violations). Retryable: the server or network may come back (connection failures,
// shutdowns, resource shortages, a slot held by another process, serialization failures).
// Unknown codes are fatal, so an unexpected error stops the program instead of looping.
[[nodiscard]] constexpr ErrorKind classify_sqlstate(std::string_view s) noexcept {
  if (s.size() != 5) return ErrorKind::fatal;
  const std::string_view cls = s.substr(0, 2);
  if (s == "08P01") return ErrorKind::fatal;     // protocol violation
  if (cls == "08") return ErrorKind::retryable;  // connection exception
  if (s == "57P01" || s == "57P02" || s == "57P03" || s == "57P05")
    return ErrorKind::retryable;                  // shutdown, crash, starting, idle timeout
  if (s == "57014") return ErrorKind::retryable;  // query canceled (statement_timeout, pg_cancel_backend)
  if (s == "55006") return ErrorKind::retryable;  // object in use: the slot is active for another PID
  if (cls == "53") return ErrorKind::retryable;   // insufficient resources (disk, memory, too many connections)
  if (s == "40001" || s == "40P01" || s == "40003") return ErrorKind::retryable;  // serialization, deadlock
  if (s == "58000" || s == "58030") return ErrorKind::retryable;                  // system / I/O error on the server
  return ErrorKind::fatal;  // 28xxx, 42501, 3D000, 42704, 42710, 22023, 42601, 55000, 58P01, XX..., ...
}

[[nodiscard]] inline ReplicationError make_error(std::string_view sqlstate, std::string message) {
  return ReplicationError{classify_sqlstate(sqlstate), std::string(sqlstate), std::move(message)};
}

// ---------------------------------------------------------------------------------------------
// Settings

enum class ConnectionKind : std::uint8_t {
  normal,       // SQL: publication checks, slot queries, position table
  replication,  // replication=database: IDENTIFY_SYSTEM, slots, START_REPLICATION
};

// libpq keyword/value pairs, handed to PQconnectStartParams as two arrays (never a conninfo
// string, so a value cannot smuggle in another keyword).
struct ConnParams {
  std::vector<std::pair<std::string, std::string>> entries;

  [[nodiscard]] const std::string* find(std::string_view key) const noexcept {
    for (const auto& [k, v] : entries) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

// libpq's sslmode values: the one list (ConnectionConfig, the program's config keys and DSNs).
inline constexpr std::string_view kSslModes[] = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
[[nodiscard]] inline std::string sslmodes_text() {  // "disable, allow, ..., verify-full"
  std::string s;
  for (auto m : kSslModes) s += (s.empty() ? "" : ", ") + std::string(m);
  return s;
}
[[nodiscard]] constexpr bool is_known_sslmode(std::string_view mode) noexcept {
  for (auto m : kSslModes) {
    if (m == mode) return true;
  }
  return false;
}

struct ConnectionConfig {
  std::string host;        // empty: libpq default (PGHOST, then the local socket)
  std::uint16_t port = 0;  // 0: libpq default (PGPORT, then 5432)
  std::string dbname;      // empty: libpq default (PGDATABASE, then the user name)
  std::string user;        // empty: libpq default (PGUSER, then the OS user)
  std::string password;    // empty: libpq default (PGPASSWORD, ~/.pgpass); never printed
  std::string sslmode;     // disable|allow|prefer|require|verify-ca|verify-full; empty: libpq default
  std::string sslcert;
  std::string sslkey;
  std::string sslrootcert;
  std::string application_name = "replicator";
  int connect_timeout_s = 10;  // whole connection attempt; 0 waits for the OS
  // TCP keepalives (idle seconds; probes every 10 s, 3 tries) so a blocking query on a vanished
  // server fails in about idle + 30 s instead of the OS default of hours. 0: libpq/OS defaults.
  int tcp_keepalives_idle_s = 30;

  // Checks what libpq would otherwise reject late or silently truncate (NUL bytes).
  [[nodiscard]] Status validate() const {
    if (!sslmode.empty() && !is_known_sslmode(sslmode)) {
      return ReplicationError::fatal("invalid sslmode '" + detail::printable(sslmode) + "': use one of " +
                                     sslmodes_text());
    }
    if (connect_timeout_s < 0) return ReplicationError::fatal("connect_timeout must be >= 0 seconds");
    if (tcp_keepalives_idle_s < 0) return ReplicationError::fatal("tcp_keepalives_idle must be >= 0 seconds");
    const std::pair<std::string_view, const std::string*> fields[] = {{"host", &host},
                                                                      {"dbname", &dbname},
                                                                      {"user", &user},
                                                                      {"password", &password},
                                                                      {"sslcert", &sslcert},
                                                                      {"sslkey", &sslkey},
                                                                      {"sslrootcert", &sslrootcert},
                                                                      {"application_name", &application_name}};
    for (const auto& [name, value] : fields) {
      if (value->find('\0') != std::string::npos) {
        return ReplicationError::fatal("connection setting '" + std::string(name) + "' contains a NUL byte");
      }
    }
    return ok_status();
  }

  // The keyword/value pairs for libpq; empty settings are left out so libpq's defaults apply.
  [[nodiscard]] ConnParams params(ConnectionKind kind) const {
    ConnParams p;
    auto add = [&p](std::string_view key, const std::string& value) {
      if (!value.empty()) p.entries.emplace_back(std::string(key), value);
    };
    add("host", host);
    if (port != 0) p.entries.emplace_back("port", std::to_string(port));
    add("dbname", dbname);
    add("user", user);
    add("password", password);
    add("sslmode", sslmode);
    add("sslcert", sslcert);
    add("sslkey", sslkey);
    add("sslrootcert", sslrootcert);
    add("application_name", application_name);
    if (connect_timeout_s > 0) p.entries.emplace_back("connect_timeout", std::to_string(connect_timeout_s));
    if (tcp_keepalives_idle_s > 0) {
      p.entries.emplace_back("keepalives", "1");
      p.entries.emplace_back("keepalives_idle", std::to_string(tcp_keepalives_idle_s));
      p.entries.emplace_back("keepalives_interval", "10");
      p.entries.emplace_back("keepalives_count", "3");
    }
    if (kind == ConnectionKind::replication) p.entries.emplace_back("replication", "database");
    return p;
  }

  // For logs: every setting that is set, the password shown only as "***".
  [[nodiscard]] std::string redacted() const {
    std::string out;
    auto add = [&out](std::string_view key, std::string_view value) {
      if (value.empty()) return;
      if (!out.empty()) out += ' ';
      out += key;
      out += '=';
      out += detail::printable(value, 200);
    };
    add("host", host);
    if (port != 0) add("port", std::to_string(port));
    add("dbname", dbname);
    add("user", user);
    if (!password.empty()) add("password", "***");
    add("sslmode", sslmode);
    add("sslcert", sslcert);
    add("sslkey", sslkey);
    add("sslrootcert", sslrootcert);
    add("application_name", application_name);
    return out;
  }
};

// ---------------------------------------------------------------------------------------------
// Results and connections

// Owns one PGresult.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* res) noexcept : res_(res) {}

  [[nodiscard]] PGresult* get() const noexcept { return res_.get(); }
  [[nodiscard]] int rows() const noexcept { return res_ ? PQntuples(res_.get()) : 0; }
  [[nodiscard]] int columns() const noexcept { return res_ ? PQnfields(res_.get()) : 0; }
  [[nodiscard]] bool is_null(int row, int col) const noexcept {
    return !res_ || PQgetisnull(res_.get(), row, col) != 0;
  }
  // "" for NULL or out of range.
  [[nodiscard]] std::string_view value(int row, int col) const noexcept {
    if (!res_) return {};
    const char* v = PQgetvalue(res_.get(), row, col);
    if (v == nullptr) return {};
    return {v, static_cast<std::size_t>(PQgetlength(res_.get(), row, col))};
  }
  [[nodiscard]] std::optional<std::string_view> get(int row, int col) const noexcept {
    if (is_null(row, col)) return std::nullopt;
    return value(row, col);
  }
  // Column index by name, -1 when absent.
  [[nodiscard]] int column(const char* name) const noexcept { return res_ ? PQfnumber(res_.get(), name) : -1; }

 private:
  struct Clear {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> res_;
};

// One libpq connection, normal or replication. Errors carry the classification above and never
// the password.
// QueryCancel: a cancel request for whatever `conn` is running, usable from another thread
// (PQcancel is thread-safe; the PGconn is not). Owns the PGcancel handle.
class QueryCancel {
 public:
  explicit QueryCancel(PGconn* conn) : handle_(conn != nullptr ? PQgetCancel(conn) : nullptr) {}
  QueryCancel(QueryCancel&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  QueryCancel& operator=(QueryCancel&&) = delete;
  QueryCancel(const QueryCancel&) = delete;
  ~QueryCancel() {
    if (handle_ != nullptr) PQfreeCancel(handle_);
  }
  // Asks the server to cancel the running query; a failed request changes nothing.
  void cancel() const noexcept {
    char err[256];
    if (handle_ != nullptr) (void)PQcancel(handle_, err, sizeof err);
  }

 private:
  PGcancel* handle_;
};

class PgConnection {
 public:
  PgConnection() = default;

  // Connects with PQconnectStartParams / PQconnectPoll so the attempt can be timed out and so
  // connection-time errors keep their SQLSTATE (see classify_connect_failure).
  [[nodiscard]] static Result<PgConnection, ReplicationError> connect(const ConnectionConfig& cfg,
                                                                      ConnectionKind kind) {
    if (auto st = cfg.validate(); !st) return st.error();
    const ConnParams params = cfg.params(kind);
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const auto& [k, v] : params.entries) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);

    PgConnection conn;
    conn.kind_ = kind;
    conn.password_ = cfg.password;
    conn.conn_.reset(PQconnectStartParams(keys.data(), values.data(), /*expand_dbname=*/0));
    PGconn* raw = conn.conn_.get();
    if (raw == nullptr) return ReplicationError::retry("libpq could not allocate a connection");
    // Before any byte is read, so the server's startup ErrorResponse is formatted with its SQLSTATE.
    PQsetErrorVerbosity(raw, PQERRORS_VERBOSE);

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.connect_timeout_s);
    ConnStatusType last_state = PQstatus(raw);
    PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
    while (PQstatus(raw) != CONNECTION_BAD && polling != PGRES_POLLING_OK && polling != PGRES_POLLING_FAILED) {
      pollfd pfd{PQsocket(raw), static_cast<short>(polling == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
      if (pfd.fd < 0) break;
      int wait_ms = -1;
      if (cfg.connect_timeout_s > 0) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          return ReplicationError::retry("timed out after " + std::to_string(cfg.connect_timeout_s) +
                                         " s connecting to PostgreSQL (" + cfg.redacted() + ")");
        }
        wait_ms = static_cast<int>(std::min<std::int64_t>(left.count(), 1 << 30));
      }
      const int rc = ::poll(&pfd, 1, wait_ms);
      if (rc < 0 && errno != EINTR) {
        return ReplicationError::retry(std::string("poll() failed while connecting: ") + std::strerror(errno));
      }
      if (rc <= 0) continue;  // timeout re-checked above; EINTR retried
      last_state = PQstatus(raw);
      polling = PQconnectPoll(raw);
    }
    if (PQstatus(raw) != CONNECTION_OK) return conn.classify_connect_failure(last_state, cfg);

    PQsetErrorVerbosity(raw, PQERRORS_DEFAULT);
    if (PQserverVersion(raw) < 100000) {
      return ReplicationError::fatal("PostgreSQL " + std::to_string(PQserverVersion(raw)) +
                                     " is too old: logical replication with pgoutput needs 10 or later");
    }
    return conn;
  }

  [[nodiscard]] PGconn* get() const noexcept { return conn_.get(); }
  [[nodiscard]] ConnectionKind kind() const noexcept { return kind_; }
  [[nodiscard]] bool is_open() const noexcept { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }
  // e.g. 150020 for 15.20 (PQserverVersion).
  [[nodiscard]] int server_version() const noexcept { return conn_ ? PQserverVersion(conn_.get()) : 0; }
  [[nodiscard]] int backend_pid() const noexcept { return conn_ ? PQbackendPID(conn_.get()) : 0; }
  void close() noexcept { conn_.reset(); }

  // Runs one command (simple protocol; works on replication connections too). Expects
  // PGRES_COMMAND_OK or PGRES_TUPLES_OK, otherwise a classified error prefixed with `context`.
  [[nodiscard]] Result<PgResult, ReplicationError> exec(const std::string& sql, std::string_view context) {
    if (!conn_) return ReplicationError::retry(std::string(context) + ": not connected");
    PgResult res(PQexec(conn_.get(), sql.c_str()));
    const auto status = res.get() ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return res;
    return error_from_result(res.get(), context);
  }

  // SQL with $1..$n text parameters (normal connections only: walsenders accept no extended protocol).
  [[nodiscard]] Result<PgResult, ReplicationError> exec_params(const std::string& sql,
                                                               std::span<const std::string> params,
                                                               std::string_view context) {
    if (!conn_) return ReplicationError::retry(std::string(context) + ": not connected");
    std::vector<const char*> values;
    for (const auto& p : params) {
      if (p.find('\0') != std::string::npos) {
        return ReplicationError::fatal(std::string(context) + ": a parameter contains a NUL byte");
      }
      values.push_back(p.c_str());
    }
    PgResult res(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                              nullptr, nullptr, 0));
    const auto status = res.get() ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return res;
    return error_from_result(res.get(), context);
  }

  // "name" quoted by libpq for this connection's encoding.
  [[nodiscard]] Result<std::string, ReplicationError> quote_identifier(std::string_view s) const {
    return escape(s, &PQescapeIdentifier, "identifier");
  }
  // 'text' quoted by libpq (may produce E'...'; for SQL, not for replication commands).
  [[nodiscard]] Result<std::string, ReplicationError> quote_literal(std::string_view s) const {
    return escape(s, &PQescapeLiteral, "literal");
  }

  // A failed PGresult (or a lost connection) as a ReplicationError. With an SQLSTATE the code
  // decides; without one, a connection that is gone is retryable (the server was stopped or crashed
  // mid-command) and anything else is fatal (libpq refused the call on a healthy connection).
  [[nodiscard]] ReplicationError error_from_result(const PGresult* res, std::string_view context) const {
    const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    const char* detail_text = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : nullptr;
    const char* hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : nullptr;
    std::string msg(context);
    msg += ": ";
    if (primary != nullptr) {
      msg += primary;
    } else if (conn_ && *PQerrorMessage(conn_.get()) != '\0') {
      msg += PQerrorMessage(conn_.get());
    } else if (res != nullptr) {
      msg += "unexpected result status ";
      msg += PQresStatus(PQresultStatus(res));
    } else {
      msg += "no result from libpq";
    }
    if (detail_text != nullptr) {
      msg += " (";
      msg += detail_text;
      msg += ')';
    }
    if (hint != nullptr) {
      msg += "; hint: ";
      msg += hint;
    }
    msg = detail::redact(detail::one_line(msg), password_);
    if (state != nullptr && *state != '\0') return make_error(state, std::move(msg));
    if (connection_gone()) return ReplicationError::retry(std::move(msg));
    return ReplicationError::fatal(std::move(msg));
  }

  // The connection's current libpq error (after PQconsumeInput / PQgetCopyData / PQflush failed).
  [[nodiscard]] ReplicationError connection_error(std::string_view context) const {
    std::string msg(context);
    msg += ": ";
    msg += conn_ ? PQerrorMessage(conn_.get()) : "not connected";
    msg = detail::redact(detail::one_line(msg), password_);
    if (connection_gone()) return ReplicationError::retry(std::move(msg));
    return ReplicationError::fatal(std::move(msg));
  }

  // True when this connection cannot carry another reply: never opened, dropped by libpq, or its
  // socket already shows the server's close or reset (libpq may not have read that far yet).
  [[nodiscard]] bool connection_gone() const noexcept {
    if (!is_open()) return true;
    const int fd = PQsocket(conn_.get());
    if (fd < 0) return true;
    pollfd pfd{fd, static_cast<short>(POLLIN | kPollPeerClosed), 0};
    if (::poll(&pfd, 1, 0) <= 0) return false;
    return (pfd.revents & (kPollPeerClosed | POLLHUP | POLLERR | POLLNVAL)) != 0;
  }

 private:
#ifdef POLLRDHUP
  static constexpr short kPollPeerClosed = POLLRDHUP;  // Linux: the peer shut down its side
#else
  static constexpr short kPollPeerClosed = 0;
#endif

  // Why a connection attempt failed. Only a definite answer is fatal; a server that goes away at
  // any step (starting, stopping, crashing: the socket closed or reset during TLS negotiation, the
  // startup packet, the authentication exchange or before ReadyForQuery) is retryable.
  //  1. The server answered with an ErrorResponse: libpq (PQERRORS_VERBOSE) put its SQLSTATE into
  //     the error message as "FATAL:  28000: ...", and classify_sqlstate decides (28000 no LOGIN,
  //     28P01 wrong password, 42501 no REPLICATION, 3D000 no database: fatal; 57P03 starting up,
  //     shutting down or in recovery, 53300 too many connections: retryable).
  //  2. PQconnectionNeedsPassword: the server asked for a password and none was configured: fatal.
  //  3. Failed while negotiating TLS/GSS: fatal only for a definite answer (definite_tls_failure);
  //     a connection cut there is retryable.
  //  4. Otherwise the server never answered, or went away mid-conversation (refused, unreachable,
  //     reset, closed, DNS): retryable.
  // PQconnectionUsedPassword only adds a hint to the message.
  ReplicationError classify_connect_failure(ConnStatusType last_state, const ConnectionConfig& cfg) const {
    PGconn* raw = conn_.get();
    const std::string raw_msg = PQerrorMessage(raw);
    const std::string sqlstate = detail::sqlstate_from_verbose_message(raw_msg);
    std::string msg = detail::redact(detail::one_line(detail::strip_verbose_sqlstate(raw_msg)), password_);
    if (msg.empty()) msg = "connection failed";
    const std::string where = " (" + cfg.redacted() + ")";
    if (!sqlstate.empty()) {
      if (sqlstate == "28P01" && PQconnectionUsedPassword(raw)) msg += "; the password sent was rejected";
      if (sqlstate == "42501" && kind_ == ConnectionKind::replication) {
        msg += "; the role needs the REPLICATION attribute (ALTER ROLE ... REPLICATION; see docs/least_privilege.md)";
      }
      return make_error(sqlstate, msg + where);
    }
    if (PQconnectionNeedsPassword(raw)) {
      return ReplicationError::fatal(msg + where + "; set a password (config, PGPASSWORD or ~/.pgpass)", "28P01");
    }
    if (last_state == CONNECTION_SSL_STARTUP || last_state == CONNECTION_GSS_STARTUP) {
      if (definite_tls_failure(raw_msg)) return ReplicationError::fatal("TLS negotiation failed: " + msg + where);
      return ReplicationError::retry("TLS negotiation failed: " + msg + where);
    }
    return ReplicationError::retry(msg + where);
  }

  // A TLS/GSS negotiation failure that retrying cannot fix: the server answered 'N' to an
  // SSLRequest under sslmode=require/verify-*, its certificate does not verify or name the host,
  // it refused the handshake with a TLS alert, or a local certificate, key or CA file is unusable.
  // libpq reports these with no SQLSTATE and no status of their own, so its message text is the
  // last resort here. The text is untranslated because the program never calls setlocale() (it
  // keeps the C locale); a library user under a translated locale gets retryable instead.
  // A cut connection reads "server closed the connection unexpectedly", "SSL SYSCALL error: EOF
  // detected", "unexpected eof while reading", "server sent an error response during SSL
  // exchange" (libpq 15.9+ no longer reads that error), ...: none of these match.
  static bool definite_tls_failure(std::string_view libpq_message) noexcept {
    static constexpr std::string_view definite[] = {
        "but SSL was required",       // 'N' to SSLRequest, sslmode require / verify-ca / verify-full
        "but it was required",        // the same for gssencmode=require
        "certificate verify failed",  // OpenSSL: the chain does not verify against sslrootcert
        "does not match host name",   // verify-full: the certificate names another host
        "host name must be specified",
        "from server certificate",  // no usable name in the certificate
        "SSL certificate's",        // ... missing or malformed name entries
        "certificate file",         // sslrootcert / sslcert missing or unreadable
        "private key file",         // sslkey missing, unreadable, too open, or not the cert's
        "private SSL key",          // sslkey from an engine
        "SSL engine",
        "SSL protocol version",  // ssl_min/max_protocol_version invalid or unsupported
        " alert ",               // OpenSSL: the server sent an alert ("tlsv1 alert unknown ca", ...)
    };
    for (std::string_view d : definite) {
      if (libpq_message.find(d) != std::string_view::npos) return true;
    }
    return false;
  }

  Result<std::string, ReplicationError> escape(std::string_view s, char* (*fn)(PGconn*, const char*, size_t),
                                               std::string_view what) const {
    if (!conn_) return ReplicationError::fatal("cannot quote an " + std::string(what) + ": not connected");
    if (s.find('\0') != std::string_view::npos) {
      return ReplicationError::fatal("an SQL " + std::string(what) + " contains a NUL byte");
    }
    char* out = fn(conn_.get(), s.data(), s.size());
    if (out == nullptr) {
      return ReplicationError::fatal("cannot quote SQL " + std::string(what) + " '" + detail::printable(s) +
                                     "': " + detail::one_line(PQerrorMessage(conn_.get())));
    }
    std::string quoted(out);
    PQfreemem(out);
    return quoted;
  }

  struct Finish {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
  };
  std::unique_ptr<PGconn, Finish> conn_;
  ConnectionKind kind_ = ConnectionKind::normal;
  std::string password_;  // only to scrub it from messages
};

// ---------------------------------------------------------------------------------------------
// IDENTIFY_SYSTEM and server capabilities

struct SystemIdentity {
  std::string systemid;  // the cluster's system identifier (a uint64 in decimal)
  std::uint32_t timeline = 0;
  Lsn xlogpos;         // current WAL flush position
  std::string dbname;  // database of this replication connection
};

[[nodiscard]] inline Result<SystemIdentity, ReplicationError> identify_system(PgConnection& repl) {
  if (repl.kind() != ConnectionKind::replication) {
    return ReplicationError::fatal("IDENTIFY_SYSTEM needs a replication connection");
  }
  auto res = repl.exec("IDENTIFY_SYSTEM", "IDENTIFY_SYSTEM");
  if (!res) return res.error();
  if (res->rows() != 1 || res->columns() < 4) {
    return ReplicationError::fatal("IDENTIFY_SYSTEM: unexpected result shape (" + std::to_string(res->rows()) +
                                       " rows, " + std::to_string(res->columns()) + " columns)",
                                   "08P01");
  }
  SystemIdentity id;
  id.systemid = std::string(res->value(0, 0));
  const auto tli = res->value(0, 1);
  const auto [end, ec] = std::from_chars(tli.data(), tli.data() + tli.size(), id.timeline);
  if (ec != std::errc{} || end != tli.data() + tli.size() || id.systemid.empty()) {
    return ReplicationError::fatal("IDENTIFY_SYSTEM: malformed systemid/timeline", "08P01");
  }
  auto lsn = Lsn::parse(res->value(0, 2));
  if (!lsn) return ReplicationError::fatal("IDENTIFY_SYSTEM: malformed xlogpos", "08P01");
  id.xlogpos = *lsn;
  id.dbname = std::string(res->value(0, 3));
  return id;
}

// Highest pgoutput proto_version a server supports: 1 (10-13), 2 (14), 3 (15), 4 (16+).
[[nodiscard]] constexpr int max_proto_version(int server_version) noexcept {
  if (server_version >= 160000) return 4;
  if (server_version >= 150000) return 3;
  if (server_version >= 140000) return 2;
  return 1;
}

// "15.20" from 150020, "9.6.24" style for older servers.
[[nodiscard]] inline std::string format_server_version(int v) {
  if (v >= 100000) return std::to_string(v / 10000) + "." + std::to_string(v % 10000);
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

}  // namespace replicator
