// FilePositionStore::parse, the reader of the position file (load() is open + read + parse).
// Each input is parsed twice: as it is, and re-sealed with a correct crc32 line (over everything
// before its last "crc32=" line, or appended), so mutations get past the CRC to the keys.
// Checks: an error is fatal and names the file; an accepted file is a Position that format()
// writes back to a file parsing to the same Position; the CRC covers every byte before its line
// (one changed byte there is refused).
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.hpp"
#include "replicator/position/file.hpp"

using replicator::FilePositionStore;
using replicator::fuzz::require;

namespace {

const FilePositionStore store("fuzz.pos");  // parse() uses the path only in messages

std::string sealed(std::string_view text) {
  const auto crc_at = text.rfind("crc32=");
  std::string body(
      crc_at != std::string_view::npos && (crc_at == 0 || text[crc_at - 1] == '\n') ? text.substr(0, crc_at) : text);
  char crc[8];
  const auto end = std::to_chars(crc, crc + sizeof crc, replicator::detail::crc32(body), 16).ptr;
  return body + "crc32=" + std::string(crc, end) + "\n";
}

void check(std::string_view text) {
  const auto r = store.parse(text);
  if (!r) {
    require(!r.error().retryable(), "a malformed file is retryable");
    require(r.error().message.starts_with("position file fuzz.pos is corrupt: "), "error does not name the file",
            r.error().message);
    return;
  }
  require(r->has_value(), "parse of a present file gave nullopt");
  const replicator::Position& p = **r;
  const std::string written = FilePositionStore::format(p);
  const auto again = store.parse(written);
  require(again && again->has_value() && **again == p, "format -> parse round trip", written);

  const std::size_t covered = text.rfind("crc32=");
  for (std::size_t at : {std::size_t{0}, covered / 2, covered - 1}) {
    std::string damaged(text);
    damaged[at] = static_cast<char>(damaged[at] ^ 0x20);
    require(!store.parse(damaged), "a changed byte before the crc32 line was accepted", damaged);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check(text);
  check(sealed(text));
  return 0;
}
