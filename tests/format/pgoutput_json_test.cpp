#include "replicator/format/pgoutput_json.hpp"

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "replicator/pgoutput/decoder.hpp"
#include "replicator/transport/replay.hpp"
#include "tests/data/corpus.hpp"
#include "tests/support/counting_allocator.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::format;
using namespace replicator::pgoutput;

namespace {

// A Relation message payload for public.t (id int4 key, name text), optionally with a stream xid.
std::vector<std::byte> relation_payload(Xid stream_xid = 0) {
  return replicator::test::wire::relation(16384, "public", "t", {{"id", 23, true}, {"name", 25, false}},
                                          stream_xid ? replicator::test::wire::StreamXid(stream_xid) : std::nullopt);
}

}  // namespace

TEST_CASE("Transaction control objects") {
  std::string out;
  append_begin_json(out, Lsn{0x100}, BeginView{Lsn{0x200}, PgTimestamp{0}, 7});
  CHECK(out ==
        R"({"op":"begin","lsn":"0/100","xid":7,"final_lsn":"0/200","commit_time":"2000-01-01T00:00:00.000000Z"})");
  out.clear();
  append_commit_json(out, Lsn{0x208}, 7, CommitView{0, Lsn{0x200}, Lsn{0x208}, PgTimestamp{1}});
  CHECK(
      out ==
      R"({"op":"commit","lsn":"0/208","xid":7,"commit_lsn":"0/200","end_lsn":"0/208","commit_time":"2000-01-01T00:00:00.000001Z"})");
  out.clear();
  append_origin_json(out, Lsn{1}, 7, OriginView{Lsn{0xABCDEF}, "node \"a\""});
  CHECK(out == R"({"op":"origin","lsn":"0/1","xid":7,"origin_lsn":"0/ABCDEF","name":"node \"a\""})");
  out.clear();
  append_stream_start_json(out, Lsn{1}, StreamStartView{600, true});
  append_stream_stop_json(out, Lsn{2}, 600);
  CHECK(
      out ==
      R"({"op":"stream_start","lsn":"0/1","xid":600,"first_segment":true}{"op":"stream_stop","lsn":"0/2","xid":600})");
  out.clear();
  append_stream_commit_json(out, Lsn{3}, StreamCommitView{600, 0, Lsn{4}, Lsn{5}, PgTimestamp{0}});
  CHECK(
      out ==
      R"({"op":"stream_commit","lsn":"0/3","xid":600,"commit_lsn":"0/4","end_lsn":"0/5","commit_time":"2000-01-01T00:00:00.000000Z"})");
  out.clear();
  append_stream_abort_json(out, Lsn{3}, StreamAbortView{600, 601, false, {}, {}});
  CHECK(out == R"({"op":"stream_abort","lsn":"0/3","xid":600,"subxid":601})");
  out.clear();
  append_stream_abort_json(out, Lsn{3}, StreamAbortView{600, 600, true, Lsn{0x99}, PgTimestamp{0}});
  CHECK(
      out ==
      R"({"op":"stream_abort","lsn":"0/3","xid":600,"subxid":600,"abort_lsn":"0/99","abort_time":"2000-01-01T00:00:00.000000Z"})");
  out.clear();
  append_begin_prepare_json(out, Lsn{1}, BeginPrepareView{Lsn{2}, Lsn{3}, PgTimestamp{0}, 9, "g"});
  CHECK(
      out ==
      R"({"op":"begin_prepare","lsn":"0/1","xid":9,"gid":"g","prepare_lsn":"0/2","end_lsn":"0/3","prepare_time":"2000-01-01T00:00:00.000000Z"})");
  out.clear();
  append_prepare_json(out, Lsn{1}, PrepareView{0, Lsn{2}, Lsn{3}, PgTimestamp{0}, 9, "g"});
  CHECK_THAT(out, Catch::StartsWith(R"({"op":"prepare","lsn":"0/1","xid":9,"gid":"g","prepare_lsn":"0/2")"));
  out.clear();
  append_commit_prepared_json(out, Lsn{1}, CommitPreparedView{0, Lsn{2}, Lsn{3}, PgTimestamp{0}, 9, "g"});
  CHECK_THAT(out, Catch::StartsWith(
                      R"({"op":"commit_prepared","lsn":"0/1","xid":9,"gid":"g","commit_lsn":"0/2","end_lsn":"0/3")"));
  out.clear();
  append_rollback_prepared_json(out, Lsn{1},
                                RollbackPreparedView{0, Lsn{2}, Lsn{3}, PgTimestamp{0}, PgTimestamp{0}, 9, "g"});
  CHECK_THAT(
      out,
      Catch::StartsWith(
          R"({"op":"rollback_prepared","lsn":"0/1","xid":9,"gid":"g","prepare_end_lsn":"0/2","rollback_end_lsn":"0/3")"));
  out.clear();
  append_stream_prepare_json(out, Lsn{1}, StreamPrepareView{0, Lsn{2}, Lsn{3}, PgTimestamp{0}, 9, "g"});
  CHECK_THAT(out, Catch::StartsWith(R"({"op":"stream_prepare","lsn":"0/1","xid":9,"gid":"g")"));
  out.clear();
  const std::byte content[] = {std::byte{0}, std::byte{0xFF}, std::byte{0x10}};
  append_message_json(out, Lsn{5}, 0, LogicalMessageView{0, 0, Lsn{5}, "p", content});
  CHECK(
      out ==
      R"({"op":"message","lsn":"0/5","xid":0,"transactional":false,"message_lsn":"0/5","prefix":"p","content":"00ff10"})");
}

TEST_CASE("JsonMessageFormatter: relations, truncate, xids from Begin and Stream Start") {
  JsonMessageFormatter fmt;
  std::string out;
  auto feed = [&](std::span<const std::byte> payload, bool in_stream, Lsn lsn = Lsn{1}) {
    auto m = decode_message(payload, in_stream);
    REQUIRE(m);
    out.clear();
    return fmt.append(out, lsn, *m, 4242);
  };
  // A change before its Relation message cannot be named.
  const std::vector<std::byte> ins = {std::byte{'I'}, std::byte{0}, std::byte{0}, std::byte{0x40}, std::byte{0},
                                      std::byte{'N'}, std::byte{0}, std::byte{2}, std::byte{'n'},  std::byte{'n'}};
  auto r = feed(ins, false);
  REQUIRE_FALSE(r);
  CHECK(r.error().offset == 4242);
  CHECK(out.empty());

  std::vector<std::byte> begin = {std::byte{'B'}};
  auto put = [&begin](std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) begin.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xFF));
  };
  put(9, 8);
  put(0, 8);
  put(740, 4);
  REQUIRE(feed(begin, false));
  CHECK(fmt.current_xid() == 740);
  REQUIRE(feed(relation_payload(), false));
  CHECK(
      out ==
      R"({"op":"relation","lsn":"0/1","xid":740,"oid":16384,"schema":"public","table":"t","replica_identity":"default","columns":[{"name":"id","type_oid":23,"type_modifier":-1,"key":true},{"name":"name","type_oid":25,"type_modifier":-1,"key":false}]})");
  REQUIRE(fmt.relations().find(16384) != nullptr);
  REQUIRE(feed(ins, false));
  CHECK(out == R"({"op":"insert","lsn":"0/1","xid":740,"schema":"public","table":"t","new":{"id":null,"name":null}})");
  const std::vector<std::byte> truncate = {std::byte{'T'}, std::byte{0}, std::byte{0}, std::byte{0},    std::byte{1},
                                           std::byte{3},   std::byte{0}, std::byte{0}, std::byte{0x40}, std::byte{0}};
  REQUIRE(feed(truncate, false));
  CHECK(out ==
        R"({"op":"truncate","lsn":"0/1","xid":740,"tables":["public.t"],"cascade":true,"restart_identity":true})");
  auto bad_truncate = truncate;
  bad_truncate[9] = std::byte{1};
  CHECK_FALSE(feed(bad_truncate, false));
  CHECK(out.empty());

  const std::vector<std::byte> commit(26, std::byte{0});
  auto c = commit;
  c[0] = std::byte{'C'};
  REQUIRE(feed(c, false));
  CHECK_THAT(out, Catch::StartsWith(R"({"op":"commit","lsn":"0/1","xid":740,)"));
  CHECK(fmt.current_xid() == 0);

  // Inside a stream each data message carries its (sub)transaction xid.
  const std::vector<std::byte> start = {std::byte{'S'}, std::byte{0},    std::byte{0},
                                        std::byte{2},   std::byte{0x58}, std::byte{1}};  // xid 600
  REQUIRE(feed(start, false));
  CHECK(fmt.current_xid() == 600);
  REQUIRE(feed(relation_payload(600), true));
  CHECK_THAT(out, Catch::StartsWith(R"({"op":"relation","lsn":"0/1","xid":600,)"));
  std::vector<std::byte> sins = {std::byte{'I'}, std::byte{0}, std::byte{0}, std::byte{2}, std::byte{0x59}};  // xid 601
  sins.insert(sins.end(), ins.begin() + 1, ins.end());
  REQUIRE(feed(sins, true));
  CHECK_THAT(out, Catch::StartsWith(R"({"op":"insert","lsn":"0/1","xid":601,)"));
  const std::vector<std::byte> stop = {std::byte{'E'}};
  REQUIRE(feed(stop, true));
  CHECK(out == R"({"op":"stream_stop","lsn":"0/1","xid":600})");
  CHECK(fmt.current_xid() == 0);
}

TEST_CASE("Every corpus message formats to a JSON object named like the message") {
  simdjson::dom::parser parser;
  for (const char* name : replicator::test::kCorpusFiles) {
    INFO(name);
    auto t = transport::ReplayTransport::open(replicator::test::corpus_path(name));
    REQUIRE(t);
    REQUIRE(t->start(Lsn::invalid()));
    PgOutputDecoder decoder;
    JsonMessageFormatter fmt;
    std::string line;
    std::size_t n = 0;
    while (true) {
      auto ev = t->poll(std::chrono::milliseconds(0));
      REQUIRE(ev);
      if (std::holds_alternative<EndOfStream>(*ev)) break;
      const auto& w = std::get<WalMessage>(*ev);
      auto m = decoder.decode(w.payload, w.offset);
      REQUIRE(m);
      line.clear();
      REQUIRE(fmt.append(line, w.wal_start, *m, w.offset));
      simdjson::dom::element doc;
      INFO(line);
      REQUIRE(parser.parse(line).get(doc) == simdjson::SUCCESS);
      std::string_view op, lsn;
      REQUIRE(doc["op"].get(op) == simdjson::SUCCESS);
      CHECK(op == message_name(*m));
      REQUIRE(doc["lsn"].get(lsn) == simdjson::SUCCESS);
      CHECK(Lsn::parse(lsn)->value() == w.wal_start.value());
      std::uint64_t xid = 0;
      CHECK(doc["xid"].get(xid) == simdjson::SUCCESS);
      ++n;
    }
    CHECK(n > 5);
  }
}

TEST_CASE("Formatting a replayed stream does not allocate in steady state") {
  for (const char* name : replicator::test::kCorpusFiles) {
    INFO(name);
    auto t = transport::ReplayTransport::open(replicator::test::corpus_path(name));
    REQUIRE(t);
    PgOutputDecoder decoder;
    JsonMessageFormatter fmt;
    std::string line;
    std::size_t failures = 0;
    std::size_t messages = 0;
    auto pass = [&] {
      (void)t->start(Lsn::invalid());
      while (true) {
        auto ev = t->poll(std::chrono::milliseconds(0));
        if (!ev || std::holds_alternative<EndOfStream>(*ev)) break;
        const auto& w = std::get<WalMessage>(*ev);
        auto m = decoder.decode(w.payload, w.offset);
        if (!m) {
          ++failures;
          continue;
        }
        line.clear();
        if (!fmt.append(line, w.wal_start, *m, w.offset)) ++failures;
        ++messages;
      }
    };
    pass();  // warm-up: relation cache, string capacity
    messages = 0;
    const std::size_t before = test::heap_allocations();
    pass();
    const std::size_t allocations = test::heap_allocations() - before;
    CHECK(failures == 0);
    CHECK(messages > 5);
    CHECK(allocations == 0);
  }
}
