// PostgresPositionStore: the position as one row per slot in a PostgreSQL table (in the source
// database or any other), created if missing. Needs libpq (//:replicator_libpq).
//   ConnectionConfig cfg;  cfg.host = "127.0.0.1";  cfg.dbname = "app";
//   PostgresPositionStore store(cfg, "my_slot", {.schema = "replicator", .table = "positions"});
//   auto p = store.load();  store.save(position);   // upsert on slot_name
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/position/position.hpp"
#include "replicator/pg/connection.hpp"

namespace replicator {

struct PostgresPositionStoreOptions {
  std::string schema = "public";
  std::string table = "replicator_positions";
  bool create_table = true;  // CREATE TABLE IF NOT EXISTS on first use (else a missing table is an error)
};

class PostgresPositionStore {
 public:
  PostgresPositionStore(ConnectionConfig config, std::string slot_name, PostgresPositionStoreOptions options = {})
      : config_(std::move(config)), slot_(std::move(slot_name)), options_(std::move(options)) {}

  // The row of this store's slot; nullopt when there is none yet.
  [[nodiscard]] Result<std::optional<Position>, ReplicationError> load() {
    if (auto st = ready(); !st) return st.error();
    const std::string params[] = {slot_};
    auto res = conn_->exec_params(select_sql_, params, "position store: load");
    if (!res) return lost(res.error());
    if (res->rows() == 0) return std::optional<Position>{};
    Position p;
    p.slot = slot_;
    auto lsn = Lsn::parse(res->value(0, 0));
    if (!lsn) return bad_row("lsn");
    p.lsn = *lsn;
    if (!parse(res->value(0, 1), p.timeline)) return bad_row("timeline");
    if (!parse(res->value(0, 2), p.system_id)) return bad_row("system_id");
    std::int64_t us = 0;
    if (!parse(res->value(0, 3), us)) return bad_row("saved_at");
    p.saved_at = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::microseconds(us)));
    return std::optional<Position>{std::move(p)};
  }

  // Upserts the row (one statement, so it is atomic and durable once the server committed it).
  Status save(const Position& p) {
    if (!p.slot.empty() && p.slot != slot_) {
      return ReplicationError::fatal("position store for slot \"" + slot_ + "\" asked to save a position of slot \"" +
                                     p.slot + "\"");
    }
    if (auto st = ready(); !st) return st;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(p.saved_at.time_since_epoch()).count();
    const std::string params[] = {slot_, p.lsn.to_string(), std::to_string(p.timeline), std::to_string(p.system_id),
                                  std::to_string(us)};
    auto res = conn_->exec_params(upsert_sql_, params, "position store: save");
    if (!res) return lost(res.error());
    return ok_status();
  }

  [[nodiscard]] const std::string& slot_name() const noexcept { return slot_; }
  // "schema"."table" as quoted in the SQL (valid once connected).
  [[nodiscard]] const std::string& qualified_table() const noexcept { return qualified_; }
  void disconnect() noexcept { conn_.reset(); }

 private:
  // Connects (again) and prepares the SQL; creates the table the first time when asked to.
  Status ready() {
    if (conn_ && conn_->is_open()) return ok_status();
    conn_.reset();
    if (!is_valid_slot_name(slot_)) {
      return ReplicationError::fatal("position store: invalid slot name (1-63 characters of a-z, 0-9, _)");
    }
    if (options_.schema.empty() || options_.table.empty())
      return ReplicationError::fatal("position store: schema and table names must not be empty");
    auto c = PgConnection::connect(config_, ConnectionKind::normal);
    if (!c) {
      // Say which connection failed: the position database may not be the source.
      ReplicationError e = c.error();
      e.message = "position store: " + e.message;
      return e;
    }
    conn_.emplace(std::move(*c));
    auto schema = conn_->quote_identifier(options_.schema);
    if (!schema) return fail(schema.error());
    auto table = conn_->quote_identifier(options_.table);
    if (!table) return fail(table.error());
    qualified_ = *schema + "." + *table;
    select_sql_ =
        "SELECT lsn::text, timeline::text, system_id::text, "
        "(extract(epoch FROM saved_at) * 1000000)::bigint::text FROM " +
        qualified_ + " WHERE slot_name = $1";
    upsert_sql_ = "INSERT INTO " + qualified_ +
                  " (slot_name, lsn, timeline, system_id, saved_at) VALUES ($1, $2::pg_lsn, $3::bigint, "
                  "$4::numeric, 'epoch'::timestamptz + $5::bigint * interval '1 microsecond') "
                  "ON CONFLICT (slot_name) DO UPDATE SET lsn = EXCLUDED.lsn, timeline = EXCLUDED.timeline, "
                  "system_id = EXCLUDED.system_id, saved_at = EXCLUDED.saved_at";
    if (options_.create_table && !created_) {
      // CREATE TABLE IF NOT EXISTS checks CREATE on the schema even when the table exists, so a
      // least-privilege role using a table its owner made would fail: look first.
      const std::string name[] = {qualified_};
      auto found =
          conn_->exec_params("SELECT pg_catalog.to_regclass($1) IS NOT NULL", name, "position store: look up table");
      if (!found) return fail(found.error());
      if (found->value(0, 0) == "t") created_ = true;
    }
    if (options_.create_table && !created_) {
      const std::string ddl = "CREATE TABLE IF NOT EXISTS " + qualified_ +
                              " (slot_name text PRIMARY KEY, lsn pg_lsn NOT NULL, timeline bigint NOT NULL, "
                              "system_id numeric(20,0) NOT NULL, saved_at timestamptz NOT NULL)";
      auto res = conn_->exec(ddl, "position store: create table");
      // Two stores creating the same table at once: one loses with 42P07 / 23505, the table exists.
      if (!res && res.error().sqlstate != "42P07" && res.error().sqlstate != "23505") return fail(res.error());
      created_ = true;
    }
    return ok_status();
  }

  // A retryable failure may have broken the connection: reconnect on the next call.
  ReplicationError lost(ReplicationError e) {
    if (e.retryable() || !conn_->is_open()) conn_.reset();
    return e;
  }
  Status fail(ReplicationError e) {
    conn_.reset();
    return e;
  }
  ReplicationError bad_row(const char* column) const {
    return ReplicationError::fatal("position store: the row of slot \"" + slot_ + "\" in " + qualified_ +
                                   " has an invalid " + column);
  }
  template <class T>
  static bool parse(std::string_view s, T& out) noexcept {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
  }

  ConnectionConfig config_;
  std::string slot_;
  PostgresPositionStoreOptions options_;
  std::optional<PgConnection> conn_;
  bool created_ = false;
  std::string qualified_;
  std::string select_sql_;
  std::string upsert_sql_;
};

}  // namespace replicator
