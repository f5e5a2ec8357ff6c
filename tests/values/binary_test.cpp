// values/binary.hpp at its edges: an array's upper bound must be an int4, as array_recv checks.
#include "replicator/values/binary.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace replicator::values;

namespace {
std::vector<std::byte> int4_array(std::int32_t lower_bound) {
  std::vector<std::byte> out;
  auto put = [&](std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::byte>((v >> s) & 0xFF));
  };
  put(1);   // ndim
  put(0);   // flags
  put(23);  // int4
  put(2);   // two elements
  put(static_cast<std::uint32_t>(lower_bound));
  for (std::uint32_t v : {1u, 2u}) {
    put(4);
    put(v);
  }
  return out;
}
}  // namespace

TEST_CASE("decode_array_binary: lower bound + length - 1 past INT32_MAX is refused") {
  const auto ok = int4_array(2'147'483'646);  // upper bound exactly INT32_MAX
  auto a = decode_array_binary(ok);
  REQUIRE(a);
  CHECK(a->lower_bounds == std::vector<std::int32_t>{2'147'483'646});
  const auto bad = int4_array(2'147'483'647);
  auto b = decode_array_binary(bad);
  REQUIRE_FALSE(b);
  CHECK(b.error().code == ValueErrc::malformed);
}
