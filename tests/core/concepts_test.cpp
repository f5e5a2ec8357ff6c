// Each policy concept accepts the toolkit's own types and rejects types that miss a member.
#include <catch2/catch.hpp>

#include "replicator/batch/batcher.hpp"
#include "replicator/concepts.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/file.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/callback.hpp"
#include "replicator/sink/json_lines.hpp"
#include "replicator/transport/replay.hpp"
#include "support.hpp"

using namespace replicator;

namespace {
struct NoSendStatus {
  Status start(Lsn);
  Result<TransportEvent, ReplicationError> poll(std::chrono::milliseconds);
};
struct DecoderWithoutReset {
  template <class H>
  Status decode(const WalMessage&, H&&);
};
struct DecoderReturningBool {
  template <class H>
  bool decode(const WalMessage&, H&&);
  void reset();
};
struct BatcherWithoutReady {
  Status add(const ChangeEvent&, std::chrono::steady_clock::time_point);
  const Batch& batch() const;
  void release();
  bool in_flight() const;
  void reset();
};
struct StoreSavingLsn {
  Result<std::optional<Position>, ReplicationError> load();
  Status save(Lsn);
};
struct SinkWithoutFlush {
  Status write(const Batch&);
};
struct SinkTakingEvents {
  Status write(const ChangeEvent&);
  Status flush();
};
}  // namespace

TEST_CASE("TransportPolicy") {
  STATIC_REQUIRE(TransportPolicy<transport::ReplayTransport>);
  STATIC_REQUIRE(TransportPolicy<test::ScriptedTransport>);
  STATIC_REQUIRE_FALSE(TransportPolicy<NoSendStatus>);
  STATIC_REQUIRE_FALSE(TransportPolicy<int>);
}

TEST_CASE("DecoderPolicy") {
  STATIC_REQUIRE(DecoderPolicy<PgOutputEventDecoder>);
  STATIC_REQUIRE_FALSE(DecoderPolicy<DecoderWithoutReset>);
  STATIC_REQUIRE_FALSE(DecoderPolicy<DecoderReturningBool>);
  STATIC_REQUIRE_FALSE(DecoderPolicy<pgoutput::PgOutputDecoder>);  // the message decoder is not an event decoder
}

TEST_CASE("BatchPolicy") {
  STATIC_REQUIRE(BatchPolicy<CountBatcher>);
  STATIC_REQUIRE(BatchPolicy<BytesBatcher>);
  STATIC_REQUIRE(BatchPolicy<TimeBatcher>);
  STATIC_REQUIRE(BatchPolicy<TransactionBatcher>);
  STATIC_REQUIRE(BatchPolicy<CombinedBatcher>);
  STATIC_REQUIRE_FALSE(BatchPolicy<BatcherWithoutReady>);
  STATIC_REQUIRE_FALSE(BatchPolicy<Batch>);
}

TEST_CASE("PositionStorePolicy") {
  STATIC_REQUIRE(PositionStorePolicy<MemoryPositionStore>);
  STATIC_REQUIRE(PositionStorePolicy<FilePositionStore>);
  STATIC_REQUIRE(PositionStorePolicy<test::FlakyStore>);
  STATIC_REQUIRE_FALSE(PositionStorePolicy<StoreSavingLsn>);
}

TEST_CASE("SinkPolicy") {
  auto per_event = [](const ChangeEvent&) {};
  auto per_batch = [](const Batch&) -> Status { return ok_status(); };
  STATIC_REQUIRE(SinkPolicy<CallbackSink<decltype(per_event)>>);
  STATIC_REQUIRE(SinkPolicy<CallbackSink<decltype(per_batch)>>);
  STATIC_REQUIRE(SinkPolicy<JsonLinesSink>);
  STATIC_REQUIRE(SinkPolicy<test::RecordingSink>);
  STATIC_REQUIRE_FALSE(SinkPolicy<SinkWithoutFlush>);
  STATIC_REQUIRE_FALSE(SinkPolicy<SinkTakingEvents>);
}

TEST_CASE("Replicator composes the policies") {
  using R = Replicator<test::ScriptedTransport, PgOutputEventDecoder, TransactionBatcher, MemoryPositionStore,
                       test::RecordingSink>;
  STATIC_REQUIRE(std::is_class_v<R>);
  STATIC_REQUIRE_FALSE(std::is_polymorphic_v<R>);  // no virtual calls anywhere in the loop
}
