// Replicator<Transport, Decoder, Batcher, PositionStore, Sink>: the CDC loop. Poll the transport,
// decode, filter, batch; when the batch is ready: write it, flush the sink (durable), save the
// position, and only then report it to the server as flushed. At-least-once: nothing is confirmed
// before the sink made it durable, so a crash can repeat changes but never lose one.
//   Replicator r(ReplayTransport::open(path).value(), PgOutputEventDecoder{}, TransactionBatcher{},
//                MemoryPositionStore{}, CallbackSink([](const ChangeEvent& e) { ... }));
//   std::atomic<bool> stop{false};  if (auto st = r.run(stop); !st) log(st.error().message);
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include "replicator/core/backoff.hpp"
#include "replicator/batch/batch.hpp"
#include "replicator/change/event.hpp"
#include "replicator/concepts.hpp"
#include "replicator/core/error.hpp"
#include "replicator/filter/pass_all.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/position/position.hpp"
#include "replicator/core/transport_event.hpp"

namespace replicator {

// What run() reports to whoever embeds it, each callback optional, called on run()'s thread
// between polls (never on the per-event path). stats() and flushed_lsn() are current in each.
struct ReplicatorObserver {
  std::function<void()> started;  // start() succeeded: the first stream of this run() is open
  // A retryable error: run() closes the connection, waits `delay`, then reconnects. `during` is
  // "connecting" (start) or "replication" (streaming, or the reconnect after it); attempt counts from 1.
  std::function<void(const ReplicationError& error, std::string_view during, int attempt,
                     std::chrono::milliseconds delay)>
      retrying;
  std::function<void(Lsn from)> resumed;  // reconnected after an error, streaming again from `from`
  std::function<void()> progressed;       // after each poll that did not end the stream
  // A batch was written and flushed (durable) by the sink, which took `elapsed` for both; the
  // batch's events are valid during the call (metrics/replicator_metrics.hpp counts them).
  std::function<void(const Batch& batch, std::chrono::nanoseconds elapsed)> batch_flushed;
  std::function<void(std::chrono::nanoseconds elapsed)> position_saved;  // the store saved a position
  // The store could not save (a retryable error, with options.reconnect set): streaming goes on,
  // the confirmed position stays at the last save, and the save is tried again after `retry_in`.
  std::function<void(const ReplicationError& error, int attempt, std::chrono::milliseconds retry_in)> save_failed;
};

// For a `progressed` callback too dear to run after every poll of a busy stream: due() is true
// for every idle poll (no message since the last call, so idle figures are exact) and for every
// Nth poll while messages stream. Pass stats().messages.
template <std::uint32_t N>
class ProgressSampler {
  static_assert(N != 0 && (N & (N - 1)) == 0, "N is a power of two");

 public:
  [[nodiscard]] bool due(std::uint64_t messages) noexcept {
    const bool idle = messages == last_messages_;
    last_messages_ = messages;
    return idle || (++busy_polls_ & (N - 1)) == 0;
  }

 private:
  std::uint64_t last_messages_ = 0;
  std::uint32_t busy_polls_ = 0;
};

struct ReplicatorOptions {
  std::string slot_name{};      // stored with the position; a stored position of another slot is refused
  std::uint64_t system_id = 0;  // 0: take it from the transport when it knows it (LibpqTransport does)
  std::uint32_t timeline = 0;
  Lsn start_lsn{};  // when the store holds no position (0/0: where the slot is)
  // run() stops cleanly once everything up to here is durable in the sink and confirmed (like
  // pg_recvlogical --endpos; 0/0: run until stopped).
  Lsn end_lsn{};
  std::chrono::milliseconds status_interval{10'000};  // periodic standby status update
  std::chrono::milliseconds min_save_interval{0};     // coalesce position saves (0: save on every flush)
  std::chrono::milliseconds poll_timeout{100};        // run(): the longest one poll waits
  // Adaptive batching: a batch of complete transactions goes out as soon as the transport has no
  // further message waiting (a quiet stream gets sub-millisecond latency), while a busy stream
  // keeps filling batches up to the batcher's limits, which stay the upper bound. false: only the
  // batcher's limits (size, age) end a batch.
  bool flush_when_idle = true;
  // run(): waits between reconnects after a retryable error, resuming from the confirmed position.
  // nullopt: run() returns the first error instead (for callers with their own loop around recover()).
  std::optional<BackoffOptions> reconnect = BackoffOptions{};
  // A standby's wait: while the slot is in use by another walsender (SQLSTATE 55006, another
  // instance streams it), retries come at least this often, so it takes over soon after the
  // active one dies whatever the backoff has grown to.
  std::chrono::milliseconds slot_in_use_retry_max{2'000};
  ReplicatorObserver observer{};
};

struct ReplicatorStats {
  std::uint64_t messages = 0;        // WAL messages received
  std::uint64_t events = 0;          // change events decoded
  std::uint64_t filtered = 0;        // events dropped by the filter
  std::uint64_t batches = 0;         // batches written and flushed
  std::uint64_t events_written = 0;  // events in those batches
  std::uint64_t saves = 0;           // successful position saves
  std::uint64_t save_failures = 0;   // retryable save failures retried in place (observer.save_failed)
  std::uint64_t status_updates = 0;
  std::uint64_t keepalives = 0;
  std::uint64_t retries = 0;         // retryable errors run() waited out
  std::uint64_t reconnects = 0;      // successful resumes after one
  std::uint64_t bytes_received = 0;  // WAL message payload bytes
  Lsn server_wal_end{};              // the server's WAL end, from the last message or keepalive
};

namespace detail {
// The transport's (system id, timeline) when it exposes identity() like LibpqTransport does.
template <class T>
std::optional<std::pair<std::uint64_t, std::uint32_t>> transport_identity(const T& t) {
  if constexpr (IdentifiedTransport<T>) {
    const auto& id = t.identity();
    if (!id) return std::nullopt;
    std::uint64_t sys = 0;
    if constexpr (std::is_integral_v<std::decay_t<decltype(id->systemid)>>) {
      sys = static_cast<std::uint64_t>(id->systemid);
    } else {
      const std::string_view s = id->systemid;
      if (std::from_chars(s.data(), s.data() + s.size(), sys).ec != std::errc{}) sys = 0;
    }
    return std::pair{sys, static_cast<std::uint32_t>(id->timeline)};
  } else {
    return std::nullopt;
  }
}
}  // namespace detail

template <class Transport, class Decoder, class Batcher, class PositionStore, class Sink, class Filter = PassAllFilter>
class Replicator {
  static_assert(TransportPolicy<Transport>,
                "Transport does not satisfy TransportPolicy: it needs start(Lsn) -> Status, "
                "poll(std::chrono::milliseconds) -> Result<TransportEvent, ReplicationError>, "
                "send_status(const StandbyStatus&) -> Status");
  static_assert(DecoderPolicy<Decoder>,
                "Decoder does not satisfy DecoderPolicy: it needs decode(const WalMessage&, handler) -> Status "
                "(calling handler(const ChangeEvent&) -> Status per event) and reset() -> void");
  static_assert(BatchPolicy<Batcher>,
                "Batcher does not satisfy BatchPolicy: it needs add(const ChangeEvent&, steady_clock::time_point) -> "
                "Status, ready(time_point) const -> bool, batch() const -> const Batch&, release() -> void, "
                "in_flight() const -> bool, reset() -> void");
  static_assert(PositionStorePolicy<PositionStore>,
                "PositionStore does not satisfy PositionStorePolicy: it needs "
                "load() -> Result<std::optional<Position>, ReplicationError> and save(const Position&) -> Status");
  static_assert(SinkPolicy<Sink>,
                "Sink does not satisfy SinkPolicy: it needs write(const Batch&) -> Status and flush() -> Status");
  static_assert(FilterPolicy<Filter>,
                "Filter does not satisfy FilterPolicy: it needs apply(const ChangeEvent&) -> const ChangeEvent* "
                "(nullptr: drop the event)");

 public:
  using Clock = std::chrono::steady_clock;

  Replicator(Transport transport, Decoder decoder, Batcher batcher, PositionStore store, Sink sink,
             ReplicatorOptions options = {}, Filter filter = {})
      : transport_(std::move(transport)),
        decoder_(std::move(decoder)),
        batcher_(std::move(batcher)),
        store_(std::move(store)),
        sink_(std::move(sink)),
        filter_(std::move(filter)),
        options_(std::move(options)) {}

  // Loads the stored position, checks it belongs to this slot and cluster, and starts the
  // transport there (or at options.start_lsn when nothing is stored).
  Status start() {
    auto loaded = store_.load();
    if (!loaded) return loaded.error();
    Lsn from = options_.start_lsn;
    if (loaded->has_value()) {
      const Position& p = **loaded;
      if (!options_.slot_name.empty() && !p.slot.empty() && p.slot != options_.slot_name) {
        return ReplicationError::fatal("the stored position belongs to slot \"" + p.slot + "\", not \"" +
                                       options_.slot_name + "\": use another position store for this slot");
      }
      stored_ = p;
      from = p.lsn;
      pending_ = saved_ = flushed_ = p.lsn;
      // A transport that can check the server (LibpqTransport) refuses another cluster, another
      // timeline or a vanished slot before it creates or touches anything.
      if constexpr (ResumeCheckingTransport<Transport>) transport_.expect_resume(p);
    }
    if constexpr (OpeningTransport<Transport>) {
      // Learn the cluster's identity before streaming, so a wrong cluster is refused up front.
      if (!detail::transport_identity(transport_)) {
        auto opened = transport_.open();
        if (!opened) return opened.error();
      }
    }
    if (auto st = check_identity(); !st) return st;
    written_ = flushed_;
    auto st = transport_.start(from);
    if (!st) return st;
    started_ = true;
    const auto now = Clock::now();
    last_status_ = now;
    last_save_ = now - options_.min_save_interval;
    return ok_status();
  }

  // One poll, then whatever it makes due. Returns false once the stream ended (EndOfStream).
  Result<bool, ReplicationError> run_once(std::chrono::milliseconds timeout) {
    // With complete transactions waiting, only ask whether more is already there: Idle then means
    // the stream has gone quiet and the batch should not wait for its age limit.
    const Batch& waiting = batcher_.batch();
    const bool flush_if_idle = options_.flush_when_idle && (!waiting.empty() || waiting.transactions() != 0);
    auto polled = transport_.poll(flush_if_idle ? std::chrono::milliseconds(0) : timeout);
    if (!polled) return polled.error();
    // A busy stream hands on a message every microsecond or two; the clock is read for every 16th
    // one (and for anything else, and after a flush, which may have taken long): batch age, status
    // and save intervals are in milliseconds.
    if (clock_reuses_left_ == 0 || !std::holds_alternative<WalMessage>(*polled)) {
      now_ = Clock::now();
      clock_reuses_left_ = 15;
    } else {
      --clock_reuses_left_;
    }
    const auto now = now_;
    bool ended = false;
    const Keepalive* keepalive = nullptr;
    if (auto* msg = std::get_if<WalMessage>(&*polled)) {
      ++stats_.messages;
      stats_.bytes_received += msg->payload.size();
      if (msg->wal_end > stats_.server_wal_end) stats_.server_wal_end = msg->wal_end;
      if (msg->wal_start > written_) written_ = msg->wal_start;
      auto st = decoder_.decode(*msg, [&](const ChangeEvent& e) -> Status {
        ++stats_.events;
        const ChangeEvent* kept = filter_.apply(e);
        if (kept == nullptr) {
          ++stats_.filtered;
          return ok_status();
        }
        return batcher_.add(*kept, now);
      });
      if (!st) return st.error();
    } else if (auto* k = std::get_if<Keepalive>(&*polled)) {
      ++stats_.keepalives;
      if (k->wal_end > stats_.server_wal_end) stats_.server_wal_end = k->wal_end;
      keepalive = k;
    } else if (std::holds_alternative<EndOfStream>(*polled)) {
      ended = true;
    }

    if (batcher_.ready(now) || (flush_if_idle && std::holds_alternative<Idle>(*polled))) {
      if (auto st = flush_batch(now); !st) return st.error();
    }
    if (keepalive != nullptr && !batcher_.in_flight()) {
      // Nothing buffered: everything the server sent before this keepalive is durable or was
      // filtered out, so the slot may move to the server's WAL end (an idle or filtered slot
      // must not pin WAL).
      if (auto st = flush_batch(now); !st) return st.error();  // an empty batch may still carry a commit position
      if (keepalive->wal_end > pending_) pending_ = keepalive->wal_end;
      if (keepalive->wal_end > written_) written_ = keepalive->wal_end;
    }
    if (auto st = maybe_save(now, false); !st) return st.error();
    if (keepalive != nullptr && keepalive->reply_requested) {
      if (auto st = send_status(now); !st) return st.error();
    } else if (now - last_status_ >= options_.status_interval) {
      if (auto st = send_status(now); !st) return st.error();
    }
    return !ended;
  }

  // Runs until `stop` is set or the stream ends, then shuts down cleanly (flush, save, status).
  // A retryable error (a server restart, a network cut, a sink that failed for now) closes the
  // connection, waits options.reconnect's backoff and resumes from the confirmed
  // position (the server re-sends what was not confirmed: at-least-once); a fatal error is
  // returned. The confirmed position never passes what the sink made durable. An endless
  // transport's end of stream (the server ended COPY) is retryable too. With reconnect = nullopt
  // the first error is returned: call recover() and run() again. A store that
  // cannot save for now does not reconnect: the stream goes on and the save is retried (maybe_save).
  Status run(const std::atomic<bool>& stop) {
    return run_until([&] { return stop.load(std::memory_order_relaxed); });
  }
  Status run(std::stop_token stop) {
    return run_until([&] { return stop.stop_requested(); });
  }

  // Writes and flushes the complete transactions held, saves the position and sends a final status.
  // An open transaction is dropped: it was not confirmed, so the server sends it again.
  Status shutdown() {
    const auto now = Clock::now();
    if (auto st = flush_batch(now); !st) return st;
    if (auto st = maybe_save(now, true); !st) return st;
    if (!started_) return ok_status();
    if constexpr (FinishingTransport<Transport>) {
      // A transport that can end the stream (LibpqTransport) sends the final status and ends COPY.
      started_ = false;
      ++stats_.status_updates;
      return transport_.finish(StandbyStatus{written_, flushed_, flushed_, false});
    } else {
      return send_status(now);
    }
  }

  // After a failed run(): drop what is not durable, and start the transport again at the confirmed
  // position (the server re-sends everything after it).
  Status recover() {
    if constexpr (ClosableTransport<Transport>) transport_.close();  // a live stream may be mid-COPY: reconnect
    batcher_.reset();
    decoder_.reset();
    pending_ = std::max(pending_, saved_);
    written_ = flushed_;
    auto st = transport_.start(flushed_.is_valid() ? flushed_ : options_.start_lsn);
    if (!st) return st;
    started_ = true;
    return ok_status();
  }

  // Positions: received (written), durable and saved (flushed: what the server is told).
  [[nodiscard]] Lsn written_lsn() const noexcept { return written_; }
  [[nodiscard]] Lsn flushed_lsn() const noexcept { return flushed_; }
  [[nodiscard]] Lsn durable_lsn() const noexcept {
    return std::max(pending_, flushed_);
  }  // in the sink, maybe not saved yet
  [[nodiscard]] const std::optional<Position>& stored_position() const noexcept { return stored_; }
  [[nodiscard]] const ReplicatorStats& stats() const noexcept { return stats_; }
  [[nodiscard]] const ReplicatorOptions& options() const noexcept { return options_; }
  // The callbacks run() reports to; set them before run() (they are part of the options).
  [[nodiscard]] ReplicatorObserver& observer() noexcept { return options_.observer; }

  [[nodiscard]] Transport& transport() noexcept { return transport_; }
  [[nodiscard]] Decoder& decoder() noexcept { return decoder_; }
  [[nodiscard]] Batcher& batcher() noexcept { return batcher_; }
  [[nodiscard]] PositionStore& position_store() noexcept { return store_; }
  [[nodiscard]] Sink& sink() noexcept { return sink_; }
  [[nodiscard]] Filter& filter() noexcept { return filter_; }

 private:
  template <class StopRequested>
  Status run_until(StopRequested stop_requested) {
    std::optional<Backoff> backoff;
    if (options_.reconnect) backoff.emplace(*options_.reconnect);
    const ReplicatorObserver& observer = options_.observer;
    if (!started_) {
      for (;;) {
        auto st = start();
        if (st) break;
        if (!backoff || !st.error().retryable()) return st;
        if (!wait_to_retry(*backoff, st.error(), "connecting", stop_requested)) return ok_status();
      }
      if (observer.started) observer.started();
    }
    auto healthy_since = Clock::now();
    while (!stop_requested()) {
      auto more = run_once(options_.poll_timeout);
      if (more && *more) {
        if (observer.progressed) observer.progressed();
        if (options_.end_lsn.is_valid() && flushed_ >= options_.end_lsn) break;
        continue;
      }
      if (more && !EndlessTransport<Transport>) break;  // a replayed file ended
      ReplicationError error = more ? ReplicationError::retry("the server ended the replication stream") : more.error();
      if (!backoff || !error.retryable()) return error;
      backoff->record_healthy(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - healthy_since));
      for (;;) {
        if (!wait_to_retry(*backoff, error, "replication", stop_requested)) {
          // Stopped while disconnected: nothing unconfirmed is kept; the next start resumes.
          batcher_.reset();
          decoder_.reset();
          return ok_status();
        }
        auto st = recover();
        if (st) break;
        if (!st.error().retryable()) return st;
        error = st.error();
      }
      ++stats_.reconnects;
      healthy_since = Clock::now();
      if (observer.resumed) observer.resumed(flushed_);
    }
    return shutdown();
  }

  // Closes the connection (so the server frees the walsender and slot now, not at its timeout),
  // reports the error and waits the next backoff delay. False when a stop came meanwhile.
  template <class StopRequested>
  bool wait_to_retry(Backoff& backoff, const ReplicationError& error, std::string_view during,
                     StopRequested& stop_requested) {
    if constexpr (ClosableTransport<Transport>) transport_.close();
    started_ = false;
    ++stats_.retries;
    auto delay = backoff.next_delay();
    if (error.sqlstate == "55006") delay = std::min(delay, options_.slot_in_use_retry_max);
    if (options_.observer.retrying) options_.observer.retrying(error, during, backoff.attempts(), delay);
    return sleep_unless_stopped(delay, stop_requested);
  }

  Status check_identity() {
    if (auto id = detail::transport_identity(transport_)) {
      if (options_.system_id == 0) options_.system_id = id->first;
      if (options_.timeline == 0) options_.timeline = id->second;
      if (options_.system_id != 0 && id->first != 0 && id->first != options_.system_id) {
        return ReplicationError::fatal("the server's system identifier " + std::to_string(id->first) +
                                       " differs from the configured " + std::to_string(options_.system_id));
      }
    }
    if (stored_ && stored_->system_id != 0 && options_.system_id != 0 && stored_->system_id != options_.system_id) {
      return ReplicationError::fatal("the stored position was saved for system identifier " +
                                     std::to_string(stored_->system_id) + " but the server is " +
                                     std::to_string(options_.system_id) +
                                     ": pointed at the wrong cluster? (remove the stored position to start over)");
    }
    if (stored_ && stored_->timeline != 0 && options_.timeline != 0 && stored_->timeline != options_.timeline) {
      return ReplicationError::fatal("the stored position was saved on timeline " + std::to_string(stored_->timeline) +
                                     " but the server is on timeline " + std::to_string(options_.timeline) +
                                     ": promoted or restored from a backup? (check the target, then remove the "
                                     "stored position to resume from the slot)");
    }
    return ok_status();
  }

  // Write + flush the batch; only then may its commit position be saved and confirmed.
  Status flush_batch(Clock::time_point now) {
    for (;;) {
      const Batch& batch = batcher_.batch();
      if (!batch.empty()) {
        const auto began = Clock::now();
        clock_reuses_left_ = 0;
        if (auto st = sink_.write(batch); !st) return st;
        if (auto st = sink_.flush(); !st) return st;
        ++stats_.batches;
        stats_.events_written += batch.size();
        if (options_.observer.batch_flushed) options_.observer.batch_flushed(batch, Clock::now() - began);
      }
      Lsn confirm = batch.confirm_lsn();
      if constexpr (ConfirmLimitedBatcher<Batcher>) {
        // A held prepared transaction: the server does not resend it once we confirm past its PREPARE.
        const Lsn limit = batcher_.confirm_limit();
        if (limit.is_valid() && confirm > limit) confirm = limit;
      }
      batcher_.release();
      if (confirm > pending_) pending_ = confirm;
      if constexpr (RefillingBatcher<Batcher>) {
        // A committed transaction that was spilled to disk goes out in pieces; the position only
        // moves with the piece that holds its commit.
        auto more = batcher_.refill();
        if (!more) return more.error();
        if (*more) continue;
      }
      break;
    }
    if constexpr (RetiringDecoder<Decoder>) {
      if (!batcher_.in_flight()) decoder_.release_retired();  // no batch refers to old relation definitions
    }
    (void)now;
    return ok_status();
  }

  // A store that fails for now (Azurite down, a read-only disk, its database restarting) does not
  // stop the stream: what the sink made durable stays there, the confirmed position stays at the
  // last save (so the server keeps everything after it), and the save is tried again on the
  // reconnect backoff. Reconnecting instead would re-send everything since that save on every
  // attempt and, with a temporary slot, lose what came meanwhile. Fatal errors (another slot's
  // position), the final save at shutdown, and callers without options.reconnect get the error.
  Status maybe_save(Clock::time_point now, bool force) {
    if (pending_ <= saved_) return ok_status();
    if (!force && (now - last_save_ < options_.min_save_interval || now < save_retry_at_)) return ok_status();
    Position p{pending_, options_.timeline, options_.slot_name, options_.system_id, std::chrono::system_clock::now()};
    const auto began = Clock::now();
    if (auto st = store_.save(p); !st) {  // not saved: flushed_ stays behind
      if (force || !options_.reconnect || !st.error().retryable()) return st;
      if (!save_backoff_) save_backoff_.emplace(*options_.reconnect);
      const auto delay = save_backoff_->next_delay();
      save_retry_at_ = Clock::now() + delay;
      ++stats_.save_failures;
      if (options_.observer.save_failed) options_.observer.save_failed(st.error(), save_backoff_->attempts(), delay);
      return ok_status();
    }
    save_backoff_.reset();
    save_retry_at_ = {};
    ++stats_.saves;
    if (options_.observer.position_saved) options_.observer.position_saved(Clock::now() - began);
    saved_ = pending_;
    last_save_ = now;
    flushed_ = saved_;
    if (flushed_ > written_) written_ = flushed_;
    return send_status(now);
  }

  Status send_status(Clock::time_point now) {
    last_status_ = now;
    ++stats_.status_updates;
    return transport_.send_status(StandbyStatus{written_, flushed_, flushed_, false});
  }

  Transport transport_;
  Decoder decoder_;
  Batcher batcher_;
  PositionStore store_;
  Sink sink_;
  Filter filter_;
  ReplicatorOptions options_;
  ReplicatorStats stats_;
  std::optional<Position> stored_;
  bool started_ = false;
  Lsn written_;  // received
  Lsn pending_;  // durable in the sink, not yet saved
  Lsn saved_;    // saved by the position store
  Lsn flushed_;  // reported to the server (== saved_)
  Clock::time_point now_{};         // run_once's clock, read when due (see there)
  std::uint32_t clock_reuses_left_ = 0;  // busy messages that may still use now_
  Clock::time_point last_status_{};
  Clock::time_point last_save_{};
  std::optional<Backoff> save_backoff_;  // while the store fails: the delays between save attempts
  Clock::time_point save_retry_at_{};    // no save attempt before this (after a failed one)
};

}  // namespace replicator
