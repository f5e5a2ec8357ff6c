// Reconnect delays for retryable errors: exponential growth with jitter, capped, and reset once
// the connection has streamed healthily for a while (so one blip after a day does not wait 30 s).
// Replicator::run() waits these between reconnects (ReplicatorOptions::reconnect).
//   Backoff b({.initial = 100ms, .max = 30s, .multiplier = 2.0, .reset_after = 60s});
//   sleep(b.next_delay());  ...  b.record_healthy(streamed_for);
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>

namespace replicator {

struct BackoffOptions {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{30'000};
  double multiplier = 2.0;
  std::chrono::milliseconds reset_after{60'000};  // streaming this long starts the delays again from initial
};

class Backoff {
 public:
  using ms = std::chrono::milliseconds;
  using Options = BackoffOptions;

  explicit Backoff(Options options, std::uint64_t seed = std::random_device{}())
      : options_(options), rng_(seed), base_(static_cast<double>(options.initial.count())) {}

  // The next delay: the current base scaled by a random factor in [0.5, 1.0] ("equal jitter", so
  // many clients restarted together do not reconnect in lockstep), then the base grows.
  [[nodiscard]] ms next_delay() {
    const double cap = static_cast<double>(options_.max.count());
    const double base = std::min(base_, cap);
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    const auto delay = std::max<std::int64_t>(1, static_cast<std::int64_t>(base * jitter(rng_)));
    base_ = std::min(base * options_.multiplier, cap);
    ++attempts_;
    return ms{delay};
  }

  // Called after a connection ends: if it streamed at least reset_after, start again from initial.
  void record_healthy(ms streamed_for) {
    if (streamed_for >= options_.reset_after) reset();
  }
  void reset() {
    base_ = static_cast<double>(options_.initial.count());
    attempts_ = 0;
  }
  [[nodiscard]] int attempts() const noexcept { return attempts_; }

 private:
  Options options_;
  std::mt19937_64 rng_;
  double base_;
  int attempts_ = 0;
};

// Waits `delay`, waking every 20 ms to ask `stopped()`; false when it was stopped first. The one
// wait between attempts of run() and of the initial snapshot, so a stop is never a backoff late.
template <class Stopped>
bool sleep_unless_stopped(std::chrono::milliseconds delay, Stopped&& stopped) {
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + delay;
  while (Clock::now() < end) {
    if (stopped()) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(20), end - Clock::now()));
  }
  return !stopped();
}

}  // namespace replicator
