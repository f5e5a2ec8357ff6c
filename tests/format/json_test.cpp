#include "replicator/format/json.hpp"

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::format;

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
  replicator::test::MessageWriter columns;
  std::uint16_t count = 0;
  Tuple(std::initializer_list<std::string> cols) {
    for (const auto& c : cols) {
      ++count;
      if (c[0] == 't') columns.text(c.substr(2));
      else if (c[0] == 'b') columns.binary(c.substr(2));
      else columns.u8(static_cast<std::uint8_t>(c[0]));
    }
  }
  [[nodiscard]] TupleView view() const { return TupleView(columns.bytes(), count); }
};

RelationInfo relation_t() {
  RelationInfo r;
  r.oid = 16384;
  r.schema = "public";
  r.name = "t";
  r.columns = {ColumnInfo{"id", 23, -1, true}, ColumnInfo{"name", 25, -1, false}};
  return r;
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
  CHECK(json_str("\xC0\x80") == "\"" + fffd + fffd + "\"");                        // overlong
  CHECK(json_str("\xED\xA0\x80") == "\"" + fffd + fffd + fffd + "\"");             // UTF-16 surrogate
  CHECK(json_str("\xF4\x90\x80\x80") == "\"" + fffd + fffd + fffd + fffd + "\"");  // above U+10FFFF
  CHECK(json_str("\xF5") == "\"" + fffd + "\"");
  CHECK(json_str("x\xE2\x82") == "\"x" + fffd + fffd + "\"");  // cut short
  CHECK(json_str("\x80") == "\"" + fffd + "\"");
  CHECK(json_str("a\xFF"
                 "b") == "\"a" + fffd + "b\"");
  CHECK(json_str("\xE2\x82\xAC\xF0\x9F\x98\x80") == "\"\xE2\x82\xAC\xF0\x9F\x98\x80\"");
}

TEST_CASE("JSON strings of random bytes always parse; valid UTF-8 round-trips exactly") {
  std::mt19937 rng(42);
  const std::vector<std::string> pieces = {
      "a",    "\"",       "\\",       "\n",   std::string(1, '\0'), "\x1f", "é", "€", "𝄞", "\x80",
      "\xC3", "\xE2\x82", "\xF0\x9F", "\xFF", "\xED\xA0\x80",       "/"};
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
  CHECK(out ==
        R"({"op":"insert","lsn":"0/16B3748","xid":740,"schema":"public","table":"t","new":{"id":"1","name":"a"}})");

  out.clear();
  REQUIRE(append_change_json(out, ChangeOp::update, Lsn{0x10}, 1, rel, OldTupleKind::key, Tuple{"t:1", "n"}.view(),
                             Tuple{"t:2", "u"}.view()));
  CHECK(
      out ==
      R"({"op":"update","lsn":"0/10","xid":1,"schema":"public","table":"t","key":{"id":"1"},"new":{"id":"2","name":{"unchanged_toast":true}}})");

  out.clear();
  REQUIRE(append_change_json(out, ChangeOp::update, Lsn{0x10}, 1, rel, OldTupleKind::full, Tuple{"t:1", "t:x"}.view(),
                             Tuple{"t:1", "n"}.view()));
  CHECK(
      out ==
      R"({"op":"update","lsn":"0/10","xid":1,"schema":"public","table":"t","old":{"id":"1","name":"x"},"new":{"id":"1","name":null}})");

  out.clear();
  REQUIRE(
      append_change_json(out, ChangeOp::update, Lsn{0x10}, 1, rel, OldTupleKind::none, {}, Tuple{"t:1", "n"}.view()));
  CHECK(out == R"({"op":"update","lsn":"0/10","xid":1,"schema":"public","table":"t","new":{"id":"1","name":null}})");

  out.clear();
  REQUIRE(
      append_change_json(out, ChangeOp::delete_, Lsn{0x10}, 1, rel, OldTupleKind::key, Tuple{"t:9", "n"}.view(), {}));
  CHECK(out == R"({"op":"delete","lsn":"0/10","xid":1,"schema":"public","table":"t","key":{"id":"9"}})");

  out.clear();
  REQUIRE(append_change_json(out, ChangeOp::delete_, Lsn{0x10}, 1, rel, OldTupleKind::full, Tuple{"t:9", "t:z"}.view(),
                             {}));
  CHECK(out == R"({"op":"delete","lsn":"0/10","xid":1,"schema":"public","table":"t","old":{"id":"9","name":"z"}})");

  // A relation without key flags: the key tuple is written whole.
  RelationInfo nokey = rel;
  for (auto& c : nokey.columns) c.is_key = false;
  out.clear();
  REQUIRE(
      append_change_json(out, ChangeOp::delete_, Lsn{1}, 1, nokey, OldTupleKind::key, Tuple{"t:9", "n"}.view(), {}));
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

// Change events print directly (no pgoutput views in between), in the same shape as the decode
// program's messages (tests/format/pgoutput_json_test.cpp, tests/pipeline/json_shape_test.cpp).
TEST_CASE("append_event_json prints every event kind") {
  const RelationInfo rel = relation_t();
  const Tuple row{"t:1", "t:a"};
  TxnContext txn{7, 7, Lsn{0x200}, PgTimestamp{0}, false};
  std::string out;
  auto print = [&](const ChangeEvent& e) {
    out.clear();
    REQUIRE(append_event_json(out, e));
    return out;
  };
  CHECK(print(BeginEvent{Lsn{0x100}, txn}) ==
        R"({"op":"begin","lsn":"0/100","xid":7,"final_lsn":"0/200","commit_time":"2000-01-01T00:00:00.000000Z"})");
  CHECK(
      print(CommitEvent{Lsn{0x200}, txn, Lsn{0x208}}) ==
      R"({"op":"commit","lsn":"0/200","xid":7,"commit_lsn":"0/200","end_lsn":"0/208","commit_time":"2000-01-01T00:00:00.000000Z"})");
  RowChangeView insert{ChangeOp::insert, Lsn{0x150}, txn, &rel, OldTupleKind::none, {}, row.view()};
  CHECK(print(insert) ==
        R"({"op":"insert","lsn":"0/150","xid":7,"schema":"public","table":"t","new":{"id":"1","name":"a"}})");
  const std::string content = "hi";
  MessageEventView msg{Lsn{0x160}, Lsn{0x160}, txn,
                       true,       "app",      std::as_bytes(std::span(content.data(), content.size()))};
  CHECK(
      print(msg) ==
      R"({"op":"message","lsn":"0/160","xid":7,"transactional":true,"message_lsn":"0/160","prefix":"app","content":"6869"})");
  const RelationInfo* tables[] = {&rel, &rel};
  CHECK(
      print(TruncateEventView{Lsn{0x170}, txn, tables, true, false}) ==
      R"({"op":"truncate","lsn":"0/170","xid":7,"tables":["public.t","public.t"],"cascade":true,"restart_identity":false})");
  CHECK(
      print(SchemaChangeEvent{Lsn{0x180}, txn, nullptr, &rel}) ==
      R"({"op":"schema_change","lsn":"0/180","xid":7,"schema":"public","table":"t","columns":[{"name":"id","type_oid":23,"type_modifier":-1,"key":true},{"name":"name","type_oid":25,"type_modifier":-1,"key":false}]})");
  CHECK(print(StreamAbortEvent{Lsn{0x190}, 7, 7}).empty());

  TwoPhaseEvent tp;
  tp.lsn = Lsn{0x300};
  tp.txn = txn;
  tp.gid = "g1";
  tp.prepare_lsn = Lsn{0x2F0};
  tp.end_lsn = Lsn{0x308};
  tp.kind = TwoPhaseKind::begin_prepare;
  CHECK_THAT(print(tp),
             Catch::StartsWith(
                 R"({"op":"begin_prepare","lsn":"0/300","xid":7,"gid":"g1","prepare_lsn":"0/2F0","end_lsn":"0/308")"));
  tp.kind = TwoPhaseKind::prepare;
  CHECK_THAT(print(tp), Catch::StartsWith(R"({"op":"prepare",)"));
  tp.streamed = true;
  CHECK_THAT(print(tp), Catch::StartsWith(R"({"op":"stream_prepare",)"));
  tp.kind = TwoPhaseKind::commit_prepared;
  CHECK_THAT(print(tp),
             Catch::StartsWith(
                 R"({"op":"commit_prepared","lsn":"0/300","xid":7,"gid":"g1","commit_lsn":"0/200","end_lsn":"0/308")"));
  tp.kind = TwoPhaseKind::rollback_prepared;
  tp.prepare_end_lsn = Lsn{0x2F8};
  CHECK_THAT(
      print(tp),
      Catch::StartsWith(
          R"({"op":"rollback_prepared","lsn":"0/300","xid":7,"gid":"g1","prepare_end_lsn":"0/2F8","rollback_end_lsn":"0/308")"));
}

TEST_CASE("append_event_json refuses events without their relations and leaves nothing behind") {
  TxnContext txn{7, 7, Lsn{0x200}, PgTimestamp{0}, false};
  std::string out = "previous;";
  const Tuple row{"t:1", "t:a"};
  auto st =
      append_event_json(out, RowChangeView{ChangeOp::insert, Lsn{1}, txn, nullptr, OldTupleKind::none, {}, row.view()});
  CHECK_FALSE(st);
  const RelationInfo* tables[] = {nullptr};
  st = append_event_json(out, TruncateEventView{Lsn{1}, txn, tables, false, false});
  CHECK_FALSE(st);
  const RelationInfo rel = relation_t();
  const Tuple short_row{"t:1"};
  st = append_event_json(out,
                         RowChangeView{ChangeOp::insert, Lsn{1}, txn, &rel, OldTupleKind::none, {}, short_row.view()});
  REQUIRE_FALSE(st);
  REQUIRE(st.error().decode_error);
  CHECK(st.error().decode_error->code == Errc::unexpected_message);
  CHECK(out == "previous;");
}

TEST_CASE("ChangeJsonFormatter writes one line per event and leaves out what it is told to") {
  const RelationInfo rel = relation_t();
  TxnContext txn{7, 7, Lsn{0x200}, PgTimestamp{0}, false};
  const std::vector<ChangeEvent> events = {
      BeginEvent{Lsn{0x100}, txn}, SchemaChangeEvent{Lsn{0x101}, txn, nullptr, &rel},
      StreamAbortEvent{Lsn{0x102}, 9, 9}, CommitEvent{Lsn{0x200}, txn, Lsn{0x208}}};
  auto lines_of = [&](ChangeJsonFormatter f) {
    std::string out;
    for (const auto& e : events) REQUIRE(f.lines(out, e));
    return std::count(out.begin(), out.end(), '\n');
  };
  CHECK(lines_of({}) == 3);
  CHECK(lines_of({.transactions = false}) == 1);
  CHECK(lines_of({.schema_changes = false}) == 2);
  CHECK(lines_of({.transactions = false, .schema_changes = false}) == 0);
}
