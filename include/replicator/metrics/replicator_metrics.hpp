// The replicator's metrics (names in README.md's table), a thin layer over ReplicatorStats and the
// observer: attach() chains the observer's callbacks and samples stats() after each poll (relaxed
// atomic stores, no lock, no allocation once a table's counter exists); expose() is for a scraper.
//   metrics::ReplicatorMetrics m("0.1.0");
//   m.attach(replicator);               // before run(); keeps callbacks already set
//   auto server = metrics::HttpServer::start({.address = "127.0.0.1:9187"}, m.http_handler());
#pragma once

#include <chrono>
#include <limits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>

#include "replicator/batch/batch.hpp"
#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/metrics/http_server.hpp"
#include "replicator/metrics/registry.hpp"
#include "replicator/replicator.hpp"

namespace replicator::metrics {

// pg_replication_slots.wal_status values, in the order of growing danger.
inline constexpr std::string_view kWalStatuses[] = {"reserved", "extended", "unreserved", "lost"};

class ReplicatorMetrics {
 public:
  explicit ReplicatorMetrics(std::string_view version = "unknown") {
    build_info_.with({std::string(version)}).set(1);
    up_.get().set(1);
    for (auto s : kWalStatuses) slot_wal_status_.with({s}).set(0);
  }
  ReplicatorMetrics(const ReplicatorMetrics&) = delete;
  ReplicatorMetrics& operator=(const ReplicatorMetrics&) = delete;

  [[nodiscard]] Registry& registry() noexcept { return registry_; }
  [[nodiscard]] std::string expose() const { return registry_.expose(); }

  // Chains onto r's observer: what was set before still runs (after the metrics update).
  template <class R>
  void attach(R& r) {
    ReplicatorObserver& o = r.observer();
    o.started = chain(std::move(o.started), [this, &r] {
      set_state(true, true, false);
      sample(r);
    });
    o.retrying = chain(std::move(o.retrying),
                       [this](const ReplicationError& e, std::string_view during, int, std::chrono::milliseconds) {
                         record_error(e);
                         reconnects_.with({during}).inc();
                         set_state(false, false, true);
                       });
    o.resumed = chain(std::move(o.resumed), [this, &r](Lsn) {
      set_state(true, true, false);
      sample(r);
    });
    // While messages stream, every 32nd poll is sampled (a scrape sees numbers at most 32
    // messages old); an idle poll (a keepalive, a timeout) always is, so idle numbers are exact.
    o.progressed = chain(std::move(o.progressed), [this, &r] {
      if (sampler_.due(r.stats().messages)) sample(r);
    });
    o.batch_flushed =
        chain(std::move(o.batch_flushed), [this](const Batch& b, std::chrono::nanoseconds t) { record_batch(b, t); });
    o.position_saved = chain(std::move(o.position_saved), [this](std::chrono::nanoseconds t) {
      position_save_seconds_.get().observe(std::chrono::duration<double>(t).count());
    });
    o.save_failed = chain(std::move(o.save_failed), [this](const ReplicationError& e, int, std::chrono::milliseconds) {
      record_error(e);
      position_save_failures_.inc();
    });
  }

  // Copies r's stats and positions into the gauges and counters (the replication thread).
  template <class R>
  void sample(const R& r) noexcept {
    const ReplicatorStats& s = r.stats();
    messages_.set(s.messages);
    bytes_received_.set(s.bytes_received);
    batches_.set(s.batches);
    events_.set(s.events);
    filtered_.set(s.filtered);
    events_written_.set(s.events_written);
    keepalives_.set(s.keepalives);
    status_updates_.set(s.status_updates);
    received_lsn_.set(static_cast<double>(r.written_lsn().value()));
    flushed_lsn_.set(static_cast<double>(r.durable_lsn().value()));
    const Lsn confirmed = r.flushed_lsn();
    confirmed_lsn_.set(static_cast<double>(confirmed.value()));
    const Lsn server = s.server_wal_end;
    server_wal_lsn_.set(static_cast<double>(server.value()));
    lag_bytes_.set(server > confirmed && confirmed.is_valid() ? static_cast<double>(server.value() - confirmed.value())
                                                              : 0.0);
  }

  void record_batch(const Batch& batch, std::chrono::nanoseconds elapsed) {
    batch_changes_.get().observe(static_cast<double>(batch.rows()));
    sink_flush_seconds_.get().observe(std::chrono::duration<double>(elapsed).count());
    PgTimestamp last_commit{};
    bool have_commit = false;
    for (const ChangeEvent& e : batch) {
      if (const auto* row = std::get_if<RowChangeView>(&e)) {
        changes_counter(row->relation, to_string(row->op)).inc();
        if (row->txn.commit_lsn.is_valid()) last_commit = row->txn.commit_time, have_commit = true;
      } else if (const auto* t = std::get_if<TruncateEventView>(&e)) {
        for (const RelationInfo* rel : t->relations) changes_counter(rel, "truncate").inc();
      } else if (const auto* c = std::get_if<CommitEvent>(&e)) {
        last_commit = c->txn.commit_time, have_commit = true;
      }
    }
    if (have_commit) {
      const double commit_s = static_cast<double>(last_commit.unix_micros()) / 1e6;
      const double now_s = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
      last_commit_timestamp_.set(commit_s);
      commit_lag_seconds_.set(now_s > commit_s ? now_s - commit_s : 0.0);
    }
  }

  // errors_total{class, sqlstate}; retryable ones come through attach(), a fatal one from the caller.
  void record_error(const ReplicationError& e) {
    errors_.with({e.retryable() ? "retryable" : "fatal", e.sqlstate.empty() ? std::string_view("none") : e.sqlstate})
        .inc();
  }

  void set_state(bool connected, bool streaming, bool backoff) noexcept {
    connected_.set(connected ? 1 : 0);
    streaming_.set(streaming ? 1 : 0);
    backoff_.set(backoff ? 1 : 0);
  }
  // /readyz: streaming and not waiting to reconnect.
  [[nodiscard]] bool ready() const noexcept { return streaming_.value() == 1 && backoff_.value() == 0; }

  // Slot health from pg_replication_slots (pg/slot_health.hpp reads it).
  void record_slot(std::uint64_t retained_wal_bytes, std::optional<std::int64_t> safe_wal_size_bytes,
                   std::string_view wal_status, bool active, bool over_warn_threshold) {
    slot_retained_wal_bytes_.set(static_cast<double>(retained_wal_bytes));
    // NULL (max_slot_wal_keep_size = -1: no limit) is shown as +Inf: no amount of WAL invalidates it.
    slot_safe_wal_size_bytes_.set(safe_wal_size_bytes ? static_cast<double>(*safe_wal_size_bytes)
                                                      : std::numeric_limits<double>::infinity());
    for (auto s : kWalStatuses) slot_wal_status_.with({s}).set(s == wal_status ? 1 : 0);
    slot_active_.set(active ? 1 : 0);
    slot_retained_wal_warning_.set(over_warn_threshold ? 1 : 0);
    slot_checks_.inc();
  }
  void record_slot_check_failure() noexcept { slot_check_failures_.inc(); }
  void record_heartbeat(bool ok) noexcept { (ok ? heartbeats_ : heartbeat_failures_).inc(); }

  void record_snapshot(std::uint64_t rows, std::size_t tables_done, std::size_t tables_total) noexcept {
    snapshot_rows_.set(rows);
    snapshot_tables_done_.set(static_cast<double>(tables_done));
    snapshot_tables_total_.set(static_cast<double>(tables_total));
  }

  // GET|HEAD /metrics, /healthz (alive), /readyz (ready()); 404 elsewhere, 405 for other methods.
  [[nodiscard]] HttpHandler http_handler() {
    return [this](const HttpRequestView& req) -> HttpResponse {
      const std::string_view path = req.path();
      const bool known = path == "/metrics" || path == "/healthz" || path == "/readyz";
      if (!known) return {404, "text/plain; charset=utf-8", "not found\n"};
      if (req.method != "GET" && req.method != "HEAD")
        return {405, "text/plain; charset=utf-8", "method not allowed\n", "GET, HEAD"};
      if (path == "/metrics") return {200, std::string(Registry::kContentType), expose()};
      if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
      if (ready()) return {200, "text/plain; charset=utf-8", "ready\n"};
      return {503, "text/plain; charset=utf-8",
              backoff_.value() == 1 ? "not ready: reconnecting\n" : "not ready: not streaming\n"};
    };
  }

 private:
  template <class F, class G>
  static F chain(F before, G mine) {
    if (!before) return F(std::move(mine));
    return F([before = std::move(before), mine = std::move(mine)](auto&&... args) {
      mine(args...);
      before(args...);
    });
  }

  // One counter per (table, op), found through the relation's oid without building a string.
  Counter& changes_counter(const RelationInfo* rel, std::string_view op) {
    const char op_key = op.empty() ? '?' : op[0];
    // The same table and op as the row before (the usual case within a batch): no lookup.
    if (rel == last_rel_ && op_key == last_op_ && last_counter_ != nullptr && (rel == nullptr || rel->oid == last_oid_))
      return *last_counter_;
    const std::uint64_t oid = rel != nullptr ? rel->oid : 0;
    // insert, update, delete, read, truncate: the first letter tells them apart
    auto& slot = change_cache_[(oid << 8) | static_cast<unsigned char>(op_key)];
    if (slot.counter == nullptr || (rel != nullptr && (slot.schema != rel->schema || slot.name != rel->name))) {
      slot.schema = rel != nullptr ? rel->schema : std::string();
      slot.name = rel != nullptr ? rel->name : std::string("unknown");
      const std::string table = rel != nullptr ? slot.schema + "." + slot.name : slot.name;
      slot.counter = &changes_.with({table, op});
    }
    last_rel_ = rel;
    last_oid_ = oid;
    last_op_ = op_key;
    last_counter_ = slot.counter;
    return *slot.counter;
  }

  struct CachedCounter {
    std::string schema, name;
    Counter* counter = nullptr;
  };

  Registry registry_;
  Family<Counter>& changes_ = registry_.counter(
      "replicator_changes_total", "Row changes written to the sink, by table and operation.", {"table", "op"});
  Counter& messages_ = registry_.counter("replicator_messages_total", "WAL messages received from the server.").get();
  Counter& bytes_received_ =
      registry_.counter("replicator_bytes_received_total", "Payload bytes of the WAL messages received.").get();
  Counter& events_ = registry_.counter("replicator_events_total", "Change events decoded (before filtering).").get();
  Counter& filtered_ =
      registry_.counter("replicator_filtered_total", "Change events dropped by the table/operation filter.").get();
  Counter& events_written_ = registry_
                                 .counter("replicator_events_written_total",
                                          "Events written to the sink (changes, begins, commits, messages).")
                                 .get();
  Counter& batches_ = registry_.counter("replicator_batches_total", "Batches written and flushed by the sink.").get();
  Counter& keepalives_ = registry_.counter("replicator_keepalives_total", "Primary keepalive messages received.").get();
  Counter& status_updates_ = registry_.counter("replicator_status_updates_total", "Standby status updates sent.").get();
  Family<Histogram>& batch_changes_ = registry_.histogram("replicator_batch_changes", "Row changes per batch written.",
                                                          {1, 10, 100, 1000, 10000, 100000});
  Family<Histogram>& sink_flush_seconds_ =
      registry_.histogram("replicator_sink_flush_seconds", "Time the sink took to write and flush one batch.",
                          exponential_buckets(0.0001, 4, 10));
  Family<Histogram>& position_save_seconds_ =
      registry_.histogram("replicator_position_save_seconds", "Time the position store took to save a position.",
                          exponential_buckets(0.0001, 4, 10));
  Gauge& received_lsn_ =
      registry_.gauge("replicator_received_lsn", "Last WAL position received (LSN as a number).").get();
  Gauge& flushed_lsn_ =
      registry_.gauge("replicator_flushed_lsn", "Last WAL position durable in the sink (LSN as a number).").get();
  Gauge& confirmed_lsn_ =
      registry_
          .gauge("replicator_confirmed_lsn", "Last WAL position saved and confirmed to the server (LSN as a number).")
          .get();
  Gauge& server_wal_lsn_ = registry_
                               .gauge("replicator_server_wal_lsn",
                                      "The server's WAL end from its last message or keepalive (LSN as a number).")
                               .get();
  Gauge& lag_bytes_ =
      registry_.gauge("replicator_lag_bytes", "Server WAL end minus the confirmed position, in bytes.").get();
  Gauge& commit_lag_seconds_ = registry_
                                   .gauge("replicator_commit_lag_seconds",
                                          "When the last batch was flushed: that time minus its last commit timestamp.")
                                   .get();
  Gauge& last_commit_timestamp_ = registry_
                                      .gauge("replicator_last_commit_timestamp_seconds",
                                             "Commit timestamp (Unix seconds) of the last transaction written.")
                                      .get();
  Family<Counter>& reconnects_ = registry_.counter(
      "replicator_reconnects_total",
      "Reconnects after a retryable error, by what was failing (connecting, replication).", {"reason"});
  Counter& position_save_failures_ =
      registry_
          .counter("replicator_position_save_failures_total",
                   "Position saves that failed for now and were retried while streaming went on.")
          .get();
  Family<Counter>& errors_ = registry_.counter(
      "replicator_errors_total", "Errors, by class (fatal, retryable) and SQLSTATE (none when not from the server).",
      {"class", "sqlstate"});
  Gauge& connected_ = registry_.gauge("replicator_connected", "1 while connected to the server.").get();
  Gauge& streaming_ = registry_.gauge("replicator_streaming", "1 while streaming changes.").get();
  Gauge& backoff_ = registry_.gauge("replicator_backoff", "1 while waiting to reconnect after an error.").get();
  Family<Gauge>& up_ = registry_.gauge("replicator_up", "1 while the process runs.");
  Family<Gauge>& build_info_ =
      registry_.gauge("replicator_build_info", "Always 1; the version is a label.", {"version"});
  Gauge& slot_retained_wal_bytes_ =
      registry_.gauge("replicator_slot_retained_wal_bytes", "WAL the slot keeps: pg_current_wal_lsn() - restart_lsn.")
          .get();
  Gauge& slot_safe_wal_size_bytes_ =
      registry_
          .gauge("replicator_slot_safe_wal_size_bytes",
                 "WAL that can still be written before the slot is at risk (safe_wal_size; +Inf: no limit).")
          .get();
  Family<Gauge>& slot_wal_status_ =
      registry_.gauge("replicator_slot_wal_status", "1 for the slot's current wal_status.", {"status"});
  Gauge& slot_active_ = registry_.gauge("replicator_slot_active", "1 while the slot is in use by a walsender.").get();
  Gauge& slot_retained_wal_warning_ =
      registry_
          .gauge("replicator_slot_retained_wal_warning", "1 while retained WAL is above slot_retained_wal_warn_bytes.")
          .get();
  Counter& slot_checks_ = registry_.counter("replicator_slot_checks_total", "Slot health checks done.").get();
  Counter& slot_check_failures_ =
      registry_.counter("replicator_slot_check_failures_total", "Slot health checks that failed.").get();
  Counter& heartbeats_ =
      registry_.counter("replicator_heartbeats_total", "Heartbeats written to keep an idle slot moving.").get();
  Counter& heartbeat_failures_ =
      registry_.counter("replicator_heartbeat_failures_total", "Heartbeats that failed.").get();
  Counter& snapshot_rows_ =
      registry_.counter("replicator_snapshot_rows_total", "Rows copied by the initial snapshot.").get();
  Gauge& snapshot_tables_done_ =
      registry_.gauge("replicator_snapshot_tables_done", "Tables the initial snapshot has copied.").get();
  Gauge& snapshot_tables_total_ =
      registry_.gauge("replicator_snapshot_tables", "Tables the initial snapshot copies.").get();
  std::unordered_map<std::uint64_t, CachedCounter> change_cache_;
  ProgressSampler<32> sampler_;
  const RelationInfo* last_rel_ = nullptr;
  std::uint64_t last_oid_ = 0;
  char last_op_ = 0;
  Counter* last_counter_ = nullptr;
};

}  // namespace replicator::metrics
