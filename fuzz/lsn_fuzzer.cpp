// Lsn::parse against a tiny independent oracle (1-8 hex digits '/' 1-8 hex digits), plus
// format -> parse round trips and the server's upper-case, no-leading-zero form.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

#include "fuzz_input.hpp"
#include "replicator/core/lsn.hpp"

using replicator::Lsn;
using replicator::fuzz::require;

namespace {
std::optional<std::uint32_t> hex_half(std::string_view s) {
  if (s.empty() || s.size() > 8) return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    const char* digits = "0123456789abcdef0123456789ABCDEF";
    const void* at = c == '\0' ? nullptr : std::memchr(digits, c, 32);
    if (at == nullptr) return std::nullopt;
    v = (v << 4) | static_cast<std::uint32_t>((static_cast<const char*>(at) - digits) % 16);
  }
  return v;
}
std::optional<std::uint64_t> oracle(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto hi = hex_half(text.substr(0, slash));
  auto lo = hex_half(text.substr(slash + 1));
  if (!hi || !lo) return std::nullopt;
  return (static_cast<std::uint64_t>(*hi) << 32) | *lo;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = Lsn::parse(text);
  const auto expected = oracle(text);
  require(parsed.has_value() == expected.has_value(), "Lsn::parse disagrees with the oracle on validity");
  if (!parsed) {
    require(parsed.error().code == replicator::Errc::bad_lsn_text, "wrong error code");
    require(parsed.error().offset <= size, "error offset past the text");
    return 0;
  }
  require(parsed->value() == *expected, "Lsn::parse value");
  const auto formatted = parsed->format();
  char server[32];
  const int n = std::snprintf(server, sizeof server, "%X/%X", static_cast<unsigned>(*expected >> 32),
                              static_cast<unsigned>(*expected & 0xFFFFFFFFu));
  require(formatted.view() == std::string_view(server, static_cast<std::size_t>(n)), "format differs from %X/%X");
  const auto again = Lsn::parse(formatted.view());
  require(again && *again == *parsed, "format -> parse round trip");
  require(*parsed + 1 > *parsed || parsed->value() == UINT64_MAX, "ordering");
  return 0;
}
