// Initial snapshot: create the slot with an exported snapshot, copy every published table from that
// snapshot (COPY, several tables in parallel) into the sink as `read` events, record completion in
// the position store, so streaming from the slot's consistent point misses and repeats nothing.
//   SnapshotOptions so;  so.slot_name = "cdc";  so.publication_names = {"pub"};
//   auto report = run_initial_snapshot(conn_cfg, so, store, sink, stop);  // then stream as usual
//   // report->outcome: completed (rows copied, position saved at the consistent point) or skipped
// Restart rule (docs/snapshot.md): before the slot is created a marker (a position with LSN 0/0) is
// saved; a slot found with that marker is from an interrupted snapshot and is dropped and redone.
#pragma once

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "replicator/core/backoff.hpp"
#include "replicator/batch/batch.hpp"
#include "replicator/change/event.hpp"
#include "replicator/concepts.hpp"
#include "replicator/core/error.hpp"
#include "replicator/filter/change_filter.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/position/position.hpp"
#include "replicator/snapshot/copy_row.hpp"
#include "replicator/snapshot/progress.hpp"
#include "replicator/snapshot/tables.hpp"
#include "replicator/pg/connection.hpp"
#include "replicator/pg/slot.hpp"

namespace replicator::snapshot {

// initial: copy when the slot is created (the default); never: stream only; initial_only: copy
// (creating the slot), record it, and stop: a later run streams from the consistent point.
enum class SnapshotMode : std::uint8_t { initial, never, initial_only };

constexpr std::string_view to_string(SnapshotMode m) noexcept {
  switch (m) {
    case SnapshotMode::initial: return "initial";
    case SnapshotMode::never: return "never";
    case SnapshotMode::initial_only: return "initial_only";
  }
  return "unknown";
}

[[nodiscard]] inline Result<SnapshotMode, ReplicationError> parse_snapshot_mode(std::string_view s) {
  if (s == "initial") return SnapshotMode::initial;
  if (s == "never") return SnapshotMode::never;
  if (s == "initial_only") return SnapshotMode::initial_only;
  return ReplicationError::fatal(
      "unknown snapshot mode '" + replicator::detail::printable(s) + "' (expected initial, never or initial_only)",
      "22023");
}

struct SnapshotOptions {
  SnapshotMode mode = SnapshotMode::initial;
  std::string slot_name;
  std::vector<std::string> publication_names;
  std::string plugin = "pgoutput";
  bool create_slot = true;               // false: a missing slot is an error, as when streaming
  bool two_phase = false;                // create the slot with TWO_PHASE (as LibpqTransport would)
  TableFilter tables{};                  // which published tables to copy
  CopyFormat format = CopyFormat::text;  // binary: values in the types' send format (like binary=true)
  int parallelism = 2;                   // tables copied at once, each on its own connection importing the snapshot
  std::size_t batch_rows = 1000;         // rows per sink write
  std::size_t batch_bytes = 1u << 20;    // or this many value bytes
  std::chrono::milliseconds progress_interval{1000};
  std::function<void(const SnapshotProgress&)> on_progress{};  // from the calling thread; last call has finished
  std::function<void(const SnapshotTable&, std::uint64_t rows)> on_table_done{};  // from a worker thread
  // run_initial_snapshot: the slot was created; the copy of its snapshot starts now.
  std::function<void(Lsn consistent_point, std::string_view snapshot_name)> on_copy_start{};
  // run_initial_snapshot retries a retryable failure (the server restarting, a cut) after these
  // delays, redoing the snapshot (the marker makes that safe); nullopt: one attempt, its error returned.
  std::optional<BackoffOptions> reconnect{};
  std::function<void(const ReplicationError&, int attempt, std::chrono::milliseconds delay)> on_retry{};
};

[[nodiscard]] inline Status validate_snapshot_options(const SnapshotOptions& o) {
  if (auto st = validate_slot_name(o.slot_name); !st) return st;
  if (o.publication_names.empty()) return ReplicationError::fatal("snapshot: no publication given", "22023");
  if (o.parallelism < 1 || o.parallelism > 64) {
    return ReplicationError::fatal("snapshot parallelism must be 1-64 (got " + std::to_string(o.parallelism) + ")",
                                   "22023");
  }
  if (o.batch_rows == 0 || o.batch_bytes == 0)
    return ReplicationError::fatal("snapshot batch limits must be > 0", "22023");
  return ok_status();
}

// What run_initial_snapshot did.
enum class SnapshotOutcome : std::uint8_t {
  skipped,    // mode never, or the slot already existed with no interrupted snapshot: stream only
  completed,  // rows copied and the consistent point saved as the position
};

struct SnapshotReport {
  SnapshotOutcome outcome = SnapshotOutcome::skipped;
  std::string reason;      // why skipped, in words
  bool restarted = false;  // an interrupted snapshot's slot was dropped and the snapshot redone
  Lsn consistent_point;    // completed: streaming starts here
  std::string snapshot_name;
  std::size_t tables = 0;
  std::uint64_t rows = 0;
  SnapshotProgress progress{};
};

// The marker saved before the slot is created: a position with LSN 0/0 (never a real position).
[[nodiscard]] inline bool is_snapshot_marker(const Position& p) noexcept { return !p.lsn.is_valid(); }

namespace detail {

// Exported snapshot names look like 00000003-00000002-1: hex digits and dashes only.
inline bool plausible_snapshot_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f') || c == '-')) return false;
  return true;
}

// Cancels the query running on `conn` once `stop` is set, for as long as it lives. The listing
// waits for table locks too: from PostgreSQL 16, pg_publication_tables opens every published table.
class CancelOnStop {
 public:
  CancelOnStop(PGconn* conn, const std::atomic<bool>& stop)
      : cancel_(conn), watcher_([this, &stop](std::stop_token done) {
          while (!done.stop_requested()) {
            if (stop.load()) {
              cancel_.cancel();
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        }) {}
  CancelOnStop(const CancelOnStop&) = delete;
  CancelOnStop& operator=(const CancelOnStop&) = delete;
  ~CancelOnStop() {
    watcher_.request_stop();
    watcher_.join();  // before the handle it uses is freed
  }

 private:
  QueryCancel cancel_;
  std::jthread watcher_;
};

// One copy connection inside a REPEATABLE READ transaction that imported the snapshot.
inline Result<PgConnection, ReplicationError> open_snapshot_connection(const ConnectionConfig& cfg,
                                                                       std::string_view snapshot_name) {
  auto conn = PgConnection::connect(cfg, ConnectionKind::normal);
  if (!conn) return conn.error();
  // Values in the server encoding, byte for byte what pgoutput sends; no timeouts on a long COPY.
  auto set = conn->exec(
      "SELECT pg_catalog.set_config('client_encoding', pg_catalog.current_setting('server_encoding'), "
      "false), pg_catalog.set_config('statement_timeout', '0', false), "
      "pg_catalog.set_config('idle_in_transaction_session_timeout', '0', false)",
      "snapshot: preparing a copy connection");
  if (!set) return set.error();
  if (auto r = conn->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "snapshot: BEGIN"); !r) return r.error();
  const std::string sql = "SET TRANSACTION SNAPSHOT '" + std::string(snapshot_name) + "'";
  if (auto r = conn->exec(sql, "snapshot: importing snapshot " + std::string(snapshot_name)); !r) return r.error();
  return std::move(*conn);
}

// Copies one table on `conn` into `sink` (under `sink_mutex`) in batches of read events.
template <class Sink>
Result<std::uint64_t, ReplicationError> copy_table(PgConnection& conn, const SnapshotTable& table,
                                                   const SnapshotOptions& o, Lsn consistent_point, Sink& sink,
                                                   std::mutex& sink_mutex, ProgressCounters& counters,
                                                   const std::atomic<bool>& abort) {
  const std::string context = "snapshot: copying " + table.quoted_name();
  PgResult started(PQexec(conn.get(), table.copy_sql(o.format).c_str()));
  if (!started.get() || PQresultStatus(started.get()) != PGRES_COPY_OUT) {
    return conn.error_from_result(started.get(), context);
  }
  CopyRowDecoder rows(o.format, static_cast<std::uint16_t>(table.relation.columns.size()));
  Batch batch;
  std::uint64_t reported_rows = 0;
  std::uint64_t reported_bytes = 0;
  auto write = [&]() -> Status {
    if (!batch.empty()) {
      std::lock_guard lock(sink_mutex);
      if (auto st = sink.write(batch); !st) return st;
    }
    batch.clear();
    counters.add_rows(rows.rows() - reported_rows, rows.bytes() - reported_bytes);
    reported_rows = rows.rows();
    reported_bytes = rows.bytes();
    return ok_status();
  };
  RowChangeView event;
  event.op = ChangeOp::read;
  event.lsn = consistent_point;
  event.txn.commit_lsn = consistent_point;
  event.relation = &table.relation;
  std::optional<ReplicationError> failed;
  for (;;) {
    char* buf = nullptr;
    const int n = PQgetCopyData(conn.get(), &buf, /*async=*/0);
    if (n == -1) break;  // COPY done
    if (n < 0) return conn.connection_error(context);
    std::unique_ptr<char, void (*)(void*)> owned(buf, &PQfreemem);
    if (abort.load(std::memory_order_relaxed)) {
      return ReplicationError::retry("snapshot interrupted while copying " + table.quoted_name());
    }
    auto st = rows.feed(std::as_bytes(std::span(buf, static_cast<std::size_t>(n))), [&](TupleView tuple) -> Status {
      event.new_tuple = tuple;
      batch.append(ChangeEvent{event});
      if (batch.size() >= o.batch_rows || batch.bytes() >= o.batch_bytes) return write();
      return ok_status();
    });
    if (!st) return st.error();  // the connection is abandoned mid-COPY: the caller closes it
  }
  for (;;) {  // the COPY command's result, then the end of results
    PgResult res(PQgetResult(conn.get()));
    if (!res.get()) break;
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK && !failed) failed = conn.error_from_result(res.get(), context);
  }
  if (failed) return *failed;
  if (auto st = rows.finish(); !st) return st.error();
  if (auto st = write(); !st) return st.error();
  return rows.rows();
}

}  // namespace detail

struct CopyResult {
  std::size_t tables = 0;
  std::uint64_t rows = 0;
  SnapshotProgress progress{};
};

// Copies every published table (o.tables filter applied) from the exported snapshot `snapshot_name`
// into `sink` as read events at `consistent_point`, then flushes the sink. The exporting replication
// connection must stay open and idle until this returns (the copy connections import the snapshot
// first, while it is still exported). `stop` (or any failure) ends all workers; the result is then
// an error and the sink holds a partial copy.
template <class Sink>
[[nodiscard]] Result<CopyResult, ReplicationError> copy_snapshot(const ConnectionConfig& cfg,
                                                                 std::string_view snapshot_name, Lsn consistent_point,
                                                                 Sink& sink, const SnapshotOptions& o,
                                                                 const std::atomic<bool>& stop) {
  static_assert(SinkPolicy<Sink>, "copy_snapshot: Sink must satisfy SinkPolicy (write(const Batch&), flush())");
  if (auto st = validate_snapshot_options(o); !st) return st.error();
  if (!detail::plausible_snapshot_name(snapshot_name)) {
    return ReplicationError::fatal(
        "snapshot: implausible exported snapshot name \"" + replicator::detail::printable(snapshot_name) + "\"",
        "08P01");
  }
  // 1. One connection imports the snapshot and lists the tables as the snapshot sees them.
  std::vector<PgConnection> conns;
  auto first = detail::open_snapshot_connection(cfg, snapshot_name);
  if (!first) return first.error();
  conns.push_back(std::move(*first));
  auto listed = [&] {
    detail::CancelOnStop cancel_on_stop(conns.front().get(), stop);
    return list_snapshot_tables(conns.front(), o.publication_names, o.tables);
  }();
  if (stop.load()) return ReplicationError::retry("snapshot interrupted by a stop request");
  if (!listed) return listed.error();
  std::vector<SnapshotTable> tables = std::move(*listed);
  // Biggest first, so one large table does not start last and run alone.
  std::stable_sort(tables.begin(), tables.end(),
                   [](const SnapshotTable& a, const SnapshotTable& b) { return a.estimated_rows > b.estimated_rows; });
  // 2. The other workers import it too, all before anything else runs on the exporting connection.
  const std::size_t workers =
      std::max<std::size_t>(1, std::min<std::size_t>(static_cast<std::size_t>(o.parallelism), tables.size()));
  while (conns.size() < workers) {
    if (stop.load()) return ReplicationError::retry("snapshot interrupted");
    auto c = detail::open_snapshot_connection(cfg, snapshot_name);
    if (!c) return c.error();
    conns.push_back(std::move(*c));
  }
  std::uint64_t estimated = 0;
  for (const auto& t : tables) estimated += static_cast<std::uint64_t>(t.estimated_rows);
  ProgressCounters counters(tables.size(), estimated);

  // 3. Workers take tables from a shared index; the first failure stops the others. A worker may
  // be blocked in the server (a COPY waiting for a lock): cancel requests reach it there.
  std::vector<QueryCancel> cancels;
  cancels.reserve(conns.size());
  for (auto& c : conns) cancels.emplace_back(c.get());
  std::mutex sink_mutex;
  std::mutex state_mutex;
  std::condition_variable changed;
  std::optional<ReplicationError> first_error;
  std::size_t running = workers;
  std::atomic<bool> abort{false};
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> total_rows{0};
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      PgConnection& conn = conns[w];
      std::optional<ReplicationError> error;
      for (;;) {
        if (abort.load()) break;
        const std::size_t i = next.fetch_add(1);
        if (i >= tables.size()) break;
        auto copied = detail::copy_table(conn, tables[i], o, consistent_point, sink, sink_mutex, counters, abort);
        if (!copied) {
          error = copied.error();
          break;
        }
        total_rows.fetch_add(*copied);
        counters.table_done();
        if (o.on_table_done) o.on_table_done(tables[i], *copied);
      }
      if (error) conn.close();  // possibly mid-COPY: drop the connection rather than drain it
      std::lock_guard lock(state_mutex);
      if (error && !first_error) first_error = std::move(error);
      if (first_error) abort.store(true);
      --running;
      changed.notify_all();
    });
  }
  {
    std::unique_lock lock(state_mutex);
    auto last_progress = std::chrono::steady_clock::now();
    bool cancelled = false;
    while (running > 0) {
      changed.wait_for(lock, std::min<std::chrono::milliseconds>(o.progress_interval, std::chrono::milliseconds(100)));
      if (stop.load() && !first_error) {
        first_error = ReplicationError::retry("snapshot interrupted by a stop request");
        abort.store(true);
      }
      if (abort.load() && !cancelled) {
        cancelled = true;
        for (const QueryCancel& c : cancels) c.cancel();
      }
      const auto now = std::chrono::steady_clock::now();
      if (o.on_progress && now - last_progress >= o.progress_interval && running > 0) {
        last_progress = now;
        lock.unlock();
        o.on_progress(counters.read());
        lock.lock();
      }
    }
  }
  for (auto& t : threads) t.join();
  if (first_error) return *first_error;
  for (auto& c : conns) (void)c.exec("COMMIT", "snapshot: COMMIT");  // read-only: just ends the transaction
  if (auto st = sink.flush(); !st) return st.error();
  counters.finish();
  CopyResult result;
  result.tables = tables.size();
  result.rows = total_rows.load();
  result.progress = counters.read();
  if (o.on_progress) o.on_progress(result.progress);
  return result;
}

// The whole initial snapshot with restart safety. Decides from the position store and the slot:
//   mode never:                      skipped (an interrupted snapshot's marker is a fatal error: gap)
//   slot exists, no marker:          skipped (copied before, or a slot made elsewhere): stream only
//   slot exists, marker:             an interrupted snapshot: the slot is dropped and everything redone
//   slot missing:                    marker saved, slot created exporting its snapshot, tables copied,
//                                    sink flushed, position saved at the consistent point (= done)
// On failure the new slot is dropped (best effort) and the marker stays, so a restart redoes it.
// With o.reconnect, a retryable failure is waited out (o.on_retry told) and the snapshot redone,
// until it completes, fails fatally, or `stop` is set (then the last error is returned).
template <class Store, class Sink>
[[nodiscard]] Result<SnapshotReport, ReplicationError> run_initial_snapshot(const ConnectionConfig& cfg,
                                                                            const SnapshotOptions& o, Store& store,
                                                                            Sink& sink, const std::atomic<bool>& stop);

namespace detail {
template <class Store, class Sink>
[[nodiscard]] Result<SnapshotReport, ReplicationError> initial_snapshot_attempt(const ConnectionConfig& cfg,
                                                                                const SnapshotOptions& o, Store& store,
                                                                                Sink& sink,
                                                                                const std::atomic<bool>& stop) {
  const std::string q = "\"" + o.slot_name + "\"";
  auto stored = store.load();
  if (!stored) return stored.error();
  if (stored->has_value() && !(*stored)->slot.empty() && (*stored)->slot != o.slot_name) {
    return ReplicationError::fatal("the stored position belongs to slot \"" + (*stored)->slot + "\", not " + q +
                                   ": use another position store for this slot");
  }
  const bool marker = stored->has_value() && is_snapshot_marker(**stored);
  SnapshotReport report;
  if (o.mode == SnapshotMode::never) {
    if (marker) {
      return ReplicationError::fatal(
          "the initial snapshot for slot " + q +
              " was interrupted and never completed, so streaming now would "
              "miss rows; run with snapshot_mode initial to redo it (the slot is dropped and re-created), or remove "
              "the stored position to accept the gap",
          "55000");
    }
    report.reason = "snapshot_mode never";
    return report;
  }
  if (stored->has_value() && !marker) {
    // Streaming began before: never copy again (a missing slot or another cluster must stop the
    // program, not be papered over with a new slot and a fresh copy). The stream checks the slot,
    // the cluster and the timeline against this position.
    report.reason = "a position is stored for slot " + q + ": streaming resumes from it";
    return report;
  }

  auto mgmt = PgConnection::connect(cfg, ConnectionKind::normal);
  if (!mgmt) return mgmt.error();
  auto slot = find_slot(*mgmt, o.slot_name);
  if (!slot) return slot.error();
  if (slot->has_value()) {
    if (!marker) {
      report.reason = "slot " + q + " already exists (snapshot done before, or a slot made elsewhere): streaming only";
      return report;
    }
    if ((*slot)->active) {
      return ReplicationError::retry("replication slot " + q + " of an interrupted snapshot is in use by pid " +
                                         std::to_string((*slot)->active_pid) + "; waiting for it to be released",
                                     "55006");
    }
    const std::string params[] = {o.slot_name};
    auto dropped = mgmt->exec_params("SELECT pg_catalog.pg_drop_replication_slot($1)", params,
                                     "dropping the slot " + q + " of an interrupted snapshot");
    if (!dropped) return dropped.error();
    report.restarted = true;
  } else if (!o.create_slot) {
    return ReplicationError::fatal("replication slot " + q +
                                       " does not exist and creating it is turned off; "
                                       "an initial snapshot needs to create it (or use snapshot_mode never)",
                                   "42704");
  }
  // Publications first: a missing one must not leave a slot behind.
  for (const auto& name : o.publication_names) {
    if (auto pub = check_publication(*mgmt, name); !pub) return pub.error();
  }
  mgmt->close();

  auto repl = PgConnection::connect(cfg, ConnectionKind::replication);
  if (!repl) return repl.error();
  auto id = identify_system(*repl);
  if (!id) return id.error();
  std::uint64_t system_id = 0;
  (void)std::from_chars(id->systemid.data(), id->systemid.data() + id->systemid.size(), system_id);
  if (auto st = store.save(Position{Lsn{}, id->timeline, o.slot_name, system_id, std::chrono::system_clock::now()});
      !st) {
    return st.error();
  }
  SlotOptions so;
  so.name = o.slot_name;
  so.plugin = o.plugin;
  so.two_phase = o.two_phase;
  so.snapshot = SnapshotAction::export_snapshot;
  auto created = create_slot(*repl, so);
  if (!created) return created.error();
  report.consistent_point = created->consistent_point;
  report.snapshot_name = created->snapshot_name;
  if (o.on_copy_start) o.on_copy_start(created->consistent_point, created->snapshot_name);

  auto copied = copy_snapshot(cfg, created->snapshot_name, created->consistent_point, sink, o, stop);
  if (!copied) {
    // The slot is useless without its copy; the marker stays, so a restart redoes the snapshot
    // even if this drop does not happen (crash, server gone).
    if (repl->is_open()) (void)drop_slot(*repl, o.slot_name, false);
    return copied.error();
  }
  report.tables = copied->tables;
  report.rows = copied->rows;
  report.progress = copied->progress;
  // Completion: the position at the consistent point replaces the marker (the sink is already flushed).
  if (auto st = store.save(
          Position{created->consistent_point, id->timeline, o.slot_name, system_id, std::chrono::system_clock::now()});
      !st) {
    (void)drop_slot(*repl, o.slot_name, false);
    return st.error();
  }
  repl->close();  // the slot stays; the stream opens its own connection
  report.outcome = SnapshotOutcome::completed;
  return report;
}

}  // namespace detail

template <class Store, class Sink>
[[nodiscard]] Result<SnapshotReport, ReplicationError> run_initial_snapshot(const ConnectionConfig& cfg,
                                                                            const SnapshotOptions& o, Store& store,
                                                                            Sink& sink, const std::atomic<bool>& stop) {
  static_assert(PositionStorePolicy<Store>, "run_initial_snapshot: Store must satisfy PositionStorePolicy");
  static_assert(SinkPolicy<Sink>, "run_initial_snapshot: Sink must satisfy SinkPolicy");
  if (auto st = validate_snapshot_options(o); !st) return st.error();
  std::optional<Backoff> backoff;
  if (o.reconnect) backoff.emplace(*o.reconnect);
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    auto report = detail::initial_snapshot_attempt(cfg, o, store, sink, stop);
    if (report || !backoff || !report.error().retryable() || stop.load()) return report;
    backoff->record_healthy(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started));
    const auto delay = backoff->next_delay();
    if (o.on_retry) o.on_retry(report.error(), backoff->attempts(), delay);
    if (!sleep_unless_stopped(delay, [&stop] { return stop.load(); })) return report;
  }
}

}  // namespace replicator::snapshot
