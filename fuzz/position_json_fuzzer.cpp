// detail::parse_position_json, the reader of the Azure Blob position store's blob (text anyone with
// write access to the container can change). Checks: a refusal says why; an accepted text is a
// Position that format_position_json writes back to a text parsing to the same Position.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_input.hpp"
#include "replicator/position/detail/position_json.hpp"

using replicator::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto r = replicator::detail::parse_position_json(text);
  if (!r.position) {
    require(!r.problem.empty(), "a refusal without a reason");
    return 0;
  }
  const std::string written = replicator::detail::format_position_json(*r.position);
  const auto again = replicator::detail::parse_position_json(written);
  require(again.position && *again.position == *r.position, "format -> parse round trip", written);
  return 0;
}
