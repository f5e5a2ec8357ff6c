// PostgresApplySink: applies the stream to another PostgreSQL, each committed source transaction as
// one target transaction in commit order, exactly once by a replication origin on the target (the
// target commit carries the source commit's end LSN: pg_replication_origin_xact_setup). Its
// position_store() reads that origin, so the position lives in the target with the data. Needs
// libpq (//:replicator_postgres_apply). docs/apply.md.
//   PostgresApplySink sink(target_cfg, {.origin_name = "replicator_my_slot"});
//   auto store = sink.position_store();   // the origin: load() is where the target is
//   Replicator r(LibpqTransport(...), PgOutputEventDecoder{}, TransactionBatcher{}, std::move(store), std::move(sink));
#pragma once

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "replicator/batch/batch.hpp"
#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/pg/connection.hpp"
#include "replicator/pg/detail/libpq_text.hpp"
#include "replicator/position/position.hpp"

namespace replicator {

// What to do when an INSERT finds the row already there.
enum class ApplyConflictPolicy : std::uint8_t {
  error,       // stop with the row and the reason (default)
  skip,        // keep the target's row
  upsert,      // overwrite it with the source's row
  keep_newer,  // overwrite it only when its commit_time_column is older than the source commit
};
// What to do when an UPDATE or DELETE finds no row.
enum class ApplyMissingPolicy : std::uint8_t {
  error,   // stop with the row and the reason (default)
  skip,    // count it and go on
  insert,  // update: insert the new row instead (delete: nothing to insert, counted as skipped)
};
enum class ApplyConflictKind : std::uint8_t {
  insert_exists,   // INSERT of a key the target already has
  update_missing,  // UPDATE of a row the target does not have
  delete_missing,  // DELETE of a row the target does not have
  update_older,    // keep_newer: the target's row is newer than the source's update (not applied)
  delete_older,    // keep_newer: the target's row is newer than the source's delete (not applied)
};
inline constexpr std::size_t kApplyConflictKinds = 5;

constexpr std::string_view to_string(ApplyConflictPolicy p) noexcept {
  constexpr std::string_view names[] = {"error", "skip", "upsert", "keep_newer"};
  return names[static_cast<std::size_t>(p)];
}
constexpr std::string_view to_string(ApplyMissingPolicy p) noexcept {
  constexpr std::string_view names[] = {"error", "skip", "insert"};
  return names[static_cast<std::size_t>(p)];
}
constexpr std::string_view to_string(ApplyConflictKind k) noexcept {
  constexpr std::string_view names[] = {"insert_exists", "update_missing", "delete_missing", "update_older",
                                        "delete_older"};
  return names[static_cast<std::size_t>(k)];
}

// One conflict, as reported to PostgresApplyOptions::on_conflict_found.
struct ApplyConflict {
  ApplyConflictKind kind = ApplyConflictKind::insert_exists;
  std::string table;            // the target table, schema.table
  std::string key;              // (col, ...)=(value, ...) as the source sent them
  std::string_view resolution;  // "skipped", "updated", "inserted" ("error" never reaches the callback)
  Lsn commit_lsn;               // of the source transaction
};

// A source table applied into a differently named target table ("schema.table" both; a name
// without a schema is in public).
struct ApplyTableMapping {
  std::string source;
  std::string target;
};

struct PostgresApplyOptions {
  std::string origin_name;                   // the replication origin on the target (the program: "replicator_" + slot)
  std::vector<ApplyTableMapping> table_map;  // unlisted tables keep their source name
  ApplyConflictPolicy on_conflict = ApplyConflictPolicy::error;
  ApplyMissingPolicy on_missing = ApplyMissingPolicy::error;
  std::string commit_time_column;  // keep_newer: the target column (timestamptz) compared with the commit time
  // false: synchronous_commit = off, as native apply: safe because the source is only confirmed
  // up to the origin progress flush() forced to disk, and the origin moves with the data.
  bool synchronous_commit = false;
  // session_replication_role = replica, as native apply: no triggers, no FK checks on the target
  // (the source already checked them; the order of a transaction's rows is the source's). Needs superuser.
  bool replica_role = true;
  // libpq pipeline mode: a transaction's rows are sent without waiting for each one's result (a sync
  // every 256, while the server works through the one before). Their results are checked in order,
  // by the same rules; the COMMIT goes out behind them unless a result could make the transaction
  // fail here (an update or delete under apply_on_missing error), where it waits for them.
  // keep_newer and apply_on_missing insert, whose next statement depends on a row's result, always
  // wait per row.
  bool pipeline = true;
  // Parallel apply: connections (one thread each, one replication origin each: origin_name for the
  // first, origin_name + ":w<n>" for the others). 1: every transaction on one connection, as before.
  int workers = 1;
  // workers > 1: how long a transaction of a parallel run waits for a row lock before the rest of
  // the batch is applied again on one connection (a conflict the replica identity does not show,
  // e.g. a second unique index, can make an earlier transaction wait for a later one).
  std::chrono::milliseconds parallel_lock_timeout{500};
  // Each resolved conflict (log, metric). With workers > 1 it is called from the apply threads,
  // one call at a time.
  std::function<void(const ApplyConflict&)> on_conflict_found{};
};

struct ApplyStats {
  std::uint64_t transactions = 0;          // source transactions committed on the target
  std::uint64_t skipped_transactions = 0;  // already applied (at or below the origin): not applied again
  std::uint64_t inserts = 0, updates = 0, deletes = 0, truncates = 0;
  std::array<std::uint64_t, kApplyConflictKinds> conflicts{};  // by ApplyConflictKind
  [[nodiscard]] std::uint64_t conflicts_total() const noexcept {
    std::uint64_t n = 0;
    for (auto c : conflicts) n += c;
    return n;
  }
};

namespace detail {

// Compares a value as text where the type has no equality operator (json, xml, geometric types).
inline constexpr std::string_view kTextEqualityTypes =
    "'json','xml','point','line','lseg','box','path','polygon','circle'";

// The origin of apply worker `worker` (0: the sink's origin itself).
inline std::string apply_worker_origin(const std::string& origin, int worker) {
  return worker == 0 ? origin : origin + ":w" + std::to_string(worker);
}

// FNV-1a over column values as sent (kind, length, bytes): which rows of a stream are the same.
struct ValueHash {
  std::uint64_t h = 1469598103934665603ull;
  void mix(std::uint64_t v) noexcept {
    h ^= v;
    h *= 1099511628211ull;
  }
  void add(ColumnValueView v) noexcept {
    mix(static_cast<std::uint64_t>(v.kind) << 32 | v.bytes.size());
    for (std::byte b : v.bytes) mix(static_cast<std::uint64_t>(b));
  }
};

// Hash of (table, replica identity key values) of one side of a row change; nullopt when the row
// cannot be told apart by a key (REPLICA IDENTITY FULL or NOTHING, no key, an unchanged TOAST key).
inline std::optional<std::uint64_t> apply_key_hash(const RelationInfo& rel, const TupleView& tuple) {
  if (rel.replica_identity == ReplicaIdentity::full) return std::nullopt;
  ValueHash h;
  h.mix(rel.oid);
  std::size_t keys = 0, seen = 0;
  for (const ColumnInfo& c : rel.columns) keys += c.is_key ? 1 : 0;
  std::size_t i = 0;
  for (ColumnValueView v : tuple) {
    if (i >= rel.columns.size()) break;
    if (rel.columns[i++].is_key) {
      if (v.is_unchanged_toast()) return std::nullopt;
      ++seen;
      h.add(v);
    }
  }
  if (keys == 0 || seen != keys) return std::nullopt;  // keyless, or a short tuple
  return h.h;
}

// One target connection with its replication origin; PostgresApplySink runs one per worker, each
// on its own thread. `resume_origin`: the origin whose family (itself and its ":w<n>" workers)
// says where the apply resumes.
class ApplyEngine {
 public:
  ApplyEngine(ConnectionConfig cfg, PostgresApplyOptions options, std::string resume_origin = {})
      : cfg_(std::move(cfg)), opt_(std::move(options)), resume_origin_(std::move(resume_origin)) {
    if (cfg_.application_name == "replicator") cfg_.application_name = "replicator-apply";
    if (resume_origin_.empty()) resume_origin_ = opt_.origin_name;
  }

  Status write(const Batch& batch) {
    if (auto st = connect(); !st) return st;
    return apply_events(batch.events());
  }

  // Applies events in order on this connection (connected).
  Status apply_events(std::span<const ChangeEvent> events) {
    for (const ChangeEvent& e : events) {
      // Rows in flight are checked before anything else runs (and before their views go); a
      // COMMIT that goes out behind them checks them after it (send_commit()).
      if (in_flight() && !std::holds_alternative<RowChangeView>(e) &&
          !(std::holds_alternative<CommitEvent>(e) && commits_pipelined())) {
        if (auto st = drain(); !st) return fail(st.error());
      }
      auto st = std::visit([&](const auto& ev) { return apply(ev); }, e);
      if (!st) return fail(st.error());
    }
    if (auto st = drain(); !st) return fail(st.error());
    return ok_status();
  }

  // One whole source transaction (Begin .. Commit): its changes, then `turn()` (which waits until
  // the transactions before it committed), then its COMMIT. An error of `turn()` rolls it back.
  template <class Turn>
  Status apply_transaction(std::span<const ChangeEvent> events, Turn&& turn) {
    if (events.empty()) return ok_status();
    if (auto st = apply_events(events.first(events.size() - 1)); !st) return st;
    if (auto st = turn(); !st) return fail(st.error());
    return apply_events(events.last(1));
  }

  Status ensure_connected() { return connect(); }
  // The statement that opens a target transaction for a source one ("BEGIN", or with a SET LOCAL).
  void set_begin_sql(std::string sql) { begin_sql_ = std::move(sql); }
  // What the other workers committed: transactions below it are not applied again here.
  void raise_applied(Lsn lsn) noexcept {
    if (lsn > applied_) applied_ = lsn;
  }
  [[nodiscard]] bool in_transaction() const noexcept { return in_txn_; }

  // Whether rows of `rel` on different replica identity keys can be applied at once: every unique
  // index (and exclusion constraint) of the target table is on exactly the source's key columns.
  // Another one (a second unique column, a different primary key) could make a later transaction
  // see or miss a row an earlier one has not committed yet, which no key of the stream shows.
  Result<bool, ReplicationError> parallel_safe(const RelationInfo& rel) {
    if (auto st = connect(); !st) return st.error();
    auto t = target(rel);
    if (!t) return t.error();
    Target& known = **t;
    if (known.keyed_as_source) return *known.keyed_as_source;
    std::vector<std::string> key;
    for (const ColumnInfo& c : rel.columns)
      if (c.is_key) key.push_back(c.name);
    std::sort(key.begin(), key.end());
    const std::string params[] = {known.name};
    auto idx = conn_->exec_params(
        "SELECT i.indexrelid, a.attname, i.indexprs IS NOT NULL OR i.indpred IS NOT NULL "
        "FROM pg_catalog.pg_index i LEFT JOIN pg_catalog.pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) AND a.attnum > 0 "
        "WHERE i.indrelid = pg_catalog.to_regclass($1) AND (i.indisunique OR i.indisexclusion) ORDER BY 1, 2",
        params, "apply: reading the unique indexes of " + known.display);
    if (!idx) return idx.error();
    bool safe = true;
    std::vector<std::string> cols;
    for (int r = 0; r <= idx->rows() && safe; ++r) {
      if (r > 0 && (r == idx->rows() || idx->value(r, 0) != idx->value(r - 1, 0))) {
        if (cols != key) safe = false;  // sorted by name both
        cols.clear();
      }
      if (r == idx->rows()) break;
      if (idx->value(r, 2) == "t" || idx->is_null(r, 1)) safe = false;
      else cols.emplace_back(idx->value(r, 1));
    }
    known.keyed_as_source = safe;
    return safe;
  }

  // Rows written outside a source transaction (a snapshot's read events) commit here; then the
  // origin progress is forced to disk, which is what the source may be confirmed up to.
  Status flush() {
    if (!conn_) return ok_status();
    if (auto st = drain(); !st) return fail(st.error());
    if (in_txn_ && implicit_txn_) {
      if (auto r = conn_->exec("COMMIT", "apply: COMMIT"); !r) return fail(r.error());
      in_txn_ = implicit_txn_ = false;
    }
    if (applied_ == flushed_for_) return ok_status();
    auto r = conn_->exec("SELECT pg_catalog.pg_replication_origin_session_progress(true)",
                         "apply: flushing the origin progress");
    if (!r) return fail(r.error());
    // NULL: no transaction of this origin wrote anything yet. A source transaction whose every
    // change was skipped writes nothing, so the origin stays behind it: nothing of it to lose.
    // Flushing it flushes every target commit before it too (the WAL is one sequence); durable_
    // may already be past it (another origin of the family, read at connect).
    if (!r->is_null(0, 0)) {
      auto lsn = Lsn::parse(r->value(0, 0));
      if (!lsn) return fail(ReplicationError::fatal("apply: pg_replication_origin_session_progress is not an LSN"));
      if (*lsn > durable_) durable_ = *lsn;
    }
    flushed_for_ = applied_;
    return ok_status();
  }

  // The origin's progress on the target, flushed (nullopt: nothing applied yet).
  Result<std::optional<Position>, ReplicationError> load() {
    if (auto st = connect(); !st) return st.error();
    if (!durable_.is_valid()) return std::optional<Position>{};
    Position p;
    p.lsn = durable_;
    p.saved_at = std::chrono::system_clock::now();
    return std::optional<Position>{std::move(p)};
  }

  [[nodiscard]] const ApplyStats& stats() const noexcept { return stats_; }
  [[nodiscard]] Lsn applied_lsn() const noexcept { return applied_; }
  [[nodiscard]] Lsn durable_lsn() const noexcept { return durable_; }
  [[nodiscard]] const PostgresApplyOptions& options() const noexcept { return opt_; }
  void disconnect() noexcept { reset(); }

 private:
  // A parameter's source: a column of the new or old tuple, or the commit time.
  struct ParamRef {
    enum class From : std::uint8_t { new_tuple, old_tuple, commit_time } from = From::new_tuple;
    std::uint16_t column = 0;
  };
  // How rows of one statement go out as one (rows_together()): an INSERT without ON CONFLICT as a
  // multi-row INSERT; an UPDATE or DELETE by an unchanged key joined with a VALUES list of the rows,
  // RETURNING which of them it found.
  struct Together {
    char op = 0;                     // 'I', 'U', 'D'; 0: the statement goes out one row at a time
    std::string head;                // "INSERT INTO t (cols) VALUES " / "UPDATE t ... FROM (VALUES "
    std::string tail;                // U, D: ") AS "v"("ord", "p1", ...) WHERE ... RETURNING "v"."ord""
    std::vector<Oid> types;          // U, D: each parameter's target type (a VALUES list has no context)
    bool full = false;               // U, D by every old column (REPLICA IDENTITY FULL): rows matched by ctid
  };
  struct Prepared {
    std::string name;
    std::vector<ParamRef> params;
    bool returns_inserted = false;  // upsert: RETURNING (xmax = 0), no row: the update was not done
    Together together;
    std::string key;                // its cache key
  };
  // A source table as the target has it.
  struct Target {
    std::uint64_t version = 0;
    std::string source_name;                 // schema.table on the source (messages)
    std::string display;                     // schema.table on the target (messages)
    std::string name;                        // "schema"."table"
    std::vector<std::string> cols;           // quoted target column per source column
    std::vector<bool> text_eq;               // compared as text (no equality operator)
    std::vector<Oid> types;                  // the target column's type per source column
    std::vector<std::uint16_t> primary_key;  // source column indexes of the target's primary key
    std::string commit_time_col;             // quoted; empty: none
    std::vector<std::string> statements;     // cache keys of its prepared statements
    const RelationInfo* relation = nullptr;  // the definition last seen (a fast check of the shape)
    std::string shape;                       // its column names, NUL-separated
    std::optional<bool> keyed_as_source;     // parallel_safe(): read once
  };
  static std::string shape_of(const RelationInfo& rel) {
    std::string s;
    for (const ColumnInfo& c : rel.columns) (s += c.name) += '\0';
    return s;
  }

  // ---- connection

  Status connect() {
    if (conn_ && conn_->is_open()) return ok_status();
    reset();
    if (opt_.origin_name.empty() || opt_.origin_name.size() > 512 || resume_origin_.size() > 508) {
      return ReplicationError::fatal("apply: the replication origin name must be 1-512 characters (1-508 with apply workers)");
    }
    auto c = PgConnection::connect(cfg_, ConnectionKind::normal);
    if (!c) {
      ReplicationError e = c.error();
      e.message = "apply target: " + e.message;
      return e;
    }
    conn_.emplace(std::move(*c));
    std::string set = "SELECT pg_catalog.set_config('synchronous_commit', '" +
                      std::string(opt_.synchronous_commit ? "on" : "off") + "', false)";
    if (opt_.replica_role) set += ", pg_catalog.set_config('session_replication_role', 'replica', false)";
    if (auto r = conn_->exec(set, "apply target: session settings"); !r) {
      ReplicationError e = r.error();
      if (e.sqlstate == "42501") e.message += " (session_replication_role = replica needs a superuser on the target)";
      return drop(e);
    }
    const std::string name[] = {opt_.origin_name};
    auto found = conn_->exec_params("SELECT pg_catalog.pg_replication_origin_oid($1) IS NOT NULL", name,
                                    "apply target: looking up the replication origin");
    if (!found) return drop(found.error());
    if (found->value(0, 0) != "t") {
      auto made = conn_->exec_params("SELECT pg_catalog.pg_replication_origin_create($1)", name,
                                     "apply target: creating the replication origin");
      if (!made && made.error().sqlstate != "23505") return drop(made.error());
    }
    auto setup = conn_->exec_params("SELECT pg_catalog.pg_replication_origin_session_setup($1)", name,
                                    "apply target: replication origin session");
    if (!setup) {
      ReplicationError e = setup.error();
      // Another session holds it: a killed predecessor's backend that has not noticed yet, or a
      // second program on the same origin. Retrying outlives the first, and keeps refusing the second.
      if (e.sqlstate == "55000") e.kind = ErrorKind::retryable;
      return drop(e);
    }
    // Where the apply resumes: the highest flushed progress of the origin and its workers'
    // (":w<n>"). Parallel workers commit in source order, so everything up to it is on the target,
    // whatever number of workers ran before.
    const std::string family[] = {resume_origin_};
    auto progress = conn_->exec_params(
        "SELECT max(pg_catalog.pg_replication_origin_progress(roname, true))::text "
        "FROM pg_catalog.pg_replication_origin WHERE roname = $1 "
        "OR (pg_catalog.starts_with(roname, $1 || ':w') AND substr(roname, length($1) + 3) ~ '^[0-9]+$')",
        family, "apply target: reading the origin progress");
    if (!progress) return drop(progress.error());
    if (!progress->is_null(0, 0)) {
      auto lsn = Lsn::parse(progress->value(0, 0));
      if (!lsn) return drop(ReplicationError::fatal("apply target: the origin progress is not an LSN"));
      applied_ = durable_ = flushed_for_ = *lsn;
    }
    return ok_status();
  }

  void reset() noexcept {
    conn_.reset();
    targets_.clear();
    statements_.clear();
    pending_.clear();
    pending_rows_.clear();
    segments_.clear();
    unsynced_ = 0;
    gathered_ = {};
    in_txn_ = implicit_txn_ = skipping_ = changes_existing_ = false;
    origin_setup_prepared_ = false;
  }
  ReplicationError drop(ReplicationError e) {
    reset();
    return e;
  }
  // After an error: roll the target transaction back (nothing of it was committed, the source
  // sends it again), and reconnect next time when the connection may be broken.
  ReplicationError fail(ReplicationError e) {
    gathered_ = {};  // never sent: the transaction rolls back
    (void)drain();   // what is still in flight was rolled back with the transaction
    if (conn_ && conn_->is_open() && in_txn_) (void)conn_->exec("ROLLBACK", "apply: ROLLBACK");
    in_txn_ = implicit_txn_ = skipping_ = changes_existing_ = false;
    if (e.retryable() || !conn_ || !conn_->is_open()) reset();
    return e;
  }

  // ---- transactions

  Status begin(bool implicit) {
    const std::string& sql = implicit ? kBegin : begin_sql_;
    if (pipelining() && sql == kBegin) {  // goes out with the transaction's first rows
      if (auto st = send_begin(); !st) return st;
    } else if (auto r = conn_->exec(sql, "apply: BEGIN"); !r) {
      return r.error();
    }
    in_txn_ = true;
    implicit_txn_ = implicit;
    return ok_status();
  }

  Status apply(const BeginEvent& e) {
    if (in_txn_) {  // a transaction the stream did not finish (reconnect): the source sends it again
      if (auto r = conn_->exec("ROLLBACK", "apply: ROLLBACK"); !r) return r.error();
      in_txn_ = implicit_txn_ = false;
    }
    // Its commit lies below the origin: it was applied before (the origin moved with it).
    skipping_ = e.txn.commit_lsn.is_valid() && e.txn.commit_lsn < applied_;
    if (skipping_) {
      ++stats_.skipped_transactions;
      return ok_status();
    }
    commit_time_ = e.txn.commit_time;
    commit_lsn_ = e.txn.commit_lsn;
    return begin(false);
  }

  Status apply(const CommitEvent& e) {
    if (skipping_) {
      skipping_ = false;
      return ok_status();
    }
    if (!in_txn_) return ok_status();
    if (e.end_lsn <= applied_) {  // a commit without its Begin in this run that the target already has
      if (auto st = drain(); !st) return st;
      if (auto r = conn_->exec("ROLLBACK", "apply: ROLLBACK"); !r) return r.error();
      in_txn_ = false;
      return ok_status();
    }
    // The origin moves in the same target transaction: committed here means never sent again.
    // Rows still in flight are checked behind the COMMIT when commits_pipelined(); otherwise
    // apply_events() checked them before it.
    if (auto st = send_commit(e); !st) return st;
    return committed(e);
  }
  Status committed(const CommitEvent& e) {
    in_txn_ = implicit_txn_ = changes_existing_ = false;
    applied_ = e.end_lsn;
    ++stats_.transactions;
    return ok_status();
  }

  Status apply(const SchemaChangeEvent& e) {
    if (e.new_relation != nullptr) forget(e.new_relation->oid);
    if (e.old_relation != nullptr) forget(e.old_relation->oid);
    return ok_status();
  }
  Status apply(const MessageEventView&) { return ok_status(); }  // logical messages are not data
  Status apply(const StreamAbortEvent&) { return ok_status(); }  // consumed by the batcher
  Status apply(const TwoPhaseEvent&) { return ok_status(); }     // consumed by the batcher

  Status apply(const TruncateEventView& e) {
    if (skipping_) return ok_status();
    if (!in_txn_) {
      if (auto st = begin(true); !st) return st;
    }
    std::string sql = "TRUNCATE ONLY ";
    bool first = true;
    for (const RelationInfo* rel : e.relations) {
      auto t = target(*rel);
      if (!t) return t.error();
      if (!first) sql += ", ";
      sql += (*t)->name;
      first = false;
    }
    if (first) return ok_status();
    if (e.restart_identity) sql += " RESTART IDENTITY";
    if (e.cascade) sql += " CASCADE";
    if (auto r = conn_->exec(sql, "apply: TRUNCATE"); !r) return r.error();
    ++stats_.truncates;
    return ok_status();
  }

  Status apply(const RowChangeView& row) {
    if (skipping_) return ok_status();
    if (row.relation == nullptr) return ReplicationError::fatal("apply: a row change without its relation");
    if (!in_txn_) {
      if (auto st = begin(true); !st) return st;
    }
    auto t = target(*row.relation);
    if (!t) return t.error();
    switch (row.op) {
      case ChangeOp::insert:
      case ChangeOp::read: return insert(**t, row);
      case ChangeOp::update: return update(**t, row);
      case ChangeOp::delete_: return remove(**t, row);
    }
    return ok_status();
  }

  // ---- rows

  Status insert(Target& t, const RowChangeView& row) {
    auto stmt = insert_statement(t, row, opt_.on_conflict);
    if (!stmt) return stmt.error();
    if (pipelining() && (*stmt)->together.op != 0 && !(*stmt)->params.empty()) return gather(t, row, **stmt);
    if (pipelining()) return send(**stmt, t, row);
    return inserted(t, row, **stmt, run(**stmt, row));
  }
  // The checks of a row's result, whether it came back at once or at a pipeline sync; `group`: the
  // rows of a statement that took several (rows_together()), `row` its first.
  Status checked(Target& t, const RowChangeView& row, const Prepared& stmt, Result<PgResult, ReplicationError> res,
                 std::span<const RowChangeView* const> group = {}) {
    if (group.size() > 1) {
      if (stmt.together.op == 'I') return inserted_together(t, row, group.size(), std::move(res));
      return changed_together(t, group, std::move(res));
    }
    switch (row.op) {
      case ChangeOp::insert:
      case ChangeOp::read: return inserted(t, row, stmt, std::move(res));
      case ChangeOp::update: return updated(t, row, std::move(res));
      case ChangeOp::delete_: return removed(t, row, std::move(res));
    }
    return ok_status();
  }
  Status inserted(Target& t, const RowChangeView& row, const Prepared& stmt, Result<PgResult, ReplicationError> res) {
    if (!res) {
      if (res.error().sqlstate == "23505" && opt_.on_conflict == ApplyConflictPolicy::error) {
        return conflict_error(t, row, ApplyConflictKind::insert_exists, res.error().message,
                              "set apply_on_conflict to skip, upsert or keep_newer to resolve it");
      }
      return res.error();
    }
    ++stats_.inserts;
    if (opt_.on_conflict == ApplyConflictPolicy::error) return ok_status();
    if (stmt.returns_inserted) {
      if (res->rows() == 1 && res->value(0, 0) == "t") return ok_status();
      report(t, row, ApplyConflictKind::insert_exists, res->rows() == 1 ? "updated" : "skipped");
    } else if (affected(*res) == 0) {
      report(t, row, ApplyConflictKind::insert_exists, "skipped");
    }
    return ok_status();
  }

  Status update(Target& t, const RowChangeView& row) {
    changes_existing_ = true;
    auto stmt = change_statement(t, row, 'U', keep_newer());
    if (!stmt) return stmt.error();
    if (pipelining() && (*stmt)->together.op == 'U') {
      // Rows updated together are updated in no particular order: safe only when no other unique
      // index could make one row's new value collide with another's old one.
      if (!t.keyed_as_source) {
        if (auto st = drain(); !st) return st;
        if (auto safe = parallel_safe(*row.relation); !safe) return safe.error();
      }
      if (t.keyed_as_source.value_or(false)) return gather(t, row, **stmt);
    }
    if (pipelining()) return send(**stmt, t, row);
    return updated(t, row, run(**stmt, row));
  }
  Status updated(Target& t, const RowChangeView& row, Result<PgResult, ReplicationError> res) {
    if (!res) return res.error();
    ++stats_.updates;
    if (affected(*res) > 0) return ok_status();
    return missing(t, row, ApplyConflictKind::update_missing);
  }

  Status remove(Target& t, const RowChangeView& row) {
    changes_existing_ = true;
    auto stmt = change_statement(t, row, 'D', keep_newer());
    if (!stmt) return stmt.error();
    if (pipelining() && (*stmt)->together.op == 'D') return gather(t, row, **stmt);
    if (pipelining()) return send(**stmt, t, row);
    return removed(t, row, run(**stmt, row));
  }
  Status removed(Target& t, const RowChangeView& row, Result<PgResult, ReplicationError> res) {
    if (!res) return res.error();
    ++stats_.deletes;
    if (affected(*res) > 0) return ok_status();
    return missing(t, row, ApplyConflictKind::delete_missing);
  }

  // An UPDATE / DELETE that changed nothing: the row is missing, or (keep_newer) newer.
  Status missing(Target& t, const RowChangeView& row, ApplyConflictKind kind) {
    const bool is_update = kind == ApplyConflictKind::update_missing;
    if (keep_newer()) {
      auto exists = change_statement(t, row, 'E', false);
      if (!exists) return exists.error();
      auto res = run(**exists, row);
      if (!res) return res.error();
      if (res->rows() > 0) {
        report(t, row, is_update ? ApplyConflictKind::update_older : ApplyConflictKind::delete_older, "skipped");
        return ok_status();
      }
    }
    switch (opt_.on_missing) {
      case ApplyMissingPolicy::error:
        return conflict_error(t, row, kind, "no such row on the target",
                              "set apply_on_missing to skip or insert to resolve it");
      case ApplyMissingPolicy::skip: report(t, row, kind, "skipped"); return ok_status();
      case ApplyMissingPolicy::insert: {
        if (!is_update) {
          report(t, row, kind, "skipped");
          return ok_status();
        }
        for (ColumnValueView v : row.new_tuple) {
          if (v.is_unchanged_toast()) {
            return conflict_error(t, row, kind, "the row is missing and its unchanged TOAST columns were not sent",
                                  "the row cannot be inserted from this update");
          }
        }
        auto stmt = insert_statement(t, row, ApplyConflictPolicy::error);
        if (!stmt) return stmt.error();
        if (auto res = run(**stmt, row); !res) return res.error();
        report(t, row, kind, "inserted");
        return ok_status();
      }
    }
    return ok_status();
  }

  [[nodiscard]] bool keep_newer() const noexcept { return opt_.on_conflict == ApplyConflictPolicy::keep_newer; }
  static std::uint64_t affected(const PgResult& r) {
    const char* n = PQcmdTuples(r.get());
    return n == nullptr ? 0 : std::strtoull(n, nullptr, 10);
  }

  void report(const Target& t, const RowChangeView& row, ApplyConflictKind kind, std::string_view resolution) {
    ++stats_.conflicts[static_cast<std::size_t>(kind)];
    if (opt_.on_conflict_found) opt_.on_conflict_found({kind, t.display, key_text(t, row), resolution, commit_lsn_});
  }
  ReplicationError conflict_error(const Target& t, const RowChangeView& row, ApplyConflictKind kind,
                                  std::string_view reason, std::string_view hint) {
    return conflict_error(t, key_text(t, row), kind, reason, hint);
  }
  ReplicationError conflict_error(const Target& t, const std::string& key, ApplyConflictKind kind,
                                  std::string_view reason, std::string_view hint) {
    ++stats_.conflicts[static_cast<std::size_t>(kind)];
    return ReplicationError::fatal("apply: conflict " + std::string(to_string(kind)) + " on " + t.display +
                                   " (source " + t.source_name + ") key " + key +
                                   " in the transaction "
                                   "committed at " +
                                   commit_lsn_.to_string() + ": " + std::string(reason) + "; " + std::string(hint));
  }

  // (a, b)=(1, x): the columns that identify the row, as the source sent them.
  std::string key_text(const Target& t, const RowChangeView& row) const {
    const RelationInfo& rel = *row.relation;
    const TupleView& tuple =
        row.op == ChangeOp::delete_ || (row.old_kind != OldTupleKind::none && row.op != ChangeOp::insert)
            ? row.old_tuple
            : row.new_tuple;
    std::vector<std::uint16_t> cols;
    for (std::uint16_t i = 0; i < rel.columns.size(); ++i)
      if (rel.columns[i].is_key && rel.replica_identity != ReplicaIdentity::full) cols.push_back(i);
    if (cols.empty()) cols = t.primary_key;
    if (cols.empty())
      for (std::uint16_t i = 0; i < rel.columns.size(); ++i) cols.push_back(i);
    std::string names = "(", values = "(";
    for (std::size_t k = 0; k < cols.size(); ++k) {
      if (k > 0) {
        names += ", ";
        values += ", ";
      }
      names += rel.columns[cols[k]].name;
      if (cols[k] >= tuple.size()) continue;
      const ColumnValueView v = tuple[cols[k]];
      if (v.is_null()) values += "NULL";
      else if (v.is_unchanged_toast()) values += "(unchanged toast)";
      else if (v.kind == ColumnKind::binary) values += "(" + std::to_string(v.bytes.size()) + " binary bytes)";
      else values += detail::printable(v.text(), 100);
    }
    return names + ")=" + values + ")";
  }

  // ---- target tables

  static std::pair<std::string, std::string> split_name(std::string_view qualified) {
    const auto dot = qualified.find('.');
    if (dot == std::string_view::npos) return {"public", std::string(qualified)};
    return {std::string(qualified.substr(0, dot)), std::string(qualified.substr(dot + 1))};
  }

  Result<Target*, ReplicationError> target(const RelationInfo& rel) {
    auto it = targets_.find(rel.oid);
    if (it != targets_.end() && it->second.version == rel.version) {
      // A filter stage may hand on a narrowed copy of the table (fewer columns): same table, other shape.
      Target& known = it->second;
      if (known.relation == &rel || known.shape == shape_of(rel)) {
        known.relation = &rel;
        return &known;
      }
    }
    // Catalog queries (and DEALLOCATE of the old statements) run outside the pipeline.
    if (auto st = drain(); !st) return st.error();
    if (it != targets_.end()) forget(rel.oid);
    Target t;
    t.version = rel.version;
    t.relation = &rel;
    t.shape = shape_of(rel);
    t.source_name = rel.qualified_name();
    std::pair<std::string, std::string> name{rel.schema, rel.name};
    for (const auto& m : opt_.table_map) {
      if (m.source == t.source_name ||
          (m.source.find('.') == std::string::npos && rel.schema == "public" && m.source == rel.name)) {
        name = split_name(m.target);
        break;
      }
    }
    t.display = name.first + "." + name.second;
    auto schema = conn_->quote_identifier(name.first);
    if (!schema) return schema.error();
    auto table = conn_->quote_identifier(name.second);
    if (!table) return table.error();
    t.name = *schema + "." + *table;
    const std::string reg[] = {t.name};
    auto oid = conn_->exec_params("SELECT pg_catalog.to_regclass($1)::oid", reg, "apply: looking up " + t.display);
    if (!oid) return oid.error();
    if (oid->is_null(0, 0)) {
      return ReplicationError::fatal("apply: the target table " + t.display + " does not exist (source table " +
                                         t.source_name + "); create it on the target, or map it with apply_table_map",
                                     "42P01");
    }
    const std::string params[] = {std::string(oid->value(0, 0))};
    auto cols = conn_->exec_params(
        "SELECT a.attname, bt.typname IN (" + std::string(kTextEqualityTypes) + ") OR coalesce(et.typname IN (" +
            std::string(kTextEqualityTypes) +
            "), false), coalesce(a.attnum = ANY (i.indkey), false), "
            "a.atttypid = 'timestamptz'::regtype OR bt.oid = 'timestamptz'::regtype, a.atttypid "
            "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid "
            "JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END "
            "LEFT JOIN pg_catalog.pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A' "
            "LEFT JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
            "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped",
        params, "apply: reading the columns of " + t.display);
    if (!cols) return cols.error();
    struct Col {
      std::string_view name;
      bool text_eq, in_pk, timestamptz;
      Oid type;
    };
    std::vector<Col> found;
    for (int r = 0; r < cols->rows(); ++r)
      found.push_back({cols->value(r, 0), cols->value(r, 1) == "t", cols->value(r, 2) == "t", cols->value(r, 3) == "t",
                       static_cast<Oid>(std::strtoul(std::string(cols->value(r, 4)).c_str(), nullptr, 10))});
    for (std::uint16_t i = 0; i < rel.columns.size(); ++i) {
      const ColumnInfo& c = rel.columns[i];
      const Col* match = nullptr;
      for (const Col& f : found)
        if (f.name == c.name) match = &f;
      if (match == nullptr) {
        return ReplicationError::fatal("apply: the target table " + t.display + " has no column \"" +
                                           detail::printable(c.name) + "\" (source table " + t.source_name +
                                           "); add it on the target first",
                                       "42703");
      }
      auto q = conn_->quote_identifier(c.name);
      if (!q) return q.error();
      t.cols.push_back(std::move(*q));
      t.text_eq.push_back(match->text_eq);
      t.types.push_back(match->type);
      if (match->in_pk) t.primary_key.push_back(i);
    }
    if (keep_newer()) {
      const Col* ct = nullptr;
      for (const Col& f : found)
        if (f.name == opt_.commit_time_column) ct = &f;
      if (ct == nullptr || !ct->timestamptz) {
        return ReplicationError::fatal("apply: apply_on_conflict keep_newer needs a timestamptz column \"" +
                                       detail::printable(opt_.commit_time_column) +
                                       "\" (apply_commit_time_column) "
                                       "in the target table " +
                                       t.display);
      }
      auto q = conn_->quote_identifier(opt_.commit_time_column);
      if (!q) return q.error();
      t.commit_time_col = std::move(*q);
    }
    auto [pos, inserted] = targets_.insert_or_assign(rel.oid, std::move(t));
    (void)inserted;
    return &pos->second;
  }

  // A Relation message changed the table: its statements go (the target was altered first).
  void forget(Oid oid) {
    auto it = targets_.find(oid);
    if (it == targets_.end()) return;
    for (const std::string& key : it->second.statements) {
      auto s = statements_.find(key);
      if (s == statements_.end()) continue;
      if (conn_ && conn_->is_open() && !(in_txn_ && aborted()))
        (void)conn_->exec("DEALLOCATE " + s->second.name, "apply: DEALLOCATE");
      statements_.erase(s);
    }
    targets_.erase(it);
  }
  [[nodiscard]] bool aborted() const noexcept { return conn_ && PQtransactionStatus(conn_->get()) == PQTRANS_INERROR; }

  // ---- statements

  // `types`: the parameters' types (empty: the server infers each from where it is used).
  Result<const Prepared*, ReplicationError> prepare(Target& t, std::string key, std::string sql,
                                                    std::vector<ParamRef> params, bool returns_inserted,
                                                    Together together, const std::vector<Oid>& types = {}) {
    if (auto it = statements_.find(key); it != statements_.end()) return &it->second;
    if (auto st = drain(); !st) return st.error();
    Prepared p{"replicator_apply_" + std::to_string(next_statement_++), std::move(params), returns_inserted,
               std::move(together), key};
    PgResult res(PQprepare(conn_->get(), p.name.c_str(), sql.c_str(),
                           static_cast<int>(types.empty() ? p.params.size() : types.size()),
                           types.empty() ? nullptr : types.data()));
    if (!res.get() || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      return conn_->error_from_result(res.get(), "apply: preparing a statement for " + t.display);
    }
    t.statements.push_back(key);
    auto [it, inserted] = statements_.emplace(std::move(key), std::move(p));
    (void)inserted;
    return &it->second;
  }

  // INSERT of the new tuple's columns, with the ON CONFLICT clause `policy` asks for.
  Result<const Prepared*, ReplicationError> insert_statement(Target& t, const RowChangeView& row,
                                                             ApplyConflictPolicy policy) {
    const RelationInfo& rel = *row.relation;
    std::string key = "I" + std::to_string(static_cast<int>(policy)) + ":" + std::to_string(rel.oid) + ":";
    const std::uint16_t n = std::min<std::uint16_t>(row.new_tuple.size(), static_cast<std::uint16_t>(t.cols.size()));
    std::uint16_t i = 0;
    for (ColumnValueView v : row.new_tuple) {
      if (i++ >= n) break;
      key += v.is_unchanged_toast() ? '0' : '1';
    }
    if (auto it = statements_.find(key); it != statements_.end()) return &it->second;
    std::string cols, values, set;
    std::vector<ParamRef> params;
    i = 0;
    for (ColumnValueView v : row.new_tuple) {
      if (i >= n) break;
      if (!v.is_unchanged_toast()) {
        params.push_back({ParamRef::From::new_tuple, i});
        if (!cols.empty()) {
          cols += ", ";
          values += ", ";
        }
        cols += t.cols[i];
        values += "$" + std::to_string(params.size());
        const bool in_pk = std::find(t.primary_key.begin(), t.primary_key.end(), i) != t.primary_key.end();
        if (!in_pk) set += (set.empty() ? "" : ", ") + t.cols[i] + " = EXCLUDED." + t.cols[i];
      }
      ++i;
    }
    const std::string head = "INSERT INTO " + t.name + " AS \"target\" (" + cols + ") VALUES ";
    std::string sql = head + "(" + values + ")";
    bool returns = false;
    if (policy == ApplyConflictPolicy::skip) {
      sql += " ON CONFLICT DO NOTHING";
    } else if (policy == ApplyConflictPolicy::upsert || policy == ApplyConflictPolicy::keep_newer) {
      if (t.primary_key.empty() || set.empty()) {
        sql += " ON CONFLICT DO NOTHING";  // nothing to update it by, or nothing to update
      } else {
        sql += " ON CONFLICT (";
        for (std::size_t k = 0; k < t.primary_key.size(); ++k) sql += (k ? ", " : "") + t.cols[t.primary_key[k]];
        sql += ") DO UPDATE SET " + set;
        if (policy == ApplyConflictPolicy::keep_newer) {
          params.push_back({ParamRef::From::commit_time, 0});
          sql += " WHERE \"target\"." + t.commit_time_col + " IS NULL OR \"target\"." + t.commit_time_col + " < $" +
                 std::to_string(params.size()) + "::timestamptz";
        }
        sql += " RETURNING (\"target\".xmax = 0)";
        returns = true;
      }
    }
    Together together;
    if (policy == ApplyConflictPolicy::error) together = {'I', head, {}, {}};
    return prepare(t, std::move(key), std::move(sql), std::move(params), returns, std::move(together));
  }

  // 'U' update, 'D' delete, 'E' does the row exist: WHERE by the replica identity (all old columns
  // for REPLICA IDENTITY FULL, exactly one row by ctid), NULLs as IS NULL; `newer_only` adds
  // keep_newer's commit time condition.
  Result<const Prepared*, ReplicationError> change_statement(Target& t, const RowChangeView& row, char op,
                                                             bool newer_only) {
    const RelationInfo& rel = *row.relation;
    const bool full = row.old_kind == OldTupleKind::full;
    const bool from_old = row.old_kind != OldTupleKind::none;
    const TupleView& where_tuple = from_old ? row.old_tuple : row.new_tuple;
    const std::uint16_t n = static_cast<std::uint16_t>(t.cols.size());
    std::vector<std::uint16_t> where_cols;
    for (std::uint16_t i = 0; i < n && i < rel.columns.size(); ++i)
      if (full || rel.columns[i].is_key) where_cols.push_back(i);
    if (where_cols.empty()) {
      return ReplicationError::fatal("apply: " + std::string(op == 'D' ? "a DELETE" : "an UPDATE") + " on " +
                                     t.source_name + " without a replica identity to find the row by");
    }
    std::string key = std::string(1, op) + (newer_only ? "n" : "") +
                      (full       ? "f"
                       : from_old ? "o"
                                  : "k") +
                      ":" + std::to_string(rel.oid) + ":";
    std::vector<ColumnValueView> where_values;
    for (std::uint16_t c : where_cols) {
      if (c >= where_tuple.size())
        return ReplicationError::fatal("apply: the old row of " + t.source_name + " is short");
      where_values.push_back(where_tuple[c]);
      if (where_values.back().is_unchanged_toast()) {
        return ReplicationError::fatal("apply: a key column of " + t.source_name + " was not sent (unchanged TOAST)");
      }
      key += where_values.back().is_null() ? 'n' : 'v';
    }
    if (op == 'U') {
      key += ':';
      std::uint16_t i = 0;
      for (ColumnValueView v : row.new_tuple) {
        if (i++ >= n) break;
        key += v.is_unchanged_toast() ? '0' : '1';
      }
    }
    if (auto it = statements_.find(key); it != statements_.end()) return &it->second;

    std::vector<ParamRef> params;
    std::string sql;
    std::size_t set_params = 0;  // U: the first ones are the SET list's
    if (op == 'U') {
      std::string set;
      std::uint16_t i = 0;
      for (ColumnValueView v : row.new_tuple) {
        if (i >= n) break;
        if (!v.is_unchanged_toast()) {  // unchanged TOAST: the target keeps its value
          params.push_back({ParamRef::From::new_tuple, i});
          set += (set.empty() ? "" : ", ") + t.cols[i] + " = $" + std::to_string(params.size());
        }
        ++i;
      }
      if (set.empty()) set = t.cols[where_cols.front()] + " = " + t.cols[where_cols.front()];
      sql = "UPDATE " + t.name + " SET " + set;
      set_params = params.size();
    } else if (op == 'D') {
      sql = "DELETE FROM " + t.name;
    } else {
      sql = "SELECT 1 FROM " + t.name;
    }
    const ParamRef::From from = from_old ? ParamRef::From::old_tuple : ParamRef::From::new_tuple;
    std::string cond;
    for (std::size_t k = 0; k < where_cols.size(); ++k) {
      const std::uint16_t c = where_cols[k];
      if (!cond.empty()) cond += " AND ";
      if (where_values[k].is_null()) {
        cond += t.cols[c] + " IS NULL";
        continue;
      }
      params.push_back({from, c});
      const std::string p = "$" + std::to_string(params.size());
      cond += t.text_eq[c] ? t.cols[c] + "::text = " + p + "::text" : t.cols[c] + " = " + p;
    }
    if (full && op != 'E') cond = "ctid = (SELECT ctid FROM " + t.name + " WHERE " + cond + " LIMIT 1)";
    if (newer_only && !t.commit_time_col.empty()) {
      params.push_back({ParamRef::From::commit_time, 0});
      cond += " AND (" + t.commit_time_col + " IS NULL OR " + t.commit_time_col + " < $" +
              std::to_string(params.size()) + "::timestamptz)";
    }
    sql += " WHERE " + cond;
    if (op == 'E') sql += " LIMIT 1";
    Together together;
    if (((op == 'U' && !from_old) || (op == 'D' && from_old)) && !full && !newer_only &&
        std::none_of(where_values.begin(), where_values.end(), [](ColumnValueView v) { return v.is_null(); }) &&
        std::none_of(where_cols.begin(), where_cols.end(), [&](std::uint16_t c) { return t.text_eq[c]; })) {
      together = together_by_key(t, op, params, set_params);
    } else if ((op == 'U' || op == 'D') && full && !newer_only) {
      std::vector<std::uint16_t> null_cols;
      for (std::size_t k = 0; k < where_cols.size(); ++k)
        if (where_values[k].is_null()) null_cols.push_back(where_cols[k]);
      together = together_by_old_row(t, op, params, set_params, null_cols, where_cols.front());
    }
    return prepare(t, std::move(key), std::move(sql), std::move(params), false, std::move(together));
  }
  // An UPDATE or DELETE by every old column (REPLICA IDENTITY FULL) of several rows at once: one scan
  // of the table joined with the VALUES list. Like the single-row statement, each row takes one of
  // the target rows equal to its old values, and rows with equal old values take different ones:
  // the k-th of them (by VALUES order) the k-th match (by ctid); one with no match left is missing.
  static Together together_by_old_row(const Target& t, char op, const std::vector<ParamRef>& params,
                                      std::size_t set_params, const std::vector<std::uint16_t>& null_cols,
                                      std::uint16_t first_col) {
    Together g{op, {}, {}, {}, true};
    std::string sets, conds, names = "\"ord\"";
    for (std::size_t j = 0; j < params.size(); ++j) {
      const std::uint16_t c = params[j].column;
      const std::string pj = "\"p" + std::to_string(j + 1) + "\"";
      names += ", " + pj;
      g.types.push_back(t.types[c]);
      if (j < set_params) {
        sets += (sets.empty() ? "" : ", ") + t.cols[c] + " = \"v\"." + pj;
      } else {
        conds += (conds.empty() ? "" : " AND ") +
                 // As text (json and the like): IS TRUE keeps it out of the hash join's keys, so
                 // only rows equal in the other columns are printed as text to compare.
                 (t.text_eq[c] ? "(\"x\"." + t.cols[c] + "::text = \"m\"." + pj + "::text) IS TRUE"
                               : "\"x\"." + t.cols[c] + " = \"m\"." + pj);
      }
    }
    for (std::uint16_t c : null_cols) conds += (conds.empty() ? "" : " AND ") + ("\"x\"." + t.cols[c]) + " IS NULL";
    if (sets.empty()) sets = t.cols[first_col] + " = \"target\"." + t.cols[first_col];
    const std::string pick =
        " (SELECT \"s\".* FROM (SELECT \"m\".*, \"x\".ctid AS \"tid\", "
        "row_number() OVER (PARTITION BY \"m\".\"ord\" ORDER BY \"x\".ctid) AS \"rx\", "
        "row_number() OVER (PARTITION BY \"x\".ctid ORDER BY \"m\".\"ord\") AS \"rm\" FROM (VALUES ";
    g.head = op == 'U' ? "UPDATE " + t.name + " AS \"target\" SET " + sets + " FROM" + pick
                       : "DELETE FROM " + t.name + " AS \"target\" USING" + pick;
    g.tail = ") AS \"m\"(" + names + ") JOIN " + t.name + " AS \"x\" ON " + conds +
             ") AS \"s\" WHERE \"s\".\"rx\" = \"s\".\"rm\") AS \"v\" WHERE \"target\".ctid = \"v\".\"tid\" "
             "RETURNING \"v\".\"ord\"";
    return g;
  }
  // An UPDATE (key unchanged) or DELETE by key of several rows at once: joined with the VALUES list
  // of their parameters, each row numbered so that RETURNING says which ones found their row.
  static Together together_by_key(const Target& t, char op, const std::vector<ParamRef>& params,
                                  std::size_t set_params) {
    Together g{op, {}, {}, {}};
    std::string sets, conds, names = "\"ord\"";
    for (std::size_t j = 0; j < params.size(); ++j) {
      const std::uint16_t c = params[j].column;
      const std::string v = "\"v\".\"p" + std::to_string(j + 1) + "\"";
      names += ", \"p" + std::to_string(j + 1) + "\"";
      g.types.push_back(t.types[c]);
      if (j < set_params) sets += (sets.empty() ? "" : ", ") + t.cols[c] + " = " + v;
      else conds += (conds.empty() ? "" : " AND ") + ("\"target\"." + t.cols[c]) + " = " + v;
    }
    if (op == 'U') {
      if (sets.empty()) {  // every other column unchanged TOAST: a no-op SET that still finds the row
        const std::uint16_t c = params[set_params].column;
        sets = t.cols[c] + " = \"target\"." + t.cols[c];
      }
      g.head = "UPDATE " + t.name + " AS \"target\" SET " + sets + " FROM (VALUES ";
    } else {
      g.head = "DELETE FROM " + t.name + " AS \"target\" USING (VALUES ";
    }
    g.tail = ") AS \"v\"(" + names + ") WHERE " + conds + " RETURNING \"v\".\"ord\"";
    return g;
  }

  // Runs a prepared statement with the row's values: text as text, binary as binary (the server
  // reads each with the target column's type, so enum and domain OIDs need not match the source's).
  Result<PgResult, ReplicationError> run(const Prepared& p, const RowChangeView& row) {
    bind(p, row);
    return result_of(PgResult(PQexecPrepared(conn_->get(), p.name.c_str(), static_cast<int>(p.params.size()),
                                             values_.data(), lengths_.data(), formats_.data(), 0)),
                     row);
  }
  // values_, lengths_, formats_ for `p` with `row`'s values (valid until the next call).
  void bind(const Prepared& p, const RowChangeView& row) {
    const RowChangeView* one[] = {&row};
    bind_rows(p, one);
  }
  // `p`'s parameters for each of `rows` in turn (a multi-row INSERT takes them in that order).
  void bind_rows(const Prepared& p, std::span<const RowChangeView* const> rows) {
    const std::size_t per = p.params.size(), n = per * rows.size();
    values_.assign(n, nullptr);
    lengths_.assign(n, 0);
    formats_.assign(n, 0);
    if (text_.size() < n) text_.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      const ParamRef& ref = p.params[k % per];
      const RowChangeView& row = *rows[k / per];
      if (ref.from == ParamRef::From::commit_time) {
        text_[k].assign(commit_time_.format_iso8601().view());
        values_[k] = text_[k].c_str();
        continue;
      }
      const TupleView& tuple = ref.from == ParamRef::From::old_tuple ? row.old_tuple : row.new_tuple;
      const ColumnValueView v = tuple[ref.column];
      if (v.is_null()) continue;
      if (v.kind == ColumnKind::binary) {
        values_[k] = reinterpret_cast<const char*>(v.bytes.data());
        lengths_[k] = static_cast<int>(v.bytes.size());
        formats_[k] = 1;
      } else {
        text_[k].assign(v.text());  // libpq reads text parameters up to a NUL
        values_[k] = text_[k].c_str();
      }
    }
  }
  Result<PgResult, ReplicationError> result_of(PgResult res, const RowChangeView& row) {
    const auto status = res.get() ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return res;
    const RelationInfo& rel = *row.relation;
    return conn_->error_from_result(res.get(),
                                    "apply: " + std::string(to_string(row.op)) + " on " + rel.qualified_name());
  }

  // ---- pipeline

  // Statements per sync, and syncs whose results may still be unread while more rows go out (the
  // server works through one segment while the next is sent; a few KB of results wait in the socket).
  static constexpr std::size_t kPipelineDepth = 256;
  static constexpr std::size_t kSyncsInFlight = 2;
  inline static const std::string kBegin = "BEGIN";
  // A statement sent in pipeline mode whose result is not read yet (row: nullptr for BEGIN, the
  // origin setup and COMMIT, which `what` names).
  struct Pending {
    const Prepared* stmt = nullptr;
    Target* target = nullptr;
    const RowChangeView* row = nullptr;  // into the events apply_events() runs: drained before it returns
    std::uint32_t rows = 1;              // > 1: a statement of several rows, `row` its first
    const char* what = "BEGIN";
  };
  // Consecutive rows of one statement go out as one of up to kRowsTogether rows (one executor run
  // instead of one per row): inserts (same table and columns, apply_on_conflict error) as a
  // multi-row INSERT, updates with an unchanged key and deletes by key joined with their VALUES.
  static constexpr std::size_t kRowsTogether = 64;
  // By old values (REPLICA IDENTITY FULL) each statement scans the table once: more rows share a scan.
  static constexpr std::size_t kFullRowsTogether = 1024;
  struct Gathered {
    Target* target = nullptr;
    const Prepared* single = nullptr;
    std::vector<const RowChangeView*> rows;
    std::vector<std::uint64_t> keys;  // U, D: the rows' key hashes (apply_key_hash)
  };

  [[nodiscard]] bool commits_pipelined() const noexcept {
    return pipelining() && in_txn_ && !(changes_existing_ && opt_.on_missing == ApplyMissingPolicy::error);
  }
  [[nodiscard]] bool in_flight() const noexcept { return !pending_.empty() || !gathered_.rows.empty(); }
  [[nodiscard]] bool pipelining() const noexcept {
    return opt_.pipeline && !keep_newer() && opt_.on_missing != ApplyMissingPolicy::insert;
  }
  Status enter_pipeline() {
    if (PQpipelineStatus(conn_->get()) != PQ_PIPELINE_OFF) return ok_status();
    if (PQenterPipelineMode(conn_->get()) == 1) return ok_status();
    return conn_->error_from_result(nullptr, "apply: entering libpq pipeline mode");
  }
  Status send_begin() { return send_control(kBegin.c_str(), "BEGIN"); }
  // BEGIN or COMMIT, as one more statement of the pipeline.
  Status send_control(const char* sql, const char* what) {
    if (auto st = send_gathered(); !st) return st;
    if (auto st = enter_pipeline(); !st) return st;
    if (PQsendQueryParams(conn_->get(), sql, 0, nullptr, nullptr, nullptr, nullptr, 0) != 1)
      return conn_->error_from_result(nullptr, std::string("apply: ") + what);
    pending_.push_back({nullptr, nullptr, nullptr, 1, what});
    return sent();
  }
  // The origin setup and COMMIT, in one round trip: a failed setup makes the server skip the
  // COMMIT (the rest up to the sync). They go out behind the rows, without waiting for their
  // results, when nothing but a server error can stop the transaction (commits_pipelined()); a
  // missing row under apply_on_missing error is judged here, from a result, so such a transaction
  // has its results read first (apply_events()).
  Status send_commit(const CommitEvent& e) {
    if (auto st = send_gathered(); !st) return st;
    if (!origin_setup_prepared_) {
      if (auto st = drain(); !st) return st;
      PgResult res(PQprepare(conn_->get(), kOriginSetup, "SELECT pg_catalog.pg_replication_origin_xact_setup($1::pg_lsn, $2::timestamptz)", 2,
                             nullptr));
      if (!res.get() || PQresultStatus(res.get()) != PGRES_COMMAND_OK)
        return conn_->error_from_result(res.get(), "apply: preparing the origin setup");
      origin_setup_prepared_ = true;
    }
    if (auto st = enter_pipeline(); !st) return st;
    const std::string lsn = e.end_lsn.to_string();
    const std::string at(e.txn.commit_time.format_iso8601().view());
    const char* values[] = {lsn.c_str(), at.c_str()};
    if (PQsendQueryPrepared(conn_->get(), kOriginSetup, 2, values, nullptr, nullptr, 0) != 1)
      return conn_->error_from_result(nullptr, "apply: origin of the transaction");
    pending_.push_back({nullptr, nullptr, nullptr, 1, "origin of the transaction"});
    if (auto st = sent(); !st) return st;
    if (auto st = send_control("COMMIT", "COMMIT"); !st) return st;
    return drain();
  }
  Status gather(Target& t, const RowChangeView& row, const Prepared& single) {
    auto gathered = [&](std::uint64_t h) {
      return std::find(gathered_.keys.begin(), gathered_.keys.end(), h) != gathered_.keys.end();
    };
    std::optional<std::uint64_t> key;  // what later rows of the group are checked against
    bool repeat = false;                // this row cannot join the rows gathered so far
    bool last = false;                  // no row after this one may join the group
    if (single.together.full) {
      // By old values: a row whose old values are what an earlier row of the group wrote would
      // look for a row the statement has not written yet. (Equal old values among themselves are
      // fine: each takes its own match.) A new row with unchanged TOAST cannot be told, so it ends it.
      repeat = gathered(tuple_hash(row.old_tuple));
      if (row.op == ChangeOp::update) {
        last = std::any_of(row.new_tuple.begin(), row.new_tuple.end(),
                           [](ColumnValueView v) { return v.is_unchanged_toast(); });
        key = tuple_hash(row.new_tuple);
      }
    } else if (single.together.op != 'I') {
      // An UPDATE or DELETE joins its rows by key: a key twice would match one target row twice.
      key = apply_key_hash(*row.relation, row.op == ChangeOp::delete_ ? row.old_tuple : row.new_tuple);
      if (!key) return send(single, t, row);
      repeat = gathered(*key);
    }
    if (gathered_.single != &single || gathered_.target != &t || repeat) {
      if (auto st = send_gathered(); !st) return st;
      gathered_.single = &single;
      gathered_.target = &t;
    }
    if (key) gathered_.keys.push_back(*key);
    gathered_.rows.push_back(&row);
    if (last || gathered_.rows.size() >= rows_per_statement(single)) return send_gathered();
    return ok_status();
  }
  // Every column of a tuple, as sent (full-identity groups: which rows could find another's output).
  static std::uint64_t tuple_hash(const TupleView& tuple) {
    ValueHash h;
    for (ColumnValueView v : tuple) h.add(v);
    return h.h;
  }
  // Rows of `single` one statement takes: PostgreSQL binds at most 65535 parameters per statement.
  static std::size_t rows_per_statement(const Prepared& single) noexcept {
    const std::size_t most = single.together.full ? kFullRowsTogether : kRowsTogether;
    return std::max<std::size_t>(1, std::min(most, 65535 / single.params.size()));
  }
  // Sends what is gathered: full groups at once, a shorter rest in power-of-two pieces (a handful
  // of statement shapes per table, not one per length).
  Status send_gathered() {
    if (gathered_.rows.empty()) return ok_status();
    Gathered g;
    std::swap(g, gathered_);  // a statement prepared below drains the pipeline, which sends what is gathered
    const std::size_t most = rows_per_statement(*g.single);
    std::span<const RowChangeView* const> rest(g.rows);
    while (!rest.empty()) {
      const std::size_t n = rest.size() >= most ? most : std::bit_floor(rest.size());
      const auto piece = rest.first(n);
      rest = rest.subspan(n);
      if (n == 1) {
        if (auto st = send(*g.single, *g.target, *piece.front()); !st) return st;
        continue;
      }
      auto multi = rows_together(*g.target, *g.single, n);
      if (!multi) return multi.error();
      bind_rows(*g.single, piece);
      if (auto st = send_bound(**multi, *g.target, piece); !st) return st;
    }
    return ok_status();
  }
  // The statement of `n` rows at once, `single`'s columns (single.together says how).
  Result<const Prepared*, ReplicationError> rows_together(Target& t, const Prepared& single, std::size_t n) {
    std::string key = single.key + "*" + std::to_string(n);
    if (auto it = statements_.find(key); it != statements_.end()) return &it->second;
    const Together& g = single.together;
    const std::size_t per = single.params.size();
    std::string sql = g.head;
    std::vector<Oid> types;
    for (std::size_t r = 0; r < n; ++r) {
      sql += r ? ", (" : "(";
      if (g.op != 'I') sql += std::to_string(r + 1) + ", ";  // "ord": which row RETURNING names
      for (std::size_t k = 0; k < per; ++k) sql += (k ? ", $" : "$") + std::to_string(r * per + k + 1);
      sql += ')';
      types.insert(types.end(), g.types.begin(), g.types.end());
    }
    sql += g.tail;
    Together shape{g.op, {}, {}, {}, g.full};
    return prepare(t, std::move(key), std::move(sql), {}, false, std::move(shape), types);
  }
  // An UPDATE or DELETE of several rows: RETURNING numbers the rows that found theirs; the others
  // are missing, each judged as a single row's would be (apply_on_missing).
  Status changed_together(Target& t, std::span<const RowChangeView* const> rows, Result<PgResult, ReplicationError> res) {
    if (!res) return res.error();
    const bool is_update = rows.front()->op == ChangeOp::update;
    (is_update ? stats_.updates : stats_.deletes) += rows.size();
    found_.assign(rows.size(), false);
    std::size_t hits = 0;
    for (int r = 0; r < res->rows(); ++r) {
      const std::size_t ord = std::strtoul(std::string(res->value(r, 0)).c_str(), nullptr, 10);
      if (ord >= 1 && ord <= rows.size() && !found_[ord - 1]) {
        found_[ord - 1] = true;
        ++hits;
      }
    }
    if (hits == rows.size()) return ok_status();
    for (std::size_t k = 0; k < rows.size(); ++k) {
      if (found_[k]) continue;
      if (auto st = missing(t, *rows[k], is_update ? ApplyConflictKind::update_missing : ApplyConflictKind::delete_missing);
          !st)
        return st;
    }
    return ok_status();
  }
  // A multi-row INSERT's result: every row in, or the conflict the server names (its detail has the key).
  Status inserted_together(Target& t, const RowChangeView& first, std::uint32_t rows,
                           Result<PgResult, ReplicationError> res) {
    if (!res) {
      if (res.error().sqlstate == "23505") {
        return conflict_error(t, "(one of " + std::to_string(rows) + " rows inserted together from " + key_text(t, first) + ")",
                              ApplyConflictKind::insert_exists, res.error().message,
                              "set apply_on_conflict to skip, upsert or keep_newer to resolve it");
      }
      return res.error();
    }
    stats_.inserts += rows;
    return ok_status();
  }
  Status send(const Prepared& p, Target& t, const RowChangeView& row) {
    if (gathered_.target != nullptr) {  // what was gathered goes first: the source's order
      if (auto st = send_gathered(); !st) return st;
    }
    bind(p, row);
    const RowChangeView* one[] = {&row};
    return send_bound(p, t, one);
  }
  // Sends `p` with the values bind()/bind_rows() left for `rows`, to be checked at its sync.
  Status send_bound(const Prepared& p, Target& t, std::span<const RowChangeView* const> rows) {
    if (auto st = enter_pipeline(); !st) return st;
    if (PQsendQueryPrepared(conn_->get(), p.name.c_str(), static_cast<int>(values_.size()), values_.data(),
                            lengths_.data(), formats_.data(), 0) != 1) {
      return conn_->error_from_result(nullptr,
                                      "apply: " + std::string(to_string(rows.front()->op)) + " on " + t.display);
    }
    pending_.push_back({&p, &t, rows.front(), static_cast<std::uint32_t>(rows.size())});
    if (rows.size() > 1) pending_rows_.insert(pending_rows_.end(), rows.begin(), rows.end());
    return sent();
  }
  // After each statement sent: a sync every kPipelineDepth, the oldest segment's results read
  // once more than kSyncsInFlight are out.
  Status sent() {
    if (++unsynced_ < kPipelineDepth) return ok_status();
    if (auto st = sync(); !st) return st;
    if (segments_.size() > kSyncsInFlight) return collect();
    return ok_status();
  }
  Status sync() {
    if (PQpipelineSync(conn_->get()) != 1) return conn_->error_from_result(nullptr, "apply: pipeline sync");
    segments_.push_back(unsynced_);
    unsynced_ = 0;
    return ok_status();
  }
  // Reads the results of the oldest segment, checking each in order, and its sync. After a failure
  // the server skips the rest up to the sync, and later segments fail in the aborted transaction:
  // the first failure is what is returned.
  Status collect() {
    PGconn* c = conn_->get();
    const std::size_t n = segments_.front();
    segments_.pop_front();
    std::optional<ReplicationError> first;
    for (std::size_t i = 0; i < n && !pending_.empty(); ++i) {
      const Pending p = pending_.front();
      pending_.pop_front();
      group_.clear();
      for (std::uint32_t k = 0; p.rows > 1 && k < p.rows && !pending_rows_.empty(); ++k) {
        group_.push_back(pending_rows_.front());
        pending_rows_.pop_front();
      }
      if (PQstatus(c) != CONNECTION_OK) continue;
      PgResult res(PQgetResult(c));
      const bool got = res.get() != nullptr;
      if (!first) {
        Status st = ok_status();
        if (p.row == nullptr) {
          const auto status = got ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
          if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
            st = conn_->error_from_result(res.get(), std::string("apply: ") + p.what);
        } else {
          st = checked(*p.target, *p.row, *p.stmt, result_of(std::move(res), *p.row), group_);
        }
        if (!st) first = st.error();
      }
      if (got)
        while (PGresult* rest = PQgetResult(c)) PQclear(rest);  // up to the query's end (NULL)
    }
    if (PQstatus(c) == CONNECTION_OK) {
      PgResult synced(PQgetResult(c));
      if ((!synced.get() || PQresultStatus(synced.get()) != PGRES_PIPELINE_SYNC) && !first)
        first = conn_->error_from_result(synced.get(), "apply: pipeline sync");
    }
    if (PQstatus(c) != CONNECTION_OK) {
      pending_.clear();
      pending_rows_.clear();
      segments_.clear();
      unsynced_ = 0;
      if (!first) first = connection_lost();
    }
    if (first) return *first;
    return ok_status();
  }
  ReplicationError connection_lost() const {
    return ReplicationError::retry("apply target: the connection was lost: " + detail::one_line(PQerrorMessage(conn_->get())));
  }
  // Syncs what is unsynced, reads every result, leaves pipeline mode: the first failure, if any.
  Status drain() {
    std::optional<ReplicationError> first;
    if (conn_ && !gathered_.rows.empty()) {
      if (auto st = send_gathered(); !st) first = st.error();
    }
    gathered_ = {};
    if (!conn_ || PQpipelineStatus(conn_->get()) == PQ_PIPELINE_OFF) {
      if (first) return *first;
      return ok_status();
    }
    if (unsynced_ > 0) {
      if (auto st = sync(); !st) {
        first = st.error();
        pending_.clear();  // never sent as a whole: nothing of it is read
        pending_rows_.clear();
        segments_.clear();
        unsynced_ = 0;
      }
    }
    while (!segments_.empty()) {
      if (auto st = collect(); !st && !first) first = st.error();
    }
    PGconn* c = conn_->get();
    if (PQexitPipelineMode(c) != 1 && !first) first = conn_->error_from_result(nullptr, "apply: leaving pipeline mode");
    if (PQstatus(c) != CONNECTION_OK && !first) first = connection_lost();
    if (first) return *first;
    return ok_status();
  }

  ConnectionConfig cfg_;
  PostgresApplyOptions opt_;
  std::string resume_origin_;
  std::string begin_sql_ = "BEGIN";
  std::optional<PgConnection> conn_;
  ApplyStats stats_;
  Lsn applied_;      // the origin's progress: the end LSN of the last transaction committed on the target
  Lsn durable_;      // the part of it flushed to disk on the target
  Lsn flushed_for_;  // applied_ when flush() last forced the origin to disk
  bool in_txn_ = false;
  bool implicit_txn_ = false;  // opened for rows outside a source transaction (snapshot rows)
  bool skipping_ = false;      // inside a transaction the target already has
  bool changes_existing_ = false;       // this transaction updates or deletes (a row may be missing)
  bool origin_setup_prepared_ = false;  // kOriginSetup, on this connection
  static constexpr const char* kOriginSetup = "replicator_apply_origin_setup";
  PgTimestamp commit_time_{};
  Lsn commit_lsn_;
  std::unordered_map<Oid, Target> targets_;
  std::unordered_map<std::string, Prepared> statements_;
  std::uint64_t next_statement_ = 0;
  std::vector<const char*> values_;
  std::vector<int> lengths_, formats_;
  std::vector<std::string> text_;
  std::deque<Pending> pending_;         // sent in pipeline mode, results not read yet, in order
  std::deque<const RowChangeView*> pending_rows_;  // the rows of pending_'s statements of several, in order
  std::vector<const RowChangeView*> group_;         // collect(): the rows of the statement being checked
  std::vector<bool> found_;                         // changed_together(): which rows found theirs
  std::deque<std::size_t> segments_;   // statements per sync sent, oldest first
  std::size_t unsynced_ = 0;           // statements sent after the last sync
  Gathered gathered_;                  // inserts not sent yet
};


// A batch cut into its source transactions for parallel apply: each with the last earlier one it
// must wait for (commit order is kept for all of them anyway).
struct ApplyPlan {
  struct Txn {
    std::size_t first = 0, last = 0;  // its Begin and Commit in the batch
    Lsn commit_lsn;
    // The transactions up to this index commit before it starts (npos: none): the last earlier
    // transaction that touched one of its keys, or every earlier one for a barrier.
    std::size_t after = static_cast<std::size_t>(-1);
  };
  static constexpr std::size_t none = static_cast<std::size_t>(-1);
  std::vector<Txn> txns;
};


// The transactions of `events` and what each waits for; nullopt when the batch must be applied
// on one connection in order: it does not consist of whole transactions (one split across
// batches, rows outside a transaction such as snapshot rows) or holds fewer than two.
// `keyed(rel)`: whether the target table of `rel` is keyed as the source (ApplyEngine::parallel_safe);
// rows of other tables are barriers.
template <class Keyed>
std::optional<ApplyPlan> plan_parallel_apply(std::span<const ChangeEvent> events, Keyed&& keyed) {
  ApplyPlan plan;
  std::unordered_map<std::uint64_t, std::size_t> last_touch;  // key -> last transaction that touched it
  std::vector<std::uint64_t> keys;
  std::size_t barrier = ApplyPlan::none;
  std::optional<std::size_t> open;
  bool is_barrier = false;
  auto touch = [&](std::optional<std::uint64_t> h) {
    if (!h) is_barrier = true;
    else keys.push_back(*h);
  };
  for (std::size_t i = 0; i < events.size(); ++i) {
    const ChangeEvent& e = events[i];
    if (const auto* b = std::get_if<BeginEvent>(&e)) {
      if (open) return std::nullopt;
      open = i;
      plan.txns.push_back({i, i, b->txn.commit_lsn, ApplyPlan::none});
      keys.clear();
      is_barrier = false;
      continue;
    }
    if (std::holds_alternative<CommitEvent>(e)) {
      if (!open) return std::nullopt;
      const std::size_t k = plan.txns.size() - 1;
      ApplyPlan::Txn& t = plan.txns.back();
      t.last = i;
      t.after = barrier;
      if (is_barrier) {
        t.after = k == 0 ? ApplyPlan::none : k - 1;
        barrier = k;
      } else {
        for (std::uint64_t h : keys) {
          auto it = last_touch.find(h);
          if (it != last_touch.end() && (t.after == ApplyPlan::none || it->second > t.after)) t.after = it->second;
        }
        for (std::uint64_t h : keys) last_touch[h] = k;
      }
      open.reset();
      continue;
    }
    if (const auto* row = std::get_if<RowChangeView>(&e)) {
      if (!open) return std::nullopt;
      if (row->relation == nullptr) {
        is_barrier = true;
        continue;
      }
      const RelationInfo& rel = *row->relation;
      if (!keyed(rel)) {
        is_barrier = true;
        continue;
      }
      switch (row->op) {
        case ChangeOp::insert:
        case ChangeOp::read: touch(apply_key_hash(rel, row->new_tuple)); break;
        case ChangeOp::update:
          touch(apply_key_hash(rel, row->new_tuple));
          if (row->old_kind != OldTupleKind::none) touch(apply_key_hash(rel, row->old_tuple));
          break;
        case ChangeOp::delete_:
          if (row->old_kind == OldTupleKind::none) is_barrier = true;
          else touch(apply_key_hash(rel, row->old_tuple));
          break;
      }
      continue;
    }
    if (std::holds_alternative<TruncateEventView>(e) || std::holds_alternative<SchemaChangeEvent>(e)) {
      if (!open) return std::nullopt;
      is_barrier = true;
    }
    // Logical messages, stream aborts and two-phase markers are not applied.
  }
  if (open || plan.txns.size() < 2) return std::nullopt;
  return plan;
}

// The engines of PostgresApplySink and its position store (they share it): one engine applies
// everything in order (workers == 1), or several apply the transactions of a batch at once.
class ApplyWorkers {
 public:
  ApplyWorkers(ConnectionConfig cfg, PostgresApplyOptions options) {
    const int n = std::clamp(options.workers, 1, 64);
    if (n > 1 && options.on_conflict_found) {
      options.on_conflict_found = [f = std::move(options.on_conflict_found),
                                   m = std::make_shared<std::mutex>()](const ApplyConflict& c) {
        std::lock_guard lock(*m);
        f(c);
      };
    }
    const std::string origin = options.origin_name;
    for (int w = 0; w < n; ++w) {
      PostgresApplyOptions o = options;
      o.origin_name = apply_worker_origin(origin, w);
      engines_.push_back(std::make_unique<ApplyEngine>(cfg, std::move(o), origin));
    }
    if (n > 1) {
      begin_sql_ = "BEGIN; SET LOCAL lock_timeout = '" + std::to_string(options.parallel_lock_timeout.count()) + "ms'";
    }
  }

  Status write(const Batch& batch) {
    ApplyEngine& first = *engines_.front();
    if (engines_.size() == 1) return first.write(batch);
    if (auto st = first.ensure_connected(); !st) return st;
    std::optional<ApplyPlan> plan;
    if (!first.in_transaction()) {
      std::unordered_map<const RelationInfo*, bool> keyed;
      plan = plan_parallel_apply(batch.events(), [&](const RelationInfo& rel) {
        auto [it, inserted] = keyed.try_emplace(&rel, false);
        if (inserted) {
          auto safe = first.parallel_safe(rel);
          it->second = safe && *safe;  // an error (a missing table): a barrier; the apply names it
        }
        return it->second;
      });
    }
    if (!plan) return serial(batch.events());
    for (auto& e : engines_)
      if (auto st = e->ensure_connected(); !st) return st;
    // Committed before (by any worker, or before a restart): not applied again.
    const Lsn applied = applied_lsn();
    std::size_t from = 0;
    while (from < plan->txns.size() && plan->txns[from].commit_lsn.is_valid() &&
           plan->txns[from].commit_lsn < applied)
      ++from;
    skipped_ += from;
    if (plan->txns.size() - from < 2) {
      if (from == plan->txns.size()) return ok_status();
      return serial(batch.events().subspan(plan->txns[from].first));
    }
    const std::size_t failed = run_parallel(batch.events(), *plan, from);
    if (failed == ApplyPlan::none) return ok_status();
    // What committed is a prefix of the batch; the rest goes again on one connection, in order,
    // whose outcome is the one that counts: a lock wait no key predicted (55P03 from
    // lock_timeout, a deadlock), an error that only the order of the workers caused (a foreign key
    // checked with replica_role off), or a real one, which the serial apply meets again.
    ++serial_retries_;
    return serial(batch.events().subspan(plan->txns[failed].first));
  }

  Status flush() {
    for (auto& e : engines_)
      if (auto st = e->flush(); !st) return st;
    return ok_status();
  }

  Result<std::optional<Position>, ReplicationError> load() {
    if (auto st = engines_.front()->ensure_connected(); !st) return st.error();
    const Lsn lsn = durable_lsn();
    if (!lsn.is_valid()) return std::optional<Position>{};
    Position p;
    p.lsn = lsn;
    p.saved_at = std::chrono::system_clock::now();
    return std::optional<Position>{std::move(p)};
  }

  [[nodiscard]] const ApplyStats& stats() const noexcept {
    if (engines_.size() == 1) return engines_.front()->stats();
    stats_ = ApplyStats{};
    stats_.skipped_transactions = skipped_;
    for (const auto& e : engines_) {
      const ApplyStats& s = e->stats();
      stats_.transactions += s.transactions;
      stats_.skipped_transactions += s.skipped_transactions;
      stats_.inserts += s.inserts;
      stats_.updates += s.updates;
      stats_.deletes += s.deletes;
      stats_.truncates += s.truncates;
      for (std::size_t k = 0; k < kApplyConflictKinds; ++k) stats_.conflicts[k] += s.conflicts[k];
    }
    return stats_;
  }
  // Batches (the rest of them) applied again on one connection after a lock wait between workers.
  [[nodiscard]] std::uint64_t serial_retries() const noexcept { return serial_retries_; }
  [[nodiscard]] Lsn applied_lsn() const noexcept {
    Lsn l;
    for (const auto& e : engines_) l = std::max(l, e->applied_lsn());
    return l;
  }
  [[nodiscard]] Lsn durable_lsn() const noexcept {
    Lsn l;
    for (const auto& e : engines_) l = std::max(l, e->durable_lsn());
    return l;
  }
  [[nodiscard]] std::size_t workers() const noexcept { return engines_.size(); }
  void disconnect() noexcept {
    for (auto& e : engines_) e->disconnect();
  }

 private:
  Status serial(std::span<const ChangeEvent> events) {
    ApplyEngine& first = *engines_.front();
    first.raise_applied(applied_lsn());
    first.set_begin_sql("BEGIN");
    return first.apply_events(events);
  }

  // Runs transactions from..end of `plan` on every engine at once, committing in order; returns
  // the first that failed (rolled back, as every one after it), or none.
  std::size_t run_parallel(std::span<const ChangeEvent> events, const ApplyPlan& plan, std::size_t from) {
    const std::size_t n = plan.txns.size();
    std::mutex m;
    std::condition_variable cv;
    std::size_t next = from, committed = from, failed = ApplyPlan::none;
    auto work = [&](ApplyEngine& engine) {
      engine.set_begin_sql(begin_sql_);
      for (;;) {
        std::size_t k;
        {
          std::unique_lock lock(m);
          if (next >= n || failed < next) return;
          k = next++;
          const std::size_t after = plan.txns[k].after;
          cv.wait(lock, [&] { return failed < k || after == ApplyPlan::none || after < committed; });
          if (failed < k) return;
        }
        const ApplyPlan::Txn& t = plan.txns[k];
        bool cancelled = false;
        Status st = engine.apply_transaction(events.subspan(t.first, t.last - t.first + 1), [&]() -> Status {
          std::unique_lock lock(m);
          cv.wait(lock, [&] { return failed < k || committed == k; });
          if (committed == k) return ok_status();
          cancelled = true;
          return ReplicationError::fatal("apply: rolled back after an earlier transaction failed");
        });
        {
          std::lock_guard lock(m);
          if (st) {
            committed = k + 1;
          } else if (!cancelled && k < failed) {
            failed = k;
          }
        }
        cv.notify_all();
        if (!st) return;
      }
    };
    std::vector<std::thread> threads;
    for (std::size_t w = 1; w < engines_.size(); ++w) threads.emplace_back(work, std::ref(*engines_[w]));
    work(*engines_.front());
    for (auto& t : threads) t.join();
    return failed;
  }

  std::vector<std::unique_ptr<ApplyEngine>> engines_;
  std::string begin_sql_ = "BEGIN";
  std::uint64_t skipped_ = 0;
  std::uint64_t serial_retries_ = 0;
  mutable ApplyStats stats_;
};

}  // namespace detail

class PostgresApplySink {
 public:
  // The position store of this sink: the replication origin on the target. load() is the origin's
  // flushed progress; save() has nothing to do, because the origin moved in each applied target
  // transaction and flush() forced it to disk before the Replicator saves. A position past it
  // (a keepalive after filtered or empty transactions) needs no record: nothing below it is unapplied.
  class PositionStore {
   public:
    [[nodiscard]] Result<std::optional<Position>, ReplicationError> load() { return engine_->load(); }
    Status save(const Position&) { return ok_status(); }
    [[nodiscard]] Lsn origin_lsn() const noexcept { return engine_->durable_lsn(); }

   private:
    friend class PostgresApplySink;
    explicit PositionStore(std::shared_ptr<detail::ApplyWorkers> e) : engine_(std::move(e)) {}
    std::shared_ptr<detail::ApplyWorkers> engine_;
  };

  PostgresApplySink(ConnectionConfig target, PostgresApplyOptions options)
      : engine_(std::make_shared<detail::ApplyWorkers>(std::move(target), std::move(options))) {}

  Status write(const Batch& batch) { return engine_->write(batch); }
  Status flush() { return engine_->flush(); }

  [[nodiscard]] PositionStore position_store() const { return PositionStore(engine_); }
  [[nodiscard]] const ApplyStats& stats() const noexcept { return engine_->stats(); }
  [[nodiscard]] Lsn applied_lsn() const noexcept { return engine_->applied_lsn(); }  // committed on the target
  [[nodiscard]] Lsn durable_lsn() const noexcept { return engine_->durable_lsn(); }  // and flushed there
  [[nodiscard]] std::size_t workers() const noexcept { return engine_->workers(); }
  // workers > 1: batches whose rest was applied again on one connection (a lock wait between workers).
  [[nodiscard]] std::uint64_t serial_retries() const noexcept { return engine_->serial_retries(); }
  void disconnect() noexcept { engine_->disconnect(); }

 private:
  std::shared_ptr<detail::ApplyWorkers> engine_;
};

}  // namespace replicator
