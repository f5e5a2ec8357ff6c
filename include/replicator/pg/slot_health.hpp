// Slot health on a regular (non-replication) connection: wal_status, safe_wal_size, active and the
// WAL the slot retains (current WAL LSN - restart_lsn), invalidation_reason on 17+; heartbeats that
// let an idle slot advance; and SlotMonitor, a thread that does both at their intervals.
//   auto h = check_slot_health(conn, "cdc");   // Result<std::optional<SlotHealth>, ReplicationError>
//   SlotMonitor m({.connection = cfg, .slot = "cdc", .heartbeat_interval = 10s}, {.health = on_health});
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/pg/connection.hpp"
#include "replicator/pg/slot.hpp"

namespace replicator {

struct SlotHealth {
  SlotInfo slot;                              // wal_status, active, restart_lsn, invalidation_reason (17+)
  Lsn current_wal;                            // pg_current_wal_lsn() (on a standby: the last replayed LSN)
  std::uint64_t retained_wal_bytes = 0;       // current_wal - restart_lsn (0 when restart_lsn is unknown)
  std::optional<std::int64_t> safe_wal_size;  // NULL: max_slot_wal_keep_size = -1 (no limit), or lost
  int server_version = 0;

  // Invalidated: streaming from it can never resume (slot_invalidated_error says how to recover).
  [[nodiscard]] bool lost() const noexcept { return !slot_invalidation(slot).empty(); }
  [[nodiscard]] bool unreserved() const noexcept { return slot.wal_status == "unreserved"; }
};

// One look at the slot; std::nullopt when it does not exist. The columns read depend on the
// server's version (find_slot checks it), never assumed.
[[nodiscard]] inline Result<std::optional<SlotHealth>, ReplicationError> check_slot_health(PgConnection& conn,
                                                                                           std::string_view name) {
  auto found = find_slot(conn, name);
  if (!found) return found.error();
  if (!found->has_value()) return std::optional<SlotHealth>{};
  SlotHealth h;
  h.slot = std::move(**found);
  h.server_version = conn.server_version();
  const std::string params[] = {std::string(name)};
  const std::string sql =
      std::string(
          "SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() "
          "ELSE pg_catalog.pg_current_wal_lsn() END, ") +
      (h.server_version >= 130000 ? "safe_wal_size " : "NULL ") +
      "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1";
  auto res = conn.exec_params(sql, params, "reading the WAL the slot retains");
  if (!res) return res.error();
  if (res->rows() == 0) return std::optional<SlotHealth>{};  // dropped meanwhile
  h.current_wal = detail::lsn_or_zero(res->get(0, 0));
  if (auto safe = res->get(0, 1)) h.safe_wal_size = std::strtoll(std::string(*safe).c_str(), nullptr, 10);
  if (h.slot.restart_lsn.is_valid() && h.current_wal > h.slot.restart_lsn)
    h.retained_wal_bytes = h.current_wal.value() - h.slot.restart_lsn.value();
  return std::optional<SlotHealth>{std::move(h)};
}

inline constexpr std::string_view kHeartbeatPrefix = "replicator_heartbeat";

// Writes a little WAL in the source database so the slot has something to move past: a
// non-transactional logical message (prefix replicator_heartbeat, ignored unless messages are on),
// or `query` when given (Debezium's heartbeat.action.query: e.g. an UPDATE of a published table).
[[nodiscard]] inline Status emit_heartbeat(PgConnection& conn, std::string_view query = {}) {
  auto res = query.empty() ? conn.exec("SELECT pg_catalog.pg_logical_emit_message(false, '" +
                                           std::string(kHeartbeatPrefix) + "', pg_catalog.now()::text)",
                                       "writing a heartbeat (pg_logical_emit_message)")
                           : conn.exec(std::string(query), "running heartbeat_query");
  if (!res) return res.error();
  return ok_status();
}

struct SlotMonitorOptions {
  ConnectionConfig connection;  // a regular connection to the source database
  std::string slot;
  std::chrono::milliseconds check_interval{10'000};
  std::chrono::milliseconds heartbeat_interval{0};  // 0: no heartbeats
  std::string heartbeat_query;                      // empty: pg_logical_emit_message
};

// Callbacks, each optional, called on the monitor's thread.
struct SlotMonitorCallbacks {
  std::function<void(const SlotHealth&)> health;
  std::function<void()> missing;  // the slot does not exist (yet, or was dropped)
  std::function<void(const ReplicationError&, std::string_view what)> failed;  // "slot check" / "heartbeat"
  std::function<void(bool ok)> heartbeat;
};

// A thread with its own connection: checks the slot every check_interval and, when no published
// message arrived for heartbeat_interval (note_activity() says one did), writes a heartbeat. A lost
// connection is opened again at the next tick. Stops (and joins) on destruction.
class SlotMonitor {
 public:
  using Clock = std::chrono::steady_clock;

  SlotMonitor(SlotMonitorOptions options, SlotMonitorCallbacks callbacks)
      : options_(std::move(options)), callbacks_(std::move(callbacks)) {
    last_activity_.store(Clock::now().time_since_epoch().count());
    thread_ = std::thread([this] { loop(); });
  }
  SlotMonitor(const SlotMonitor&) = delete;
  SlotMonitor& operator=(const SlotMonitor&) = delete;
  ~SlotMonitor() { stop(); }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // From the replication thread: a message of the publication arrived (a relaxed store).
  void note_activity() noexcept {
    last_activity_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  }

 private:
  bool connected() {
    if (conn_ && conn_->is_open()) return true;
    auto c = PgConnection::connect(options_.connection, ConnectionKind::normal);
    if (!c) {
      if (callbacks_.failed) callbacks_.failed(c.error(), "connecting");
      conn_.reset();
      return false;
    }
    conn_.emplace(std::move(*c));
    return true;
  }

  void check() {
    if (!connected()) return;
    auto h = check_slot_health(*conn_, options_.slot);
    if (!h) {
      if (callbacks_.failed) callbacks_.failed(h.error(), "slot check");
      conn_.reset();  // a broken connection is made anew next time
      return;
    }
    if (!h->has_value()) {
      if (callbacks_.missing) callbacks_.missing();
    } else if (callbacks_.health) {
      callbacks_.health(**h);
    }
  }

  void heartbeat() {
    if (!connected()) return;
    auto st = emit_heartbeat(*conn_, options_.heartbeat_query);
    if (!st) {
      if (callbacks_.failed) callbacks_.failed(st.error(), "heartbeat");
      conn_.reset();
    }
    if (callbacks_.heartbeat) callbacks_.heartbeat(static_cast<bool>(st));
  }

  void loop() {
    const auto hb = options_.heartbeat_interval;
    auto next_check = Clock::now();  // the first check at once
    auto last_heartbeat = Clock::now();
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      const auto now = Clock::now();
      if (now >= next_check) {
        check();
        next_check = Clock::now() + options_.check_interval;
      }
      if (hb.count() > 0) {
        const Clock::time_point active{Clock::duration(last_activity_.load(std::memory_order_relaxed))};
        const auto t = Clock::now();
        if (t - active >= hb && t - last_heartbeat >= hb) {
          heartbeat();
          last_heartbeat = Clock::now();
        }
      }
      auto until = next_check;
      if (hb.count() > 0)
        until = std::min(until, Clock::now() + std::min<Clock::duration>(hb, std::chrono::seconds(1)));
      lock.lock();
      wake_.wait_until(lock, until, [this] { return stopping_; });
    }
  }

  SlotMonitorOptions options_;
  SlotMonitorCallbacks callbacks_;
  std::optional<PgConnection> conn_;
  std::atomic<Clock::rep> last_activity_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace replicator
