#include "replicator/transport/replay.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "replicator/concepts.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "tests/data/corpus.hpp"
#include "tests/support/failing_transport.hpp"

using namespace replicator;
using namespace replicator::transport;
using namespace std::chrono_literals;

namespace {

// pgoutput payloads, just enough for the tests.
class P {
 public:
  explicit P(char tag) { b_.push_back(static_cast<std::byte>(tag)); }
  P& u8(std::uint8_t v) {
    b_.push_back(static_cast<std::byte>(v));
    return *this;
  }
  P& u16(std::uint16_t v) { return be(v, 2); }
  P& u32(std::uint32_t v) { return be(v, 4); }
  P& u64(std::uint64_t v) { return be(v, 8); }
  P& str(std::string_view s) {
    for (char c : s) b_.push_back(static_cast<std::byte>(c));
    b_.push_back(std::byte{0});
    return *this;
  }
  operator std::span<const std::byte>() const { return b_; }  // NOLINT

 private:
  P& be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) b_.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xFF));
    return *this;
  }
  std::vector<std::byte> b_;
};

P begin(std::uint64_t final_lsn, std::uint32_t xid) { return std::move(P('B').u64(final_lsn).u64(0).u32(xid)); }
P commit(std::uint64_t commit_lsn, std::uint64_t end) {
  return std::move(P('C').u8(0).u64(commit_lsn).u64(end).u64(0));
}
P relation() {
  return std::move(P('R').u32(16384).str("public").str("t").u8('d').u16(1).u8(1).str("id").u32(23).u32(0xFFFFFFFF));
}
P insert() { return std::move(P('I').u32(16384).u8('N').u16(1).u8('t').u32(1).u8('1')); }
P nontx_message(std::uint64_t lsn) { return std::move(P('M').u8(0).u64(lsn).str("p").u32(0)); }

// txn 1 (ends 160), a non-transactional message at 170, txn 2 (ends 210), txn 3 without commit.
std::vector<std::byte> synthetic_file() {
  std::vector<std::byte> file;
  FrameWriter w(file);
  auto put = [&](std::uint64_t lsn, std::span<const std::byte> p) { REQUIRE(w.write(Lsn{lsn}, p)); };
  put(100, begin(150, 1));       // 0
  put(0, relation());            // 1
  put(100, insert());            // 2
  put(160, commit(150, 160));    // 3
  put(170, nontx_message(170));  // 4
  put(180, begin(200, 2));       // 5
  put(180, insert());            // 6
  put(210, commit(200, 210));    // 7
  put(220, begin(300, 3));       // 8
  put(220, insert());            // 9
  return file;
}

// Tags of everything delivered until EndOfStream.
std::string drain_tags(ReplayTransport& t) {
  std::string tags;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    auto ev = t.poll(10ms);
    REQUIRE(ev);
    if (std::holds_alternative<EndOfStream>(*ev)) return tags;
    const auto& m = std::get<WalMessage>(*ev);
    tags.push_back(static_cast<char>(m.payload[0]));
  }
  FAIL("no end of stream");
  return tags;
}

struct NotATransport {
  Status start(Lsn);
  Result<TransportEvent, ReplicationError> poll(std::chrono::milliseconds);
};

std::vector<pgoutput::Message> drain_decoded(ReplayTransport& t) {
  std::vector<pgoutput::Message> out;
  pgoutput::PgOutputDecoder d;
  while (true) {
    auto ev = t.poll(0ms);
    REQUIRE(ev);
    if (std::holds_alternative<EndOfStream>(*ev)) return out;
    const auto& w = std::get<WalMessage>(*ev);
    auto m = d.decode(w.payload, w.offset);
    REQUIRE(m);
    out.push_back(*m);  // views into the transport's buffer, which outlives them here
  }
}

template <class V>
std::size_t count(const std::vector<pgoutput::Message>& ms) {
  std::size_t n = 0;
  for (const auto& m : ms) n += std::holds_alternative<V>(m) ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("ReplayTransport satisfies TransportPolicy") {
  STATIC_REQUIRE(TransportPolicy<ReplayTransport>);
  STATIC_REQUIRE_FALSE(TransportPolicy<NotATransport>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<ReplayTransport>);
  STATIC_REQUIRE(std::is_move_constructible_v<ReplayTransport>);
}

TEST_CASE("Replay hands out every frame in order with its LSN and offset, then EndOfStream") {
  const auto file = synthetic_file();
  ReplayTransport t(file);
  auto before = t.poll(0ms);
  REQUIRE_FALSE(before);
  CHECK(before.error().retryable());

  REQUIRE(t.start(Lsn::invalid()));
  FrameReader r(file);
  std::size_t n = 0;
  while (!r.at_end()) {
    auto f = r.next();
    REQUIRE(f);
    auto ev = t.poll(0ms);
    REQUIRE(ev);
    REQUIRE(std::holds_alternative<WalMessage>(*ev));
    const auto& m = std::get<WalMessage>(*ev);
    CHECK(m.wal_start == f->lsn);
    CHECK(m.wal_end == f->lsn);
    CHECK(m.offset == f->payload_offset());
    CHECK(std::equal(m.payload.begin(), m.payload.end(), f->payload.begin(), f->payload.end()));
    ++n;
  }
  CHECK(n == 10);
  for (int i = 0; i < 3; ++i) {
    auto ev = t.poll(0ms);
    REQUIRE(ev);
    CHECK(std::holds_alternative<EndOfStream>(*ev));
  }
  CHECK(t.delivered() == 10);
}

TEST_CASE("start(lsn) skips whole transactions that end at or before lsn, like the server") {
  ReplayTransport t(synthetic_file());
  auto run = [&](std::uint64_t lsn) {
    REQUIRE(t.start(Lsn{lsn}));
    return drain_tags(t);
  };
  CHECK(run(0) == "BRICMBICBI");
  CHECK(run(150) == "BRICMBICBI");  // txn 1 ends at 160: not yet confirmed
  CHECK(run(159) == "BRICMBICBI");
  CHECK(run(160) == "RMBICBI");  // its Relation message is still handed on
  CHECK(run(170) == "RMBICBI");  // the message at 170 is not before 170
  CHECK(run(171) == "RBICBI");
  CHECK(run(210) == "RBI");
  CHECK(run(0xFFFFFFFFFFFFull) == "RBI");  // an unfinished transaction is never skipped
  CHECK(t.start_count() == 8);
  CHECK(t.start_lsn() == Lsn{0xFFFFFFFFFFFFull});
}

TEST_CASE("send_status is recorded for tests") {
  ReplayTransport t(synthetic_file());
  REQUIRE(t.start(Lsn::invalid()));
  CHECK(t.last_flushed() == Lsn::invalid());
  REQUIRE(t.send_status(StandbyStatus{Lsn{10}, Lsn{5}, Lsn{5}, false}));
  REQUIRE(t.send_status(StandbyStatus{Lsn{20}, Lsn{20}, Lsn{20}, true}));
  REQUIRE(t.status_updates().size() == 2);
  CHECK(t.status_updates()[0].written == Lsn{10});
  CHECK(t.status_updates()[0].flushed == Lsn{5});
  CHECK(t.status_updates()[1].reply_requested);
  CHECK(t.last_flushed() == Lsn{20});
}

TEST_CASE("FailingPoll<ReplayTransport> drops the connection once, start() reconnects from the confirmed position") {
  test::FailingPoll<ReplayTransport> t{ReplayTransport(synthetic_file())};
  REQUIRE(t.start(Lsn::invalid()));
  t.fail_nth_poll(3);
  REQUIRE(t.poll(0ms));
  REQUIRE(t.poll(0ms));
  auto failed = t.poll(0ms);
  REQUIRE_FALSE(failed);
  CHECK(failed.error().retryable());
  CHECK(t.dropped());
  auto still = t.poll(0ms);
  REQUIRE_FALSE(still);
  CHECK(still.error().retryable());
  CHECK_FALSE(t.send_status(StandbyStatus{}));

  REQUIRE(t.start(Lsn{160}));
  CHECK_FALSE(t.dropped());
  CHECK(drain_tags(t) == "RMBICBI");
  CHECK(t.start_count() == 2);
}

TEST_CASE("A truncated or malformed file is a fatal error naming the offset, after the good frames") {
  auto file = synthetic_file();
  const std::size_t good = file.size();
  SECTION("truncated") {
    const auto h = frame_header(Lsn{400}, 50);
    file.insert(file.end(), h.begin(), h.end());
    file.push_back(std::byte{'B'});
  }
  SECTION("header cut short") {
    file.push_back(std::byte{0});
    file.push_back(std::byte{0});
  }
  SECTION("absurd length") {
    const auto h = frame_header(Lsn{400}, 0x7FFFFFFF);
    file.insert(file.end(), h.begin(), h.end());
  }
  ReplayTransport t(file);
  REQUIRE(t.start(Lsn::invalid()));
  for (int i = 0; i < 10; ++i) REQUIRE(t.poll(0ms));
  auto bad = t.poll(0ms);
  REQUIRE_FALSE(bad);
  CHECK_FALSE(bad.error().retryable());
  CHECK_THAT(bad.error().message, Catch::Contains("offset " + std::to_string(good)));
  REQUIRE(bad.error().decode_error);  // the frame reader's Error, for callers that act on the code
  CHECK(bad.error().decode_error->offset == good);
}

TEST_CASE("open() reports a missing file") {
  auto t = ReplayTransport::open("/nonexistent/replicator/none.stream");
  REQUIRE_FALSE(t);
  CHECK_FALSE(t.error().retryable());
  CHECK_THAT(t.error().message, Catch::Contains("none.stream"));
}

TEST_CASE("Replaying the real corpus: every payload decodes; resuming skips confirmed transactions") {
  using namespace replicator::pgoutput;

  SECTION("basic") {
    auto t = ReplayTransport::open(replicator::test::corpus_path("basic.stream"));
    REQUIRE(t);
    REQUIRE(t->start(Lsn::invalid()));
    const auto all = drain_decoded(*t);
    const auto begins = count<BeginView>(all);
    REQUIRE(begins > 5);
    REQUIRE(count<CommitView>(all) == begins);
    // Resume after the third commit.
    const CommitView* third = nullptr;
    std::size_t seen = 0;
    for (const auto& m : all)
      if (const auto* c = std::get_if<CommitView>(&m); c && ++seen == 3) third = c;
    REQUIRE(third != nullptr);
    REQUIRE(t->start(third->end_lsn));
    const auto rest = drain_decoded(*t);
    CHECK(count<BeginView>(rest) == begins - 3);
    CHECK(count<RelationView>(rest) == count<RelationView>(all));
    CHECK(count<TypeView>(rest) == count<TypeView>(all));
    for (const auto& m : rest)
      if (const auto* b = std::get_if<BeginView>(&m)) CHECK(b->final_lsn > third->commit_lsn);
    // Resuming at the commit record itself (not its end) still sends that transaction.
    REQUIRE(t->start(third->commit_lsn));
    CHECK(count<BeginView>(drain_decoded(*t)) == begins - 2);
  }

  SECTION("streaming: stream blocks go with their Stream Commit / Abort") {
    auto t = ReplayTransport::open(replicator::test::corpus_path("streaming.stream"));
    REQUIRE(t);
    REQUIRE(t->start(Lsn::invalid()));
    const auto all = drain_decoded(*t);
    const auto* first_commit = [&]() -> const StreamCommitView* {
      for (const auto& m : all)
        if (const auto* c = std::get_if<StreamCommitView>(&m)) return c;
      return nullptr;
    }();
    REQUIRE(first_commit != nullptr);
    const Xid skipped_xid = first_commit->xid;
    REQUIRE(t->start(first_commit->end_lsn));
    const auto rest = drain_decoded(*t);
    CHECK(count<StreamStartView>(rest) > 0);
    CHECK(count<StreamStartView>(rest) == count<StreamStopView>(rest));
    CHECK(count<StreamAbortView>(rest) == count<StreamAbortView>(all));
    for (const auto& m : rest) {
      if (const auto* s = std::get_if<StreamStartView>(&m)) CHECK(s->xid != skipped_xid);
      if (const auto* c = std::get_if<StreamCommitView>(&m)) CHECK(c->xid != skipped_xid);
    }
    CHECK(count<InsertView>(rest) < count<InsertView>(all) - 999);
  }

  SECTION("two-phase: a confirmed prepare is skipped, its later Commit Prepared is not") {
    auto t = ReplayTransport::open(replicator::test::corpus_path("two_phase.stream"));
    REQUIRE(t);
    REQUIRE(t->start(Lsn::invalid()));
    const auto all = drain_decoded(*t);
    const PrepareView* first = nullptr;
    for (const auto& m : all)
      if (const auto* p = std::get_if<PrepareView>(&m); p && first == nullptr) first = p;
    REQUIRE(first != nullptr);
    REQUIRE(t->start(first->end_lsn));
    const auto rest = drain_decoded(*t);
    CHECK(count<BeginPrepareView>(rest) == count<BeginPrepareView>(all) - 1);
    CHECK(count<CommitPreparedView>(rest) == count<CommitPreparedView>(all));
    CHECK(count<StreamPrepareView>(rest) == count<StreamPrepareView>(all));
    for (const auto& m : rest)
      if (const auto* b = std::get_if<BeginPrepareView>(&m)) CHECK(b->gid != first->gid);
  }
}
