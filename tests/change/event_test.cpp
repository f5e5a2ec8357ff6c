// RowChangeView's typed access helpers over a hand-made relation and tuples.
#include <catch2/catch.hpp>

#include "replicator/change/event.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::test;

namespace {
RelationInfo accounts() {
  RelationInfo r;
  r.oid = 16384;
  r.schema = "public";
  r.name = "accounts";
  r.columns = {{"id", 23, -1, true}, {"name", 25, -1, false}, {"blob", 25, -1, false}};
  return r;
}
}  // namespace

TEST_CASE("RowChangeView helpers find columns by name") {
  const RelationInfo rel = accounts();
  const Bytes msg = wire::update(16384, 'O', {"1", "old", kToast}, {"1", std::nullopt, kToast});
  auto decoded = pgoutput::decode_message(msg, false);
  REQUIRE(decoded);
  const auto& u = std::get<pgoutput::UpdateView>(*decoded);
  RowChangeView row{ChangeOp::update, Lsn{0x10},  TxnContext{7, 7, Lsn{0x20}, PgTimestamp{5}, false}, &rel, u.old_kind,
                    u.old_tuple,      u.new_tuple};

  CHECK(row.column_index("id") == 0);
  CHECK(row.column_index("blob") == 2);
  CHECK_FALSE(row.column_index("missing"));
  CHECK(row.new_text("id") == "1");
  CHECK_FALSE(row.new_text("name"));  // NULL
  CHECK(row.is_null("name"));
  CHECK_FALSE(row.is_null("id"));
  CHECK(row.is_unchanged_toast("blob"));
  CHECK_FALSE(row.new_text("blob"));
  CHECK(row.old_text("name") == "old");
  CHECK_FALSE(row.new_value("missing"));
  CHECK(row.xid() == 7);
  CHECK(to_string(row.op) == "update");
  CHECK(event_name(ChangeEvent{row}) == "update");
  CHECK(txn_of(ChangeEvent{row}).commit_lsn == Lsn{0x20});
}

TEST_CASE("An insert has no old tuple") {
  const RelationInfo rel = accounts();
  const Bytes msg = wire::insert(16384, {"2", "b", "c"});
  auto decoded = pgoutput::decode_message(msg, false);
  REQUIRE(decoded);
  const auto& ins = std::get<pgoutput::InsertView>(*decoded);
  RowChangeView row{ChangeOp::insert, Lsn{1}, {}, &rel, OldTupleKind::none, {}, ins.new_tuple};
  CHECK_FALSE(row.old_value("id"));
  CHECK(row.new_text("blob") == "c");
  CHECK(&row.row() == &row.new_tuple);
}

TEST_CASE("event names") {
  CHECK(event_name(ChangeEvent{BeginEvent{}}) == "begin");
  CHECK(event_name(ChangeEvent{CommitEvent{}}) == "commit");
  CHECK(event_name(ChangeEvent{TruncateEventView{}}) == "truncate");
  CHECK(event_name(ChangeEvent{MessageEventView{}}) == "message");
  CHECK(event_name(ChangeEvent{SchemaChangeEvent{}}) == "schema_change");
  CHECK(event_name(ChangeEvent{StreamAbortEvent{}}) == "stream_abort");
  CHECK(StreamAbortEvent{{}, 5, 5}.whole_transaction());
  CHECK_FALSE(StreamAbortEvent{{}, 5, 6}.whole_transaction());
}
