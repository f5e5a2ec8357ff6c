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

#include "replicator/error.hpp"
#include "replicator/lsn.hpp"
#include "replicator/transport/detail/libpq_text.hpp"
#include "replicator/transport/libpq_connection.hpp"

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
  std::string wal_status;     // reserved / extended / unreserved / lost ("" when created here)
};

// The server's rule (ReplicationSlotValidateName): 1-63 characters of a-z, 0-9 and '_'.
// Checked before any SQL is sent, so a name can never inject anything.
[[nodiscard]] inline Status validate_slot_name(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return ReplicationError::fatal("invalid replication slot name \"" + detail::printable(name) + "\": " +
                                   std::string(why), "42602");
  };
  if (name.empty()) return bad("it is empty");
  if (name.size() > 63) return bad("it is longer than 63 characters");
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return bad("use only lower-case letters, digits and underscores");
    }
  }
  return ok_status();
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
  // wal_status appeared in PostgreSQL 13, two_phase in 14.
  const int version = conn.server_version();
  const std::string sql = std::string("SELECT slot_name, plugin, slot_type, database, temporary, active, active_pid, "
                                      "confirmed_flush_lsn, restart_lsn, ") +
                          (version >= 130000 ? "wal_status, " : "NULL, ") +
                          (version >= 140000 ? "two_phase " : "false ") +
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
  return std::optional<SlotInfo>{std::move(s)};
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
  if (opts.two_phase && version < 150000) {
    return ReplicationError::fatal("two-phase replication slots need PostgreSQL 15 or later (server is " +
                                   format_server_version(version) + ")");
  }
  std::string sql = "CREATE_REPLICATION_SLOT " + detail::quote_ident_plain(opts.name);
  if (opts.temporary) sql += " TEMPORARY";
  sql += " LOGICAL " + detail::quote_ident_plain(opts.plugin);
  const bool exporting = opts.snapshot == SnapshotAction::export_snapshot;
  if (version >= 150000) {  // PostgreSQL 15 option list
    sql += exporting ? " (SNAPSHOT 'export'" : " (SNAPSHOT 'nothing'";
    if (opts.two_phase) sql += ", TWO_PHASE true";
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

// Reuses the slot when it exists (it must be logical, use opts.plugin, belong to `database` and
// still have its WAL); creates it on `repl` when missing and allowed. Temporary slots are always
// created. Every mismatch is a fatal error saying what to do.
[[nodiscard]] inline Result<SlotInfo, ReplicationError> ensure_slot(PgConnection& mgmt, PgConnection& repl,
                                                                   const SlotOptions& opts,
                                                                   std::string_view database) {
  if (auto st = validate_slot_name(opts.name); !st) return st.error();
  auto found = find_slot(mgmt, opts.name);
  if (!found) return found.error();
  const std::string q = "\"" + opts.name + "\"";
  if (!found->has_value()) {
    if (opts.create_if_missing || opts.temporary) return create_slot(repl, opts);
    return ReplicationError::fatal(
        "replication slot " + q + " does not exist and creating it is turned off; create it with: "
        "SELECT pg_create_logical_replication_slot('" + opts.name + "', '" + detail::printable(opts.plugin) +
        "'); or enable create_slot", "42704");
  }
  const SlotInfo& s = **found;
  if (s.temporary) {
    // Only its owner session can use a temporary slot, and it goes away when that session ends
    // (also our own previous session, shortly after a reconnect): retry.
    return ReplicationError::retry("replication slot " + q + " is a temporary slot of another session (pid " +
                                   std::to_string(s.active_pid) + ")", "55006");
  }
  if (opts.temporary) {
    return ReplicationError::fatal("cannot create temporary replication slot " + q +
                                   ": a permanent slot with that name exists; pick another name", "42710");
  }
  if (s.plugin != opts.plugin) {
    return ReplicationError::fatal("replication slot " + q + " uses output plugin \"" + detail::printable(s.plugin) +
                                   "\", not \"" + detail::printable(opts.plugin) +
                                   "\"; drop it (SELECT pg_drop_replication_slot('" + opts.name +
                                   "');) or use another slot name", "42710");
  }
  if (s.database != database) {
    return ReplicationError::fatal("replication slot " + q + " belongs to database \"" + detail::printable(s.database) +
                                   "\", not \"" + detail::printable(database) +
                                   "\"; slots are per database: use another slot name", "42710");
  }
  if (s.wal_status == "lost") {
    return ReplicationError::fatal("replication slot " + q + " is invalidated: the server removed WAL it still "
                                   "needed (wal_status = lost); changes were lost. Drop and re-create the slot "
                                   "and re-sync the target", "55000");
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
                                   " FOR ALL TABLES; (or FOR TABLE ... to publish only some tables)", "42704");
  }
  PublicationInfo p;
  p.name = std::string(res->value(0, 0));
  p.all_tables = res->value(0, 1) == "t";
  p.inserts = res->value(0, 2) == "t";
  p.updates = res->value(0, 3) == "t";
  p.deletes = res->value(0, 4) == "t";
  p.truncates = res->value(0, 5) == "t";
  auto tables = mgmt.exec_params(
      "SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2",
      params, context);
  if (!tables) return tables.error();
  for (int r = 0; r < tables->rows(); ++r) {
    p.tables.push_back({std::string(tables->value(r, 0)), std::string(tables->value(r, 1))});
  }
  return p;
}

}  // namespace replicator
