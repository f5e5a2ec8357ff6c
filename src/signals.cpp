#include "signals.hpp"

#include <signal.h>

#include <cstring>

namespace replicator::program {

namespace {
std::atomic<bool> g_stop{false};
volatile sig_atomic_t g_signal = 0;
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_stop_signal(int sig) {
  if (g_stop.load(std::memory_order_relaxed)) {
    // Second signal: the user wants out now. Nothing unconfirmed is lost: the server only
    // frees WAL up to the last saved position, so a restart resumes from there.
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  g_signal = sig;
  g_stop.store(true, std::memory_order_relaxed);
}
}  // namespace

std::atomic<bool>& stop_requested() noexcept { return g_stop; }
int stop_signal() noexcept { return g_signal; }

void install_stop_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking poll() returns EINTR and sees the flag at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace replicator::program
