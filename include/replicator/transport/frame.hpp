// The stream file format shared by the capture program and ReplayTransport: one frame per
// XLogData message, [u32 BE payload length][u64 BE XLogData start LSN][payload (one pgoutput message)].
//   FrameReader reader(file_bytes);
//   while (!reader.at_end()) { auto f = reader.next(); if (!f) return f.error(); use(f->lsn, f->payload); }
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "replicator/core/detail/byte_reader.hpp"
#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"

namespace replicator::transport {

inline constexpr std::size_t kFrameHeaderSize = 12;
// The server never sends a message above MaxAllocSize (1 GiB - 1): a larger length means the file
// is corrupt, not that we should try to allocate or wait for it.
inline constexpr std::uint32_t kMaxFramePayload = 0x3FFF'FFFF;

// One frame; `payload` points into the reader's buffer.
struct FrameView {
  Lsn lsn;
  std::span<const std::byte> payload;
  std::size_t offset = 0;  // of the frame header in the buffer (file)

  [[nodiscard]] std::size_t payload_offset() const noexcept { return offset + kFrameHeaderSize; }
  [[nodiscard]] std::size_t end_offset() const noexcept { return payload_offset() + payload.size(); }
};

// Reads frames from a byte buffer (a whole file, or what has arrived so far). next() returns
//   - a FrameView,
//   - Errc::need_more_data when the buffer ends inside a frame (nothing consumed: append and retry),
//   - Errc::bad_frame for a header that cannot be right (stays failed; the offset names the frame).
// Offsets are absolute file offsets: `base_offset` is the file offset of bytes[0].
class FrameReader {
 public:
  FrameReader() = default;
  explicit FrameReader(std::span<const std::byte> bytes, std::size_t base_offset = 0) noexcept
      : bytes_(bytes), base_(base_offset) {}
  // The frames would point into a temporary.
  explicit FrameReader(std::vector<std::byte>&&, std::size_t = 0) = delete;

  [[nodiscard]] bool at_end() const noexcept { return pos_ == bytes_.size(); }
  [[nodiscard]] std::size_t offset() const noexcept { return base_ + pos_; }  // of the next frame
  [[nodiscard]] std::size_t consumed() const noexcept { return pos_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - pos_; }

  [[nodiscard]] Result<FrameView> next() noexcept {
    if (failed_) return Error{Errc::bad_frame, offset(), "frame length"};
    const std::size_t left = bytes_.size() - pos_;
    if (left < kFrameHeaderSize) return Error{Errc::need_more_data, offset(), "frame header"};
    replicator::detail::ByteReader r(bytes_.subspan(pos_, kFrameHeaderSize), offset());
    const std::uint32_t len = r.u32("frame length");
    const Lsn lsn{r.u64("frame LSN")};
    if (len > kMaxFramePayload) {
      failed_ = true;
      return Error{Errc::bad_frame, offset(), "frame length"};
    }
    if (left - kFrameHeaderSize < len) return Error{Errc::need_more_data, offset(), "frame payload"};
    FrameView f{lsn, bytes_.subspan(pos_ + kFrameHeaderSize, len), offset()};
    pos_ += kFrameHeaderSize + len;
    return f;
  }

  // Points the reader at a new buffer (e.g. after appending to it); keeps the absolute offset.
  void reset(std::span<const std::byte> bytes, std::size_t base_offset) noexcept {
    bytes_ = bytes;
    base_ = base_offset;
    pos_ = 0;
    failed_ = false;
  }

 private:
  std::span<const std::byte> bytes_{};
  std::size_t base_ = 0;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

// The 12-byte header of a frame, for writers that put header and payload out separately.
[[nodiscard]] constexpr std::array<std::byte, kFrameHeaderSize> frame_header(Lsn lsn, std::uint32_t length) noexcept {
  std::array<std::byte, kFrameHeaderSize> h{};
  for (int i = 0; i < 4; ++i) h[static_cast<std::size_t>(i)] = static_cast<std::byte>((length >> (24 - 8 * i)) & 0xFF);
  const std::uint64_t v = lsn.value();
  for (int i = 0; i < 8; ++i) h[static_cast<std::size_t>(4 + i)] = static_cast<std::byte>((v >> (56 - 8 * i)) & 0xFF);
  return h;
}

// Appends frames to a byte vector (tests, in-memory captures). The capture program writes
// frame_header() + payload to its file directly.
class FrameWriter {
 public:
  explicit FrameWriter(std::vector<std::byte>& out) noexcept : out_(&out) {}

  // Errc::bad_frame if the payload is larger than any server message can be.
  [[nodiscard]] Result<std::size_t> write(Lsn lsn, std::span<const std::byte> payload) {
    if (payload.size() > kMaxFramePayload) return Error{Errc::bad_frame, out_->size(), "frame length"};
    const std::size_t at = out_->size();
    const auto h = frame_header(lsn, static_cast<std::uint32_t>(payload.size()));
    out_->insert(out_->end(), h.begin(), h.end());
    out_->insert(out_->end(), payload.begin(), payload.end());
    return at;  // offset of the frame
  }
  [[nodiscard]] Result<std::size_t> write(Lsn lsn, std::string_view payload) {
    return write(lsn, std::as_bytes(std::span<const char>(payload.data(), payload.size())));
  }

 private:
  std::vector<std::byte>* out_;
};

}  // namespace replicator::transport
