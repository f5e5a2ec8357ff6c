// SpillFile: every event kind survives the round trip through the file (views re-pointed into the
// reading batch, relations by index), reading goes in bounded pieces, aborted subtransactions are
// skipped, and a bad directory is a clear error.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "replicator/batch/spill.hpp"

using namespace replicator;

namespace {

std::vector<std::byte> tuple_bytes(const std::vector<std::string>& vals) {
  std::vector<std::byte> out;
  for (const auto& v : vals) {
    out.push_back(std::byte{'t'});
    const auto n = static_cast<std::uint32_t>(v.size());
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::byte>((n >> s) & 0xFF));
    for (char c : v) out.push_back(static_cast<std::byte>(c));
  }
  return out;
}

RelationInfo make_relation(std::uint32_t oid, std::string name) {
  RelationInfo r;
  r.oid = oid;
  r.schema = "public";
  r.name = std::move(name);
  r.columns = {{"id", 23, -1, true}, {"v", 25, -1, false}};
  return r;
}

}  // namespace

TEST_CASE("spill file round-trips every event kind") {
  RelationInfo a = make_relation(1, "a"), b = make_relation(2, "b");
  auto file = SpillFile::create();
  REQUIRE(file);
  TxnContext txn{7, 7, Lsn{}, PgTimestamp{}, true};
  std::vector<std::byte> row = tuple_bytes({"1", "hello"});
  std::vector<std::byte> old = tuple_bytes({"0", "before"});
  const RelationInfo* rels[] = {&a, &b};
  const std::string content = "payload";
  std::vector<ChangeEvent> in = {
      BeginEvent{Lsn{0x10}, txn},
      RowChangeView{ChangeOp::update, Lsn{0x20}, txn, &a, OldTupleKind::full, TupleView(old, 2), TupleView(row, 2)},
      TruncateEventView{Lsn{0x30}, txn, rels, true, false},
      MessageEventView{Lsn{0x40}, Lsn{0x41}, txn, true, "pfx",
                       std::as_bytes(std::span<const char>(content.data(), content.size()))},
      SchemaChangeEvent{Lsn{0x50}, txn, &a, &b},
      TwoPhaseEvent{TwoPhaseKind::prepare, Lsn{0x60}, txn, "gid-1", Lsn{0x61}, Lsn{0x62}, Lsn{0x62}, PgTimestamp{},
                    true},
      CommitEvent{Lsn{0x70}, txn, Lsn{0x78}},
  };
  for (const auto& e : in) REQUIRE(file->append(e));
  REQUIRE(file->events() == in.size());
  row.assign(row.size(), std::byte{0});  // the file holds its own copy
  old.assign(old.size(), std::byte{0});

  Batch out;
  auto more = file->read_into(out, 1 << 20, 1000, {});
  REQUIRE(more);
  CHECK_FALSE(*more);
  REQUIRE(out.size() == in.size());
  const auto& r = std::get<RowChangeView>(out.events()[1]);
  CHECK(r.relation == &a);
  CHECK(r.lsn == Lsn{0x20});
  CHECK(r.txn.xid == 7);
  CHECK(r.new_text("v") == "hello");
  CHECK(r.old_text("v") == "before");
  CHECK(r.old_kind == OldTupleKind::full);
  const auto& t = std::get<TruncateEventView>(out.events()[2]);
  REQUIRE(t.relations.size() == 2);
  CHECK(t.relations[0] == &a);
  CHECK(t.relations[1] == &b);
  CHECK(t.cascade);
  const auto& m = std::get<MessageEventView>(out.events()[3]);
  CHECK(m.prefix == "pfx");
  CHECK(std::string(reinterpret_cast<const char*>(m.content.data()), m.content.size()) == "payload");
  CHECK(m.message_lsn == Lsn{0x41});
  const auto& s = std::get<SchemaChangeEvent>(out.events()[4]);
  CHECK(s.old_relation == &a);
  CHECK(s.new_relation == &b);
  const auto& p = std::get<TwoPhaseEvent>(out.events()[5]);
  CHECK(p.gid == "gid-1");
  CHECK(p.streamed);
  CHECK(p.prepare_lsn == Lsn{0x61});
  CHECK(std::get<CommitEvent>(out.events()[6]).end_lsn == Lsn{0x78});
  CHECK(out.confirm_lsn() == Lsn{0x78});
  CHECK_FALSE(file->append(in[0]));  // no appends after reading started
}

TEST_CASE("spill file reads back in bounded pieces and skips aborted subtransactions") {
  RelationInfo a = make_relation(1, "a");
  auto file = SpillFile::create();
  REQUIRE(file);
  const std::string big(300, 'x');
  constexpr int kRows = 20000;
  REQUIRE(file->append(BeginEvent{Lsn{1}, TxnContext{100, 100, Lsn{}, PgTimestamp{}, true}}));
  for (int i = 0; i < kRows; ++i) {
    const Xid xid = (i % 10 == 3) ? 101 : 100;  // every tenth row in subtransaction 101
    auto bytes = tuple_bytes({std::to_string(i), big});
    REQUIRE(file->append(RowChangeView{ChangeOp::insert,
                                       Lsn{static_cast<std::uint64_t>(i + 2)},
                                       TxnContext{xid, 100, Lsn{}, PgTimestamp{}, true},
                                       &a,
                                       OldTupleKind::none,
                                       {},
                                       TupleView(bytes, 2)}));
  }
  CHECK(file->bytes() > std::uint64_t{kRows} * 300);
  const Xid aborted[] = {101};
  Batch out;
  int rows = 0, pieces = 0, next = 0;
  bool begin_seen = false;
  for (bool more = true; more;) {
    out.clear();
    auto r = file->read_into(out, 256 * 1024, 5000, aborted);
    REQUIRE(r);
    more = *r;
    ++pieces;
    CHECK(out.size() <= 5000);
    CHECK(out.bytes() < 256 * 1024 + 1024);  // one record past the limit at most
    for (const auto& e : out.events()) {
      if (std::holds_alternative<BeginEvent>(e)) {
        begin_seen = true;
        continue;
      }
      const auto& row = std::get<RowChangeView>(e);
      CHECK(row.txn.xid == 100);
      while (next % 10 == 3) ++next;
      CHECK(row.new_text("id") == std::to_string(next));
      ++next;
      ++rows;
    }
  }
  CHECK(begin_seen);
  CHECK(rows == kRows - kRows / 10);
  CHECK(pieces > 10);
}

TEST_CASE("spill file in a missing directory is a clear error") {
  auto file = SpillFile::create("/nonexistent/replicator-spill-dir");
  REQUIRE_FALSE(file);
  CHECK(file.error().message.find("/nonexistent/replicator-spill-dir") != std::string::npos);
}
