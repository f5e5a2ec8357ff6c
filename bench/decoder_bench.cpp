// Decoder throughput over a corpus of pgoutput messages, in one run:
//   ZeroCopyDecode   PgOutputDecoder, decode + visit + iterate every column (the product)
//   ReferenceDecode  the allocating reference decoder (copies every value), same iteration
//   MemorySum        one pass summing the same bytes      (memory-bandwidth reference)
//   MemchrAbsent     memchr for a byte that never occurs  (memory-bandwidth reference)
// The corpus is a captured stream file (BENCH_CORPUS=path: u32 BE length, u64 BE LSN, payload per
// message, as written by //tools:capture) or, without it, a synthetic mixed workload.
//   bazel run -c opt //bench:decoder_bench            # synthetic
//   BENCH_CORPUS=/tmp/mixed.stream bazel-bin/bench/decoder_bench
// After the table it prints the zero-copy decoder's throughput as ratios to the other three.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <new>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "pgoutput_samples.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "replicator/pgoutput/reference_decoder.hpp"

// ---- Allocation counting (plain counter: benchmarks run on one thread) ---------------------------
namespace {
std::size_t g_allocations = 0;
}
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace pg = replicator::pgoutput;
namespace ref = replicator::pgoutput::reference;
using replicator::fuzz::MessageWriter;

namespace {

struct Corpus {
  std::vector<std::byte> buffer;  // every payload back to back, like a receive buffer
  std::vector<std::span<const std::byte>> messages;
  std::string source;
  std::map<std::string, std::size_t> counts;  // message type -> count
};

// Adds one payload; spans are fixed up in finish() once the buffer stops growing.
struct CorpusBuilder {
  std::vector<std::byte> buffer;
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  void add(const std::vector<std::byte>& payload) {
    ranges.emplace_back(buffer.size(), payload.size());
    buffer.insert(buffer.end(), payload.begin(), payload.end());
  }
  Corpus finish(std::string source) && {
    Corpus c;
    c.buffer = std::move(buffer);
    for (auto [at, n] : ranges) c.messages.emplace_back(c.buffer.data() + at, n);
    c.source = std::move(source);
    return c;
  }
};

// Synthetic mixed workload shaped like what pgoutput sends for the capture script's SQL.
Corpus synthetic_corpus() {
  using namespace replicator::fuzz::samples;
  CorpusBuilder b;
  std::uint32_t xid = 1000;
  auto begin = [&] { b.add(std::move(MessageWriter('B').u64(kLsn).i64(kTime).u32(++xid)).bytes()); };
  auto commit = [&] { b.add(replicator::fuzz::samples::commit()); };
  auto relation_msg = [&](std::uint32_t oid, const char* name, int ncols) {
    MessageWriter w('R');
    w.u32(oid).cstr("public").cstr(name).u8('d').u16(static_cast<std::uint16_t>(ncols));
    const char* cols[] = {"id", "customer", "amount", "status", "created_at", "note"};
    const std::uint32_t types[] = {23, 25, 1700, 25, 1184, 25};
    for (int i = 0; i < ncols; ++i) w.u8(i == 0 ? 1 : 0).cstr(cols[i]).u32(types[i]).u32(0xFFFFFFFF);
    b.add(std::move(w).bytes());
  };
  auto row = [&](MessageWriter& w, int id, std::string_view note) {
    const std::string sid = std::to_string(id);
    w.u16(6).text(sid).text("customer-" + std::to_string(id % 997)).text(std::to_string(id % 10000) + ".25");
    w.text(id % 3 == 0 ? "shipped" : "new").text("2026-11-25 16:30:51.123456+00");
    if (note.empty()) w.null(); else w.text(note);
  };
  auto insert = [&](std::uint32_t oid, int id, std::string_view note = {}) {
    MessageWriter w('I');
    w.u32(oid).u8('N');
    row(w, id, note);
    b.add(std::move(w).bytes());
  };
  relation_msg(16384, "orders", 6);
  relation_msg(16390, "events", 6);
  // Many small transactions: one insert / update / delete each.
  for (int i = 0; i < 3000; ++i) {
    begin();
    insert(16384, i);
    commit();
  }
  for (int i = 0; i < 1500; ++i) {
    begin();
    MessageWriter w('U');
    w.u32(16384).u8('N');
    row(w, i, "updated");
    b.add(std::move(w).bytes());
    commit();
  }
  for (int i = 0; i < 500; ++i) {
    begin();
    b.add(std::move(MessageWriter('D').u32(16384).u8('K').u16(6).text(std::to_string(i)).null().null().null().null().null())
              .bytes());
    commit();
  }
  // A big transaction.
  begin();
  for (int i = 0; i < 20000; ++i) insert(16390, 100000 + i);
  commit();
  // TOAST: large values, then updates that leave them unchanged ('u').
  const std::string big(8000, 'x');
  for (int i = 0; i < 200; ++i) {
    begin();
    insert(16390, 200000 + i, big);
    MessageWriter w('U');
    w.u32(16390).u8('N').u16(6).text(std::to_string(200000 + i)).text("c").text("1.00").text("toasted");
    w.text("2026-11-25 16:30:51+00").unchanged_toast();
    b.add(std::move(w).bytes());
    commit();
  }
  return std::move(b).finish("synthetic mixed workload (bench/decoder_bench.cpp)");
}

Corpus load_stream_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot open BENCH_CORPUS=%s\n", path);
    std::exit(2);
  }
  std::vector<unsigned char> f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CorpusBuilder b;
  std::size_t pos = 0;
  while (pos < f.size()) {
    if (f.size() - pos < 12) {
      std::fprintf(stderr, "%s: truncated frame header at offset %zu\n", path, pos);
      std::exit(2);
    }
    std::uint32_t len = 0;
    for (int i = 0; i < 4; ++i) len = (len << 8) | f[pos + i];
    pos += 12;
    if (len > f.size() - pos) {
      std::fprintf(stderr, "%s: frame at offset %zu runs past the end\n", path, pos - 12);
      std::exit(2);
    }
    const auto* p = reinterpret_cast<const std::byte*>(f.data() + pos);
    b.add(std::vector<std::byte>(p, p + len));
    pos += len;
  }
  return std::move(b).finish(path);
}

const Corpus& corpus() {
  static const Corpus c = [] {
    const char* path = std::getenv("BENCH_CORPUS");
    return path != nullptr && *path != '\0' ? load_stream_file(path) : synthetic_corpus();
  }();
  return c;
}

// What a consumer does with each message: reads every column's kind and length.
struct ViewConsumer {
  std::size_t sum = 0;
  void tuple(const pg::TupleView& t) {
    for (pg::ColumnValueView v : t) sum += static_cast<std::size_t>(v.kind) + v.bytes.size();
  }
  void operator()(const pg::InsertView& m) { tuple(m.new_tuple); }
  void operator()(const pg::UpdateView& m) { tuple(m.old_tuple); tuple(m.new_tuple); }
  void operator()(const pg::DeleteView& m) { tuple(m.old_tuple); }
  void operator()(const pg::RelationView& m) {
    for (pg::RelationColumnView c : m.columns) sum += c.name.size() + c.type_oid;
  }
  template <class Other>
  void operator()(const Other&) { sum += 1; }
};
struct RefConsumer {
  std::size_t sum = 0;
  void tuple(const ref::Tuple& t) {
    for (const ref::Column& c : t) sum += static_cast<std::size_t>(c.kind) + c.value.size();
  }
  void operator()(const ref::Insert& m) { tuple(m.new_tuple); }
  void operator()(const ref::Update& m) { tuple(m.old_tuple); tuple(m.new_tuple); }
  void operator()(const ref::Delete& m) { tuple(m.old_tuple); }
  void operator()(const ref::Relation& m) {
    for (const ref::RelationColumn& c : m.columns) sum += c.name.size() + c.type_oid;
  }
  template <class Other>
  void operator()(const Other&) { sum += 1; }
};

void set_counters(benchmark::State& state, std::size_t allocations) {
  const Corpus& c = corpus();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * c.buffer.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * c.messages.size()));
  state.counters["allocs_per_msg"] =
      static_cast<double>(allocations) / static_cast<double>(state.iterations() * c.messages.size());
}

void ZeroCopyDecode(benchmark::State& state) {
  const Corpus& c = corpus();
  const std::size_t before = g_allocations;
  for (auto _ : state) {
    pg::PgOutputDecoder decoder;
    ViewConsumer consumer;
    for (auto msg : c.messages) {
      auto m = decoder.decode(msg);
      if (!m) {
        state.SkipWithError("decode failed");
        return;
      }
      std::visit(consumer, *m);
    }
    benchmark::DoNotOptimize(consumer.sum);
  }
  set_counters(state, g_allocations - before);
}

void ReferenceDecode(benchmark::State& state) {
  const Corpus& c = corpus();
  const std::size_t before = g_allocations;
  for (auto _ : state) {
    ref::Decoder decoder;
    RefConsumer consumer;
    for (auto msg : c.messages) {
      auto m = decoder.decode(msg);
      if (!m) {
        state.SkipWithError("decode failed");
        return;
      }
      std::visit(consumer, *m);
    }
    benchmark::DoNotOptimize(consumer.sum);
  }
  set_counters(state, g_allocations - before);
}

void MemorySum(benchmark::State& state) {
  const Corpus& c = corpus();
  for (auto _ : state) {
    const std::byte* data = c.buffer.data();
    benchmark::DoNotOptimize(data);
    std::uint64_t sum = 0;
    // 32-bit partial sums over 64 KiB blocks (cannot overflow) let the compiler vectorise the loop.
    for (std::size_t at = 0; at < c.buffer.size(); at += 65536) {
      const std::size_t end = std::min(c.buffer.size(), at + 65536);
      std::uint32_t partial = 0;
      for (std::size_t i = at; i < end; ++i) partial += std::to_integer<std::uint32_t>(data[i]);
      sum += partial;
    }
    benchmark::DoNotOptimize(sum);
  }
  set_counters(state, 0);
}

// memchr for the corpus's rarest byte value (pgoutput can contain all 256): one pass over the
// buffer, restarting after each of the few hits.
void MemchrAbsent(benchmark::State& state) {
  const Corpus& c = corpus();
  std::size_t count[256] = {};
  for (std::byte b : c.buffer) ++count[std::to_integer<unsigned>(b)];
  int rarest = 0;
  for (int v = 1; v < 256; ++v) {
    if (count[v] < count[rarest]) rarest = v;
  }
  state.counters["hits"] = static_cast<double>(count[rarest]);
  for (auto _ : state) {
    const std::byte* p = c.buffer.data();
    benchmark::DoNotOptimize(p);
    const std::byte* end = p + c.buffer.size();
    std::size_t hits = 0;
    while (p < end) {
      const void* hit = std::memchr(p, rarest, static_cast<std::size_t>(end - p));
      if (hit == nullptr) break;
      p = static_cast<const std::byte*>(hit) + 1;
      ++hits;
    }
    benchmark::DoNotOptimize(hits);
  }
  set_counters(state, 0);
}

BENCHMARK(ZeroCopyDecode);
BENCHMARK(ReferenceDecode);
BENCHMARK(MemorySum);
BENCHMARK(MemchrAbsent);

// Console output plus a ratio summary once every benchmark has run.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_Tabular) {}  // no colour codes: the output goes into logs and READMEs
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    // With --benchmark_repetitions the median is used; otherwise the (single) run.
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.run_type != Run::RT_Iteration && !median) continue;
      auto it = r.counters.find("bytes_per_second");
      if (it == r.counters.end()) continue;
      if (median) {
        rate_[r.run_name.function_name] = it->second.value;
        has_median_[r.run_name.function_name] = true;
      } else if (!has_median_[r.run_name.function_name]) {
        rate_[r.run_name.function_name] = it->second.value;
      }
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto get = [&](const char* n) { return rate_.count(n) ? rate_[n] : 0.0; };
    const double zc = get("ZeroCopyDecode");
    if (zc == 0) return;
    std::printf("\nzero-copy decoder: %.2f GB/s of pgoutput (GB = 1e9 bytes; the table's G/s is 2^30)\n", zc / 1e9);
    for (const char* other : {"MemorySum", "MemchrAbsent", "ReferenceDecode"}) {
      if (get(other) > 0) std::printf("  ratio to %-16s %.3f  (%s: %.2f GB/s)\n", other, zc / get(other), other, get(other) / 1e9);
    }
  }

 private:
  std::map<std::string, double> rate_;
  std::map<std::string, bool> has_median_;
};

// Both decoders must decode the whole corpus and agree on every field before anything is timed.
bool validate(const Corpus& c) {
  pg::PgOutputDecoder fast;
  ref::Decoder slow;
  std::map<std::string, std::size_t> counts;
  for (std::size_t i = 0; i < c.messages.size(); ++i) {
    auto a = fast.decode(c.messages[i]);
    auto b = slow.decode(c.messages[i]);
    if (!a || !b) {
      std::fprintf(stderr, "message %zu does not decode: %s\n", i,
                   (!a ? a.error() : b.error()).describe().c_str());
      return false;
    }
    const std::string diff = ref::first_difference(*a, *b);
    if (!diff.empty()) {
      std::fprintf(stderr, "message %zu: decoders disagree: %s\n", i, diff.c_str());
      return false;
    }
    ++counts[std::string(pg::message_name(*a))];
  }
  std::printf("corpus: %s\n  %zu messages, %zu bytes (%.1f bytes/message):", c.source.c_str(), c.messages.size(),
              c.buffer.size(), static_cast<double>(c.buffer.size()) / static_cast<double>(c.messages.size()));
  for (const auto& [name, n] : counts) std::printf(" %s=%zu", name.c_str(), n);
  std::printf("\n");
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--smoke") smoke = true;
  }
  benchmark::Initialize(&argc, argv);
  if (!validate(corpus())) return 1;
  if (smoke) return 0;  // the test: the corpus decodes and both decoders agree; timing is not a test
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
