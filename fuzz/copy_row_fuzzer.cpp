// CopyRowDecoder (COPY ... TO STDOUT, text and binary format) against a small reference decoder.
// First byte: bit 0 the format (0 text, 1 binary), bits 1-7 the column count; second byte: the
// chunk size of a second, chunked run (0: one byte at a time); the rest is the COPY data.
// Checks: the same rows and verdict as the reference; fed whole and in chunks, the same rows and
// error; each row has the column count, well-formed TupleData whose values lie inside the row's
// bytes (the decoder's own buffer: COPY text is unescaped, so rows cannot point into the input);
// rows() counts the rows and, on success, bytes() equals the input size.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "replicator/snapshot/copy_row.hpp"

namespace pg = replicator;
using replicator::ok_status;
using replicator::Status;
using replicator::fuzz::require;
using replicator::fuzz::within;
using replicator::snapshot::CopyFormat;
using replicator::snapshot::CopyRowDecoder;
using Bytes = std::span<const std::byte>;
using Row = std::vector<std::optional<std::string>>;

namespace {

std::uint32_t be(Bytes b, std::size_t at, std::size_t n) {
  std::uint32_t x = 0;
  for (std::size_t i = 0; i < n; ++i) x = (x << 8) | std::to_integer<std::uint32_t>(b[at + i]);
  return x;
}

// Walks the TupleData itself (bounds-checked) and compares with what TupleView's iterator gives.
Row checked_row(pg::TupleView tuple, CopyFormat format, std::uint16_t columns) {
  require(tuple.size() == columns, "row column count");
  const Bytes raw = tuple.bytes();
  const auto value_kind = format == CopyFormat::text ? pg::ColumnKind::text : pg::ColumnKind::binary;
  Row row;
  std::size_t p = 0;
  auto it = tuple.begin();
  for (std::uint16_t c = 0; c < columns; ++c, ++it) {
    require(p < raw.size(), "row bytes end before its last column");
    const auto kind = static_cast<pg::ColumnKind>(std::to_integer<char>(raw[p]));
    if (kind == pg::ColumnKind::null) {
      require((*it).is_null(), "iterator misses a NULL");
      row.emplace_back(std::nullopt);
      ++p;
      continue;
    }
    require(kind == value_kind, "column kind is not the format's");
    require(raw.size() - p >= 5 && raw.size() - p - 5 >= be(raw, p + 1, 4), "column length past the row bytes");
    const pg::ColumnValueView value = *it;
    require(value.kind == kind && value.bytes.data() == raw.data() + p + 5 && value.bytes.size() == be(raw, p + 1, 4),
            "iterator view differs from the column");
    require(within(raw, value.bytes.data(), value.bytes.size()), "value outside the row bytes");
    row.emplace_back(std::string(value.text()));
    p += 5 + value.bytes.size();
  }
  require(p == raw.size(), "row bytes longer than its columns");
  require(it == tuple.end(), "iterator end");
  return row;
}

struct Outcome {
  std::vector<Row> rows;
  bool ok = false;
  std::string error;
};

Outcome decode(CopyFormat format, std::uint16_t columns, Bytes data, std::size_t chunk) {
  CopyRowDecoder decoder(format, columns);
  Outcome out;
  auto on_row = [&](pg::TupleView t) -> Status {
    out.rows.push_back(checked_row(t, format, columns));
    return ok_status();
  };
  Status st = ok_status();
  for (std::size_t at = 0; at < data.size() && st; at += chunk)
    st = decoder.feed(data.subspan(at, std::min(chunk, data.size() - at)), on_row);
  if (st) st = decoder.finish();
  out.ok = st.has_value();
  require(decoder.rows() == out.rows.size(), "rows() differs from the rows delivered");
  if (out.ok) {
    require(decoder.bytes() == data.size(), "bytes() differs from the input size");
  } else {
    out.error = st.error().message;
    require(!st.error().retryable() && out.error.starts_with("malformed COPY data"), "error kind or message",
            out.error);
  }
  return out;
}

// --- The reference: the same format, written plainly (split first, then unescape).
struct Reference {
  std::vector<Row> rows;
  bool ok = false;
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// COPY text escapes: \b \f \n \r \t \v, \xH[H], \O[O[O]], \c for any other c; a lone final '\' is an error.
std::optional<std::string> unescape(std::string_view f) {
  std::string out;
  std::size_t i = 0;
  while (i < f.size()) {
    const char c = f[i++];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i == f.size()) return std::nullopt;
    const char e = f[i++];
    switch (e) {
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'v': out.push_back('\v'); break;
      case 'x': {
        unsigned v = 0;
        int n = 0;
        for (; n < 2 && i < f.size() && hex_digit(f[i]) >= 0; ++n)
          v = v * 16 + static_cast<unsigned>(hex_digit(f[i++]));
        out.push_back(n == 0 ? 'x' : static_cast<char>(v));
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          unsigned v = static_cast<unsigned>(e - '0');
          for (int n = 1; n < 3 && i < f.size() && f[i] >= '0' && f[i] <= '7'; ++n)
            v = v * 8 + static_cast<unsigned>(f[i++] - '0');
          out.push_back(static_cast<char>(v & 0xFF));
        } else {
          out.push_back(e);
        }
    }
  }
  return out;
}

Reference reference_text(std::string_view all, std::uint16_t columns) {
  Reference ref;
  std::size_t start = 0;
  while (start < all.size()) {
    const std::size_t nl = all.find('\n', start);
    if (nl == std::string_view::npos) return ref;  // unfinished row
    const std::string_view line = all.substr(start, nl - start);
    start = nl + 1;
    std::vector<std::string_view> fields;
    if (columns > 0) {
      std::size_t from = 0;
      for (std::size_t tab; (tab = line.find('\t', from)) != std::string_view::npos; from = tab + 1)
        fields.push_back(line.substr(from, tab - from));
      fields.push_back(line.substr(from));
    } else if (!line.empty()) {
      return ref;
    }
    if (fields.size() != columns) return ref;
    Row row;
    for (std::string_view f : fields) {
      if (f == "\\N") {
        row.emplace_back(std::nullopt);
        continue;
      }
      auto value = unescape(f);
      if (!value) return ref;
      row.emplace_back(std::move(*value));
    }
    ref.rows.push_back(std::move(row));
  }
  ref.ok = true;
  return ref;
}

Reference reference_binary(Bytes b, std::uint16_t columns) {
  static constexpr unsigned char kSignature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xFF, '\r', '\n', 0};
  Reference ref;
  if (b.size() < 19 || std::memcmp(b.data(), kSignature, sizeof kSignature) != 0) return ref;
  if ((be(b, 11, 4) & 0xFFFF0000u) != 0) return ref;  // OIDs (bit 16) or unknown critical flags
  const std::uint32_t extension = be(b, 15, 4);
  if (b.size() - 19 < extension) return ref;
  std::size_t p = 19 + extension;
  bool trailer = false;
  while (p < b.size()) {
    if (trailer || b.size() - p < 2) return ref;
    const auto count = static_cast<std::int16_t>(be(b, p, 2));
    p += 2;
    if (count == -1) {
      trailer = true;
      continue;
    }
    if (count != columns) return ref;
    Row row;
    for (std::uint16_t c = 0; c < columns; ++c) {
      if (b.size() - p < 4) return ref;
      const auto len = static_cast<std::int32_t>(be(b, p, 4));
      p += 4;
      if (len == -1) {
        row.emplace_back(std::nullopt);
        continue;
      }
      if (len < 0 || static_cast<std::size_t>(len) > b.size() - p) return ref;
      row.emplace_back(std::string(reinterpret_cast<const char*>(b.data() + p), static_cast<std::size_t>(len)));
      p += static_cast<std::size_t>(len);
    }
    ref.rows.push_back(std::move(row));
  }
  ref.ok = trailer;
  return ref;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const CopyFormat format = (data[0] & 1) != 0 ? CopyFormat::binary : CopyFormat::text;
  const auto columns = static_cast<std::uint16_t>(data[0] >> 1);
  const std::size_t chunk = data[1] == 0 ? 1 : data[1];
  const Bytes copy(reinterpret_cast<const std::byte*>(data + 2), size - 2);

  const Outcome whole = decode(format, columns, copy, std::max<std::size_t>(copy.size(), 1));
  const Reference ref =
      format == CopyFormat::text
          ? reference_text(std::string_view(reinterpret_cast<const char*>(copy.data()), copy.size()), columns)
          : reference_binary(copy, columns);
  require(whole.ok == ref.ok, "accepted or rejected unlike the reference", whole.error);
  require(whole.rows == ref.rows, "rows differ from the reference");

  const Outcome chunked = decode(format, columns, copy, chunk);
  require(chunked.ok == whole.ok && chunked.error == whole.error, "chunked feed ends differently", chunked.error);
  require(chunked.rows == whole.rows, "chunked feed gives other rows");
  return 0;
}
