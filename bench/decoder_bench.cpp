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

#include "bench/corpus.hpp"
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
using replicator::bench::Corpus;
using replicator::bench::corpus;

namespace {

// What a consumer does with each message: reads every column's kind and length.
struct ViewConsumer {
  std::size_t sum = 0;
  void tuple(const pg::TupleView& t) {
    for (pg::ColumnValueView v : t) sum += static_cast<std::size_t>(v.kind) + v.bytes.size();
  }
  void operator()(const pg::InsertView& m) { tuple(m.new_tuple); }
  void operator()(const pg::UpdateView& m) {
    tuple(m.old_tuple);
    tuple(m.new_tuple);
  }
  void operator()(const pg::DeleteView& m) { tuple(m.old_tuple); }
  void operator()(const pg::RelationView& m) {
    for (pg::RelationColumnView c : m.columns) sum += c.name.size() + c.type_oid;
  }
  template <class Other>
  void operator()(const Other&) {
    sum += 1;
  }
};
struct RefConsumer {
  std::size_t sum = 0;
  void tuple(const ref::Tuple& t) {
    for (const ref::Column& c : t) sum += static_cast<std::size_t>(c.kind) + c.value.size();
  }
  void operator()(const ref::Insert& m) { tuple(m.new_tuple); }
  void operator()(const ref::Update& m) {
    tuple(m.old_tuple);
    tuple(m.new_tuple);
  }
  void operator()(const ref::Delete& m) { tuple(m.old_tuple); }
  void operator()(const ref::Relation& m) {
    for (const ref::RelationColumn& c : m.columns) sum += c.name.size() + c.type_oid;
  }
  template <class Other>
  void operator()(const Other&) {
    sum += 1;
  }
};

void set_counters(benchmark::State& state, std::size_t allocations, const Corpus& c = corpus()) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * c.buffer.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * c.messages.size()));
  state.counters["allocs_per_msg"] =
      static_cast<double>(allocations) / static_cast<double>(state.iterations() * c.messages.size());
}

void zero_copy_decode(benchmark::State& state, const Corpus& c) {
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
  set_counters(state, g_allocations - before, c);
}

void ZeroCopyDecode(benchmark::State& state) { zero_copy_decode(state, corpus()); }

// Rows of 16 columns: the cost per column once per-message overhead is spread thinner.
void ZeroCopyDecodeWide(benchmark::State& state) {
  static const Corpus wide = replicator::bench::wide_corpus();
  zero_copy_decode(state, wide);
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
BENCHMARK(ZeroCopyDecodeWide);
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
      if (get(other) > 0)
        std::printf("  ratio to %-16s %.3f  (%s: %.2f GB/s)\n", other, zc / get(other), other, get(other) / 1e9);
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
      std::fprintf(stderr, "message %zu does not decode: %s\n", i, (!a ? a.error() : b.error()).describe().c_str());
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
  if (!validate(corpus()) || !validate(replicator::bench::wide_corpus())) return 1;
  if (smoke) return 0;  // the test: the corpus decodes and both decoders agree; timing is not a test
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
