// metrics/http_request.hpp's parse_http_request on any bytes: views stay inside the input, a
// complete head parses the same from exactly its bytes, no prefix of a valid head is malformed,
// the size bound is honoured, and the path is a suffix-free slice of the target.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_input.hpp"
#include "replicator/metrics/http_request.hpp"

using replicator::fuzz::require;
using namespace replicator::metrics;

namespace {
bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // The first byte picks a small bound sometimes, so too_large is reached too.
  const std::size_t max = size > 0 && (data[0] & 1) ? 16 + data[0] : 8192;
  const auto r = parse_http_request(in, max);
  switch (r.status) {
    case HttpParseStatus::complete: {
      const auto& q = r.request;
      require(q.head_bytes >= 4 && q.head_bytes <= size && q.head_bytes <= max, "head_bytes out of range");
      require(in.substr(q.head_bytes - 4, 4) == "\r\n\r\n", "head does not end in a blank line");
      require(inside(q.method, in) && inside(q.target, in) && inside(q.version, in), "view outside the input");
      require(!q.method.empty() && !q.target.empty(), "empty method or target");
      require(q.version == "HTTP/1.1" || q.version == "HTTP/1.0", "version");
      require(q.headers <= kMaxHttpHeaders, "header count");
      const auto path = q.path();
      require((path == "/" || inside(path, in)) && path.find_first_of("?#") == std::string_view::npos,
              "path");  // "/": an absolute-form target without a path
      const auto again = parse_http_request(in.substr(0, q.head_bytes), max);
      require(again.status == HttpParseStatus::complete && again.request.head_bytes == q.head_bytes &&
                  again.request.target == q.target && again.request.headers == q.headers,
              "re-parse of the head differs");
      for (std::size_t n = 0; n < q.head_bytes; n += 1 + n / 8) {
        const auto part = parse_http_request(in.substr(0, n), max);
        require(part.status == HttpParseStatus::incomplete, "a prefix of a valid head is not incomplete");
      }
      break;
    }
    case HttpParseStatus::incomplete: require(size < max, "incomplete past the bound"); break;
    case HttpParseStatus::malformed:
    case HttpParseStatus::too_large: require(!r.reason.empty(), "no reason"); break;
  }
  return 0;
}
