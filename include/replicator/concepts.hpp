// The policy concepts Replicator<...> is built from. Each is checked with its own static_assert
// in replicator.hpp so a type that does not fit gets a sentence, not a template backtrace.
//   static_assert(TransportPolicy<ReplayTransport>);
#pragma once

#include <chrono>
#include <concepts>

#include "replicator/error.hpp"
#include "replicator/lsn.hpp"
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

}  // namespace replicator
