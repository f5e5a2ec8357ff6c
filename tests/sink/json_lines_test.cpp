// JsonLinesSink: the decode program's JSON shape per event, files synced and repaired.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/sink/json_lines.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::test;

namespace {
std::string temp_path(const std::string& name) {
  std::string dir = (std::getenv("TEST_TMPDIR") ? std::string(std::getenv("TEST_TMPDIR")) : std::string("/tmp"));
  std::string tmpl = dir + "/jsonlXXXXXX";
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  return tmpl + "/" + name;
}
std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Decodes payloads into one TransactionBatcher; returns it (with its batch ready).
struct Fixture {
  PgOutputEventDecoder decoder;
  CombinedBatcher batcher{ByLimits{}};
  void feed(std::uint64_t lsn, const Bytes& payload) {
    WalMessage m{Lsn{lsn}, Lsn{lsn}, PgTimestamp{}, payload, 0};
    REQUIRE(decoder.decode(m, [&](const ChangeEvent& e) { return batcher.add(e, std::chrono::steady_clock::now()); }));
  }
};
const std::vector<wire::Col> kCols = {{"id", 23, true}, {"name", 25, false}};
}  // namespace

TEST_CASE("JsonLinesSink writes the decode program's shape") {
  Fixture f;
  f.feed(0x100, wire::relation(16384, "public", "t", kCols));
  f.feed(0x110, wire::begin(0x16B3748, 740, 0));
  f.feed(0x120, wire::insert(16384, {"1", "a\"b"}));
  f.feed(0x130, wire::update(16384, 'K', {"1", std::nullopt}, {"2", std::nullopt}));
  f.feed(0x140, wire::delete_(16384, 'O', {"2", kToast}));
  f.feed(0x150, wire::truncate({16384}, 1));
  f.feed(0x160, wire::commit(0x16B3748, 0x16B3778, 0));
  const std::string path = temp_path("out.jsonl");
  auto sink = JsonLinesSink::open_file(path);
  REQUIRE(sink);
  REQUIRE(sink->write(f.batcher.batch()));
  REQUIRE(sink->flush());
  const auto l = lines(read(path));
  REQUIRE(l.size() == 6);
  CHECK(
      l[0] ==
      R"({"op":"begin","lsn":"0/110","xid":740,"final_lsn":"0/16B3748","commit_time":"2000-01-01T00:00:00.000000Z"})");
  CHECK(l[1] ==
        R"({"op":"insert","lsn":"0/120","xid":740,"schema":"public","table":"t","new":{"id":"1","name":"a\"b"}})");
  CHECK(
      l[2] ==
      R"({"op":"update","lsn":"0/130","xid":740,"schema":"public","table":"t","key":{"id":"1"},"new":{"id":"2","name":null}})");
  CHECK(
      l[3] ==
      R"({"op":"delete","lsn":"0/140","xid":740,"schema":"public","table":"t","old":{"id":"2","name":{"unchanged_toast":true}}})");
  CHECK(l[4] ==
        R"({"op":"truncate","lsn":"0/150","xid":740,"tables":["public.t"],"cascade":true,"restart_identity":false})");
  CHECK_THAT(l[5], Catch::StartsWith(
                       R"({"op":"commit","lsn":"0/160","xid":740,"commit_lsn":"0/16B3748","end_lsn":"0/16B3778")"));
  CHECK(sink->lines() == 6);
}

TEST_CASE("JsonLinesSink options and schema changes") {
  Fixture f;
  f.feed(0x100, wire::relation(1, "s", "t", kCols));
  f.feed(0x110, wire::begin(0x200, 1));
  f.feed(0x120, wire::insert(1, {"1", "a"}));
  f.feed(0x130, wire::commit(0x200, 0x208));
  std::vector<wire::Col> wider = kCols;
  wider.push_back({"extra", 20, false});
  f.feed(0x140, wire::relation(1, "s", "t", wider));
  f.feed(0x150, wire::begin(0x300, 2));
  f.feed(0x160, wire::insert(1, {"2", "b", "3"}));
  f.feed(0x170, wire::message(true, 0x165, "pfx", std::string("\x00\xff", 2)));
  f.feed(0x180, wire::commit(0x300, 0x308));
  SECTION("defaults: schema_change lines") {
    const std::string path = temp_path("a.jsonl");
    auto sink = JsonLinesSink::open_file(path);
    REQUIRE(sink);
    REQUIRE(sink->write(f.batcher.batch()));
    REQUIRE(sink->flush());
    const auto l = lines(read(path));
    REQUIRE(l.size() == 8);
    CHECK(
        l[4] ==
        R"({"op":"schema_change","lsn":"0/160","xid":2,"schema":"s","table":"t","columns":[{"name":"id","type_oid":23,"type_modifier":-1,"key":true},{"name":"name","type_oid":25,"type_modifier":-1,"key":false},{"name":"extra","type_oid":20,"type_modifier":-1,"key":false}]})");
    CHECK(l[5] ==
          R"({"op":"insert","lsn":"0/160","xid":2,"schema":"s","table":"t","new":{"id":"2","name":"b","extra":"3"}})");
    CHECK(
        l[6] ==
        R"({"op":"message","lsn":"0/170","xid":2,"transactional":true,"message_lsn":"0/165","prefix":"pfx","content":"00ff"})");
  }
  SECTION("rows only") {
    const std::string path = temp_path("b.jsonl");
    JsonLinesOptions rows_only;
    rows_only.transactions = false;
    rows_only.schema_changes = false;
    auto sink = JsonLinesSink::open_file(path, rows_only);
    REQUIRE(sink);
    REQUIRE(sink->write(f.batcher.batch()));
    REQUIRE(sink->flush());
    const auto l = lines(read(path));
    REQUIRE(l.size() == 3);
    CHECK_THAT(l[0], Catch::StartsWith(R"({"op":"insert")"));
    CHECK_THAT(l[2], Catch::StartsWith(R"({"op":"message")"));
  }
}

TEST_CASE("JsonLinesSink appends, and trims a line cut short by a crash") {
  Fixture f;
  f.feed(0x100, wire::relation(1, "public", "t", kCols));
  f.feed(0x110, wire::begin(0x200, 1));
  f.feed(0x120, wire::insert(1, {"1", "a"}));
  f.feed(0x130, wire::commit(0x200, 0x208));
  const std::string path = temp_path("c.jsonl");
  std::ofstream(path) << "{\"op\":\"insert\",\"complete\":1}\n{\"op\":\"ins";
  auto sink = JsonLinesSink::open_file(path);
  REQUIRE(sink);
  CHECK(read(path) == "{\"op\":\"insert\",\"complete\":1}\n");
  REQUIRE(sink->write(f.batcher.batch()));
  REQUIRE(sink->flush());
  const auto l = lines(read(path));
  REQUIRE(l.size() == 4);
  CHECK(l[0] == "{\"op\":\"insert\",\"complete\":1}");
  CHECK_THAT(l[2], Catch::Contains("\"new\":{\"id\":\"1\",\"name\":\"a\"}"));
}

TEST_CASE("JsonLinesSink: a file without any complete line is emptied; errors are typed") {
  const std::string path = temp_path("d.jsonl");
  std::ofstream(path) << "{\"op\"";
  auto sink = JsonLinesSink::open_file(path);
  REQUIRE(sink);
  CHECK(read(path).empty());
  auto bad = JsonLinesSink::open_file("/nonexistent-dir-for-replicator-test/x.jsonl");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("nonexistent-dir-for-replicator-test"));
}

TEST_CASE("JsonLinesSink on a closed pipe fails the flush") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  ::close(fds[0]);
  ::signal(SIGPIPE, SIG_IGN);
  JsonLinesSink sink(fds[1], true, false);
  Fixture f;
  f.feed(0x100, wire::relation(1, "public", "t", kCols));
  f.feed(0x110, wire::begin(0x200, 1));
  f.feed(0x120, wire::insert(1, {"1", "a"}));
  f.feed(0x130, wire::commit(0x200, 0x208));
  REQUIRE(sink.write(f.batcher.batch()));  // buffered
  auto st = sink.flush();
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
}
