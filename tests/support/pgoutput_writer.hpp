// MessageWriter: builds one pgoutput message payload big-endian, as the server does, for tests,
// seed corpora and benchmarks (the one builder of wire bytes outside the decoder's own tests of
// real server bytes).
//   auto bytes = MessageWriter('I').u32(16384).u8('N').u16(1).text("42").bytes();
//   auto row = MessageWriter('I').u32(16384).u8('N').tuple({"1", std::nullopt, kToast}).take();
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace replicator::test {

using Bytes = std::vector<std::byte>;
using Val = std::optional<std::string>;              // nullopt: SQL NULL
inline const Val kToast = std::string("\x01toast");  // marker for an unchanged-TOAST column

class MessageWriter {
 public:
  explicit MessageWriter(char tag) { u8(static_cast<std::uint8_t>(tag)); }
  MessageWriter() = default;

  MessageWriter& u8(std::uint8_t v) {
    out_.push_back(static_cast<std::byte>(v));
    return *this;
  }
  MessageWriter& u16(std::uint16_t v) { return be(v, 2); }
  MessageWriter& u32(std::uint32_t v) { return be(v, 4); }
  MessageWriter& u64(std::uint64_t v) { return be(v, 8); }
  MessageWriter& i64(std::int64_t v) { return be(static_cast<std::uint64_t>(v), 8); }
  MessageWriter& cstr(std::string_view s) { return raw(s).u8(0); }
  MessageWriter& raw(std::string_view s) {
    for (char c : s) out_.push_back(static_cast<std::byte>(c));
    return *this;
  }
  // The xid a message carries inside a stream block (protocol 2+); nothing outside one.
  MessageWriter& stream_xid(std::optional<std::uint32_t> xid) {
    if (xid) u32(*xid);
    return *this;
  }
  // TupleData columns, one at a time (after the Int16 count)...
  MessageWriter& text(std::string_view v) { return u8('t').u32(static_cast<std::uint32_t>(v.size())).raw(v); }
  MessageWriter& binary(std::string_view v) { return u8('b').u32(static_cast<std::uint32_t>(v.size())).raw(v); }
  MessageWriter& null() { return u8('n'); }
  MessageWriter& unchanged_toast() { return u8('u'); }
  // ...or a whole TupleData with its count: text values, nullopt for NULL, kToast for unchanged TOAST.
  MessageWriter& tuple(const std::vector<Val>& vals) {
    u16(static_cast<std::uint16_t>(vals.size()));
    for (const auto& v : vals) {
      if (!v) null();
      else if (*v == *kToast) unchanged_toast();
      else text(*v);
    }
    return *this;
  }

  [[nodiscard]] const Bytes& bytes() const& { return out_; }
  [[nodiscard]] Bytes bytes() && { return std::move(out_); }
  Bytes take() { return std::move(out_); }

 private:
  MessageWriter& be(std::uint64_t v, int n) {
    for (int shift = (n - 1) * 8; shift >= 0; shift -= 8) out_.push_back(static_cast<std::byte>((v >> shift) & 0xFF));
    return *this;
  }
  Bytes out_;
};

}  // namespace replicator::test
