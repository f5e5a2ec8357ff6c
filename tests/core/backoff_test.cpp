// Backoff: exponential growth within jitter bounds, the cap, and the reset after a healthy period.
#include "replicator/core/backoff.hpp"

#include <catch2/catch.hpp>

using replicator::Backoff;
using namespace std::chrono_literals;

TEST_CASE("delays grow by the multiplier with jitter in [0.5, 1.0] of the base, up to the max") {
  Backoff b({.initial = 100ms, .max = 1000ms, .multiplier = 2.0, .reset_after = 60s}, 42);
  const std::int64_t bases[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (std::int64_t base : bases) {
    const auto d = b.next_delay().count();
    CHECK(d >= base / 2);
    CHECK(d <= base);
  }
  CHECK(b.attempts() == 7);
}

TEST_CASE("jitter spreads the delays") {
  Backoff a({.initial = 1000ms, .max = 1000ms, .multiplier = 2.0, .reset_after = 60s}, 1);
  bool differ = false;
  auto first = a.next_delay();
  for (int i = 0; i < 20; ++i) differ |= a.next_delay() != first;
  CHECK(differ);
}

TEST_CASE("a healthy period resets the backoff, a short one does not") {
  Backoff b({.initial = 100ms, .max = 30s, .multiplier = 2.0, .reset_after = 10s}, 7);
  for (int i = 0; i < 6; ++i) (void)b.next_delay();
  b.record_healthy(2s);
  CHECK(b.next_delay() >= 1600ms);  // base 3200 ms, jitter >= 0.5
  b.record_healthy(10s);
  CHECK(b.attempts() == 0);
  CHECK(b.next_delay() <= 100ms);
}

TEST_CASE("sleep_unless_stopped waits the delay, or returns early once stopped") {
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(replicator::sleep_unless_stopped(std::chrono::milliseconds(30), [] { return false; }));
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(30));
  int asked = 0;
  const auto t1 = std::chrono::steady_clock::now();
  CHECK_FALSE(replicator::sleep_unless_stopped(std::chrono::hours(1), [&] { return ++asked >= 3; }));
  CHECK(std::chrono::steady_clock::now() - t1 < std::chrono::minutes(1));
  CHECK(asked == 3);
  CHECK_FALSE(replicator::sleep_unless_stopped(std::chrono::milliseconds(0), [] { return true; }));
}
