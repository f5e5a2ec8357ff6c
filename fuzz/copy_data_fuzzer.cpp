// CopyData decoder (XLogData 'w' / keepalive 'k') over a sequence of messages, feeding each
// XLogData payload to a stateful PgOutputDecoder as the live transport does.
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "fuzz_input.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "replicator/transport/copy_data.hpp"

namespace pg = replicator::pgoutput;
namespace proto = replicator::protocol;
using replicator::fuzz::require;
using replicator::fuzz::within;

namespace {
std::uint64_t be64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pg::PgOutputDecoder decoder;
  replicator::fuzz::for_each_message(data, size, [&](std::span<const std::byte> msg, std::size_t offset) {
    auto result = proto::decode_copy_data(msg, offset);
    if (!result) {
      require(result.error().offset >= offset && result.error().offset <= offset + msg.size(),
              "error offset outside the message");
      return;
    }
    if (const auto* x = std::get_if<proto::XLogDataView>(&*result)) {
      require(msg.size() == 25 + x->payload.size(), "XLogData header is not 25 bytes");
      require(within(msg, x->payload.data(), x->payload.size()), "XLogData payload outside the message");
      require(x->wal_start.value() == be64(msg.data() + 1), "XLogData wal_start");
      auto m = decoder.decode(x->payload, offset + 25);
      if (!m) require(m.error().offset >= offset + 25, "payload error offset before the payload");
    } else {
      const auto& k = std::get<proto::PrimaryKeepaliveView>(*result);
      require(msg.size() == 18, "keepalive is not 18 bytes");
      require(k.wal_end.value() == be64(msg.data() + 1), "keepalive wal_end");
      // Answer it as the Replicator would and check the reply's layout.
      const auto reply =
          proto::make_standby_status_update(k.wal_end, k.wal_end, k.wal_end, k.send_time, k.reply_requested);
      require(reply[0] == std::byte{'r'}, "status update tag");
      require(be64(reply.data() + 1) == k.wal_end.value() && be64(reply.data() + 9) == k.wal_end.value(),
              "status update positions");
      require(static_cast<std::int64_t>(be64(reply.data() + 25)) == k.send_time.micros_since_2000(),
              "status update clock");
      require(reply[33] == std::byte{static_cast<unsigned char>(k.reply_requested ? 1 : 0)}, "status update flag");
    }
  });
  return 0;
}
