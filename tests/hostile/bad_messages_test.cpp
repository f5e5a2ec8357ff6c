// Hand-made stream files with one defect each, through the whole Replicator
// (fuzz/replicator_harness.hpp) and through the decode program: a Relation missing before its
// Insert, a change for an unknown relation, oversize frame and tuple lengths, column counts that do
// not match the relation, stream segments of transactions never started, extreme timestamps.
// Each is a fatal error naming the offending message's offset (or runs clean), never a crash, and
// nothing is confirmed past the last complete transaction the sink got.
#include <catch2/catch.hpp>
#include <sys/wait.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "pgoutput_samples.hpp"
#include "replicator/batch/batcher.hpp"
#include "replicator/core/timestamp.hpp"
#include "replicator/transport/frame.hpp"
#include "replicator_harness.hpp"
#include "tests/data/corpus.hpp"

namespace {

using replicator::Lsn;
using replicator::fuzz::MessageWriter;
using Bytes = std::vector<std::byte>;
namespace samples = replicator::fuzz::samples;

constexpr std::uint32_t kRel = samples::kRelation;  // public.accounts: id, name, payload, price

// A stream file being built; remembers where each payload starts.
struct File {
  Bytes bytes;
  std::vector<std::size_t> payloads;  // file offset of each frame's payload
  std::uint64_t lsn = 0x3000000;

  std::size_t add(const Bytes& payload) {
    replicator::transport::FrameWriter w(bytes);
    lsn += 0x40;
    auto at = w.write(Lsn{lsn}, std::span<const std::byte>(payload));
    REQUIRE(at);
    payloads.push_back(*at + replicator::transport::kFrameHeaderSize);
    return payloads.back();
  }
  void raw(const Bytes& b) { bytes.insert(bytes.end(), b.begin(), b.end()); }
};

Bytes begin(std::uint32_t xid, std::uint64_t final_lsn, std::int64_t time = samples::kTime) {
  return std::move(MessageWriter('B').u64(final_lsn).i64(time).u32(xid)).bytes();
}
Bytes commit(std::uint64_t commit_lsn, std::uint64_t end_lsn, std::int64_t time = samples::kTime) {
  return std::move(MessageWriter('C').u8(0).u64(commit_lsn).u64(end_lsn).i64(time)).bytes();
}
Bytes insert_into(std::uint32_t oid) {
  MessageWriter w('I');
  w.u32(oid).u8('N').u16(4).text("7").text("x").null().text("1.00");
  return std::move(w).bytes();
}

// One complete transaction (Relation, Begin, Insert, Commit) ending at `end`.
void good_transaction(File& f, std::uint32_t xid, std::uint64_t end) {
  f.add(samples::relation(false));
  f.add(begin(xid, end - 0x30));
  f.add(insert_into(kRel));
  f.add(commit(end - 0x30, end));
}

replicator::fuzz::RunResult run(const Bytes& bytes) {
  auto r = replicator::fuzz::run_replay(
      bytes, replicator::TransactionBatcher({}, replicator::fuzz::whole_transaction_options()),
      replicator::fuzz::RunOptions{});
  INFO("violation: " << r.violation);
  REQUIRE(r.violation.empty());
  return r;
}

// The run failed with a fatal error that says `what` and names `offset`.
void expect_error(const replicator::fuzz::RunResult& r, const std::string& what, std::size_t offset) {
  REQUIRE(r.error);
  INFO(r.error->message);
  CHECK_FALSE(r.error->retryable());
  CHECK_THAT(r.error->message, Catch::Contains(what));
  CHECK_THAT(r.error->message, Catch::Contains("offset " + std::to_string(offset)));
}

// Some "offset N" in the message lies in [from, to].
bool offset_within(const std::string& m, std::size_t from, std::size_t to) {
  for (std::size_t at = m.find("offset "); at != std::string::npos; at = m.find("offset ", at + 1)) {
    std::size_t i = at + 7, v = 0;
    bool digits = false;
    for (; i < m.size() && m[i] >= '0' && m[i] <= '9'; ++i, digits = true)
      v = v * 10 + static_cast<std::size_t>(m[i] - '0');
    if (digits && v >= from && v <= to) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("A Relation missing before its Insert is a fatal error at the Insert's offset; nothing confirmed") {
  File f;
  f.add(begin(700, 0x3000100));
  const std::size_t at = f.add(insert_into(kRel));
  f.add(commit(0x3000100, 0x3000130));
  auto r = run(f.bytes);
  expect_error(r, "Insert for relation OID 16384 that no Relation message described", at);
  CHECK_FALSE(r.flushed.is_valid());
  CHECK(r.observed.commits == 0);
}

TEST_CASE("A change for an unknown relation after a good transaction: only the good one is confirmed") {
  const std::uint64_t good_end = 0x3000200;
  auto body = GENERATE(as<std::string>{}, "insert", "update", "delete", "truncate");
  File f;
  good_transaction(f, 700, good_end);
  f.add(begin(701, 0x3000300));
  Bytes bad;
  if (body == "insert") bad = insert_into(samples::kOtherRelation);
  if (body == "update")
    bad = std::move(MessageWriter('U').u32(samples::kOtherRelation).u8('N').u16(1).text("1")).bytes();
  if (body == "delete")
    bad = std::move(MessageWriter('D').u32(samples::kOtherRelation).u8('K').u16(1).text("1")).bytes();
  if (body == "truncate")
    bad = std::move(MessageWriter('T').u32(2).u8(0).u32(kRel).u32(samples::kOtherRelation)).bytes();
  const std::size_t at = f.add(bad);
  f.add(commit(0x3000300, 0x3000330));
  auto r = run(f.bytes);
  INFO(body);
  expect_error(r, "relation OID 16390 that no Relation message described", at);
  CHECK(r.flushed == Lsn{good_end});
  CHECK(r.observed.commits == 1);
}

TEST_CASE("Oversize frame lengths are malformed frames at their header's offset, never an allocation") {
  const std::uint64_t good_end = 0x3000200;
  for (std::uint32_t len : {0x40000000U, 0xFFFFFFFFU, replicator::transport::kMaxFramePayload + 1}) {
    File f;
    good_transaction(f, 700, good_end);
    const std::size_t header = f.bytes.size();
    const auto h = replicator::transport::frame_header(Lsn{0x3000400}, len);
    f.raw(Bytes(h.begin(), h.end()));
    f.raw(Bytes(64, std::byte{'I'}));
    auto r = run(f.bytes);
    INFO("length " << len);
    expect_error(r, "malformed frame", header);
    CHECK(r.flushed == Lsn{good_end});
  }
  // The largest length a server message can have, in a file that ends long before it: truncated.
  File f;
  good_transaction(f, 700, good_end);
  const std::size_t header = f.bytes.size();
  const auto h = replicator::transport::frame_header(Lsn{0x3000400}, replicator::transport::kMaxFramePayload);
  f.raw(Bytes(h.begin(), h.end()));
  auto r = run(f.bytes);
  expect_error(r, "truncated frame", header);
  CHECK(r.flushed == Lsn{good_end});
}

TEST_CASE("A tuple length beyond its message is a typed error inside that message") {
  for (std::uint32_t len : {4U, 1000U, 0x7FFFFFFFU, 0xFFFFFFFFU}) {
    File f;
    good_transaction(f, 700, 0x3000200);
    f.add(begin(701, 0x3000300));
    Bytes bad = std::move(MessageWriter('I').u32(kRel).u8('N').u16(4).u8('t').u32(len).raw("abc")).bytes();
    const std::size_t at = f.add(bad);
    f.add(commit(0x3000300, 0x3000330));
    auto r = run(f.bytes);
    INFO("length " << len);
    REQUIRE(r.error);
    INFO(r.error->message);
    CHECK(offset_within(r.error->message, at, at + bad.size()));
    CHECK(r.flushed == Lsn{0x3000200});
  }
}

TEST_CASE("Column counts that do not match the relation are refused at the message's offset") {
  struct Case {
    const char* what;
    Bytes bytes;
    const char* error;
  };
  std::vector<Case> cases;
  cases.push_back({"insert with 3 of 4 columns",
                   std::move(MessageWriter('I').u32(kRel).u8('N').u16(3).text("1").text("a").null()).bytes(),
                   "different width"});
  cases.push_back(
      {"insert with 5 of 4 columns",
       std::move(MessageWriter('I').u32(kRel).u8('N').u16(5).text("1").text("a").null().null().null()).bytes(),
       "different width"});
  cases.push_back({"update with a 2-column key",
                   std::move(MessageWriter('U')
                                 .u32(kRel)
                                 .u8('K')
                                 .u16(2)
                                 .text("1")
                                 .null()
                                 .u8('N')
                                 .u16(4)
                                 .text("1")
                                 .text("a")
                                 .null()
                                 .null())
                       .bytes(),
                   "different width"});
  cases.push_back({"delete with a 1-column old row",
                   std::move(MessageWriter('D').u32(kRel).u8('O').u16(1).text("1")).bytes(), "different width"});
  cases.push_back({"insert claiming 32767 columns",
                   std::move(MessageWriter('I').u32(kRel).u8('N').u16(0x7FFF).text("1")).bytes(), "truncated"});
  cases.push_back({"insert claiming -1 columns",
                   std::move(MessageWriter('I').u32(kRel).u8('N').u16(0xFFFF).text("1")).bytes(), "negative length"});
  for (const Case& c : cases) {
    File f;
    good_transaction(f, 700, 0x3000200);
    f.add(begin(701, 0x3000300));
    const std::size_t at = f.add(c.bytes);
    f.add(commit(0x3000300, 0x3000330));
    auto r = run(f.bytes);
    INFO(c.what);
    REQUIRE(r.error);
    INFO(r.error->message);
    CHECK_THAT(r.error->message, Catch::Contains(c.error));
    CHECK(offset_within(r.error->message, at, at + c.bytes.size()));
    CHECK(r.flushed == Lsn{0x3000200});
    CHECK(r.observed.commits == 1);
  }
}

TEST_CASE("A Relation message whose column count runs past its end is a typed error") {
  File f;
  good_transaction(f, 700, 0x3000200);
  Bytes bad =
      std::move(MessageWriter('R').u32(16500).cstr("public").cstr("t").u8('d').u16(0x7FFF).u8(1).cstr("id").u32(23))
          .bytes();
  const std::size_t at = f.add(bad);
  auto r = run(f.bytes);
  REQUIRE(r.error);
  INFO(r.error->message);
  CHECK(offset_within(r.error->message, at, at + bad.size()));
  CHECK(r.flushed == Lsn{0x3000200});
}

TEST_CASE("Stream segments and commits of a transaction whose first segment never came are refused") {
  const std::uint32_t xid = samples::kStreamXid;
  SECTION("a later segment first") {
    File f;
    good_transaction(f, 700, 0x3000200);
    const std::size_t at = f.add(samples::stream_start(false));
    f.add(samples::insert(true, "1", "a"));
    f.add(samples::stream_stop());
    f.add(samples::stream_commit());
    auto r = run(f.bytes);
    expect_error(
        r, "Stream Start continues transaction " + std::to_string(xid) + " whose first segment was not received", at);
    CHECK(r.flushed == Lsn{0x3000200});
  }
  SECTION("a Stream Commit without any segment") {
    File f;
    good_transaction(f, 700, 0x3000200);
    const std::size_t at = f.add(samples::stream_commit());
    auto r = run(f.bytes);
    expect_error(r, "Stream Commit of transaction " + std::to_string(xid) + " that was never streamed", at);
    CHECK(r.flushed == Lsn{0x3000200});
  }
  SECTION("a Stream Commit after the stream was aborted") {
    File f;
    f.add(samples::relation(false));
    f.add(samples::stream_start(true));
    f.add(samples::insert(true, "1", "a"));
    f.add(samples::stream_stop());
    f.add(std::move(MessageWriter('A').u32(xid).u32(xid)).bytes());
    const std::size_t at = f.add(samples::stream_commit());
    auto r = run(f.bytes);
    expect_error(r, "that was never streamed", at);
    CHECK_FALSE(r.flushed.is_valid());
    CHECK(r.observed.commits == 0);
  }
  SECTION("first segment, later segment, commit: fine") {
    File f;
    f.add(samples::relation(false));
    f.add(samples::stream_start(true));
    f.add(samples::insert(true, "1", "a"));
    f.add(samples::stream_stop());
    f.add(samples::stream_start(false));
    f.add(samples::insert(true, "2", "b"));
    f.add(samples::stream_stop());
    f.add(samples::stream_commit());
    auto r = run(f.bytes);
    REQUIRE_FALSE(r.error);
    CHECK(r.ended);
    CHECK(r.flushed == Lsn{samples::kLsn + 0x930});
    CHECK(r.observed.commits == 1);
  }
}

TEST_CASE("Timestamps at the ends of the 64-bit range format without overflow") {
  using replicator::PgTimestamp;
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  CHECK(PgTimestamp{kMax}.unix_micros() == kMax);  // saturates
  // Years past 9999 get six digits; checked against Python's proleptic Gregorian calendar.
  CHECK(PgTimestamp::from_unix_micros(kMin).micros_since_2000() == kMin);
  CHECK(PgTimestamp{0}.to_string() == "2000-01-01T00:00:00.000000Z");
  CHECK(PgTimestamp{-1}.to_string() == "1999-12-31T23:59:59.999999Z");
  CHECK(PgTimestamp{kMax}.to_string() == "294277-01-09T04:00:54.775807Z");
  CHECK(PgTimestamp{kMin}.to_string() == "-290278-12-22T19:59:05.224192Z");
  for (std::int64_t t : {kMax, kMin, kMax - 1, kMin + 1, std::int64_t{0}}) {
    File f;
    f.add(samples::relation(false));
    f.add(begin(700, 0x3000100, t));
    f.add(insert_into(kRel));
    f.add(commit(0x3000100, 0x3000130, t));
    auto r = run(f.bytes);  // the harness parses every line as JSON
    REQUIRE_FALSE(r.error);
    CHECK(r.flushed == Lsn{0x3000130});
  }
}

TEST_CASE("The decode program exits 1 naming the offset for each defect") {
  const std::string decode = replicator::test::runfile("tools/decode");
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  struct Case {
    const char* name;
    File file;
    std::size_t offset;
  };
  std::vector<Case> cases;
  {
    File f;
    f.add(begin(700, 0x3000100));
    const std::size_t at = f.add(insert_into(kRel));
    cases.push_back({"no_relation", f, at});
  }
  {
    File f;
    good_transaction(f, 700, 0x3000200);
    const std::size_t at = f.bytes.size();
    const auto h = replicator::transport::frame_header(Lsn{0x3000400}, 0x40000000U);
    f.raw(Bytes(h.begin(), h.end()));
    cases.push_back({"oversize_frame", f, at});
  }
  {
    File f;
    good_transaction(f, 700, 0x3000200);
    f.add(begin(701, 0x3000300));
    const std::size_t at =
        f.add(std::move(MessageWriter('I').u32(kRel).u8('N').u16(3).text("1").text("a").null()).bytes());
    cases.push_back({"narrow_tuple", f, at});
  }
  {
    File f;
    good_transaction(f, 700, 0x3000200);
    const std::size_t at = f.bytes.size();
    f.raw(Bytes(f.bytes.begin(), f.bytes.begin() + 7));  // a cut header
    cases.push_back({"cut_header", f, at});
  }
  for (const Case& c : cases) {
    const std::string path = dir + "/hostile_" + c.name + ".stream";
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(c.file.bytes.data()), static_cast<std::streamsize>(c.file.bytes.size()));
    }
    const std::string cmd = "'" + decode + "' '" + path + "' 2>&1 >/dev/null";
    std::FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string err;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) err += buf;
    const int status = ::pclose(p);
    INFO(c.name << ": " << err);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    CHECK(offset_within(err, c.offset, c.offset + 64));
  }
}
