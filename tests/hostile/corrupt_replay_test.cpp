// The captured streams of tests/data, damaged: cut at every frame boundary and inside frames,
// bytes flipped, frames swapped, duplicated and dropped, each run through the whole Replicator
// (fuzz/replicator_harness.hpp). Every run ends cleanly or with a fatal error naming an offset
// in the file at or after the damage; what came before the damage reaches the sink unchanged;
// nothing is ever confirmed past the last complete transaction the sink received.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "replicator/batch/batcher.hpp"
#include "replicator/transport/frame.hpp"
#include "replicator_harness.hpp"
#include "tests/data/corpus.hpp"

namespace {

using replicator::Lsn;
using replicator::TransactionBatcher;
using replicator::fuzz::RunOptions;
using replicator::fuzz::RunResult;
using Bytes = std::vector<std::byte>;

struct FrameRef {
  std::size_t offset = 0;  // of the header
  std::size_t size = 0;    // header + payload
  char tag = 0;
};

std::vector<FrameRef> frames_of(const Bytes& b) {
  replicator::transport::FrameReader r(b);
  std::vector<FrameRef> out;
  while (!r.at_end()) {
    auto f = r.next();
    REQUIRE(f);
    out.push_back({f->offset, replicator::transport::kFrameHeaderSize + f->payload.size(),
                   f->payload.empty() ? '\0' : static_cast<char>(f->payload[0])});
  }
  return out;
}

RunResult run(Bytes bytes) {
  RunOptions o;
  o.trace = true;
  return replicator::fuzz::run_replay(std::move(bytes),
                                      TransactionBatcher({}, replicator::fuzz::whole_transaction_options()), o);
}

// The smallest "offset N" in an error message.
std::size_t first_offset(const std::string& m) {
  std::size_t best = SIZE_MAX;
  for (std::size_t at = m.find("offset "); at != std::string::npos; at = m.find("offset ", at + 1)) {
    std::size_t i = at + 7, v = 0;
    bool digits = false;
    for (; i < m.size() && m[i] >= '0' && m[i] <= '9'; ++i, digits = true)
      v = v * 10 + static_cast<std::size_t>(m[i] - '0');
    if (digits) best = std::min(best, v);
  }
  return best;
}

// The reference run of an undamaged file, and what it had done after k frames.
struct Reference {
  Bytes bytes;
  std::vector<FrameRef> frames;
  RunResult full;
  [[nodiscard]] Lsn flushed_after(std::size_t k) const { return k == 0 ? Lsn{} : full.trace_flushed.at(k - 1); }
  [[nodiscard]] std::string json_after(std::size_t k) const {
    return k == 0 ? std::string{} : full.observed.json.substr(0, full.trace_json.at(k - 1));
  }
};

Reference reference(const std::string& name) {
  Reference ref;
  ref.bytes = replicator::test::read_corpus(name);
  ref.frames = frames_of(ref.bytes);
  ref.full = run(ref.bytes);
  INFO(name << ": " << ref.full.violation << (ref.full.error ? ref.full.error->message : ""));
  REQUIRE(ref.full.violation.empty());
  REQUIRE(ref.full.ended);
  REQUIRE(ref.full.trace_flushed.size() == ref.frames.size() + 1);  // + EndOfStream
  REQUIRE(ref.full.observed.commits > 0);
  return ref;
}

// The frames to damage: all of a small file; in a large one every frame that is not an Insert,
// (with `neighbours`: and the frames beside it), and every 64th (thousands of identical inserts
// add nothing but time).
std::vector<std::size_t> interesting(const std::vector<FrameRef>& frames, bool neighbours = true) {
  std::vector<std::size_t> out;
  for (std::size_t k = 0; k < frames.size(); ++k) {
    const bool near_other =
        (frames[k].tag != 'I') ||
        (neighbours && ((k > 0 && frames[k - 1].tag != 'I') || (k + 1 < frames.size() && frames[k + 1].tag != 'I')));
    if (frames.size() <= 200 || near_other || k % 64 == 0) out.push_back(k);
  }
  return out;
}

// A damaged file needs only a few frames after the damage to show what it does.
constexpr std::size_t kFramesAfterDamage = 48;
Bytes up_to_frame(const Bytes& b, const std::vector<FrameRef>& frames, std::size_t k) {
  const std::size_t end = k < frames.size() ? frames[k].offset : b.size();
  return Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(end));
}

// A damaged run: invariants held, the frames before `first_damaged` went out as before, and an
// error (if any) names the damaged place or a later one.
void check_damaged(const Reference& ref, const RunResult& r, std::size_t first_damaged, const std::string& what) {
  INFO(what);
  INFO("violation: " << r.violation);
  INFO("error: " << (r.error ? r.error->message : std::string("none")));
  REQUIRE(r.violation.empty());
  const std::string before = ref.json_after(first_damaged);
  REQUIRE(r.observed.json.compare(0, before.size(), before) == 0);
  REQUIRE(r.flushed >= ref.flushed_after(first_damaged));
  if (r.error) {
    CHECK_FALSE(r.error->retryable());
    const std::size_t at = first_offset(r.error->message);
    REQUIRE(at != SIZE_MAX);
    CHECK(at >= ref.frames[first_damaged].offset);
  }
}

// The run wrote what the reference wrote after k frames, and at most what it wrote in all (an end
// or an error flushes complete transactions and loose events the reference flushed later).
bool same_output_until(const Reference& ref, const RunResult& r, std::size_t k) {
  const std::string& out = r.observed.json;
  const std::string before = ref.json_after(k);
  return out.compare(0, before.size(), before) == 0 && ref.full.observed.json.compare(0, out.size(), out) == 0;
}

Bytes reassemble(const Bytes& b, const std::vector<FrameRef>& frames, const std::vector<std::size_t>& order) {
  Bytes out;
  for (std::size_t i : order) {
    const auto& f = frames[i];
    out.insert(out.end(), b.begin() + static_cast<std::ptrdiff_t>(f.offset),
               b.begin() + static_cast<std::ptrdiff_t>(f.offset + f.size));
  }
  return out;
}

void cut_everywhere(const std::string& name) {
  const Reference ref = reference(name);
  const auto& frames = ref.frames;
  std::size_t runs = 0;
  for (std::size_t k : interesting(frames)) {
    const FrameRef& f = frames[k];
    // At the boundary before frame k: a clean end after k frames, exactly as far as the reference.
    {
      auto r = run(Bytes(ref.bytes.begin(), ref.bytes.begin() + static_cast<std::ptrdiff_t>(f.offset)));
      INFO(name << " cut before frame " << k << " at " << f.offset << ": " << r.violation);
      REQUIRE(r.violation.empty());
      REQUIRE(r.ended);
      REQUIRE(r.flushed == ref.flushed_after(k));
      REQUIRE(same_output_until(ref, r, k));
      ++runs;
    }
    // Inside frame k: in its header, right after it, and in the middle of the payload.
    for (std::size_t cut :
         {f.offset + 12 + (f.size - 12) / 2, f.offset + 1, f.offset + 5, f.offset + 11, f.offset + 12}) {
      if (cut >= f.offset + f.size) continue;  // an empty payload: the cut would be the boundary
      if (f.tag == 'I' && frames.size() > 200 && cut != f.offset + 12 + (f.size - 12) / 2) continue;
      auto r = run(Bytes(ref.bytes.begin(), ref.bytes.begin() + static_cast<std::ptrdiff_t>(cut)));
      INFO(name << " cut inside frame " << k << " at " << cut << ": " << r.violation);
      REQUIRE(r.violation.empty());
      REQUIRE(r.error);
      CHECK_FALSE(r.error->retryable());
      CHECK_THAT(r.error->message, Catch::Contains("truncated frame at offset " + std::to_string(f.offset)));
      REQUIRE(r.flushed == ref.flushed_after(k));
      REQUIRE(same_output_until(ref, r, k));
      ++runs;
    }
  }
  // The end of the file is a boundary too.
  auto whole = run(ref.bytes);
  REQUIRE(whole.flushed == ref.full.flushed);
  WARN(name << ": " << runs << " truncated runs");
}

}  // namespace

TEST_CASE("Truncated basic.stream: clean at every frame boundary, a typed error inside every frame") {
  cut_everywhere("basic.stream");
}
TEST_CASE("Truncated binary.stream") { cut_everywhere("binary.stream"); }
TEST_CASE("Truncated two_phase.stream") { cut_everywhere("two_phase.stream"); }
TEST_CASE("Truncated streaming.stream") { cut_everywhere("streaming.stream"); }

TEST_CASE("Flipped bytes: a typed error at or after the flip, or a clean run; never past the sink") {
  for (const char* name : {"binary.stream", "basic.stream", "two_phase.stream"}) {
    const Reference ref = reference(name);
    std::size_t runs = 0, errors = 0;
    for (std::size_t k : interesting(ref.frames, false)) {
      const FrameRef& f = ref.frames[k];
      const Bytes head = up_to_frame(ref.bytes, ref.frames, k + kFramesAfterDamage);
      // Every header byte; every payload byte of a small frame, else the first 48 and then every 37th.
      for (std::size_t p = f.offset; p < f.offset + f.size; ++p) {
        const std::size_t in_payload = p - f.offset;
        if (in_payload >= 12 + 48 && f.size > 200 && in_payload % 37 != 0) continue;
        for (std::uint8_t mask : {std::uint8_t{0xFF}, std::uint8_t{0x01}, std::uint8_t{0x80}}) {
          if (std::string(name) != "binary.stream" && mask != 0xFF && in_payload >= 12) continue;
          Bytes b = head;
          b[p] ^= static_cast<std::byte>(mask);
          auto r = run(std::move(b));
          check_damaged(ref, r, k, std::string(name) + " byte " + std::to_string(p) + " ^ " + std::to_string(mask));
          ++runs;
          errors += r.error ? 1 : 0;
        }
      }
    }
    WARN(name << ": " << runs << " runs with a flipped byte, " << errors << " typed errors");
    CHECK(errors > 0);
  }
}

TEST_CASE("Reordered frames: swapped, duplicated and dropped frames never confirm past the sink") {
  for (const char* name : {"basic.stream", "binary.stream", "two_phase.stream", "streaming.stream"}) {
    const Reference ref = reference(name);
    const std::size_t n = ref.frames.size();
    std::vector<std::size_t> identity(n);
    for (std::size_t i = 0; i < n; ++i) identity[i] = i;
    std::size_t runs = 0, errors = 0;
    for (std::size_t k : interesting(ref.frames)) {
      struct Variant {
        const char* kind;
        std::vector<std::size_t> order;
        std::size_t first_damaged;  // the first frame index whose content differs
      };
      std::vector<Variant> variants;
      if (k + 1 < n) {
        variants.push_back({"swap", identity, k});
        std::swap(variants.back().order[k], variants.back().order[k + 1]);
      }
      variants.push_back({"duplicate", identity, std::min(k + 1, n - 1)});  // the copy follows frame k
      variants.back().order.insert(variants.back().order.begin() + static_cast<std::ptrdiff_t>(k), k);
      variants.push_back({"drop", identity, k});
      variants.back().order.erase(variants.back().order.begin() + static_cast<std::ptrdiff_t>(k));
      for (auto& v : variants) {
        if (v.order.size() > k + kFramesAfterDamage) v.order.resize(k + kFramesAfterDamage);
        auto r = run(reassemble(ref.bytes, ref.frames, v.order));
        check_damaged(ref, r, v.first_damaged, std::string(name) + " " + v.kind + " frame " + std::to_string(k));
        ++runs;
        errors += r.error ? 1 : 0;
      }
    }
    WARN(name << ": " << runs << " reordered runs, " << errors << " typed errors");
    CHECK(errors > 0);
  }
}
