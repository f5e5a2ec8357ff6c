// The program's NATS JetStream sink (sink: nats): a first connect at startup, so refused
// credentials or a missing stream stop the program with one line before anything streams. Only
// main.cpp includes this (it links libnats); the settings are Config::nats (keys nats_*).
#pragma once

#include <optional>

#include "logging.hpp"
#include "replicator/sink/nats_jetstream.hpp"

namespace replicator::program {

// A fatal error is returned (the caller exits 1 with it); a retryable one (no server reachable
// yet) is logged, and write() retries with the reconnect backoff.
template <class Sink>
std::optional<ReplicationError> connect_nats(Sink& sink, Logger& log) {
  auto st = sink.connect();
  if (st) {
    log.info("nats connected", {{"stream", sink.options().stream},
                                {"subjects", sink.stream_subject()},
                                {"max_payload", static_cast<std::int64_t>(sink.max_payload())}});
    return std::nullopt;
  }
  if (!st.error().retryable()) return st.error();
  log.warn("NATS not reachable yet, retrying with the reconnect backoff: " + st.error().message);
  return std::nullopt;
}

}  // namespace replicator::program
