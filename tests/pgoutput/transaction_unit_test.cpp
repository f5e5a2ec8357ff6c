// The transaction-unit facts of wire messages (pgoutput/transaction_unit.hpp): hand-made messages,
// then the captured server streams, where each message that ends a unit must agree with the change
// event the event decoder makes of it (the rules are shared: change/transaction_unit.hpp).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/pgoutput/transaction_unit.hpp"
#include "replicator/transport/frame.hpp"
#include "tests/data/corpus.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::test;

namespace {

TxnUnitStep step_of(const Bytes& bytes, bool in_stream = false, Lsn at = Lsn{0x1000}) {
  auto m = pgoutput::decode_message(bytes, in_stream);
  REQUIRE(m);
  return transaction_unit(pgoutput::transaction_facts(*m, at, in_stream));
}

}  // namespace

TEST_CASE("transaction_facts: Begin..Commit, Relation, rows and messages") {
  CHECK(step_of(wire::begin(0x200, 7)).role == TxnRole::opens);
  const auto c = step_of(wire::commit(0x1F0, 0x208));
  CHECK(c.role == TxnRole::ends);
  CHECK_FALSE(c.streamed);
  CHECK(c.end == Lsn{0x208});
  CHECK(step_of(wire::relation(16384, "public", "t", {{"id", 23, true}})).role == TxnRole::meta);
  CHECK(step_of(wire::insert(16384, {"1"})).role == TxnRole::continues);

  const auto own = step_of(wire::message(false, 0x170, "p", "x"));
  CHECK(own.role == TxnRole::own);
  CHECK(own.end == Lsn{0x171});
  CHECK(step_of(wire::message(true, 0x170, "p", "x")).role == TxnRole::continues);
}

TEST_CASE("transaction_facts: stream blocks, Stream Commit and Stream Abort") {
  const auto s = step_of(wire::stream_start(9, true));
  CHECK(s.role == TxnRole::block_starts);
  CHECK(s.xid == 9);
  const auto row = step_of(wire::insert(16384, {"1"}, 11), true);
  CHECK(row.role == TxnRole::continues);
  CHECK(row.streamed);
  CHECK(step_of(wire::message(true, 0x170, "p", "x", 11), true).role == TxnRole::continues);
  CHECK(step_of(wire::stream_stop(), true).role == TxnRole::block_stops);

  const auto sc = step_of(wire::stream_commit(9, 0x2F0, 0x300));
  CHECK(sc.role == TxnRole::ends);
  CHECK(sc.streamed);
  CHECK(sc.xid == 9);
  CHECK(sc.end == Lsn{0x300});

  const auto sub = step_of(wire::stream_abort(9, 11));  // a subtransaction: the stream goes on
  CHECK(sub.role == TxnRole::continues);
  CHECK(sub.xid == 9);
  const auto top = step_of(wire::stream_abort(9, 9), false, Lsn{0x500});  // no abort LSN: its WAL position
  CHECK(top.role == TxnRole::ends);
  CHECK(top.end == Lsn{0x501});
}

// Every message of the captured streams that ends a unit (or is one) gives the same step as the
// change event decoded from it, and no event of another message ends one.
TEST_CASE("transaction_facts: messages and their change events agree on the captured server streams") {
  for (const char* name : kCorpusFiles) {
    INFO(name);
    const auto bytes = read_corpus(name);
    transport::FrameReader frames(bytes);
    pgoutput::PgOutputEventDecoder decoder;
    bool in_stream = false;
    std::size_t ends = 0;
    while (!frames.at_end()) {
      auto frame = frames.next();
      REQUIRE(frame);
      const WalMessage msg{frame->lsn, frame->lsn, PgTimestamp{}, frame->payload, frame->payload_offset()};
      auto m = pgoutput::decode_message(msg.payload, in_stream);
      REQUIRE(m);
      const TxnUnitStep wire_step = transaction_unit(pgoutput::transaction_facts(*m, msg.wal_start, in_stream));
      if (wire_step.role == TxnRole::block_starts) in_stream = true;
      if (wire_step.role == TxnRole::block_stops) in_stream = false;
      std::vector<TxnUnitStep> event_steps;
      auto st = decoder.decode(msg, [&](const ChangeEvent& e) -> Status {
        event_steps.push_back(transaction_unit(e));
        return ok_status();
      });
      REQUIRE(st);
      const bool ending = wire_step.role == TxnRole::ends || wire_step.role == TxnRole::own;
      std::size_t matching = 0;
      for (const auto& e : event_steps) {
        if (e.role != TxnRole::ends && e.role != TxnRole::own) continue;
        REQUIRE(ending);
        CHECK(e.role == wire_step.role);
        CHECK(e.streamed == wire_step.streamed);
        CHECK(e.end == wire_step.end);
        if (e.streamed) CHECK(e.xid == wire_step.xid);
        ++matching;
      }
      if (ending) CHECK(matching == 1);
      if (wire_step.role == TxnRole::ends) ++ends;
    }
    CHECK(ends > 0);
  }
}
