#include "replicator/format/json.hpp"

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


using namespace replicator;
using namespace replicator::format;
using namespace replicator::pgoutput;

namespace {

std::string json_str(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// Parses `text` as JSON; returns the string value when it is a JSON string.
std::optional<std::string> parse_json_string(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(text).get(doc) != simdjson::SUCCESS) return std::nullopt;
  std::string_view v;
  if (doc.get(v) != simdjson::SUCCESS) return std::nullopt;
  return std::string(v);
}

// TupleData bytes (after the Int16 count) from a compact description: "t:value", "n", "u", "b:bytes".
struct Tuple {
  std::vector<std::byte> bytes;
  std::uint16_t count = 0;
  Tuple(std::initializer_list<std::string> cols) {
    for (const auto& c : cols) {
      ++count;
      bytes.push_back(static_cast<std::byte>(c[0]));
      if (c[0] == 't' || c[0] == 'b') {
        const std::string v = c.substr(2);
        for (int i = 3; i >= 0; --i) bytes.push_back(static_cast<std::byte>((v.size() >> (8 * i)) & 0xFF));
        for (char ch : v) bytes.push_back(static_cast<std::byte>(ch));
      }
    }
  }
  [[nodiscard]] TupleView view() const { return TupleView(bytes, count); }
};

RelationInfo relation_t() {
  RelationInfo r;
  r.oid = 16384;
  r.schema = "public";
  r.name = "t";
  r.columns = {ColumnInfo{"id", 23, -1, true}, ColumnInfo{"name", 25, -1, false}};
  return r;
}

// A Relation message payload for relation_t(), optionally with a stream xid.
std::vector<std::byte> relation_payload(Xid stream_xid = 0) {
  std::vector<std::byte> b;
  auto u8 = [&](unsigned v) { b.push_back(static_cast<std::byte>(v)); };
  auto u32 = [&](std::uint32_t v) {
    for (int i = 3; i >= 0; --i) u8((v >> (8 * i)) & 0xFF);
  };
  auto str = [&](std::string_view s) {
    for (char c : s) u8(static_cast<unsigned char>(c));
    u8(0);
  };
  u8('R');
  if (stream_xid) u32(stream_xid);
  u32(16384);
  str("public");
  str("t");
  u8('d');
  u8(0);
  u8(2);
  u8(1);
  str("id");
  u32(23);
  u32(0xFFFFFFFF);
  u8(0);
  str("name");
  u32(25);
  u32(0xFFFFFFFF);
  return b;
}

}  // namespace

TEST_CASE("JSON strings: escapes, UTF-8 kept, invalid bytes replaced by U+FFFD") {
  CHECK(json_str("") == R"("")");
  CHECK(json_str("plain") == R"("plain")");
  CHECK(json_str("a\"b\\c/") == R"("a\"b\\c/")");
  CHECK(json_str("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(json_str(std::string_view("\x01\x1f\x7f", 3)) == "\"\\u0001\\u001f\x7f\"");
  CHECK(json_str(std::string_view("a\0b", 3)) == R"("a\u0000b")");
  CHECK(json_str("é€𝄞") == "\"é€𝄞\"");
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(json_str("\xC0\x80") == "\"" + fffd + fffd + "\"");                // overlong
  CHECK(json_str("\xED\xA0\x80") == "\"" + fffd + fffd + fffd + "\"");     // UTF-16 surrogate
  CHECK(json_str("\xF4\x90\x80\x80") == "\"" + fffd + fffd + fffd + fffd + "\"");  // above U+10FFFF
  CHECK(json_str("\xF5") == "\"" + fffd + "\"");
  CHECK(json_str("x\xE2\x82") == "\"x" + fffd + fffd + "\"");              // cut short
  CHECK(json_str("\x80") == "\"" + fffd + "\"");
  CHECK(json_str("a\xFF" "b") == "\"a" + fffd + "b\"");
  CHECK(json_str("\xE2\x82\xAC\xF0\x9F\x98\x80") == "\"\xE2\x82\xAC\xF0\x9F\x98\x80\"");
}

TEST_CASE("JSON strings of random bytes always parse; valid UTF-8 round-trips exactly") {
  std::mt19937 rng(42);
  const std::vector<std::string> pieces = {"a", "\"", "\\", "\n", std::string(1, '\0'), "\x1f", "é", "€", "𝄞",
                                           "\x80", "\xC3", "\xE2\x82", "\xF0\x9F", "\xFF", "\xED\xA0\x80", "/"};
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    bool valid = true;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      const auto& p = pieces[rng() % pieces.size()];
      s += p;
      valid = valid && p != "\x80" && p != "\xC3" && p != "\xE2\x82" && p != "\xF0\x9F" && p != "\xFF" &&
              p != "\xED\xA0\x80";
    }
    // Random raw bytes too.
    if (round % 2 == 1) {
      for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(rng() & 0xFF));
      valid = false;
    }
    const std::string j = json_str(s);
    const auto parsed = parse_json_string(j);
    INFO("round " << round);
    REQUIRE(parsed);
    if (valid) CHECK(*parsed == s);
  }
}

TEST_CASE("Column values: text, binary as \\x hex, NULL, unchanged TOAST") {
  Tuple t{"t:a\"b", "b:\x01\xAB", "n", "u", "t:"};
  std::string out;
  for (ColumnValueView v : t.view()) {
    append_value_json(out, v);
    out += ' ';
  }
  CHECK(out == R"("a\"b" "\\x01ab" null {"unchanged_toast":true} "" )");
}

TEST_CASE("Change objects in the documented shape") {
  const RelationInfo rel = relation_t();
  std::string out;
  REQUIRE(append_change_json(out, ChangeOp::insert, *Lsn::parse("0/16B3748"), 740, rel, OldTupleKind::none, {},
                             Tuple{"t:1", "t:a"}.view()));
  CHECK(out == R"({"op":"insert","lsn":"0/16B3748","xid":740,"schema":"public","table":"t","new":{"id":"1","name":"a"}})");

  out.clear();
  REQUIRE(append_change_json(out, ChangeOp::update, Lsn{0x10}, 1, rel, OldTupleKind::key, Tuple{"t:1", "n"}.view(),
                             Tuple{"t:2", "u"}.view()));
  CHECK(out ==
        R"({"op":"update","lsn":"0/10","xid":1,"schema":"public","table":"t","key":{"id":"1"},"new":{"id":"2","name":{"unchanged_toast":true}}})");

  out.clear();
  REQUIRE(append_change_json(out, ChangeOp::update, Lsn{0x10}, 1, rel, OldTupleKind::full, Tuple{"t:1", "t:x"}.view(),
                             Tuple{"t:1", "n"}.view()));
  CHECK(out ==
        R"({"op":"update","lsn":"0/10","xid":1,"schema":"public","table":"t","old":{"id":"1","name":"x"},"new":{"id":"1","name":null}})");

  out.clear();
  REQUIRE(append_change_json(out, ChangeOp::update, Lsn{0x10}, 1, rel, OldTupleKind::none, {}, Tuple{"t:1", "n"}.view()));
  CHECK(out == R"({"op":"update","lsn":"0/10","xid":1,"schema":"public","table":"t","new":{"id":"1","name":null}})");

  out.clear();
  REQUIRE(append_change_json(out, ChangeOp::delete_, Lsn{0x10}, 1, rel, OldTupleKind::key, Tuple{"t:9", "n"}.view(), {}));
  CHECK(out == R"({"op":"delete","lsn":"0/10","xid":1,"schema":"public","table":"t","key":{"id":"9"}})");

  out.clear();
  REQUIRE(append_change_json(out, ChangeOp::delete_, Lsn{0x10}, 1, rel, OldTupleKind::full, Tuple{"t:9", "t:z"}.view(), {}));
  CHECK(out == R"({"op":"delete","lsn":"0/10","xid":1,"schema":"public","table":"t","old":{"id":"9","name":"z"}})");

  // A relation without key flags: the key tuple is written whole.
  RelationInfo nokey = rel;
  for (auto& c : nokey.columns) c.is_key = false;
  out.clear();
  REQUIRE(append_change_json(out, ChangeOp::delete_, Lsn{1}, 1, nokey, OldTupleKind::key, Tuple{"t:9", "n"}.view(), {}));
  CHECK_THAT(out, Catch::EndsWith(R"("key":{"id":"9","name":null}})"));
}

TEST_CASE("A tuple that does not match its relation is an error and leaves the output untouched") {
  const RelationInfo rel = relation_t();
  std::string out = "previous;";
  auto r = append_change_json(out, ChangeOp::insert, Lsn{1}, 1, rel, OldTupleKind::none, {}, Tuple{"t:1"}.view());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::unexpected_message);
  CHECK(out == "previous;");
  r = append_change_json(out, ChangeOp::update, Lsn{1}, 1, rel, OldTupleKind::key, Tuple{"t:1", "n", "n"}.view(),
                         Tuple{"t:1", "n"}.view());
  REQUIRE_FALSE(r);
  CHECK(out == "previous;");
}

TEST_CASE("Transaction control objects") {
  std::string out;
  append_begin_json(out, Lsn{0x100}, BeginView{Lsn{0x200}, PgTimestamp{0}, 7});
  CHECK(out == R"({"op":"begin","lsn":"0/100","xid":7,"final_lsn":"0/200","commit_time":"2000-01-01T00:00:00.000000Z"})");
  out.clear();
  append_commit_json(out, Lsn{0x208}, 7, CommitView{0, Lsn{0x200}, Lsn{0x208}, PgTimestamp{1}});
  CHECK(out ==
        R"({"op":"commit","lsn":"0/208","xid":7,"commit_lsn":"0/200","end_lsn":"0/208","commit_time":"2000-01-01T00:00:00.000001Z"})");
  out.clear();
  append_origin_json(out, Lsn{1}, 7, OriginView{Lsn{0xABCDEF}, "node \"a\""});
  CHECK(out == R"({"op":"origin","lsn":"0/1","xid":7,"origin_lsn":"0/ABCDEF","name":"node \"a\""})");
  out.clear();
  append_stream_start_json(out, Lsn{1}, StreamStartView{600, true});
  append_stream_stop_json(out, Lsn{2}, 600);
  CHECK(out == R"({"op":"stream_start","lsn":"0/1","xid":600,"first_segment":true}{"op":"stream_stop","lsn":"0/2","xid":600})");
  out.clear();
  append_stream_commit_json(out, Lsn{3}, StreamCommitView{600, 0, Lsn{4}, Lsn{5}, PgTimestamp{0}});
  CHECK(out ==
        R"({"op":"stream_commit","lsn":"0/3","xid":600,"commit_lsn":"0/4","end_lsn":"0/5","commit_time":"2000-01-01T00:00:00.000000Z"})");
  out.clear();
  append_stream_abort_json(out, Lsn{3}, StreamAbortView{600, 601, false, {}, {}});
  CHECK(out == R"({"op":"stream_abort","lsn":"0/3","xid":600,"subxid":601})");
  out.clear();
  append_stream_abort_json(out, Lsn{3}, StreamAbortView{600, 600, true, Lsn{0x99}, PgTimestamp{0}});
  CHECK(out ==
        R"({"op":"stream_abort","lsn":"0/3","xid":600,"subxid":600,"abort_lsn":"0/99","abort_time":"2000-01-01T00:00:00.000000Z"})");
  out.clear();
  append_begin_prepare_json(out, Lsn{1}, BeginPrepareView{Lsn{2}, Lsn{3}, PgTimestamp{0}, 9, "g"});
  CHECK(out ==
        R"({"op":"begin_prepare","lsn":"0/1","xid":9,"gid":"g","prepare_lsn":"0/2","end_lsn":"0/3","prepare_time":"2000-01-01T00:00:00.000000Z"})");
  out.clear();
  append_prepare_json(out, Lsn{1}, PrepareView{0, Lsn{2}, Lsn{3}, PgTimestamp{0}, 9, "g"});
  CHECK_THAT(out, Catch::StartsWith(R"({"op":"prepare","lsn":"0/1","xid":9,"gid":"g","prepare_lsn":"0/2")"));
  out.clear();
  append_commit_prepared_json(out, Lsn{1}, CommitPreparedView{0, Lsn{2}, Lsn{3}, PgTimestamp{0}, 9, "g"});
  CHECK_THAT(out, Catch::StartsWith(R"({"op":"commit_prepared","lsn":"0/1","xid":9,"gid":"g","commit_lsn":"0/2","end_lsn":"0/3")"));
  out.clear();
  append_rollback_prepared_json(out, Lsn{1}, RollbackPreparedView{0, Lsn{2}, Lsn{3}, PgTimestamp{0}, PgTimestamp{0}, 9, "g"});
  CHECK_THAT(out, Catch::StartsWith(R"({"op":"rollback_prepared","lsn":"0/1","xid":9,"gid":"g","prepare_end_lsn":"0/2","rollback_end_lsn":"0/3")"));
  out.clear();
  append_stream_prepare_json(out, Lsn{1}, StreamPrepareView{0, Lsn{2}, Lsn{3}, PgTimestamp{0}, 9, "g"});
  CHECK_THAT(out, Catch::StartsWith(R"({"op":"stream_prepare","lsn":"0/1","xid":9,"gid":"g")"));
  out.clear();
  const std::byte content[] = {std::byte{0}, std::byte{0xFF}, std::byte{0x10}};
  append_message_json(out, Lsn{5}, 0, LogicalMessageView{0, 0, Lsn{5}, "p", content});
  CHECK(out ==
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
                                      std::byte{'N'}, std::byte{0}, std::byte{2}, std::byte{'n'}, std::byte{'n'}};
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
  CHECK(out ==
        R"({"op":"relation","lsn":"0/1","xid":740,"oid":16384,"schema":"public","table":"t","replica_identity":"default","columns":[{"name":"id","type_oid":23,"type_modifier":-1,"key":true},{"name":"name","type_oid":25,"type_modifier":-1,"key":false}]})");
  REQUIRE(fmt.relations().find(16384) != nullptr);
  REQUIRE(feed(ins, false));
  CHECK(out == R"({"op":"insert","lsn":"0/1","xid":740,"schema":"public","table":"t","new":{"id":null,"name":null}})");
  const std::vector<std::byte> truncate = {std::byte{'T'}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1},
                                           std::byte{3},   std::byte{0}, std::byte{0}, std::byte{0x40}, std::byte{0}};
  REQUIRE(feed(truncate, false));
  CHECK(out == R"({"op":"truncate","lsn":"0/1","xid":740,"tables":["public.t"],"cascade":true,"restart_identity":true})");
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
  const std::vector<std::byte> start = {std::byte{'S'}, std::byte{0}, std::byte{0}, std::byte{2}, std::byte{0x58},
                                        std::byte{1}};  // xid 600
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
