// The streaming replication protocol's CopyData messages around pgoutput: XLogData ('w') and
// primary keepalive ('k') from the server, standby status update ('r') from us.
//   auto msg = decode_copy_data(bytes);  // Result<CopyDataMessage>
//   auto reply = make_standby_status_update(written, flushed, applied, now, false);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "replicator/core/detail/byte_reader.hpp"
#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/core/timestamp.hpp"

namespace replicator::protocol {

struct XLogDataView {
  Lsn wal_start;  // where this message's WAL starts (0/0 for messages not tied to one record)
  Lsn wal_end;    // the server's current end of WAL
  PgTimestamp send_time;
  std::span<const std::byte> payload;  // one pgoutput message
};

struct PrimaryKeepaliveView {
  Lsn wal_end;
  PgTimestamp send_time;
  bool reply_requested = false;
};

using CopyDataMessage = std::variant<XLogDataView, PrimaryKeepaliveView>;

[[nodiscard]] inline Result<CopyDataMessage> decode_copy_data(std::span<const std::byte> bytes,
                                                              std::size_t base_offset = 0) noexcept {
  detail::ByteReader r(bytes, base_offset);
  const char tag = static_cast<char>(r.u8("CopyData type"));
  if (!r.ok()) return r.error();
  if (tag == 'w') {
    XLogDataView m;
    m.wal_start = Lsn{r.u64("XLogData.wal_start")};
    m.wal_end = Lsn{r.u64("XLogData.wal_end")};
    m.send_time = PgTimestamp{r.i64("XLogData.send_time")};
    if (!r.ok()) return r.error();
    m.payload = r.bytes(r.remaining(), "XLogData.payload");
    return CopyDataMessage{m};
  }
  if (tag == 'k') {
    PrimaryKeepaliveView m;
    m.wal_end = Lsn{r.u64("Keepalive.wal_end")};
    m.send_time = PgTimestamp{r.i64("Keepalive.send_time")};
    const std::uint8_t reply = r.u8("Keepalive.reply_requested");
    if (r.ok() && reply > 1) r.fail_at(Errc::unknown_flag, r.position() - 1, "Keepalive.reply_requested");
    m.reply_requested = reply == 1;
    r.expect_end("Keepalive");
    if (!r.ok()) return r.error();
    return CopyDataMessage{m};
  }
  return Error{Errc::unknown_message, base_offset, "CopyData type"};
}

inline constexpr std::size_t kStandbyStatusUpdateSize = 34;

// 'r': written, flushed and applied positions, our clock, and whether we want a keepalive back.
// The server treats `flushed` as confirmed: it may recycle WAL and advance confirmed_flush_lsn.
[[nodiscard]] constexpr std::array<std::byte, kStandbyStatusUpdateSize> make_standby_status_update(
    Lsn written, Lsn flushed, Lsn applied, PgTimestamp now, bool reply_requested) noexcept {
  std::array<std::byte, kStandbyStatusUpdateSize> out{};
  std::size_t pos = 0;
  out[pos++] = std::byte{'r'};
  auto put64 = [&](std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out[pos++] = static_cast<std::byte>((v >> shift) & 0xFF);
  };
  put64(written.value());
  put64(flushed.value());
  put64(applied.value());
  put64(static_cast<std::uint64_t>(now.micros_since_2000()));
  out[pos++] = std::byte{static_cast<unsigned char>(reply_requested ? 1 : 0)};
  return out;
}

}  // namespace replicator::protocol
