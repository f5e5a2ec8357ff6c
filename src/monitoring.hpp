// The program's operations side (docs/metrics.md): the metrics endpoint (metrics_address), slot
// health polled every slot_check_interval_ms with its guardrails (a warning above
// slot_retained_wal_warn_bytes, a loud one when unreserved, lost is fatal), and heartbeats.
//   auto mon = Monitoring::start(cfg, log, cfg.source);  // the HTTP server listens now
//   mon.value()->attach(replicator);  // after the program's own observer callbacks
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "config.hpp"
#include "logging.hpp"
#include "replicator/core/error.hpp"
#include "replicator/metrics/http_server.hpp"
#include "replicator/metrics/replicator_metrics.hpp"
#include "replicator/pg/connection.hpp"
#include "replicator/pg/slot_health.hpp"
#include "replicator/snapshot/progress.hpp"

namespace replicator::program {

class Monitoring {
 public:
  // Starts the HTTP server when metrics_address is set (a taken port is a fatal error).
  [[nodiscard]] static Result<std::unique_ptr<Monitoring>, ReplicationError> start(const Config& cfg, Logger& log,
                                                                                   ConnectionConfig source,
                                                                                   std::string_view version);
  Monitoring(const Monitoring&) = delete;
  Monitoring& operator=(const Monitoring&) = delete;
  ~Monitoring();

  [[nodiscard]] metrics::ReplicatorMetrics& metrics() noexcept { return metrics_; }

  // Chains the metrics onto r's observer, starts the slot monitor once streaming first starts (the
  // slot exists then), and tells it when a published message arrives (for heartbeats).
  template <class R>
  void attach(R& r) {
    if (server_) metrics_.attach(r);  // without metrics_address nothing would read them
    auto& o = r.observer();
    o.started = [this, inner = std::move(o.started)] {
      if (inner) inner();
      start_slot_monitor();
    };
    o.progressed = [this, &r, inner = std::move(o.progressed)] {
      if (inner) inner();
      if (const auto n = r.stats().messages; n != messages_seen_) {
        messages_seen_ = n;
        if (slots_) slots_->note_activity();
      }
    };
  }

  void record_snapshot(const snapshot::SnapshotProgress& p) {
    metrics_.record_snapshot(p.rows_done, p.tables_done, p.tables_total);
  }

  // Joins the slot monitor (before the program reports a fatal error, so only one line says it).
  void stop_slot_monitor() { slots_.reset(); }

  // The slot was found invalidated: the fatal line is logged and a stop requested.
  [[nodiscard]] bool slot_lost() const noexcept { return slot_lost_.load(); }
  [[nodiscard]] std::uint16_t metrics_port() const noexcept { return server_ ? server_->port() : 0; }

 private:
  Monitoring(const Config& cfg, Logger& log, ConnectionConfig source, std::string_view version);
  void start_slot_monitor();
  void on_health(const SlotHealth& h);

  const Config& cfg_;
  Logger& log_;
  ConnectionConfig source_;
  metrics::ReplicatorMetrics metrics_;
  std::unique_ptr<metrics::HttpServer> server_;
  std::unique_ptr<SlotMonitor> slots_;
  std::uint64_t messages_seen_ = 0;
  std::atomic<bool> slot_lost_{false};
  // Guardrail states (the monitor's thread), so each transition is logged once.
  bool warned_retained_ = false;
  bool warned_unreserved_ = false;
  bool warned_missing_ = false;
  bool check_failing_ = false;
};

}  // namespace replicator::program
