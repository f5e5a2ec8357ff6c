// Replication slots and publications: validate a slot name, reuse or create a logical slot
// (checking plugin and database), drop it, and check that a publication exists and list its tables.
//   SlotOptions opts; opts.name = "cdc_orders";
//   auto slot = ensure_slot(mgmt, repl, opts, identity.dbname);  // Result<SlotInfo, ReplicationError>
//   auto pub = check_publication(mgmt, "orders_pub");            // fatal error with the CREATE PUBLICATION to run
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/core/slot_name.hpp"
#include "replicator/pg/detail/libpq_text.hpp"
#include "replicator/pg/connection.hpp"

namespace replicator {

// What CREATE_REPLICATION_SLOT does with the snapshot it builds.
enum class SnapshotAction : std::uint8_t {
  nothing,          // stream changes only (the usual CDC case)
  export_snapshot,  // export it (snapshot_name) for an initial copy; valid until the next command on `repl`
};

struct SlotOptions {
  std::string name;
  std::string plugin = "pgoutput";
  bool create_if_missing = true;
  bool temporary = false;  // dropped by the server when the replication connection closes
  bool two_phase = false;  // decode PREPARE TRANSACTION (needs PostgreSQL 15)
  // A failover slot (PostgreSQL 17+): synced to standbys (sync_replication_slots), so streaming can
  // go on from a promoted standby. An existing slot without it is switched on with ALTER_REPLICATION_SLOT.
  bool failover = false;
  SnapshotAction snapshot = SnapshotAction::nothing;
};

struct SlotInfo {
  std::string name;
  std::string plugin;
  std::string database;
  bool temporary = false;
  bool created = false;  // created by this call
  bool two_phase = false;
  bool active = false;
  int active_pid = 0;
  Lsn consistent_point;       // set when created: streaming starts here
  std::string snapshot_name;  // set when created with SnapshotAction::export_snapshot
  Lsn confirmed_flush;        // the server's confirmed_flush_lsn (created: the consistent point)
  Lsn restart_lsn;
  std::string wal_status;  // reserved / extended / unreserved / lost ("" when created here)
  bool failover = false;   // PostgreSQL 17+
  // Why the server invalidated the slot (PostgreSQL 17+: wal_removed, rows_removed,
  // wal_level_insufficient; 18: idle_timeout); "" when valid or on older servers (see wal_status).
  std::string invalidation_reason;
};

// The majors this library is built and tested against (logical replication source).
inline constexpr int kMinSupportedMajor = 14;
inline constexpr int kMaxTestedMajor = 18;

// The replication source must be PostgreSQL 14 or later: 13 and older lack pgoutput's binary and
// messages options, streaming and the slot columns the checks read. Checked where a source
// connection is first used for replication (transport open, slot creation), not for every connection.
[[nodiscard]] inline Status check_supported_server(int server_version) {
  if (server_version >= kMinSupportedMajor * 10000) return ok_status();
  return ReplicationError::fatal("PostgreSQL " + format_server_version(server_version) +
                                     " is not supported as a replication source: replicator supports PostgreSQL " +
                                     std::to_string(kMinSupportedMajor) + " to " + std::to_string(kMaxTestedMajor) +
                                     "; upgrade the server",
                                 "0A000");
}

// Feature checks shared by slot creation and the transport, each naming the config key.
[[nodiscard]] inline Status check_two_phase_supported(int server_version) {
  if (server_version >= 150000) return ok_status();
  return ReplicationError::fatal("two_phase: pgoutput on PostgreSQL " + format_server_version(server_version) +
                                     " cannot decode prepared transactions (two_phase needs PostgreSQL 15 or later); "
                                     "set two_phase: false",
                                 "0A000");
}
[[nodiscard]] inline Status check_failover_supported(int server_version) {
  if (server_version >= 170000) return ok_status();
  return ReplicationError::fatal(
      "postgresql_failover_slot: failover slots need PostgreSQL 17 or later; the server is "
      "PostgreSQL " +
          format_server_version(server_version) + "; set postgresql_failover_slot: false",
      "0A000");
}

// The server's slot name rule (slot_name.hpp), as a fatal error naming the name.
[[nodiscard]] inline Status validate_slot_name(std::string_view name) {
  const SlotNameProblem p = slot_name_problem(name);
  if (p == SlotNameProblem::none) return ok_status();
  return ReplicationError::fatal(
      "invalid replication slot name \"" + detail::printable(name) + "\": " + std::string(describe(p)), "42602");
}

namespace detail {
inline Lsn lsn_or_zero(std::optional<std::string_view> text) {
  if (!text) return Lsn{};
  auto lsn = Lsn::parse(*text);
  return lsn ? *lsn : Lsn{};
}
}  // namespace detail

// The slot as pg_replication_slots shows it, or std::nullopt when there is none. Any connection.
[[nodiscard]] inline Result<std::optional<SlotInfo>, ReplicationError> find_slot(PgConnection& conn,
                                                                                 std::string_view name) {
  if (auto st = validate_slot_name(name); !st) return st.error();
  const std::string params[] = {std::string(name)};
  // wal_status appeared in PostgreSQL 13, two_phase in 14, failover and invalidation_reason in 17.
  const int version = conn.server_version();
  const std::string sql = std::string(
                              "SELECT slot_name, plugin, slot_type, database, temporary, active, active_pid, "
                              "confirmed_flush_lsn, restart_lsn, ") +
                          (version >= 130000 ? "wal_status, " : "NULL, ") +
                          (version >= 140000 ? "two_phase, " : "false, ") +
                          (version >= 170000 ? "failover, invalidation_reason " : "false, NULL ") +
                          "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1";
  auto res = conn.exec_params(sql, params, "looking up replication slot \"" + std::string(name) + "\"");
  if (!res) return res.error();
  if (res->rows() == 0) return std::optional<SlotInfo>{};
  SlotInfo s;
  s.name = std::string(res->value(0, 0));
  s.plugin = std::string(res->value(0, 1));
  if (res->value(0, 2) != "logical") s.plugin = "(physical slot)";
  s.database = std::string(res->value(0, 3));
  s.temporary = res->value(0, 4) == "t";
  s.active = res->value(0, 5) == "t";
  if (auto pid = res->get(0, 6)) s.active_pid = std::atoi(std::string(*pid).c_str());
  s.confirmed_flush = detail::lsn_or_zero(res->get(0, 7));
  s.restart_lsn = detail::lsn_or_zero(res->get(0, 8));
  s.wal_status = std::string(res->value(0, 9));
  s.two_phase = res->value(0, 10) == "t";
  s.failover = res->value(0, 11) == "t";
  s.invalidation_reason = std::string(res->value(0, 12));
  return std::optional<SlotInfo>{std::move(s)};
}

// Why a slot can no longer be streamed from: the server's invalidation_reason (17+) or, on older
// servers, wal_status = lost. "" while the slot is usable.
[[nodiscard]] inline std::string slot_invalidation(const SlotInfo& s) {
  if (!s.invalidation_reason.empty()) return "invalidation_reason = " + detail::printable(s.invalidation_reason);
  if (s.wal_status == "lost") return "wal_status = lost";
  return {};
}

// What an invalidated slot's fatal error says: the reason and what to do.
[[nodiscard]] inline ReplicationError slot_invalidated_error(const SlotInfo& s) {
  const std::string& r = s.invalidation_reason;
  std::string why = r == "wal_removed"              ? "the server removed WAL it still needed (max_slot_wal_keep_size)"
                    : r == "rows_removed"           ? "rows it still needed were removed (a conflict on a standby)"
                    : r == "wal_level_insufficient" ? "wal_level on the primary is below logical"
                    : r == "idle_timeout"           ? "it was inactive longer than idle_replication_slot_timeout"
                    : r.empty()                     ? "the server removed WAL it still needed"
                                                    : "of " + detail::printable(r);
  return ReplicationError::fatal("replication slot \"" + s.name + "\" is invalidated (" + slot_invalidation(s) +
                                     "): " + why +
                                     ", so changes were lost. Drop and re-create the slot and re-sync "
                                     "the target",
                                 "55000");
}

// CREATE_REPLICATION_SLOT on the replication connection that will stream (required for
// TEMPORARY slots, and for using an exported snapshot).
[[nodiscard]] inline Result<SlotInfo, ReplicationError> create_slot(PgConnection& repl, const SlotOptions& opts) {
  if (auto st = validate_slot_name(opts.name); !st) return st.error();
  if (repl.kind() != ConnectionKind::replication) {
    return ReplicationError::fatal("CREATE_REPLICATION_SLOT needs a replication connection");
  }
  if (opts.plugin.empty() || opts.plugin.find('\0') != std::string::npos) {
    return ReplicationError::fatal("invalid output plugin name");
  }
  const int version = repl.server_version();
  if (auto st = check_supported_server(version); !st) return st.error();
  if (opts.two_phase) {
    if (auto st = check_two_phase_supported(version); !st) return st.error();
  }
  if (opts.failover) {
    if (auto st = check_failover_supported(version); !st) return st.error();
    if (opts.temporary) {
      return ReplicationError::fatal("postgresql_failover_slot: a temporary slot cannot be a failover slot", "22023");
    }
  }
  std::string sql = "CREATE_REPLICATION_SLOT " + detail::quote_ident_plain(opts.name);
  if (opts.temporary) sql += " TEMPORARY";
  sql += " LOGICAL " + detail::quote_ident_plain(opts.plugin);
  const bool exporting = opts.snapshot == SnapshotAction::export_snapshot;
  if (version >= 150000) {  // PostgreSQL 15 option list
    sql += exporting ? " (SNAPSHOT 'export'" : " (SNAPSHOT 'nothing'";
    if (opts.two_phase) sql += ", TWO_PHASE true";
    if (opts.failover) sql += ", FAILOVER true";  // 17+, checked above
    sql += ')';
  } else {  // the older keyword syntax
    sql += exporting ? " EXPORT_SNAPSHOT" : " NOEXPORT_SNAPSHOT";
  }
  auto res = repl.exec(sql, "creating replication slot \"" + opts.name + "\"");
  if (!res) return res.error();
  if (res->rows() != 1 || res->columns() < 4) {
    return ReplicationError::fatal("CREATE_REPLICATION_SLOT: unexpected result shape", "08P01");
  }
  SlotInfo s;
  s.name = std::string(res->value(0, 0));
  auto lsn = Lsn::parse(res->value(0, 1));
  if (!lsn) return ReplicationError::fatal("CREATE_REPLICATION_SLOT: malformed consistent_point", "08P01");
  s.consistent_point = *lsn;
  s.confirmed_flush = *lsn;
  s.snapshot_name = std::string(res->value(0, 2));
  s.plugin = std::string(res->value(0, 3));
  s.temporary = opts.temporary;
  s.two_phase = opts.two_phase;
  s.failover = opts.failover;
  s.created = true;
  return s;
}

// DROP_REPLICATION_SLOT (WAIT: if another process holds it, wait for it to let go instead of failing).
[[nodiscard]] inline Status drop_slot(PgConnection& repl, std::string_view name, bool wait = true) {
  if (auto st = validate_slot_name(name); !st) return st.error();
  if (repl.kind() != ConnectionKind::replication) {
    return ReplicationError::fatal("DROP_REPLICATION_SLOT needs a replication connection");
  }
  std::string sql = "DROP_REPLICATION_SLOT " + detail::quote_ident_plain(name);
  if (wait) sql += " WAIT";
  auto res = repl.exec(sql, "dropping replication slot \"" + std::string(name) + "\"");
  if (!res) return res.error();
  return ok_status();
}

// ALTER_REPLICATION_SLOT "name" (FAILOVER true|false), PostgreSQL 17+.
[[nodiscard]] inline Status alter_slot_failover(PgConnection& repl, std::string_view name, bool failover) {
  if (auto st = validate_slot_name(name); !st) return st.error();
  if (repl.kind() != ConnectionKind::replication) {
    return ReplicationError::fatal("ALTER_REPLICATION_SLOT needs a replication connection");
  }
  if (auto st = check_failover_supported(repl.server_version()); !st) return st.error();
  const std::string sql =
      "ALTER_REPLICATION_SLOT " + detail::quote_ident_plain(name) + " (FAILOVER " + (failover ? "true" : "false") + ")";
  auto res = repl.exec(sql, "setting FAILOVER on replication slot \"" + std::string(name) + "\"");
  if (!res) return res.error();
  return ok_status();
}

// Reuses the slot when it exists (it must be logical, use opts.plugin, belong to `database` and
// still have its WAL); creates it on `repl` when missing and allowed. Temporary slots are always
// created. Every mismatch is a fatal error saying what to do.
[[nodiscard]] inline Result<SlotInfo, ReplicationError> ensure_slot(PgConnection& mgmt, PgConnection& repl,
                                                                    const SlotOptions& opts,
                                                                    std::string_view database) {
  if (auto st = validate_slot_name(opts.name); !st) return st.error();
  if (auto st = check_supported_server(repl.server_version()); !st) return st.error();
  auto found = find_slot(mgmt, opts.name);
  if (!found) return found.error();
  const std::string q = "\"" + opts.name + "\"";
  if (!found->has_value()) {
    if (opts.create_if_missing || opts.temporary) {
      auto created = create_slot(repl, opts);
      if (!created && created.error().sqlstate == "42710") {
        // Missing a moment ago, there now: another session is creating it, typically our own
        // previous connection, cut after it sent CREATE_REPLICATION_SLOT. The next attempt sees
        // the slot and decides (reuse it, or wait for a temporary one to go with its session).
        return ReplicationError::retry("replication slot " + q + " appeared while creating it (another session, " +
                                           "such as a previous connection that was cut, is creating it)",
                                       "55006");
      }
      return created;
    }
    return ReplicationError::fatal("replication slot " + q +
                                       " does not exist and creating it is turned off; create it with: "
                                       "SELECT pg_create_logical_replication_slot('" +
                                       opts.name + "', '" + detail::printable(opts.plugin) +
                                       "'); or enable create_slot",
                                   "42704");
  }
  SlotInfo& s = **found;
  if (s.temporary) {
    // Only its owner session can use a temporary slot, and it goes away when that session ends
    // (also our own previous session, shortly after a reconnect): retry.
    return ReplicationError::retry(
        "replication slot " + q + " is a temporary slot of another session (pid " + std::to_string(s.active_pid) + ")",
        "55006");
  }
  if (opts.temporary) {
    return ReplicationError::fatal(
        "cannot create temporary replication slot " + q + ": a permanent slot with that name exists; pick another name",
        "42710");
  }
  if (s.plugin != opts.plugin) {
    return ReplicationError::fatal("replication slot " + q + " uses output plugin \"" + detail::printable(s.plugin) +
                                       "\", not \"" + detail::printable(opts.plugin) +
                                       "\"; drop it (SELECT pg_drop_replication_slot('" + opts.name +
                                       "');) or use another slot name",
                                   "42710");
  }
  if (s.database != database) {
    return ReplicationError::fatal("replication slot " + q + " belongs to database \"" + detail::printable(s.database) +
                                       "\", not \"" + detail::printable(database) +
                                       "\"; slots are per database: use another slot name",
                                   "42710");
  }
  if (!slot_invalidation(s).empty()) return slot_invalidated_error(s);
  if (opts.failover && !s.failover) {
    // Made without FAILOVER (by an older setup, or by the initial snapshot): switch it on.
    if (auto st = alter_slot_failover(repl, opts.name, true); !st) return st.error();
    s.failover = true;
  }
  return s;
}

struct TableName {
  std::string schema;
  std::string name;
  friend bool operator==(const TableName&, const TableName&) = default;
};

struct PublicationInfo {
  std::string name;
  bool all_tables = false;
  bool inserts = true;
  bool updates = true;
  bool deletes = true;
  bool truncates = true;
  std::vector<TableName> tables;  // from pg_publication_tables, sorted
};

// Checks that the publication exists in the connection's database and lists its tables.
// Missing: a fatal error naming it, with the CREATE PUBLICATION statement to run.
[[nodiscard]] inline Result<PublicationInfo, ReplicationError> check_publication(PgConnection& mgmt,
                                                                                 std::string_view name) {
  if (name.empty() || name.find('\0') != std::string_view::npos) {
    return ReplicationError::fatal("invalid publication name \"" + detail::printable(name) + "\"", "42602");
  }
  const std::string params[] = {std::string(name)};
  const std::string context = "checking publication \"" + detail::printable(name) + "\"";
  auto res = mgmt.exec_params(
      "SELECT pubname, puballtables, pubinsert, pubupdate, pubdelete, pubtruncate, current_database() "
      "FROM pg_catalog.pg_publication WHERE pubname = $1",
      params, context);
  if (!res) return res.error();
  if (res->rows() == 0) {
    auto quoted = mgmt.quote_identifier(name);
    if (!quoted) return quoted.error();
    auto db = mgmt.exec("SELECT current_database()", context);
    const std::string dbname = db ? std::string(db->value(0, 0)) : std::string("?");
    return ReplicationError::fatal("publication \"" + detail::printable(name) + "\" does not exist in database \"" +
                                       detail::printable(dbname) + "\"; create it with: CREATE PUBLICATION " + *quoted +
                                       " FOR ALL TABLES; (or FOR TABLE ... to publish only some tables)",
                                   "42704");
  }
  PublicationInfo p;
  p.name = std::string(res->value(0, 0));
  p.all_tables = res->value(0, 1) == "t";
  p.inserts = res->value(0, 2) == "t";
  p.updates = res->value(0, 3) == "t";
  p.deletes = res->value(0, 4) == "t";
  p.truncates = res->value(0, 5) == "t";
  auto tables = mgmt.exec_params(
      "SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2", params,
      context);
  if (!tables) return tables.error();
  for (int r = 0; r < tables->rows(); ++r) {
    p.tables.push_back({std::string(tables->value(r, 0)), std::string(tables->value(r, 1))});
  }
  return p;
}

}  // namespace replicator
