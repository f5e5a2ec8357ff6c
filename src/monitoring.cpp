// Monitoring: the metrics HTTP server, the slot monitor's guardrails and heartbeats (docs/metrics.md).
#include "monitoring.hpp"

#include "signals.hpp"

namespace replicator::program {

Monitoring::Monitoring(const Config& cfg, Logger& log, ConnectionConfig source, std::string_view version)
    : cfg_(cfg), log_(log), source_(std::move(source)), metrics_(version) {
  source_.application_name = "replicator-monitor";
}

Monitoring::~Monitoring() {
  slots_.reset();   // joins the monitor thread first: its callbacks use the metrics
  server_.reset();  // then the scrape thread
}

Result<std::unique_ptr<Monitoring>, ReplicationError> Monitoring::start(const Config& cfg, Logger& log,
                                                                        ConnectionConfig source,
                                                                        std::string_view version) {
  std::unique_ptr<Monitoring> m(new Monitoring(cfg, log, std::move(source), version));
  if (!cfg.metrics_address.empty()) {
    metrics::HttpServerOptions o;
    o.address = cfg.metrics_address;
    auto server = metrics::HttpServer::start(o, m->metrics_.http_handler());
    if (!server) return server.error();
    m->server_ = std::move(*server);
    log.info("metrics endpoint listening", {{"address", cfg.metrics_address},
                                            {"port", static_cast<std::int64_t>(m->server_->port())},
                                            {"paths", "/metrics /healthz /readyz"}});
  }
  return m;
}

void Monitoring::start_slot_monitor() {
  if (slots_) return;  // a resume after a reconnect: already running
  SlotMonitorOptions o;
  o.connection = source_;
  o.slot = cfg_.slot_name();
  o.check_interval = std::chrono::milliseconds(cfg_.slot_check_interval_ms);
  o.heartbeat_interval = std::chrono::milliseconds(cfg_.heartbeat_interval_ms);
  o.heartbeat_query = cfg_.heartbeat_query;
  SlotMonitorCallbacks cb;
  cb.health = [this](const SlotHealth& h) { on_health(h); };
  cb.missing = [this] {
    check_failing_ = false;
    if (stop_requested().load()) return;  // stopping: a temporary or drop-on-exit slot goes away now
    if (!warned_missing_) log_.warn("replication slot not found by the slot check", {{"slot", cfg_.slot_name()}});
    warned_missing_ = true;
  };
  cb.failed = [this](const ReplicationError& e, std::string_view what) {
    if (what != "heartbeat") metrics_.record_slot_check_failure();
    // Once per failing streak: the replication connection reports its own errors.
    if (what == "heartbeat") {
      log_.warn("heartbeat failed: " + e.message,
                {{"sqlstate", e.sqlstate.empty() ? std::string("none") : e.sqlstate}});
    } else if (!check_failing_) {
      check_failing_ = true;
      log_.warn(std::string(what) + " failed: " + e.message,
                {{"sqlstate", e.sqlstate.empty() ? std::string("none") : e.sqlstate}});
    }
  };
  cb.heartbeat = [this](bool ok) {
    metrics_.record_heartbeat(ok);
    if (ok) log_.debug("heartbeat written", {{"slot", cfg_.slot_name()}});
  };
  slots_ = std::make_unique<SlotMonitor>(std::move(o), std::move(cb));
}

void Monitoring::on_health(const SlotHealth& h) {
  check_failing_ = false;
  warned_missing_ = false;
  const auto warn_at = static_cast<std::uint64_t>(cfg_.slot_retained_wal_warn_bytes);
  const bool over = warn_at > 0 && h.retained_wal_bytes > warn_at;
  metrics_.record_slot(h.retained_wal_bytes, h.safe_wal_size, h.slot.wal_status, h.slot.active, over);
  if (h.lost()) {
    if (!slot_lost_.exchange(true)) {
      const ReplicationError e = slot_invalidated_error(h.slot);
      log_.error(e.message, {{"sqlstate", e.sqlstate}, {"slot", cfg_.slot_name()}});
      stop_requested().store(true);  // run() stops cleanly; the program exits 1
    }
    return;
  }
  if (over && !warned_retained_) {
    log_.warn(
        "replication slot retains more WAL than slot_retained_wal_warn_bytes: the server cannot remove it; "
        "is the program behind, or the publication idle (heartbeat_interval_ms)?",
        {{"slot", cfg_.slot_name()},
         {"retained_wal_bytes", h.retained_wal_bytes},
         {"warn_bytes", warn_at},
         {"wal_status", h.slot.wal_status}});
  } else if (!over && warned_retained_) {
    log_.info("replication slot retained WAL is below slot_retained_wal_warn_bytes again",
              {{"slot", cfg_.slot_name()}, {"retained_wal_bytes", h.retained_wal_bytes}});
  }
  warned_retained_ = over;
  if (h.unreserved() && !warned_unreserved_) {
    log_.warn(
        "REPLICATION SLOT AT RISK: wal_status is unreserved: it retains more WAL than max_slot_wal_keep_size "
        "and will be invalidated (changes lost) at the next checkpoint unless it catches up now",
        {{"slot", cfg_.slot_name()},
         {"retained_wal_bytes", h.retained_wal_bytes},
         {"safe_wal_size", h.safe_wal_size ? std::to_string(*h.safe_wal_size) : std::string("null")}});
  }
  warned_unreserved_ = h.unreserved();
}

}  // namespace replicator::program
