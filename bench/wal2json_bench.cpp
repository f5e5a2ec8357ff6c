// The wal2json decoder beside the pgoutput decoder on the same changes: two stream files captured
// from one workload through a pgoutput slot and a wal2json slot (scripts/bench_wal2json.sh; by
// default the small pair in tests/data). Each iteration decodes the whole stream into events and
// reads every value of every row, as a sink would:
//   PgOutputEvents   PgOutputEventDecoder (binary protocol, zero copy)
//   Wal2JsonEvents   Wal2JsonEventDecoder (simdjson On-Demand, one JSON object per change)
// Counters: bytes_per_second (payload bytes; JSON is larger), items_per_second (row changes,
// truncates and messages: the same count for both), allocs_per_change.
//   BENCH_PGO=/tmp/replicator-bench/w2j_pgoutput.stream BENCH_W2J=/tmp/replicator-bench/w2j.stream
//   bazel-bin/bench/wal2json_bench
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <new>
#include <string>
#include <vector>

#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/transport/frame.hpp"
#include "replicator/wal2json/decoder.hpp"

namespace {
std::size_t g_allocations = 0;
}
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
// simdjson allocates with new (std::nothrow) T[]: those must pair with the deletes below too.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return operator new(n, std::nothrow); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace replicator;

namespace {

struct Stream {
  std::vector<std::byte> file;  // the frames as captured: payloads lie in it with the next frame after them
  std::vector<WalMessage> messages;
  std::size_t payload_bytes = 0;
};

Stream load(const char* env, const char* fallback) {
  const char* path = std::getenv(env);
  if (path == nullptr) path = fallback;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "wal2json_bench: cannot read %s (set %s)\n", path, env);
    std::exit(2);
  }
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Stream s;
  s.file.resize(chars.size());
  std::memcpy(s.file.data(), chars.data(), chars.size());
  transport::FrameReader reader(s.file);
  while (!reader.at_end()) {
    auto f = reader.next();
    if (!f) break;
    const std::size_t after =
        static_cast<std::size_t>(s.file.data() + s.file.size() - (f->payload.data() + f->payload.size()));
    s.messages.push_back(WalMessage{f->lsn, f->lsn, PgTimestamp{}, f->payload, 0, after});
    s.payload_bytes += f->payload.size();
  }
  return s;
}

// The table definitions the pgoutput stream announces: the wal2json decoder's catalog.
wal2json::StaticRelationCatalog catalog_from(const Stream& pgo) {
  wal2json::StaticRelationCatalog c;
  pgoutput::RelationCache cache;
  for (const auto& m : pgo.messages) {
    if (m.payload.empty() || static_cast<char>(m.payload[0]) != 'R') continue;
    auto d = pgoutput::PgOutputDecoder{}.decode(m.payload);
    if (d) c.add(*cache.apply(std::get<pgoutput::RelationView>(*d)).first);
  }
  return c;
}

struct Reader {
  std::size_t changes = 0;
  std::size_t value_bytes = 0;
  Status operator()(const ChangeEvent& e) {
    if (const auto* row = std::get_if<RowChangeView>(&e)) {
      ++changes;
      for (ColumnValueView v : row->new_tuple) value_bytes += v.bytes.size() + static_cast<std::size_t>(v.kind);
      for (ColumnValueView v : row->old_tuple) value_bytes += v.bytes.size() + static_cast<std::size_t>(v.kind);
    } else if (std::holds_alternative<TruncateEventView>(e) || std::holds_alternative<MessageEventView>(e)) {
      ++changes;
    }
    return ok_status();
  }
};

template <class Decoder>
void run(benchmark::State& state, const Stream& s, Decoder& d) {
  Reader r;
  for (const auto& m : s.messages) (void)d.decode(m, r);  // warm: caches filled, buffers grown
  d.reset();
  const std::size_t per_pass = r.changes;
  std::size_t allocs = 0;
  for (auto _ : state) {
    Reader reader;
    const std::size_t before = g_allocations;
    for (const auto& m : s.messages) {
      if (!d.decode(m, reader)) state.SkipWithError("decode failed");
    }
    allocs += g_allocations - before;
    d.reset();
    benchmark::DoNotOptimize(reader.value_bytes);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.payload_bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_pass));
  state.counters["allocs_per_change"] =
      static_cast<double>(allocs) / static_cast<double>(state.iterations() * std::max<std::size_t>(per_pass, 1));
  state.counters["changes_per_pass"] = static_cast<double>(per_pass);
}

const Stream& pgo_stream() {
  static const Stream s = load("BENCH_PGO", "tests/data/wal2json_pgoutput.stream");
  return s;
}
const Stream& w2j_stream() {
  static const Stream s = load("BENCH_W2J", "tests/data/wal2json.stream");
  return s;
}

void PgOutputEvents(benchmark::State& state) {
  pgoutput::PgOutputEventDecoder d;
  run(state, pgo_stream(), d);
}
void Wal2JsonEvents(benchmark::State& state) {
  wal2json::Wal2JsonEventDecoder d(catalog_from(pgo_stream()));
  run(state, w2j_stream(), d);
}
BENCHMARK(PgOutputEvents);
BENCHMARK(Wal2JsonEvents);

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--smoke") {  // both decode their stream to the same number of changes
    Reader a, b;
    pgoutput::PgOutputEventDecoder p;
    wal2json::Wal2JsonEventDecoder w(catalog_from(pgo_stream()));
    for (const auto& m : pgo_stream().messages)
      if (!p.decode(m, a)) return 1;
    for (const auto& m : w2j_stream().messages)
      if (!w.decode(m, b)) return 1;
    std::printf("pgoutput %zu changes, wal2json %zu changes\n", a.changes, b.changes);
    return a.changes == b.changes && a.changes > 0 ? 0 : 1;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
