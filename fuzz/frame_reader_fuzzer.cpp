// Stream files (transport/frame.hpp) through FrameReader and ReplayTransport, each payload through
// a stateful PgOutputDecoder. The input is a stream file, so captured files are seeds as they are.
// Checks: no crash / UB / leak; reading in two chunks (reset() after need_more_data, as a growing
// buffer is read) yields exactly the frames of a whole-buffer read; offsets and payloads stay in
// the buffer; ReplayTransport delivers a subsequence of those frames and then ends or fails cleanly.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "fuzz_input.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "replicator/transport/frame.hpp"
#include "replicator/transport/replay.hpp"

namespace tr = replicator::transport;
using replicator::Errc;
using replicator::fuzz::require;
using replicator::fuzz::within;

namespace {

struct Seen {
  std::uint64_t lsn;
  std::size_t offset;
  std::size_t payload_offset;
  std::size_t size;
  friend bool operator==(const Seen&, const Seen&) = default;
};

// Reads every frame; returns the error code that stopped it (need_more_data at a clean end too).
Errc read_all(tr::FrameReader& reader, std::span<const std::byte> whole, std::vector<Seen>& out) {
  while (!reader.at_end()) {
    auto f = reader.next();
    if (!f) {
      require(f.error().offset == reader.offset(), "frame error offset is not the frame's");
      return f.error().code;
    }
    require(within(whole, f->payload.data(), f->payload.size()), "frame payload outside the buffer");
    require(f->payload_offset() == f->offset + tr::kFrameHeaderSize, "payload offset");
    require(static_cast<std::size_t>(f->payload.data() - whole.data()) == f->payload_offset(), "payload offset");
    out.push_back({f->lsn.value(), f->offset, f->payload_offset(), f->payload.size()});
  }
  return Errc::need_more_data;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> whole(reinterpret_cast<const std::byte*>(data), size);

  // Whole buffer at once, decoding every payload.
  std::vector<Seen> frames;
  tr::FrameReader reader(whole);
  const Errc stop = read_all(reader, whole, frames);
  replicator::pgoutput::PgOutputDecoder decoder;
  for (const Seen& s : frames) {
    auto m = decoder.decode(whole.subspan(s.payload_offset, s.size), s.payload_offset);
    if (!m)
      require(m.error().offset >= s.payload_offset && m.error().offset <= s.payload_offset + s.size,
              "decode error offset outside the frame");
  }

  // The same bytes arriving in two chunks.
  const std::size_t cut = size / 2;
  std::vector<Seen> chunked;
  tr::FrameReader first(whole.first(cut));
  Errc first_stop = read_all(first, whole, chunked);
  if (first_stop == Errc::need_more_data) {
    const std::size_t done = first.consumed();
    tr::FrameReader second;
    second.reset(whole.subspan(done), done);
    const Errc second_stop = read_all(second, whole, chunked);
    require(second_stop == stop, "chunked read stopped differently");
    require(chunked == frames, "chunked read saw different frames");
  } else {
    require(first_stop == stop && first_stop == Errc::bad_frame, "first chunk failed differently");
    require(std::equal(chunked.begin(), chunked.end(), frames.begin(), frames.begin() + chunked.size()) &&
                chunked.size() <= frames.size(),
            "first chunk saw different frames");
  }

  // ReplayTransport from the start and from a frame's LSN: a subsequence of the frames, then the end.
  for (int pass = 0; pass < 2; ++pass) {
    auto t = tr::ReplayTransport(std::vector<std::byte>(whole.begin(), whole.end()));
    const replicator::Lsn from =
        pass == 0 || frames.empty() ? replicator::Lsn::invalid() : replicator::Lsn{frames[size % frames.size()].lsn};
    require(t.start(from).has_value(), "replay start failed");
    std::size_t next = 0;
    for (std::size_t polls = 0; polls <= frames.size() + 1; ++polls) {
      auto ev = t.poll(std::chrono::milliseconds(0));
      if (!ev) {
        require(stop != Errc::need_more_data || !reader.at_end(), "replay failed on a clean file");
        break;
      }
      if (std::holds_alternative<replicator::EndOfStream>(*ev)) {
        require(reader.at_end(), "replay ended early");
        break;
      }
      const auto* msg = std::get_if<replicator::WalMessage>(&*ev);
      require(msg != nullptr, "replay produced an unexpected event");
      const auto& payload = msg->payload;
      require(within(t.bytes(), payload.data(), payload.size()), "replay payload outside its buffer");
      while (next < frames.size() && frames[next].payload_offset != msg->offset) ++next;
      require(next < frames.size(), "replay delivered a frame the reader did not see");
      require(frames[next].size == payload.size() && frames[next].lsn == msg->wal_start.value(), "replay frame");
      ++next;
    }
  }
  return 0;
}
