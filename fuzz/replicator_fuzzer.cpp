// Stream files (transport/frame.hpp) through ReplayTransport into the whole Replicator:
// PgOutputEventDecoder, a batcher, MemoryPositionStore and a sink that formats every event as JSON.
// The input is a stream file, so captured files are seeds as they are. Two runs per input:
//   A: TransactionBatcher from the start; every batch must hold whole transactions;
//   B: a splitting, spilling CombinedBatcher resumed from a stored position, with one injected
//      connection failure and recover() (duplicates allowed, going back is not).
// Checks (replicator_harness.hpp): no crash / UB / leak (fds included); the confirmed position
// never decreases and never passes the last transaction the sink got; every event formats to
// valid JSON; every error is fatal, has a message and names an offset inside the file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "replicator/batch/batcher.hpp"
#include "replicator/transport/frame.hpp"
#include "replicator_harness.hpp"

namespace rf = replicator::fuzz;
using replicator::Lsn;

namespace {

// Spilling exists only with batch/spill.hpp; set it when the options have it.
template <class Options>
void set_memory_limit(Options& o, std::size_t bytes) {
  if constexpr (requires { o.memory_limit_bytes; }) o.memory_limit_bytes = bytes;
}

// The LSN of one of the file's frames (picked by `pick`), as a stored position to resume from.
Lsn some_frame_lsn(const std::vector<std::byte>& bytes, std::size_t pick) {
  replicator::transport::FrameReader reader(bytes);
  std::vector<Lsn> lsns;
  while (!reader.at_end()) {
    auto f = reader.next();
    if (!f) break;
    lsns.push_back(f->lsn);
  }
  return lsns.empty() ? Lsn::invalid() : lsns[pick % lsns.size()];
}

void report(const rf::RunResult& run, const char* which) {
  if (!run.violation.empty()) rf::finding(which, run.violation);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* p = reinterpret_cast<const std::byte*>(data);
  const std::vector<std::byte> bytes(p, p + size);

  {
    auto run =
        rf::run_replay(bytes, replicator::TransactionBatcher({}, rf::whole_transaction_options()), rf::RunOptions{});
    report(run, "run A (TransactionBatcher):");
  }
  {
    replicator::BatcherOptions o;
    o.keep_empty_transactions = (size & 1) != 0;
    o.split_transactions = true;
    set_memory_limit(o, 1024);
    replicator::ByLimits limits;
    limits.max_rows = 3;
    rf::RunOptions ro;
    ro.stored = (size & 2) != 0 ? some_frame_lsn(bytes, size / 4) : Lsn::invalid();
    ro.fail_poll = 2 + size % 5;
    ro.check_shape = false;
    auto run = rf::run_replay(bytes, replicator::CombinedBatcher(limits, o), ro);
    report(run, "run B (CombinedBatcher, split, spill, resume, recover):");
  }
  return 0;
}
