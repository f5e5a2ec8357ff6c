// What a transport hands to the Replicator: one pgoutput message with its WAL position, a
// keepalive, an idle timeout, or the end of the stream. Same shapes for live and replay.
//   auto ev = transport.poll(std::chrono::milliseconds(100));  // Result<TransportEvent, ReplicationError>
#pragma once

#include <cstddef>
#include <span>
#include <variant>

#include "replicator/core/lsn.hpp"
#include "replicator/core/timestamp.hpp"

namespace replicator {

// One XLogData message. `payload` (one pgoutput message) stays valid until the next poll().
struct WalMessage {
  Lsn wal_start;  // XLogData start LSN (0/0 for messages the server ties to no WAL record)
  Lsn wal_end;    // the server's end of WAL when it sent this
  PgTimestamp send_time;
  std::span<const std::byte> payload;
  std::size_t offset = 0;  // replay: byte offset of the payload in the file, for error messages
  // Bytes after the payload that belong to the same buffer and may be read (never used as data):
  // a SIMD parser (wal2json's simdjson) reads up to 64 past the end and copies when this is short.
  std::size_t readable_after = 0;
};

// A primary keepalive ('k'). The Replicator answers at once when reply_requested is set.
struct Keepalive {
  Lsn wal_end;
  PgTimestamp send_time;
  bool reply_requested = false;
};

struct Idle {};         // poll() timed out with nothing to hand on
struct EndOfStream {};  // replay file finished, or the server ended the COPY

using TransportEvent = std::variant<WalMessage, Keepalive, Idle, EndOfStream>;

// The positions we report in a standby status update.
struct StandbyStatus {
  Lsn written;  // received and handed to the sink
  Lsn flushed;  // durable in the sink and saved by the position store: the server may free WAL up to here
  Lsn applied;  // same as flushed for a CDC client
  bool reply_requested = false;
};

}  // namespace replicator
