// The policy concepts Replicator<...> is built from. Each is checked with its own static_assert
// in replicator.hpp so a type that does not fit gets a sentence, not a template backtrace.
//   static_assert(TransportPolicy<ReplayTransport> && SinkPolicy<JsonLinesSink>);
#pragma once

#include <chrono>
#include <concepts>
#include <optional>

#include "replicator/batch/batch.hpp"
#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/position/position.hpp"
#include "replicator/core/transport_event.hpp"

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
// Optional capabilities: RefillingBatcher, ConfirmLimitedBatcher (below).
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

// The filter stage between decoder and batcher: the event to keep (itself or a narrowed copy,
// valid until the next call), or nullptr to drop it. PassAllFilter and ChangeFilter are two.
template <class T>
concept FilterPolicy = requires(T& f, const ChangeEvent& e) {
  { f.apply(e) } -> std::convertible_to<const ChangeEvent*>;
};

// ---------------------------------------------------------------------------------------------
// Optional capabilities. Replicator uses each where the policy has it, by these names only, so a
// hook is either one of these or not a hook; tests/concepts_test.cpp checks each both ways.

// Knows the server's identity (system id, timeline) once open: identity() -> optional-like with
// ->systemid (integer or decimal text) and ->timeline. Replicator refuses a stored position of
// another cluster or timeline with it. LibpqTransport.
template <class T>
concept IdentifiedTransport = requires(const T& t) {
  static_cast<bool>(t.identity());
  t.identity()->systemid;
  t.identity()->timeline;
};

// Can connect and learn its identity before start(): open() -> Result-like (bool, .error()).
// Replicator opens it first so a wrong cluster is refused before anything is created. LibpqTransport.
template <class T>
concept OpeningTransport = IdentifiedTransport<T> && requires(T& t) {
  static_cast<bool>(t.open());
  { t.open().error() } -> std::convertible_to<ReplicationError>;
};

// Checks, at each (re)connect, that the server still matches a stored position (cluster,
// timeline, slot, WAL not ahead): expect_resume(const Position&). LibpqTransport.
template <class T>
concept ResumeCheckingTransport = requires(T& t, const Position& p) {
  t.expect_resume(p);
};

// Ends the stream cleanly with a final status: finish(const StandbyStatus&) -> Status. Without it
// shutdown() sends the final status with send_status(). LibpqTransport.
template <class T>
concept FinishingTransport = requires(T& t, const StandbyStatus& s) {
  { t.finish(s) } -> std::same_as<Status>;
};

// Drops its connection so that recover()'s start() reconnects (a live stream may be mid-COPY):
// close(). LibpqTransport.
template <class T>
concept ClosableTransport = requires(T& t) {
  t.close();
};

// A live source whose stream never ends by itself (static constexpr bool endless_stream = true): an
// EndOfStream from it means the server ended COPY (shutting down, walsender stopped), which run()
// treats as retryable, as pg_recvlogical does. LibpqTransport. A replayed file's end ends run().
template <class T>
concept EndlessTransport = requires {
  requires T::endless_stream;
};

// A batcher that hands a spilled transaction out in pieces: after release(), refill() ->
// Result<bool, ReplicationError> loads the next piece (true: there is one). BasicBatcher.
template <class T>
concept RefillingBatcher = requires(T& b) {
  { b.refill() } -> std::same_as<Result<bool, ReplicationError>>;
};

// A batcher that holds positions back (a PREPARE not yet committed or rolled back):
// confirm_limit() -> Lsn, the highest position that may be confirmed (0/0: no limit). BasicBatcher.
template <class T>
concept ConfirmLimitedBatcher = requires(const T& b) {
  { b.confirm_limit() } -> std::same_as<Lsn>;
};

// A decoder that keeps superseded relation definitions alive for batches in flight and frees
// them when told none are: release_retired(). PgOutputEventDecoder.
template <class T>
concept RetiringDecoder = requires(T& d) {
  d.release_retired();
};

}  // namespace replicator
