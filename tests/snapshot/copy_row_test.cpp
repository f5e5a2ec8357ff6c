// CopyRowDecoder: COPY text and binary bytes -> pgoutput TupleData rows.
#include "replicator/snapshot/copy_row.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <random>
#include <string>
#include <vector>

using replicator::ColumnKind;
using replicator::ok_status;
using replicator::Status;
using replicator::TupleView;
using replicator::snapshot::CopyFormat;
using replicator::snapshot::CopyRowDecoder;

namespace {

using Row = std::vector<std::optional<std::string>>;

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

Row to_row(TupleView t) {
  Row r;
  for (auto v : t) {
    if (v.is_null()) r.emplace_back(std::nullopt);
    else r.emplace_back(std::string(v.text()));
  }
  return r;
}

// Feeds `chunks` one after another and collects rows; the error message when one fails.
struct Fed {
  std::vector<Row> rows;
  std::vector<ColumnKind> kinds;
  std::string error;
};
Fed feed(CopyFormat f, std::uint16_t cols, const std::vector<std::string>& chunks) {
  CopyRowDecoder d(f, cols);
  Fed out;
  for (const auto& c : chunks) {
    auto st = d.feed(bytes_of(c), [&](TupleView t) -> Status {
      out.rows.push_back(to_row(t));
      for (auto v : t) out.kinds.push_back(v.kind);
      return ok_status();
    });
    if (!st) {
      out.error = st.error().message;
      return out;
    }
  }
  if (auto st = d.finish(); !st) out.error = st.error().message;
  return out;
}

std::string be32(std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  return {static_cast<char>(u >> 24), static_cast<char>(u >> 16), static_cast<char>(u >> 8), static_cast<char>(u)};
}
std::string be16(std::int16_t v) {
  const auto u = static_cast<std::uint16_t>(v);
  return {static_cast<char>(u >> 8), static_cast<char>(u)};
}
const std::string kHeader = std::string("PGCOPY\n\xff\r\n\0", 11) + be32(0) + be32(0);

}  // namespace

TEST_CASE("text COPY: fields, NULL, every escape") {
  const auto f =
      feed(CopyFormat::text, 3,
           {"1\tplain\t\\N\n", "2\ta\\tb\\nc\\\\d\\re\\bf\\fg\\vh\t\\\\N\n", "3\t\\101\\x41\\x4g\\q\\x\t\n"});
  REQUIRE(f.error.empty());
  REQUIRE(f.rows.size() == 3);
  CHECK(f.rows[0] == Row{"1", "plain", std::nullopt});
  CHECK(f.rows[1] == Row{"2", "a\tb\nc\\d\re\bf\fg\vh", "\\N"});  // "\\N" escaped is the text \N, not NULL
  CHECK(f.rows[2] == Row{"3", "AA\x04gqx", ""});
  for (auto k : f.kinds) CHECK((k == ColumnKind::text || k == ColumnKind::null));
}

TEST_CASE("text COPY: rows split across chunks and several rows in one chunk") {
  const auto f = feed(CopyFormat::text, 2, {"1\thel", "lo\n2\twor", "ld\n3\t", "\\N\n"});
  REQUIRE(f.error.empty());
  REQUIRE(f.rows.size() == 3);
  CHECK(f.rows[0] == Row{"1", "hello"});
  CHECK(f.rows[1] == Row{"2", "world"});
  CHECK(f.rows[2] == Row{"3", std::nullopt});
}

TEST_CASE("text COPY: malformed input is a typed error") {
  CHECK(feed(CopyFormat::text, 2, {"1\t2\t3\n"}).error.find("3 columns, expected 2") != std::string::npos);
  CHECK(feed(CopyFormat::text, 2, {"1\n"}).error.find("1 columns, expected 2") != std::string::npos);
  CHECK(feed(CopyFormat::text, 2, {"1\tab\\\n"}).error.find("backslash") != std::string::npos);
  CHECK(feed(CopyFormat::text, 2, {"1\tunfinished"}).error.find("middle of a row") != std::string::npos);
  const auto zero = feed(CopyFormat::text, 0, {"\n\n"});
  CHECK(zero.error.empty());
  CHECK(zero.rows.size() == 2);
  CHECK_FALSE(feed(CopyFormat::text, 0, {"x\n"}).error.empty());
}

TEST_CASE("binary COPY: header, rows, NULL, trailer, any split") {
  const std::string data = kHeader + be16(2) + be32(4) + std::string("\0\0\0\x07", 4) + be32(-1) + be16(2) + be32(0) +
                           be32(3) + "abc" + be16(-1);
  for (std::size_t split = 0; split <= data.size(); ++split) {
    const auto f = feed(CopyFormat::binary, 2, {data.substr(0, split), data.substr(split)});
    INFO(split);
    REQUIRE(f.error.empty());
    REQUIRE(f.rows.size() == 2);
    CHECK(f.rows[0] == Row{std::string("\0\0\0\x07", 4), std::nullopt});
    CHECK(f.rows[1] == Row{std::string(), "abc"});
    CHECK(f.kinds ==
          std::vector<ColumnKind>{ColumnKind::binary, ColumnKind::null, ColumnKind::binary, ColumnKind::binary});
  }
}

TEST_CASE("binary COPY: malformed input is a typed error") {
  CHECK(feed(CopyFormat::binary, 1, {std::string("PGCOPX\n\xff\r\n\0", 11) + be32(0) + be32(0)})
            .error.find("signature") != std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {std::string("PGCOPY\n\xff\r\n\0", 11) + be32(1 << 16) + be32(0)})
            .error.find("OIDs") != std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {kHeader + be16(2)}).error.find("2 columns, expected 1") != std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {kHeader + be16(1) + be32(-5)}).error.find("negative") != std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {kHeader + be16(1) + be32(9) + "abc"}).error.find("middle of a row") !=
        std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {kHeader + be16(1) + be32(1) + "a"}).error.find("trailer") != std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {kHeader + be16(-1) + be16(1)}).error.find("after the binary COPY trailer") !=
        std::string::npos);
}

namespace {
// COPY text escaping as the server writes it (CopyAttributeOutText): \b \f \n \r \t \v \\.
std::string copy_escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    switch (c) {
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\v': out += "\\v"; break;
      case '\\': out += "\\\\"; break;
      default: out += c;
    }
  }
  return out;
}
}  // namespace

TEST_CASE("text COPY round trip: random values (any byte but NUL) escaped as the server does come back exactly") {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 300; ++iter) {
    const std::uint16_t cols = static_cast<std::uint16_t>(1 + rng() % 6);
    std::vector<Row> want;
    std::string data;
    for (int r = 0; r < 5; ++r) {
      Row row;
      for (std::uint16_t c = 0; c < cols; ++c) {
        if (rng() % 5 == 0) {
          row.emplace_back(std::nullopt);
          data += "\\N";
        } else {
          std::string v;
          const auto len = rng() % 12;
          for (std::size_t i = 0; i < len; ++i) v += static_cast<char>(1 + rng() % 255);
          row.emplace_back(v);
          data += copy_escape(v);
        }
        data += c + 1 < cols ? '\t' : '\n';
      }
      want.push_back(row);
    }
    // Fed in random pieces.
    std::vector<std::string> chunks;
    for (std::size_t at = 0; at < data.size();) {
      const std::size_t n = 1 + rng() % 17;
      chunks.push_back(data.substr(at, n));
      at += n;
    }
    const auto f = feed(CopyFormat::text, cols, chunks);
    REQUIRE(f.error.empty());
    REQUIRE(f.rows == want);
  }
}

TEST_CASE("random bytes never crash the decoders: rows or a typed error") {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 2000; ++iter) {
    const auto format = iter % 2 == 0 ? CopyFormat::text : CopyFormat::binary;
    std::string data = format == CopyFormat::binary && iter % 4 == 1 ? kHeader : std::string();
    const auto len = rng() % 64;
    for (std::size_t i = 0; i < len; ++i) {
      // Mostly structure bytes, so the parsers get past their first checks.
      static constexpr char pick[] = {'\t', '\n', '\\', 'N', 'x', '7', '\0', '\xff', 'a'};
      data += rng() % 2 ? pick[rng() % sizeof pick] : static_cast<char>(rng() % 256);
    }
    CopyRowDecoder d(format, static_cast<std::uint16_t>(rng() % 4));
    std::size_t rows = 0;
    auto st = d.feed(bytes_of(data), [&](TupleView t) -> Status {
      for (auto v : t) (void)v.bytes.size();  // walk every column of every row produced
      ++rows;
      return ok_status();
    });
    if (st) st = d.finish();
    if (!st) CHECK(st.error().sqlstate == "08P01");
    CHECK(rows == d.rows());
  }
}
