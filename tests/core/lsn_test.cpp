#include "replicator/core/lsn.hpp"

#include <catch2/catch.hpp>

using replicator::Errc;
using replicator::Lsn;

TEST_CASE("Lsn parses and formats the server's X/Y form") {
  auto lsn = Lsn::parse("16/B374D848");
  REQUIRE(lsn);
  CHECK(lsn->value() == 0x16B374D848ull);
  CHECK(lsn->to_string() == "16/B374D848");
  CHECK(Lsn::parse("0/0")->value() == 0);
  CHECK_FALSE(Lsn::parse("0/0")->is_valid());
  CHECK(Lsn::invalid().to_string() == "0/0");
  CHECK(Lsn::parse("ffffffff/ffffffff")->to_string() == "FFFFFFFF/FFFFFFFF");
  CHECK(Lsn{0x100000000ull}.to_string() == "1/0");
}

TEST_CASE("Lsn rejects malformed text") {
  for (const char* bad :
       {"", "/", "0/", "/0", "0", "0x1/0", "G/0", "1/2/3", "123456789/0", "0/123456789", " 0/0", "0/0 ", "-1/0"}) {
    INFO(bad);
    auto r = Lsn::parse(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::bad_lsn_text);
  }
}

TEST_CASE("Lsn compares and does byte arithmetic") {
  Lsn a{100};
  Lsn b = a + 28;
  CHECK(b > a);
  CHECK(b - a == 28);
  CHECK(a - b == -28);
  CHECK((b - std::uint64_t{28}) == a);
  a += 1;
  CHECK(a.value() == 101);
  STATIC_REQUIRE(Lsn::parse("1/0")->value() == (1ull << 32));
}
