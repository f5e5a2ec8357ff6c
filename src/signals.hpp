// SIGINT/SIGTERM handling for the program: the first signal asks for a clean stop (flush the sink,
// save the position, final status update, exit 0); a second one stops at once with the default action.
//   install_stop_handlers();  while (!stop_requested().load()) { ... }
#pragma once

#include <atomic>

namespace replicator::program {

// The flag the handlers set. Lock-free, so it is safe to touch from a signal handler.
std::atomic<bool>& stop_requested() noexcept;
// The signal number that asked for the stop (0: none yet).
int stop_signal() noexcept;
// Installs the handlers for SIGINT and SIGTERM and ignores SIGPIPE (a closed stdout becomes a
// write error the sink reports, not a silent death).
void install_stop_handlers();

}  // namespace replicator::program
