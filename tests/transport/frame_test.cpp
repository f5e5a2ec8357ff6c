#include "replicator/transport/frame.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <type_traits>
#include <vector>

#include "tests/data/corpus.hpp"

using namespace replicator;
using namespace replicator::transport;

namespace {
std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> out;
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}
std::string text(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
}  // namespace

TEST_CASE("frame_header is u32 BE length then u64 BE LSN") {
  const auto h = frame_header(Lsn{0x0102030405060708ull}, 0xA0B0C0D0u);
  const std::vector<unsigned> expect = {0xA0, 0xB0, 0xC0, 0xD0, 1, 2, 3, 4, 5, 6, 7, 8};
  for (std::size_t i = 0; i < h.size(); ++i) CHECK(static_cast<unsigned>(h[i]) == expect[i]);
  STATIC_REQUIRE(frame_header(Lsn{1}, 2)[3] == std::byte{2});
}

TEST_CASE("FrameWriter and FrameReader round-trip, including an empty payload") {
  std::vector<std::byte> file;
  FrameWriter w(file);
  REQUIRE(w.write(Lsn{0x16B3748}, std::string_view("Bhello")).value() == 0);
  REQUIRE(w.write(Lsn{}, std::string_view("")).value() == 18);
  REQUIRE(w.write(Lsn{0xFFFFFFFFFFFFFFFFull}, std::string_view("C")).value() == 30);
  CHECK(file.size() == 43);

  FrameReader r(file, 100);
  CHECK(r.offset() == 100);
  auto a = r.next();
  REQUIRE(a);
  CHECK(a->lsn == Lsn{0x16B3748});
  CHECK(text(a->payload) == "Bhello");
  CHECK(a->offset == 100);
  CHECK(a->payload_offset() == 112);
  CHECK(a->end_offset() == 118);
  auto b = r.next();
  REQUIRE(b);
  CHECK(b->payload.empty());
  CHECK_FALSE(b->lsn.is_valid());
  auto c = r.next();
  REQUIRE(c);
  CHECK(c->lsn.value() == 0xFFFFFFFFFFFFFFFFull);
  CHECK(text(c->payload) == "C");
  CHECK(r.at_end());
  auto end = r.next();
  REQUIRE_FALSE(end);
  CHECK(end.error().code == Errc::need_more_data);
  CHECK(end.error().offset == 143);
}

TEST_CASE("A buffer ending inside a frame asks for more data and consumes nothing") {
  std::vector<std::byte> file;
  FrameWriter w(file);
  REQUIRE(w.write(Lsn{1}, std::string_view("first")));
  REQUIRE(w.write(Lsn{2}, std::string_view("second")));
  const std::size_t first_end = 12 + 5;
  for (std::size_t k = first_end + 1; k < file.size(); ++k) {
    INFO("buffer of " << k << " bytes");
    FrameReader r(std::span<const std::byte>(file.data(), k), 7);
    REQUIRE(r.next());
    auto f = r.next();
    REQUIRE_FALSE(f);
    CHECK(f.error().code == Errc::need_more_data);
    CHECK(f.error().offset == 7 + first_end);  // the frame that is incomplete
    CHECK(r.consumed() == first_end);
    CHECK_FALSE(r.at_end());
    // Once the rest has arrived, reading resumes at the same absolute offset.
    r.reset(std::span<const std::byte>(file).subspan(r.consumed()), 7 + first_end);
    auto g = r.next();
    REQUIRE(g);
    CHECK(text(g->payload) == "second");
    CHECK(g->offset == 7 + first_end);
    CHECK(r.at_end());
  }
}

TEST_CASE("An impossible length is a malformed frame, reported at the frame's offset, and sticks") {
  std::vector<std::byte> file;
  FrameWriter w(file);
  REQUIRE(w.write(Lsn{1}, std::string_view("ok")));
  const auto bad = frame_header(Lsn{2}, kMaxFramePayload + 1);
  file.insert(file.end(), bad.begin(), bad.end());
  FrameReader r(file);
  REQUIRE(r.next());
  auto f = r.next();
  REQUIRE_FALSE(f);
  CHECK(f.error().code == Errc::bad_frame);
  CHECK(f.error().offset == 14);
  auto again = r.next();
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::bad_frame);

  // The largest allowed length is only "need more data" with a short buffer.
  const auto max = frame_header(Lsn{2}, kMaxFramePayload);
  FrameReader m(std::span<const std::byte>(max.data(), max.size()));
  CHECK(m.next().error().code == Errc::need_more_data);
  const auto all_ones = frame_header(Lsn{2}, 0xFFFFFFFFu);
  FrameReader o(std::span<const std::byte>(all_ones.data(), all_ones.size()));
  CHECK(o.next().error().code == Errc::bad_frame);
}

TEST_CASE("FrameReader refuses a temporary buffer") {
  STATIC_REQUIRE(std::is_constructible_v<FrameReader, std::vector<std::byte>&>);
  STATIC_REQUIRE(std::is_constructible_v<FrameReader, const std::vector<std::byte>&>);
  STATIC_REQUIRE_FALSE(std::is_constructible_v<FrameReader, std::vector<std::byte>&&>);
}

TEST_CASE("Every captured corpus file is a clean sequence of frames") {
  for (const char* name : replicator::test::kCorpusFiles) {
    INFO(name);
    const auto file = replicator::test::read_corpus(name);
    REQUIRE_FALSE(file.empty());
    FrameReader r(file);
    std::size_t frames = 0;
    while (!r.at_end()) {
      auto f = r.next();
      REQUIRE(f);
      CHECK_FALSE(f->payload.empty());
      ++frames;
    }
    CHECK(frames > 5);
    CHECK(r.consumed() == file.size());
  }
}

TEST_CASE("FrameWriter output of arbitrary payloads reads back byte for byte") {
  std::vector<std::byte> file;
  FrameWriter w(file);
  std::vector<std::vector<std::byte>> payloads;
  for (std::size_t n = 0; n < 300; n += 37) {
    std::vector<std::byte> p(n);
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::byte>((i * 7 + n) & 0xFF);
    payloads.push_back(p);
    REQUIRE(w.write(Lsn{n}, p));
  }
  FrameReader r(file);
  for (const auto& p : payloads) {
    auto f = r.next();
    REQUIRE(f);
    CHECK(f->lsn == Lsn{p.size()});
    CHECK(std::vector<std::byte>(f->payload.begin(), f->payload.end()) == p);
  }
  CHECK(r.at_end());
  (void)bytes_of;
}
