// Differential fuzzer: the zero-copy decoder and the allocating reference decoder must agree on
// success or failure (with the same error code and offset) and on every field of every message,
// both statefully over the sequence and statelessly with and without the streamed-xid prefix.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "fuzz_input.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "replicator/pgoutput/reference_decoder.hpp"

namespace pg = replicator::pgoutput;
namespace ref = replicator::pgoutput::reference;
using replicator::fuzz::finding;
using replicator::fuzz::require;

namespace {

template <class A, class B>
void compare(const A& fast, const B& slow, std::string_view where) {
  if (fast.has_value() != slow.has_value()) {
    finding(where, fast.has_value() ? "zero-copy accepted, reference rejected: " + slow.error().describe()
                                    : "zero-copy rejected, reference accepted: " + fast.error().describe());
  }
  if (!fast.has_value()) {
    if (fast.error().code != slow.error().code || fast.error().offset != slow.error().offset)
      finding(where, "different errors: " + fast.error().describe() + " vs " + slow.error().describe());
    return;
  }
  const std::string diff = ref::first_difference(*fast, *slow);
  if (!diff.empty()) finding(where, diff);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pg::PgOutputDecoder fast;
  ref::Decoder slow;
  replicator::fuzz::for_each_message(data, size, [&](std::span<const std::byte> msg, std::size_t offset) {
    compare(fast.decode(msg, offset), slow.decode(msg, offset), "stateful decode");
    require(fast.in_stream() == slow.in_stream(), "stream state differs");
    for (bool in_stream : {false, true}) {
      compare(pg::decode_message(msg, in_stream, offset), ref::decode_message(msg, in_stream, offset),
              in_stream ? "decode_message(in_stream)" : "decode_message");
    }
  });
  return 0;
}
