// The policy concepts Replicator<...> is built from. Each is checked with its own static_assert
// in replicator.hpp so a type that does not fit gets a sentence, not a template backtrace.
//   static_assert(TransportPolicy<ReplayTransport> && SinkPolicy<JsonLinesSink>);
#pragma once

#include <chrono>
#include <concepts>
#include <optional>

#include "replicator/batch/batch.hpp"
#include "replicator/change.hpp"
#include "replicator/error.hpp"
#include "replicator/lsn.hpp"
#include "replicator/position/position.hpp"
#include "replicator/transport/events.hpp"

namespace replicator {

// A source of WAL messages: live (libpq) or replayed from a captured stream file.
//   start(lsn)      begin streaming at lsn (0/0: wherever the slot is)
//   poll(timeout)   wait up to timeout for the next event
//   send_status(s)  report written/flushed/applied positions to the server
template <class T>
concept TransportPolicy = requires(T& t, Lsn lsn, std::chrono::milliseconds timeout, const StandbyStatus& status) {
  { t.start(lsn) } -> std::same_as<Status>;
  { t.poll(timeout) } -> std::same_as<Result<TransportEvent, ReplicationError>>;
  { t.send_status(status) } -> std::same_as<Status>;
};

namespace detail {
// Stands in for "any callable taking a ChangeEvent" when checking DecoderPolicy.
struct ChangeEventHandlerArchetype {
  Status operator()(const ChangeEvent&) const { return ok_status(); }
};
}  // namespace detail

// Turns one WalMessage into change events, calling the handler for each (zero or more per message;
// events are views into the message, valid during the call). reset() after a reconnect.
template <class T>
concept DecoderPolicy = requires(T& d, const WalMessage& message, detail::ChangeEventHandlerArchetype& handler) {
  { d.decode(message, handler) } -> std::same_as<Status>;
  { d.reset() } -> std::same_as<void>;
};

// Copies the events it keeps into a Batch and says when to flush it.
//   add(event, now)  keep the event (copy: the event's views die with the next poll)
//   ready(now)       flush now
//   batch()          what to write; its confirm_lsn() is the position to confirm once durable
//   release()        the batch is durable: empty it      in_flight()  anything not yet durable
//   reset()          after a reconnect: drop what is not released
// Optional, used by Replicator when present (BasicBatcher has both; docs/large_transactions.md):
//   refill() -> Result<bool, ReplicationError>  after release(): the next piece of a spilled transaction
//   confirm_limit() -> Lsn                      the highest position that may be confirmed (held PREPAREs)
template <class T>
concept BatchPolicy = requires(T& b, const T& cb, const ChangeEvent& event, std::chrono::steady_clock::time_point now) {
  { b.add(event, now) } -> std::same_as<Status>;
  { cb.ready(now) } -> std::same_as<bool>;
  { cb.batch() } -> std::same_as<const Batch&>;
  { b.release() } -> std::same_as<void>;
  { cb.in_flight() } -> std::same_as<bool>;
  { b.reset() } -> std::same_as<void>;
};

// Keeps the confirmed position across restarts. save() must be durable when it returns ok.
template <class T>
concept PositionStorePolicy = requires(T& p, const Position& position) {
  { p.load() } -> std::same_as<Result<std::optional<Position>, ReplicationError>>;
  { p.save(position) } -> std::same_as<Status>;
};

// Receives batches. write() may buffer; flush() makes everything written so far durable.
template <class T>
concept SinkPolicy = requires(T& s, const Batch& batch) {
  { s.write(batch) } -> std::same_as<Status>;
  { s.flush() } -> std::same_as<Status>;
};

}  // namespace replicator
