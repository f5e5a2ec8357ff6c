// CallbackSink: per-event and per-batch callables, void or Status, with a flush callable.
#include <catch2/catch.hpp>

#include "replicator/sink/callback.hpp"

using namespace replicator;

namespace {
Batch sample_batch() {
  Batch b;
  b.append(ChangeEvent{BeginEvent{Lsn{1}, TxnContext{1, 1, Lsn{5}, {}, false}}});
  b.append(ChangeEvent{MessageEventView{Lsn{2}, Lsn{2}, TxnContext{1, 1, Lsn{5}, {}, false}, true, "p", {}}});
  b.append(ChangeEvent{CommitEvent{Lsn{3}, TxnContext{1, 1, Lsn{5}, {}, false}, Lsn{6}}});
  return b;
}
}  // namespace

TEST_CASE("CallbackSink per event") {
  std::vector<std::string> seen;
  CallbackSink sink([&](const ChangeEvent& e) { seen.emplace_back(event_name(e)); });
  const Batch b = sample_batch();
  REQUIRE(sink.write(b));
  REQUIRE(sink.flush());
  CHECK(seen == std::vector<std::string>{"begin", "message", "commit"});
}

TEST_CASE("CallbackSink per batch with a failing flush") {
  std::size_t batches = 0;
  bool fail = true;
  CallbackSink sink(
      [&](const Batch& b) -> Status {
        batches += b.size() == 3;
        return ok_status();
      },
      [&]() -> Status {
        if (fail) return ReplicationError::retry("disk full");
        return ok_status();
      });
  const Batch b = sample_batch();
  REQUIRE(sink.write(b));
  auto st = sink.flush();
  REQUIRE_FALSE(st);
  CHECK(st.error().message == "disk full");
  fail = false;
  CHECK(sink.flush());
  CHECK(batches == 1);
}

TEST_CASE("CallbackSink stops at the first failing event") {
  int calls = 0;
  CallbackSink sink([&](const ChangeEvent&) -> Status {
    ++calls;
    return calls == 2 ? Status(ReplicationError::fatal("no")) : ok_status();
  });
  const Batch b = sample_batch();
  REQUIRE_FALSE(sink.write(b));
  CHECK(calls == 2);
}
