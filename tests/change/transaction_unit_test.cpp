// The transaction-unit rules (change/transaction_unit.hpp) on facts and on change events.
#include <catch2/catch.hpp>

#include "replicator/change/transaction_unit.hpp"

using namespace replicator;

namespace {

TxnFacts facts(TxnBoundary kind) {
  TxnFacts f;
  f.kind = kind;
  return f;
}

}  // namespace

TEST_CASE("transaction_unit: what opens, continues and ends a unit") {
  CHECK(transaction_unit(facts(TxnBoundary::begin)).role == TxnRole::opens);
  CHECK(transaction_unit(facts(TxnBoundary::begin_prepare)).role == TxnRole::opens);
  CHECK(transaction_unit(facts(TxnBoundary::change)).role == TxnRole::continues);
  CHECK(transaction_unit(facts(TxnBoundary::meta)).role == TxnRole::meta);
  CHECK(transaction_unit(facts(TxnBoundary::stream_stop)).role == TxnRole::block_stops);

  auto commit = facts(TxnBoundary::commit);
  commit.end_lsn = Lsn{0x208};
  const auto c = transaction_unit(commit);
  CHECK(c.role == TxnRole::ends);
  CHECK_FALSE(c.streamed);
  CHECK(c.end == Lsn{0x208});

  auto start = facts(TxnBoundary::stream_start);
  start.xid = 7;
  const auto s = transaction_unit(start);
  CHECK(s.role == TxnRole::block_starts);
  CHECK(s.streamed);
  CHECK(s.xid == 7);

  for (auto kind : {TxnBoundary::commit_prepared, TxnBoundary::rollback_prepared}) {
    auto f = facts(kind);
    f.end_lsn = Lsn{0x300};
    const auto u = transaction_unit(f);
    CHECK(u.role == TxnRole::own);
    CHECK(u.end == Lsn{0x300});
  }
}

TEST_CASE("transaction_unit: Stream Abort of a subtransaction stays in its stream, of the top one ends it at LSN + 1") {
  TxnFacts f = facts(TxnBoundary::stream_abort);
  f.streamed = true;
  f.xid = 7;
  f.lsn = Lsn{0x400};
  for (Xid sub : {Xid{7}, Xid{0}}) {
    f.subxid = sub;
    const auto u = transaction_unit(f);
    CHECK(u.role == TxnRole::ends);
    CHECK(u.streamed);
    CHECK(u.xid == 7);
    CHECK(u.end == Lsn{0x401});
  }
  f.subxid = 8;
  const auto sub = transaction_unit(f);
  CHECK(sub.role == TxnRole::continues);
  CHECK(sub.xid == 7);
  CHECK(sub.streamed);
}

TEST_CASE("transaction_unit: a non-transactional message is a unit of its own ending at its LSN + 1") {
  MessageEventView m;
  m.lsn = Lsn{0x500};
  m.message_lsn = Lsn{0x4F0};
  const auto own = transaction_unit(m);
  CHECK(own.role == TxnRole::own);
  CHECK(own.end == Lsn{0x4F1});

  m.transactional = true;
  CHECK(transaction_unit(m).role == TxnRole::continues);
  m.transactional = false;
  m.txn.streamed = true;  // inside a stream block: part of the stream
  m.txn.top_xid = 9;
  const auto in_stream = transaction_unit(m);
  CHECK(in_stream.role == TxnRole::continues);
  CHECK(in_stream.xid == 9);
}

TEST_CASE("transaction_unit: change events name their unit by the top-level xid") {
  TxnContext streamed{12, 10, Lsn{}, PgTimestamp{}, true};
  RowChangeView row{};
  row.txn = streamed;
  const auto r = transaction_unit(ChangeEvent{row});
  CHECK(r.role == TxnRole::continues);
  CHECK(r.streamed);
  CHECK(r.xid == 10);

  const auto b = transaction_unit(ChangeEvent{BeginEvent{Lsn{0x100}, TxnContext{10, 10, Lsn{}, PgTimestamp{}, true}}});
  CHECK(b.role == TxnRole::opens);
  CHECK(b.streamed);

  const auto c =
      transaction_unit(CommitEvent{Lsn{0x200}, TxnContext{5, 5, Lsn{0x1F0}, PgTimestamp{}, false}, Lsn{0x208}});
  CHECK(c.role == TxnRole::ends);
  CHECK_FALSE(c.streamed);
  CHECK(c.xid == 5);
  CHECK(c.end == Lsn{0x208});

  const auto a = transaction_unit(StreamAbortEvent{Lsn{0x300}, 10, 10, Lsn{0x2F0}});
  CHECK(a.role == TxnRole::ends);
  CHECK(a.end == Lsn{0x2F1});
  CHECK(transaction_unit(StreamAbortEvent{Lsn{0x300}, 10, 12, Lsn{0x2F0}}).role == TxnRole::continues);

  SchemaChangeEvent schema{};
  CHECK(transaction_unit(schema).role == TxnRole::meta);

  TwoPhaseEvent p{};
  p.kind = TwoPhaseKind::prepare;
  p.streamed = true;
  p.txn = TxnContext{10, 10, Lsn{}, PgTimestamp{}, true};
  p.end_lsn = Lsn{0x600};
  const auto prep = transaction_unit(p);
  CHECK(prep.role == TxnRole::ends);
  CHECK(prep.streamed);
  CHECK(prep.xid == 10);
  CHECK(prep.end == Lsn{0x600});
  p.kind = TwoPhaseKind::commit_prepared;
  p.streamed = false;
  CHECK(transaction_unit(p).role == TxnRole::own);
  p.kind = TwoPhaseKind::begin_prepare;
  CHECK(transaction_unit(p).role == TxnRole::opens);
}
