// Each policy concept accepts the toolkit's own types and rejects types that miss a member; each
// optional capability is checked both ways, with the types that have it and near misses.
#include <catch2/catch.hpp>

#include "replicator/batch/batcher.hpp"
#include "replicator/concepts.hpp"
#include "replicator/filter/change_filter.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/file.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/callback.hpp"
#include "replicator/sink/json_lines.hpp"
#include "replicator/transport/libpq.hpp"
#include "replicator/transport/replay.hpp"
#include "tests/support/policies.hpp"

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
// Near misses of the optional capabilities: a hook with another name or signature is not one.
struct Identity {
  std::uint64_t systemid;
  std::uint32_t timeline;
};
struct IdentityWithoutTimeline {
  std::uint64_t systemid;
};
struct IdentifiedOnly {
  const std::optional<Identity>& identity() const;
};
struct NoTimeline {
  const std::optional<IdentityWithoutTimeline>& identity() const;
};
struct OpensWithoutIdentity {
  Result<Identity, ReplicationError> open();
};
struct OpensAndIdentified : IdentifiedOnly {
  Result<Identity, ReplicationError> open();
};
struct ExpectsLsn {
  void expect_resume(Lsn);
};
struct FinishesWithoutStatus {
  Status finish();
};
struct FinishReturningBool {
  bool finish(const StandbyStatus&);
};
struct Closes {
  void close();
};
struct Disconnects {
  void disconnect();
};
struct RefillsBool {
  bool refill();
};
struct ConfirmLimitAsInteger {
  std::uint64_t confirm_limit() const;
};
struct ConfirmLimitNotConst {
  Lsn confirm_limit();
};
struct ReleasesRetired {
  void release_retired();
};
struct ReleasesRetiredMisspelt {
  void release_retried();
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

namespace {
struct FilterReturningBool {
  bool apply(const ChangeEvent&) { return true; }
};
struct FilterWithoutApply {
  const ChangeEvent* filter(const ChangeEvent& e) { return &e; }
};
}  // namespace

TEST_CASE("FilterPolicy") {
  STATIC_REQUIRE(FilterPolicy<PassAllFilter>);
  STATIC_REQUIRE(FilterPolicy<ChangeFilter>);
  STATIC_REQUIRE_FALSE(FilterPolicy<FilterReturningBool>);
  STATIC_REQUIRE_FALSE(FilterPolicy<FilterWithoutApply>);
  STATIC_REQUIRE(SinkPolicy<DebeziumLinesSink>);
}

TEST_CASE("IdentifiedTransport and OpeningTransport") {
  STATIC_REQUIRE(TransportPolicy<LibpqTransport>);
  STATIC_REQUIRE(IdentifiedTransport<LibpqTransport>);
  STATIC_REQUIRE(OpeningTransport<LibpqTransport>);
  STATIC_REQUIRE(IdentifiedTransport<IdentifiedOnly>);
  STATIC_REQUIRE(OpeningTransport<OpensAndIdentified>);
  STATIC_REQUIRE_FALSE(OpeningTransport<IdentifiedOnly>);
  STATIC_REQUIRE_FALSE(OpeningTransport<OpensWithoutIdentity>);  // open() alone: no identity to check
  STATIC_REQUIRE_FALSE(IdentifiedTransport<NoTimeline>);
  STATIC_REQUIRE_FALSE(IdentifiedTransport<transport::ReplayTransport>);
  STATIC_REQUIRE_FALSE(OpeningTransport<transport::ReplayTransport>);
}

TEST_CASE("ResumeCheckingTransport, FinishingTransport, ClosableTransport") {
  STATIC_REQUIRE(ResumeCheckingTransport<LibpqTransport>);
  STATIC_REQUIRE(FinishingTransport<LibpqTransport>);
  STATIC_REQUIRE(ClosableTransport<LibpqTransport>);
  STATIC_REQUIRE(ClosableTransport<Closes>);
  STATIC_REQUIRE_FALSE(ResumeCheckingTransport<ExpectsLsn>);
  STATIC_REQUIRE_FALSE(FinishingTransport<FinishesWithoutStatus>);
  STATIC_REQUIRE_FALSE(FinishingTransport<FinishReturningBool>);
  STATIC_REQUIRE_FALSE(ClosableTransport<Disconnects>);
  STATIC_REQUIRE_FALSE(ResumeCheckingTransport<transport::ReplayTransport>);
  STATIC_REQUIRE_FALSE(FinishingTransport<transport::ReplayTransport>);
  STATIC_REQUIRE_FALSE(ClosableTransport<test::ScriptedTransport>);
}

TEST_CASE("RefillingBatcher and ConfirmLimitedBatcher") {
  STATIC_REQUIRE(RefillingBatcher<TransactionBatcher>);
  STATIC_REQUIRE(RefillingBatcher<CountBatcher>);
  STATIC_REQUIRE(ConfirmLimitedBatcher<TransactionBatcher>);
  STATIC_REQUIRE(ConfirmLimitedBatcher<CombinedBatcher>);
  STATIC_REQUIRE_FALSE(RefillingBatcher<RefillsBool>);
  STATIC_REQUIRE_FALSE(ConfirmLimitedBatcher<ConfirmLimitAsInteger>);
  STATIC_REQUIRE_FALSE(ConfirmLimitedBatcher<ConfirmLimitNotConst>);
  STATIC_REQUIRE_FALSE(RefillingBatcher<Batch>);
}

TEST_CASE("RetiringDecoder") {
  STATIC_REQUIRE(RetiringDecoder<PgOutputEventDecoder>);
  STATIC_REQUIRE(RetiringDecoder<ReleasesRetired>);
  STATIC_REQUIRE_FALSE(RetiringDecoder<ReleasesRetiredMisspelt>);
  STATIC_REQUIRE_FALSE(RetiringDecoder<pgoutput::PgOutputDecoder>);
}

TEST_CASE("Replicator composes the policies") {
  using R = Replicator<test::ScriptedTransport, PgOutputEventDecoder, TransactionBatcher, MemoryPositionStore,
                       test::RecordingSink>;
  STATIC_REQUIRE(std::is_class_v<R>);
  STATIC_REQUIRE_FALSE(std::is_polymorphic_v<R>);  // no virtual calls anywhere in the loop
}
