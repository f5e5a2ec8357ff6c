// The client's whole cost per change without a server: a stream file replayed through
// Replicator<ReplayTransport, PgOutputEventDecoder, CombinedBatcher, MemoryPositionStore, Sink>,
// the same composition as the program's minus the socket, so what the live path spends beyond
// this is the transport's (scripts/bench_live.sh measures that). In one run:
//   PipelineJsonToMemory      JSON lines formatted into a buffer that is dropped at each flush
//   PipelineDebeziumToMemory  the same with Debezium's envelope
//   PipelineJsonLinesDevNull  the real JsonLinesSink writing to /dev/null (write(2) per 1 MiB)
//   FormatJsonOnly            ChangeJsonFormatter over the already decoded events (no decode, no batch)
//   DecodeOnly                PgOutputEventDecoder alone, events counted (the floor under the rest)
// Counters: items_per_second = pgoutput messages, bytes_per_second = pgoutput payload bytes,
// changes (events) per message, output bytes per message. BENCH_CORPUS=path uses a captured
// stream file (scripts/bench.sh writes one); otherwise bench/corpus.hpp's synthetic mix.
//   bazel run -c opt --config=opt //bench:pipeline_bench -- --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bench/corpus.hpp"
#include "replicator/batch/batcher.hpp"
#include "replicator/format/debezium.hpp"
#include "replicator/format/json.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/json_lines.hpp"
#include "replicator/transport/replay.hpp"

namespace {

using namespace replicator;

// The stream file: BENCH_CORPUS as captured (its real LSNs), or the synthetic corpus framed.
const std::vector<std::byte>& stream_bytes() {
  static const std::vector<std::byte> bytes = [] {
    const char* path = std::getenv("BENCH_CORPUS");
    if (path == nullptr || *path == '\0') return bench::stream_file(bench::corpus());
    std::ifstream in(path, std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto* p = reinterpret_cast<const std::byte*>(raw.data());
    return std::vector<std::byte>(p, p + raw.size());
  }();
  return bytes;
}

// Formats every event of a batch into one buffer, as the JSON lines sink does, and forgets it at
// flush: the sink's CPU cost without a descriptor.
template <class Formatter>
class MemoryLinesSink {
 public:
  explicit MemoryLinesSink(Formatter f = {}) : formatter_(std::move(f)) { out_.reserve(2 << 20); }
  Status write(const Batch& batch) {
    for (const ChangeEvent& e : batch.events())
      if (auto st = formatter_.lines(out_, e); !st) return st;
    return ok_status();
  }
  Status flush() {
    bytes_ += out_.size();
    out_.clear();
    return ok_status();
  }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

 private:
  Formatter formatter_;
  std::string out_;
  std::size_t bytes_ = 0;
};

struct Totals {
  std::size_t messages = 0, payload = 0, events = 0, output = 0;
};

// One replay of the whole file through a Replicator with `sink`; the program's batch limits.
template <class Sink>
Result<Totals, ReplicationError> replay(Sink sink) {
  ByLimits limits;
  limits.max_rows = 1000;
  limits.max_bytes = 1 << 20;
  limits.max_age = std::chrono::milliseconds(100);
  ReplicatorOptions ro;
  ro.slot_name = "bench";
  ro.reconnect = std::nullopt;
  Replicator r(transport::ReplayTransport(stream_bytes()), pgoutput::PgOutputEventDecoder{},
               CombinedBatcher(limits, BatcherOptions{}), MemoryPositionStore{}, std::move(sink), std::move(ro));
  std::atomic<bool> stop{false};
  if (auto st = r.run(stop); !st) return st.error();
  Totals t{r.stats().messages, r.stats().bytes_received, r.stats().events_written, 0};
  if constexpr (requires { r.sink().bytes(); }) t.output = r.sink().bytes();
  return t;
}

template <class Sink>
Totals replay_or_skip(Sink sink, benchmark::State& state) {
  auto t = replay(std::move(sink));
  if (!t) {
    state.SkipWithError(t.error().message.c_str());
    return {};
  }
  return *t;
}

void set_counters(benchmark::State& state, const Totals& t) {
  if (t.messages == 0) return;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * t.messages));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * t.payload));
  state.counters["events_per_msg"] = static_cast<double>(t.events) / static_cast<double>(t.messages);
  if (t.output != 0)
    state.counters["out_bytes_per_msg"] = static_cast<double>(t.output) / static_cast<double>(t.messages);
}

void PipelineJsonToMemory(benchmark::State& state) {
  Totals t;
  for (auto _ : state) t = replay_or_skip(MemoryLinesSink<format::ChangeJsonFormatter>{}, state);
  set_counters(state, t);
}

void PipelineDebeziumToMemory(benchmark::State& state) {
  Totals t;
  for (auto _ : state) t = replay_or_skip(MemoryLinesSink<format::DebeziumFormatter>{}, state);
  set_counters(state, t);
}

void PipelineJsonLinesDevNull(benchmark::State& state) {
  Totals t;
  for (auto _ : state) {
    const int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    t = replay_or_skip(JsonLinesSink(fd, /*owns_fd=*/true, /*sync=*/false), state);
  }
  set_counters(state, t);
}

// The decoded events of the whole file, kept with the decoder that owns their relations.
struct DecodedEvents {
  transport::ReplayTransport transport{stream_bytes()};  // the payloads the events point into
  pgoutput::PgOutputEventDecoder decoder;
  std::vector<ChangeEvent> events;
  std::size_t messages = 0, payload = 0;
};

const DecodedEvents& decoded() {
  static DecodedEvents* d = [] {
    auto* out = new DecodedEvents;
    transport::ReplayTransport& t = out->transport;
    (void)t.start(Lsn::invalid());
    while (auto ev = t.poll(std::chrono::milliseconds(0))) {
      const auto* wal = std::get_if<WalMessage>(&*ev);
      if (wal == nullptr) break;  // EndOfStream
      ++out->messages;
      out->payload += wal->payload.size();
      // Views stay valid: payloads point into the kept transport's bytes, relations into the decoder.
      (void)out->decoder.decode(*wal, [&](const ChangeEvent& e) -> Status {
        out->events.push_back(e);
        return ok_status();
      });
    }
    return out;
  }();
  return *d;
}

void FormatJsonOnly(benchmark::State& state) {
  const DecodedEvents& d = decoded();
  format::ChangeJsonFormatter f;
  std::string out;
  out.reserve(2 << 20);
  std::size_t bytes = 0;
  for (auto _ : state) {
    for (const ChangeEvent& e : d.events) {
      (void)f.lines(out, e);
      if (out.size() > (1 << 20)) {
        bytes += out.size();
        out.clear();
      }
    }
    bytes += out.size();
    out.clear();
  }
  benchmark::DoNotOptimize(bytes);
  set_counters(state, {d.messages, d.payload, d.events.size(), bytes / std::max<std::size_t>(1, state.iterations())});
}

void DecodeOnly(benchmark::State& state) {
  std::size_t events = 0;
  Totals t;
  for (auto _ : state) {
    transport::ReplayTransport tr(stream_bytes());
    (void)tr.start(Lsn::invalid());
    pgoutput::PgOutputEventDecoder decoder;
    t = {};
    while (auto ev = tr.poll(std::chrono::milliseconds(0))) {
      const auto* wal = std::get_if<WalMessage>(&*ev);
      if (wal == nullptr) break;
      ++t.messages;
      t.payload += wal->payload.size();
      (void)decoder.decode(*wal, [&](const ChangeEvent&) -> Status {
        ++events;
        return ok_status();
      });
    }
    t.events = events;
    events = 0;
  }
  set_counters(state, t);
}

BENCHMARK(PipelineJsonToMemory)->Unit(benchmark::kMillisecond);
BENCHMARK(PipelineDebeziumToMemory)->Unit(benchmark::kMillisecond);
BENCHMARK(PipelineJsonLinesDevNull)->Unit(benchmark::kMillisecond);
BENCHMARK(FormatJsonOnly)->Unit(benchmark::kMillisecond);
BENCHMARK(DecodeOnly)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--smoke") smoke = true;
  benchmark::Initialize(&argc, argv);
  if (smoke) {
    // The test (nothing timed): the pipeline runs over the whole corpus in each composition and
    // every decoded change reaches the sink (the JSON sink also writes Begin/Commit lines).
    const DecodedEvents& d = decoded();
    auto json = replay(MemoryLinesSink<format::ChangeJsonFormatter>{});
    auto dbz = replay(MemoryLinesSink<format::DebeziumFormatter>{});
    auto devnull = replay(JsonLinesSink(::open("/dev/null", O_WRONLY | O_CLOEXEC), true, false));
    for (const auto* r : {&json, &dbz, &devnull}) {
      if (!*r) {
        std::fprintf(stderr, "pipeline failed: %s\n", r->error().message.c_str());
        return 1;
      }
    }
    std::printf("pipeline corpus: %zu messages, %zu events decoded, %zu written, %zu JSON bytes\n", d.messages,
                d.events.size(), json->events, json->output);
    const bool ok = !d.events.empty() && json->messages == d.messages && json->events == d.events.size() &&
                    dbz->events == d.events.size() && devnull->events == d.events.size() && json->output > 0;
    return ok ? 0 : 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
