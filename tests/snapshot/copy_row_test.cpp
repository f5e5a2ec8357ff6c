// CopyRowDecoder: COPY text and binary bytes -> pgoutput TupleData rows.
#include "replicator/snapshot/copy_row.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

using replicator::ok_status;
using replicator::Status;
using replicator::pgoutput::ColumnKind;
using replicator::pgoutput::TupleView;
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
  const auto f = feed(CopyFormat::text, 3, {"1\tplain\t\\N\n", "2\ta\\tb\\nc\\\\d\\re\\bf\\fg\\vh\t\\\\N\n",
                                             "3\t\\101\\x41\\x4g\\q\\x\t\n"});
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
    CHECK(f.kinds == std::vector<ColumnKind>{ColumnKind::binary, ColumnKind::null, ColumnKind::binary,
                                             ColumnKind::binary});
  }
}

TEST_CASE("binary COPY: malformed input is a typed error") {
  CHECK(feed(CopyFormat::binary, 1, {std::string("PGCOPX\n\xff\r\n\0", 11) + be32(0) + be32(0)}).error.find("signature") !=
        std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {std::string("PGCOPY\n\xff\r\n\0", 11) + be32(1 << 16) + be32(0)}).error.find("OIDs") !=
        std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {kHeader + be16(2)}).error.find("2 columns, expected 1") != std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {kHeader + be16(1) + be32(-5)}).error.find("negative") != std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {kHeader + be16(1) + be32(9) + "abc"}).error.find("middle of a row") !=
        std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {kHeader + be16(1) + be32(1) + "a"}).error.find("trailer") != std::string::npos);
  CHECK(feed(CopyFormat::binary, 1, {kHeader + be16(-1) + be16(1)}).error.find("after the binary COPY trailer") !=
        std::string::npos);
}
