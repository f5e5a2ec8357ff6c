// FailingPoll<T>: the transport T whose n-th poll() from now fails with a retryable error, after
// which it counts as dropped (poll and send_status fail too) until start() is called again, like
// a cut connection. Fault injection lives here, with the tests and fuzzers that use it; the
// toolkit's transports carry no test hooks.
//   FailingPoll<transport::ReplayTransport> t(transport::ReplayTransport(bytes));  t.fail_nth_poll(3);
#pragma once

#include <chrono>
#include <cstddef>
#include <utility>

#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/core/transport_event.hpp"

namespace replicator::test {

template <class T>
class FailingPoll : public T {
 public:
  using T::T;
  explicit FailingPoll(T inner) : T(std::move(inner)) {}

  Status start(Lsn lsn) {
    dropped_ = false;
    return T::start(lsn);
  }
  Result<TransportEvent, ReplicationError> poll(std::chrono::milliseconds timeout) {
    if (dropped_) return ReplicationError::retry("not connected: the injected failure dropped it (call start())");
    if (countdown_ > 0 && --countdown_ == 0) {
      dropped_ = true;
      return ReplicationError::retry("injected poll failure");
    }
    return T::poll(timeout);
  }
  Status send_status(const StandbyStatus& status) {
    if (dropped_) return ReplicationError::retry("not connected: the injected failure dropped it (call start())");
    return T::send_status(status);
  }

  // The n-th poll() from now (1 = the next one) fails.
  void fail_nth_poll(std::size_t n) noexcept { countdown_ = n; }
  [[nodiscard]] bool dropped() const noexcept { return dropped_; }

 private:
  std::size_t countdown_ = 0;
  bool dropped_ = false;
};

}  // namespace replicator::test
