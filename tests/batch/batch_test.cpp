// batch/batch.hpp: a Batch owns deep copies of its events; counts rows, commits and the position.
#include "replicator/batch/batch.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/support/pgoutput_writer.hpp"

using namespace replicator;

namespace {
RelationInfo table() {
  RelationInfo r;
  r.oid = 1;
  r.schema = "public";
  r.name = "t";
  r.columns = {ColumnInfo{"id", 23, -1, true}};
  return r;
}
}  // namespace

TEST_CASE("Batch copies row values out of the receive buffer") {
  const RelationInfo rel = table();
  auto buffer = test::MessageWriter().text("42").take();
  Batch b;
  TxnContext txn{5, 5, Lsn{0x100}, PgTimestamp{1}, false};
  b.append(BeginEvent{Lsn{0x10}, txn});
  b.append(RowChangeView{ChangeOp::insert, Lsn{0x20}, txn, &rel, OldTupleKind::none, {}, TupleView(buffer, 1)});
  buffer.assign(buffer.size(), std::byte{'x'});  // the next poll overwrites the buffer
  b.append(CommitEvent{Lsn{0x100}, txn, Lsn{0x108}});
  REQUIRE(b.size() == 3);
  CHECK(b.rows() == 1);
  CHECK(b.transactions() == 1);
  CHECK(b.confirm_lsn() == Lsn{0x108});
  CHECK(b.bytes() > 0);
  const auto& row = std::get<RowChangeView>(b.events()[1]);
  CHECK(row.new_text("id") == "42");
}

TEST_CASE("Batch stamps, trims, splices and clears") {
  const RelationInfo rel = table();
  const auto buffer = test::MessageWriter().text("1").take();
  TxnContext streamed{9, 9, Lsn{}, PgTimestamp{}, true};
  Batch a;
  a.append(RowChangeView{ChangeOp::insert, Lsn{0x20}, streamed, &rel, OldTupleKind::none, {}, TupleView(buffer, 1)});
  a.append(RowChangeView{ChangeOp::delete_, Lsn{0x30}, streamed, &rel, OldTupleKind::key, TupleView(buffer, 1), {}});
  a.stamp_commit(Lsn{0x200}, PgTimestamp{7});
  CHECK(std::get<RowChangeView>(a.events()[0]).txn.commit_lsn == Lsn{0x200});
  CHECK(a.erase_if([](const ChangeEvent& e) { return std::get<RowChangeView>(e).op == ChangeOp::delete_; }) == 1);
  CHECK(a.rows() == 1);

  Batch b;
  b.note_commit(Lsn{0x50});  // a transaction whose changes were all filtered out
  CHECK(b.empty());
  CHECK(b.transactions() == 1);
  b.splice(a);
  CHECK(a.empty());
  CHECK(b.size() == 1);
  CHECK(b.confirm_lsn() == Lsn{0x50});
  CHECK(std::get<RowChangeView>(b.events()[0]).new_text("id") == "1");
  b.truncate(0);
  CHECK(b.rows() == 0);
  b.clear();
  CHECK(b.transactions() == 0);
  CHECK_FALSE(b.confirm_lsn().is_valid());
}
