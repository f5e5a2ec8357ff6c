// How the message fuzzers cut their input into messages: repeated [u16 big-endian length][bytes];
// a length past the end takes what is left. Small prefixes keep libFuzzer's mutations effective.
//   for_each_message(data, size, [&](std::span<const std::byte> msg, std::size_t offset) { ... });
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

namespace replicator::fuzz {

template <class F>
void for_each_message(const std::uint8_t* data, std::size_t size, F&& f) {
  std::size_t pos = 0;
  while (size - pos >= 2) {
    std::size_t len = (static_cast<std::size_t>(data[pos]) << 8) | data[pos + 1];
    pos += 2;
    if (len > size - pos) len = size - pos;
    f(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data + pos), len), pos);
    pos += len;
  }
}

// The inverse, for seed files.
inline void append_framed(std::vector<std::byte>& out, std::span<const std::byte> msg) {
  const std::size_t len = msg.size() > 0xFFFF ? 0xFFFF : msg.size();
  out.push_back(static_cast<std::byte>(len >> 8));
  out.push_back(static_cast<std::byte>(len & 0xFF));
  out.insert(out.end(), msg.begin(), msg.begin() + static_cast<std::ptrdiff_t>(len));
}

// A finding: say what broke and abort so libFuzzer (and the corpus replay test) report it.
[[noreturn]] inline void finding(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "FUZZ FINDING: %.*s %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}
inline void require(bool ok, std::string_view what, std::string_view detail = {}) {
  if (!ok) finding(what, detail);
}

// True when [p, p+n) lies inside `buffer`: views must point into the decoded payload.
inline bool within(std::span<const std::byte> buffer, const void* p, std::size_t n) {
  if (n == 0) return true;
  const auto* b = reinterpret_cast<const std::byte*>(p);
  return b >= buffer.data() && n <= buffer.size() && b <= buffer.data() + (buffer.size() - n);
}

}  // namespace replicator::fuzz
