// Test helper for the real PostgreSQL started by scripts/with_postgres.sh: connect with the PG*
// environment, run SQL (throws std::runtime_error on failure), make unique object names.
//   replicator::test::PgSession db;                       // PGHOST/PGPORT/PGUSER/PGDATABASE
//   const auto table = replicator::test::unique_name("t"); // "t_4242_1_9f3a..."; valid slot name too
//   db.exec("CREATE TABLE " + db.quote_ident(table) + " (id int primary key)");
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace replicator::test {

// r.start() (a replicator, or anything whose start() returns a Status), retried every 200 ms up to
// 50 times while the error is retryable: the previous client's walsender may hold the slot for a
// moment after it went away (55006), and the program retries the same way.
template <class R>
auto start_retrying(R& r) {
  auto st = r.start();
  for (int attempt = 1; attempt < 50 && !st && st.error().retryable(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    st = r.start();
  }
  return st;
}

// Value of an environment variable, or `fallback` when unset or empty.
inline std::string env_or(const char* name, std::string_view fallback = {}) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : std::string(fallback);
}

// True when the PG* variables of scripts/with_postgres.sh are present.
inline bool have_server() { return !env_or("PGPORT").empty() && !env_or("PGHOST").empty(); }

// A name no other test (or test process) uses: prefix_pid_counter_random, lower case, at most 63
// characters, only [a-z0-9_], so it is a valid table, publication, role and slot name.
inline std::string unique_name(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  static const std::uint32_t salt = [] {
    std::random_device rd;
    return static_cast<std::uint32_t>(rd()) ^
           static_cast<std::uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }();
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (char c : prefix) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') out += c;
    else if (c >= 'A' && c <= 'Z') out += static_cast<char>(c - 'A' + 'a');
    else out += '_';
  }
  if (out.size() > 30) out.resize(30);
  out += '_';
  out += std::to_string(::getpid());
  out += '_';
  out += std::to_string(counter.fetch_add(1));
  out += '_';
  for (int shift = 28; shift >= 0; shift -= 4) out += hex[(salt >> shift) & 0xF];
  if (out.size() > 63) out.resize(63);
  return out;
}

// Rows of text values; std::nullopt for SQL NULL.
using Rows = std::vector<std::vector<std::optional<std::string>>>;

// One blocking libpq connection. Extra keyword/value pairs override the PG* environment,
// e.g. {{"replication", "database"}} or {{"user", "someone"}}.
class PgSession {
 public:
  explicit PgSession(const std::vector<std::pair<std::string, std::string>>& params = {}) {
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const auto& [k, v] : params) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_.reset(PQconnectdbParams(keys.data(), values.data(), 0));
    if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
      throw std::runtime_error("test connection failed: " +
                               std::string(conn_ ? PQerrorMessage(conn_.get()) : "out of memory"));
    }
  }

  [[nodiscard]] PGconn* get() const noexcept { return conn_.get(); }
  [[nodiscard]] int backend_pid() const noexcept { return PQbackendPID(conn_.get()); }
  // server_version_num, e.g. 150018: tests that run against every major branch on it.
  [[nodiscard]] int server_version() const noexcept { return PQserverVersion(conn_.get()); }

  // Runs one or more statements; throws with the server's message on failure.
  void exec(const std::string& sql) const { (void)query(sql); }

  // Runs a statement and returns its rows (empty for commands).
  Rows query(const std::string& sql) const {
    std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn_.get(), sql.c_str()), &PQclear);
    const auto status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error("SQL failed: " + sql + ": " + PQerrorMessage(conn_.get()));
    }
    Rows rows;
    for (int r = 0; r < PQntuples(res.get()); ++r) {
      auto& row = rows.emplace_back();
      for (int c = 0; c < PQnfields(res.get()); ++c) {
        if (PQgetisnull(res.get(), r, c)) row.emplace_back(std::nullopt);
        else row.emplace_back(std::string(PQgetvalue(res.get(), r, c), PQgetlength(res.get(), r, c)));
      }
    }
    return rows;
  }

  // First column of the first row, std::nullopt for NULL or no rows.
  std::optional<std::string> scalar(const std::string& sql) const {
    auto rows = query(sql);
    if (rows.empty() || rows.front().empty()) return std::nullopt;
    return rows.front().front();
  }

  [[nodiscard]] std::string quote_ident(std::string_view name) const { return escape(name, &PQescapeIdentifier); }
  [[nodiscard]] std::string quote_literal(std::string_view text) const { return escape(text, &PQescapeLiteral); }

 private:
  std::string escape(std::string_view s, char* (*fn)(PGconn*, const char*, size_t)) const {
    char* out = fn(conn_.get(), s.data(), s.size());
    if (out == nullptr) throw std::runtime_error(std::string("escaping failed: ") + PQerrorMessage(conn_.get()));
    std::string result(out);
    PQfreemem(out);
    return result;
  }

  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_{nullptr, &PQfinish};
};

// Runs `sql` when the scope ends (cleanup of roles, slots, tables), ignoring errors.
class CleanupSql {
 public:
  explicit CleanupSql(std::string sql) : sql_(std::move(sql)) {}
  CleanupSql(const CleanupSql&) = delete;
  CleanupSql& operator=(const CleanupSql&) = delete;
  ~CleanupSql() {
    try {
      PgSession db;
      db.exec(sql_);
    } catch (...) {}
  }

 private:
  std::string sql_;
};

}  // namespace replicator::test
