#include "replicator/pgoutput/reference_decoder.hpp"

#include <catch2/catch.hpp>

#include <span>
#include <string>
#include <vector>

#include "tests/data/corpus.hpp"
#include "pgoutput_samples.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "replicator/transport/frame.hpp"

using replicator::Errc;
using replicator::fuzz::MessageWriter;
using replicator::fuzz::sample_sequence;
namespace pg = replicator::pgoutput;
namespace ref = replicator::pgoutput::reference;

namespace {
std::span<const std::byte> span_of(const std::vector<std::byte>& v) { return {v.data(), v.size()}; }
}  // namespace

TEST_CASE("reference decoder decodes every sample message and agrees with the zero-copy decoder") {
  pg::PgOutputDecoder fast;
  ref::Decoder slow;
  for (const auto& sample : sample_sequence()) {
    INFO(sample.name);
    auto a = fast.decode(span_of(sample.bytes));
    auto b = slow.decode(span_of(sample.bytes));
    REQUIRE(a);
    REQUIRE(b);
    CHECK(ref::first_difference(*a, *b).empty());
    CHECK(fast.in_stream() == slow.in_stream());
  }
}

TEST_CASE("reference decoder copies values out of the buffer") {
  auto bytes = replicator::fuzz::samples::insert(false, "7", "bob");
  auto m = ref::decode_message(span_of(bytes), false);
  REQUIRE(m);
  bytes.assign(bytes.size(), std::byte{0});  // the reference message owns its data
  const auto& ins = std::get<ref::Insert>(*m);
  CHECK(ins.relation_oid == replicator::fuzz::samples::kRelation);
  REQUIRE(ins.new_tuple.size() == 4);
  CHECK(ins.new_tuple[0].kind == pg::ColumnKind::text);
  CHECK(ins.new_tuple[0].value == "7");
  CHECK(ins.new_tuple[1].value == "bob");
  CHECK(ins.new_tuple[2].kind == pg::ColumnKind::binary);
  CHECK(ins.new_tuple[2].value == std::string("\x00\x01\xff", 3));
  CHECK(ins.new_tuple[3].kind == pg::ColumnKind::null);
}

TEST_CASE("reference decoder reads the streamed xid, relation columns and truncate flags") {
  auto rel = ref::decode_message(span_of(replicator::fuzz::samples::relation(true)), true);
  REQUIRE(rel);
  const auto& r = std::get<ref::Relation>(*rel);
  CHECK(r.xid == replicator::fuzz::samples::kStreamXid);
  CHECK(r.schema == "public");
  CHECK(r.name == "accounts");
  REQUIRE(r.columns.size() == 4);
  CHECK(r.columns[0].flags == 1);
  CHECK(r.columns[0].name == "id");
  CHECK(r.columns[3].type_oid == 1700);
  CHECK(r.columns[3].type_modifier == 655366);

  auto tr = ref::decode_message(span_of(replicator::fuzz::samples::truncate(false)), false);
  REQUIRE(tr);
  const auto& t = std::get<ref::Truncate>(*tr);
  CHECK(t.options == 3);
  CHECK(t.relation_oids == std::vector<std::uint32_t>{16384, 16390});
}

TEST_CASE("both decoders fail every truncation of every sample with the same code and offset") {
  pg::PgOutputDecoder state;  // tells whether each sample sits inside a stream
  for (const auto& sample : sample_sequence()) {
    const bool in_stream = state.in_stream();
    REQUIRE(state.decode(span_of(sample.bytes)));
    for (std::size_t len = 0; len <= sample.bytes.size() + 1; ++len) {
      std::vector<std::byte> cut(sample.bytes.begin(), sample.bytes.begin() + std::min(len, sample.bytes.size()));
      if (len > sample.bytes.size()) cut.push_back(std::byte{0x7f});
      INFO(sample.name << " length " << len);
      auto a = pg::decode_message(span_of(cut), in_stream, 100);
      auto b = ref::decode_message(span_of(cut), in_stream, 100);
      REQUIRE(a.has_value() == b.has_value());
      if (a) {
        CHECK(ref::first_difference(*a, *b).empty());
      } else {
        CHECK(a.error().code == b.error().code);
        CHECK(a.error().offset == b.error().offset);
        CHECK(a.error().offset >= 100);
      }
    }
  }
}

TEST_CASE("reference decoder names malformed fields") {
  auto check = [](const std::vector<std::byte>& bytes, Errc code, std::size_t offset) {
    auto a = pg::decode_message(span_of(bytes), false);
    auto b = ref::decode_message(span_of(bytes), false);
    REQUIRE_FALSE(b);
    CHECK(b.error().code == code);
    CHECK(b.error().offset == offset);
    REQUIRE_FALSE(a);
    CHECK(a.error().code == code);
    CHECK(a.error().offset == offset);
  };
  check({}, Errc::truncated, 0);
  check(std::move(MessageWriter('Z')).bytes(), Errc::unknown_message, 0);
  check(std::move(MessageWriter('I').u32(1).u8('N').u16(0xFFFF)).bytes(), Errc::negative_length, 6);
  check(std::move(MessageWriter('I').u32(1).u8('N').u16(1).u8('x')).bytes(), Errc::unknown_tuple_kind, 8);
  check(std::move(MessageWriter('I').u32(1).u8('N').u16(1).u8('t').u32(0x80000000)).bytes(), Errc::negative_length, 9);
  check(std::move(MessageWriter('I').u32(1).u8('N').u16(1).u8('t').u32(10).raw("abc")).bytes(), Errc::truncated, 13);
  check(std::move(MessageWriter('I').u32(1).u8('X')).bytes(), Errc::unknown_flag, 5);
  check(std::move(MessageWriter('O').u64(1).raw("abc")).bytes(), Errc::unterminated_string, 9);
  check(std::move(MessageWriter('O').u64(1)).bytes(), Errc::truncated, 9);
  check(std::move(MessageWriter('C').u8(2).u64(1).u64(2).u64(3)).bytes(), Errc::unknown_flag, 1);
  check(std::move(MessageWriter('T').u32(0x7FFFFFFF).u8(0).u32(1)).bytes(), Errc::truncated, 6);
  check(std::move(MessageWriter('T').u32(1).u8(4).u32(1)).bytes(), Errc::unknown_flag, 5);
  check(std::move(MessageWriter('E').u8(0)).bytes(), Errc::trailing_bytes, 1);
  check(std::move(MessageWriter('R').u32(1).cstr("s").cstr("t").u8('x').u16(0)).bytes(), Errc::unknown_flag, 9);
  check(std::move(MessageWriter('M').u8(0).u64(1).cstr("p").u32(0xFFFFFFFF)).bytes(), Errc::negative_length, 12);
}

TEST_CASE("reference decoder rejects stream messages out of order like PgOutputDecoder") {
  ref::Decoder slow;
  pg::PgOutputDecoder fast;
  const auto stop = replicator::fuzz::samples::stream_stop();
  const auto start = replicator::fuzz::samples::stream_start(true);
  auto a = fast.decode(span_of(stop));
  auto b = slow.decode(span_of(stop));
  REQUIRE_FALSE(a);
  REQUIRE_FALSE(b);
  CHECK(b.error().code == Errc::unexpected_message);
  REQUIRE(slow.decode(span_of(start)));
  REQUIRE(fast.decode(span_of(start)));
  b = slow.decode(span_of(start));
  a = fast.decode(span_of(start));
  REQUIRE_FALSE(b);
  REQUIRE_FALSE(a);
  CHECK(b.error().code == a.error().code);
  CHECK(slow.in_stream());
  slow.reset();
  CHECK_FALSE(slow.in_stream());
}

TEST_CASE("first_difference reports the first differing field") {
  const auto one = replicator::fuzz::samples::insert(false, "1", "alice");
  const auto two = replicator::fuzz::samples::insert(false, "1", "alicf");
  auto a = pg::decode_message(span_of(one), false);
  auto b = ref::decode_message(span_of(two), false);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(ref::first_difference(*a, *b) == "new_tuple[1].value differs");
  auto c = ref::decode_message(span_of(replicator::fuzz::samples::begin()), false);
  REQUIRE(c);
  CHECK(ref::first_difference(*a, *c).rfind("message type differs", 0) == 0);
}

TEST_CASE("reference decoder agrees with the zero-copy decoder on real server streams") {
  for (const char* name : replicator::test::kCorpusFiles) {
    INFO(name);
    const auto bytes = replicator::test::read_corpus(name);
    replicator::transport::FrameReader reader(std::span<const std::byte>(bytes.data(), bytes.size()));
    pg::PgOutputDecoder fast;
    ref::Decoder slow;
    std::size_t n = 0;
    while (!reader.at_end()) {
      auto frame = reader.next();
      REQUIRE(frame);
      auto a = fast.decode(frame->payload);
      auto b = slow.decode(frame->payload);
      INFO("frame " << n);
      REQUIRE(a);
      REQUIRE(b);
      CHECK(ref::first_difference(*a, *b).empty());
      ++n;
    }
    CHECK(n > 0);
  }
}
