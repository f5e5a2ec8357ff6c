// Differential: random but valid pgoutput sequences (normal, streamed with subtransactions and
// aborts, prepared, Stream Prepare, COMMIT / ROLLBACK PREPARED, logical messages) go through
// Replicator<...> once without spilling and once with a tiny memory limit (spill everything) or a
// small one (spill some). The sink must see exactly the same events and the same final position.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/replicator.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::test;
using namespace std::chrono_literals;

namespace {

const std::vector<wire::Col> kCols = {{"id", 23, true}, {"v", 25, false}};

Bytes begin_prepare(std::uint64_t prepare_lsn, std::uint32_t xid, const std::string& gid) {
  return wire::Writer('b').u64(prepare_lsn).u64(prepare_lsn + 8).u64(1000).u32(xid).cstr(gid).take();
}
Bytes prepare(char tag, std::uint64_t prepare_lsn, std::uint32_t xid, const std::string& gid) {
  return wire::Writer(tag).u8(0).u64(prepare_lsn).u64(prepare_lsn + 8).u64(1000).u32(xid).cstr(gid).take();
}
Bytes commit_prepared(std::uint64_t lsn, std::uint32_t xid, const std::string& gid) {
  return wire::Writer('K').u8(0).u64(lsn).u64(lsn + 8).u64(3000).u32(xid).cstr(gid).take();
}
Bytes rollback_prepared(std::uint64_t lsn, std::uint32_t xid, const std::string& gid) {
  return wire::Writer('r').u8(0).u64(lsn).u64(lsn + 8).u64(1000).u64(3000).u32(xid).cstr(gid).take();
}

// A random valid message sequence.
struct Workload {
  std::vector<std::pair<std::uint64_t, Bytes>> messages;
  std::uint64_t lsn = 0x100000;
  std::uint32_t next_xid = 1000;
  int next_id = 1;
  std::mt19937 rng;

  explicit Workload(std::uint32_t seed) : rng(seed) {}
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); }
  std::uint64_t put(Bytes b) {
    const std::uint64_t at = lsn;
    messages.emplace_back(at, std::move(b));
    lsn += 0x40;
    return at;
  }
  void data(std::optional<std::uint32_t> sx, std::uint32_t xid_for_rows) {
    const int n = 1 + pick(40);
    for (int i = 0; i < n; ++i) {
      const std::string id = std::to_string(next_id++);
      const std::string v(static_cast<std::size_t>(pick(300)), 'a' + static_cast<char>(pick(26)));
      switch (pick(10)) {
        case 0:
          put(wire::message(true, lsn, "pfx", v, sx ? std::optional<std::uint32_t>(xid_for_rows) : std::nullopt));
          break;
        case 1:
          put(wire::delete_(1, 'K', {id, std::nullopt},
                            sx ? std::optional<std::uint32_t>(xid_for_rows) : std::nullopt));
          break;
        case 2:
          put(wire::update(1, 0, {}, {id, v}, sx ? std::optional<std::uint32_t>(xid_for_rows) : std::nullopt));
          break;
        default: put(wire::insert(1, {id, v}, sx ? std::optional<std::uint32_t>(xid_for_rows) : std::nullopt)); break;
      }
    }
  }

  void generate(int steps) {
    put(wire::relation(1, "public", "t", kCols));
    struct Open {
      std::uint32_t xid;
      std::vector<std::uint32_t> subs;
    };
    std::vector<Open> streams;
    std::vector<std::pair<std::string, std::uint32_t>> prepared;
    for (int step = 0; step < steps; ++step) {
      switch (pick(9)) {
        case 0:
        case 1: {  // a normal transaction
          const std::uint32_t xid = next_xid++;
          const std::uint64_t commit_at = lsn + 0x40 * 60;
          put(wire::begin(commit_at, xid));
          data(std::nullopt, xid);
          put(wire::commit(lsn, lsn + 8));
          break;
        }
        case 2: {  // a new streamed transaction's first block
          if (streams.size() >= 3) break;
          const std::uint32_t xid = next_xid++;
          streams.push_back({xid, {}});
          put(wire::stream_start(xid, true));
          data(xid, xid);
          put(wire::stream_stop());
          break;
        }
        case 3: {  // a later block, maybe in a (new) subtransaction
          if (streams.empty()) break;
          Open& s = streams[static_cast<std::size_t>(pick(static_cast<int>(streams.size())))];
          std::uint32_t row_xid = s.xid;
          if (pick(2) == 0) {
            if (s.subs.empty() || pick(2) == 0) s.subs.push_back(next_xid++);
            row_xid = s.subs[static_cast<std::size_t>(pick(static_cast<int>(s.subs.size())))];
          }
          put(wire::stream_start(s.xid, false));
          data(s.xid, row_xid);
          put(wire::stream_stop());
          break;
        }
        case 4: {  // end a streamed transaction: commit, abort, subtransaction abort or Stream Prepare
          if (streams.empty()) break;
          const std::size_t i = static_cast<std::size_t>(pick(static_cast<int>(streams.size())));
          Open s = streams[i];
          const int how = pick(6);
          if (how == 0 && !s.subs.empty()) {  // ROLLBACK TO SAVEPOINT: the transaction goes on
            const std::uint32_t sub = s.subs.back();
            streams[i].subs.pop_back();
            put(wire::stream_abort(s.xid, sub));
            break;
          }
          streams.erase(streams.begin() + static_cast<std::ptrdiff_t>(i));
          if (how == 1) {
            put(wire::stream_abort(s.xid, s.xid));
          } else if (how == 2) {
            const std::string gid = "sgid" + std::to_string(s.xid);
            put(prepare('p', lsn, s.xid, gid));
            prepared.emplace_back(gid, s.xid);
          } else {
            put(wire::stream_commit(s.xid, lsn, lsn + 8));
          }
          break;
        }
        case 5: {  // a prepared transaction
          const std::uint32_t xid = next_xid++;
          const std::string gid = "gid" + std::to_string(xid);
          put(begin_prepare(lsn + 0x40 * 60, xid, gid));
          data(std::nullopt, xid);
          put(prepare('P', lsn, xid, gid));
          prepared.emplace_back(gid, xid);
          break;
        }
        case 6: {  // COMMIT or ROLLBACK PREPARED
          if (prepared.empty()) break;
          const std::size_t i = static_cast<std::size_t>(pick(static_cast<int>(prepared.size())));
          auto [gid, xid] = prepared[i];
          prepared.erase(prepared.begin() + static_cast<std::ptrdiff_t>(i));
          if (pick(3) == 0) put(rollback_prepared(lsn, xid, gid));
          else put(commit_prepared(lsn, xid, gid));
          break;
        }
        case 7: put(wire::message(false, lsn, "nontx", "x")); break;
        default: break;
      }
    }
    // Finish what is open so the runs end comparable.
    for (const auto& s : streams) put(wire::stream_commit(s.xid, lsn, lsn + 8));
    for (const auto& [gid, xid] : prepared) put(commit_prepared(lsn, xid, gid));
  }
};

using Seen = std::tuple<std::string, Lsn, Xid, std::string, Lsn, Lsn>;

struct Outcome {
  std::vector<Seen> events;
  Lsn saved;
  std::uint64_t spilled = 0;
  std::size_t writes = 0;
};

Outcome run(const Workload& w, std::size_t memory_limit, std::size_t max_rows) {
  ScriptedTransport t;
  for (const auto& [lsn, bytes] : w.messages) t.wal(lsn, bytes);
  BatcherOptions o;
  o.memory_limit_bytes = memory_limit;
  ByLimits limits;
  limits.max_rows = max_rows;
  Replicator r(std::move(t), PgOutputEventDecoder{}, CombinedBatcher(limits, o), FlakyStore{}, RecordingSink{});
  r.position_store().on_save = [&](const Position& p) { CHECK(p.lsn <= r.sink().durable_commit_end); };
  REQUIRE(r.start());
  while (!r.transport().done()) {
    auto more = r.run_once(0ms);
    if (!more) FAIL(more.error().message);
  }
  REQUIRE(r.shutdown());
  Outcome out;
  for (const auto& e : r.sink().durable) out.events.emplace_back(e.kind, e.lsn, e.xid, e.id, e.commit_lsn, e.end_lsn);
  out.saved = r.position_store().position ? r.position_store().position->lsn : Lsn{};
  out.spilled = r.batcher().spill_stats().transactions;
  out.writes = r.sink().write_calls;
  CHECK(r.batcher().spill_stats().files_open == 0);
  CHECK_FALSE(r.batcher().in_flight());
  return out;
}

}  // namespace

TEST_CASE("spilling never changes what the sink sees or the final position (random workloads)") {
  std::uint64_t spilled = 0;
  for (std::uint32_t seed = 1; seed <= 40; ++seed) {
    Workload w(seed);
    w.generate(60);
    const std::size_t max_rows = 1 + seed % 50;
    INFO("seed " << seed << ", " << w.messages.size() << " messages, max_rows " << max_rows);
    const Outcome ref = run(w, 0, max_rows);
    REQUIRE_FALSE(ref.events.empty());
    for (std::size_t limit : {std::size_t{1}, std::size_t{4096}, std::size_t{64 * 1024}}) {
      INFO("memory_limit_bytes " << limit);
      const Outcome got = run(w, limit, max_rows);
      CHECK(got.events == ref.events);
      CHECK(got.saved == ref.saved);
      if (limit == 1) CHECK(got.spilled > 0);
      spilled += got.spilled;
    }
  }
  CHECK(spilled > 100);
}
