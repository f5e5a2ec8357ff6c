// Writes the seed corpora: hand-made messages of every type (pgoutput_samples.hpp), LSN texts,
// position files and, for each stream file given, every captured message as its own seed (with a
// Stream Start in front when it was sent inside a streamed transaction, so the seed decodes the
// way the server meant it). The value and COPY seeds come from a server: fuzz/capture_seeds.sh.
//   bazel run //fuzz:make_seeds -- $PWD/fuzz/corpus [tests/data/*.stream ...]
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "pgoutput_samples.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "replicator/position/file.hpp"

namespace fs = std::filesystem;
using replicator::fuzz::append_framed;
using replicator::fuzz::MessageWriter;
using replicator::fuzz::Sample;

namespace {

void write(const fs::path& dir, const std::string& name, const std::vector<std::byte>& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::byte> bytes_of(std::string_view text) {
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  return {p, p + text.size()};
}

std::vector<std::byte> framed(std::initializer_list<std::span<const std::byte>> msgs) {
  std::vector<std::byte> out;
  for (auto m : msgs) append_framed(out, m);
  return out;
}

std::vector<std::byte> xlogdata(std::uint64_t lsn, std::span<const std::byte> payload) {
  MessageWriter w('w');
  w.u64(lsn).u64(lsn + payload.size()).i64(817'000'000'000'000);
  std::vector<std::byte> out = std::move(w).bytes();
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// Frames of a stream file: u32 BE payload length, u64 BE LSN, payload.
struct Frame {
  std::uint64_t lsn;
  std::vector<std::byte> payload;
};
std::vector<Frame> read_stream_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<Frame> frames;
  std::size_t pos = 0;
  while (b.size() - pos >= 12) {
    std::uint32_t len = 0;
    std::uint64_t lsn = 0;
    for (int i = 0; i < 4; ++i) len = (len << 8) | b[pos + i];
    for (int i = 0; i < 8; ++i) lsn = (lsn << 8) | b[pos + 4 + i];
    pos += 12;
    if (len > b.size() - pos) break;
    const auto* p = reinterpret_cast<const std::byte*>(b.data() + pos);
    frames.push_back({lsn, std::vector<std::byte>(p, p + len)});
    pos += len;
  }
  return frames;
}

void append_frame(std::vector<std::byte>& out, std::uint64_t lsn, std::span<const std::byte> payload) {
  MessageWriter h;
  h.u32(static_cast<std::uint32_t>(payload.size())).u64(lsn);
  out.insert(out.end(), h.bytes().begin(), h.bytes().end());
  out.insert(out.end(), payload.begin(), payload.end());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_ROOT [STREAM_FILE...]\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  const auto seq = replicator::fuzz::sample_sequence();

  // Message sequences: each sample alone (with Stream Start first when it belongs in a stream),
  // and the whole sequence in one input.
  const auto start = replicator::fuzz::samples::stream_start(true);
  replicator::pgoutput::PgOutputDecoder state;
  std::vector<std::byte> all;
  std::vector<std::byte> all_wrapped;
  std::uint64_t lsn = 0x16B3748;
  for (const Sample& s : seq) {
    const bool in_stream = state.in_stream();
    (void)state.decode(std::span<const std::byte>(s.bytes));
    const auto seed = in_stream ? framed({start, s.bytes}) : framed({s.bytes});
    for (const char* target : {"pgoutput_decoder", "differential"}) write(root / target, "sample_" + s.name, seed);
    auto w = xlogdata(lsn, s.bytes);
    write(root / "copy_data", "sample_" + s.name, in_stream ? framed({xlogdata(lsn - 8, start), w}) : framed({w}));
    append_framed(all, s.bytes);
    append_framed(all_wrapped, w);
    lsn += s.bytes.size();
  }
  for (const char* target : {"pgoutput_decoder", "differential"}) write(root / target, "sequence_all_samples", all);
  {
    std::vector<std::byte> file;  // the samples as a stream file
    std::uint64_t at = 0x16B3748;
    for (const Sample& s : seq) append_frame(file, at += 0x40, s.bytes);
    write(root / "frame_reader", "samples.stream", file);
    write(root / "replicator", "samples.stream", file);
    file.resize(file.size() - 3);
    write(root / "frame_reader", "samples_truncated.stream", file);
    write(root / "frame_reader", "empty.stream", {});
  }
  write(root / "copy_data", "sequence_all_samples", all_wrapped);
  for (int reply : {0, 1}) {
    auto k = std::move(MessageWriter('k').u64(0x16B3748).i64(817'000'000'000'000).u8(static_cast<std::uint8_t>(reply)))
                 .bytes();
    write(root / "copy_data", "keepalive_" + std::to_string(reply), framed({k}));
  }

  int n = 0;
  for (const char* text : {"0/0", "16/B374D848", "0/16B3748", "FFFFFFFF/FFFFFFFF", "a/b", "00000000/00000001", "1/0",
                           "123456789/0", "0/", "/0", "G/0", "1/2/3", " 0/0"}) {
    const std::string_view t(text);
    write(root / "lsn", "lsn_" + std::to_string(n++),
          std::vector<std::byte>(reinterpret_cast<const std::byte*>(t.data()),
                                 reinterpret_cast<const std::byte*>(t.data()) + t.size()));
  }

  // Position files as FilePositionStore::save writes them, plus one damaged and one truncated.
  {
    using namespace std::chrono;
    const replicator::Position positions[] = {
        {replicator::Lsn{0x16B3748}, 1, "my_slot", 7300000000000000000ULL,
         system_clock::time_point(microseconds(1764088251123456))},
        {replicator::Lsn{}, 0, "", 0, system_clock::time_point{}},
        {replicator::Lsn{~0ULL}, ~0U, std::string(63, 'z'), ~0ULL, system_clock::time_point(microseconds(-1))},
    };
    fs::create_directories(root / "position_file");
    int n = 0;
    for (const auto& p : positions) {
      replicator::FilePositionStore store((root / "position_file" / ("saved_" + std::to_string(n++))).string());
      if (auto st = store.save(p); !st) {
        std::fprintf(stderr, "%s\n", st.error().message.c_str());
        return 1;
      }
    }
    std::string text = replicator::FilePositionStore::format(positions[0]);
    text[text.find("lsn=") + 4] = '1';
    write(root / "position_file", "damaged", bytes_of(text));
    text = replicator::FilePositionStore::format(positions[0]);
    text.resize(text.size() - 3);
    write(root / "position_file", "truncated", bytes_of(text));
  }

  // Captured stream files: one seed per distinct message, and each whole file as a frame seed.
  for (int i = 2; i < argc; ++i) {
    std::set<std::string> seen;
    std::map<char, int> per_tag;
    const fs::path file = argv[i];
    const auto frames = read_stream_file(file);
    replicator::pgoutput::PgOutputDecoder d;
    std::vector<std::byte> stream_start;  // the last Stream Start, to put in front of streamed messages
    int index = 0;
    for (const Frame& f : frames) {
      const bool in_stream = d.in_stream();
      auto m = d.decode(std::span<const std::byte>(f.payload));
      if (m && std::holds_alternative<replicator::pgoutput::StreamStartView>(*m)) stream_start = f.payload;
      if (f.payload.size() > 0xFFFF || f.payload.empty()) continue;  // does not fit the u16 framing
      // One seed per message shape (type, streamed or not, size), at most 25 per type and file:
      // a bulk insert of 1000 rows adds a few seeds, not 1000.
      const auto tag = static_cast<char>(f.payload[0]);
      std::string shape = std::string(1, tag) + (in_stream ? "s" : "") + std::to_string(f.payload.size());
      if (!seen.insert(std::move(shape)).second) continue;
      if (++per_tag[tag] > 25) continue;
      const std::string name = file.stem().string() + "_" + std::to_string(index++);
      const auto seed = in_stream ? framed({stream_start, f.payload}) : framed({f.payload});
      for (const char* target : {"pgoutput_decoder", "differential"}) write(root / target, name, seed);
      write(root / "copy_data", name,
            in_stream ? framed({xlogdata(f.lsn, stream_start), xlogdata(f.lsn, f.payload)})
                      : framed({xlogdata(f.lsn, f.payload)}));
    }
    // Stream-file seeds for the frame reader: windows of 16 frames (small inputs fuzz faster).
    // At most 24 windows per file, spread over it.
    const std::size_t windows = (frames.size() + 15) / 16;
    const std::size_t step = windows > 24 ? (windows + 23) / 24 : 1;
    for (std::size_t w = 0; w * 16 < frames.size(); w += step) {
      std::vector<std::byte> chunk;
      for (std::size_t k = w * 16; k < std::min(frames.size(), (w + 1) * 16); ++k) {
        if (frames[k].payload.size() <= 0xFFFF) append_frame(chunk, frames[k].lsn, frames[k].payload);
      }
      write(root / "frame_reader", file.stem().string() + "_frames_" + std::to_string(w), chunk);
    }
    // Seeds for the whole-Replicator fuzzer: two consecutive transactions (a long one cut to its
    // first 20 frames and its last) after the Relation / Type frames sent before them outside
    // stream blocks, so their rows decode. At most 24 per file, spread over it.
    {
      auto tag = [&](std::size_t k) {
        return frames[k].payload.empty() ? '\0' : static_cast<char>(frames[k].payload[0]);
      };
      struct Unit {
        std::size_t first, last;
      };
      std::vector<Unit> units;
      std::vector<std::size_t> prelude;  // Relation / Type frames outside stream blocks
      for (std::size_t k = 0; k < frames.size(); ++k) {
        const char t = tag(k);
        if (t == 'R' || t == 'Y') {
          prelude.push_back(k);
          continue;
        }
        const char end = t == 'B' ? 'C' : t == 'S' ? 'E' : t == 'b' ? 'P' : '\0';
        std::size_t e = k;
        if (end != '\0') {
          while (e + 1 < frames.size() && tag(e) != end) ++e;
        }
        units.push_back({k, e});
        k = e;
      }
      auto add_unit = [&](std::vector<std::byte>& out, const Unit& u) {
        for (std::size_t k = u.first; k <= u.last; ++k) {
          if (k - u.first >= 20 && k != u.last) continue;
          if (frames[k].payload.size() <= 0xFFFF) append_frame(out, frames[k].lsn, frames[k].payload);
        }
      };
      const std::size_t step = units.size() > 24 ? (units.size() + 23) / 24 : 1;
      for (std::size_t u = 0; u < units.size(); u += step) {
        std::vector<std::byte> seed;
        for (std::size_t k : prelude) {
          if (k < units[u].first) append_frame(seed, frames[k].lsn, frames[k].payload);
        }
        add_unit(seed, units[u]);
        if (u + 1 < units.size()) add_unit(seed, units[u + 1]);
        write(root / "replicator", file.stem().string() + "_txns_" + std::to_string(u), seed);
      }
    }
    std::printf("%s: %zu frames, %d distinct message seeds\n", file.c_str(), frames.size(), index);
  }
  std::printf("seeds written under %s\n", root.c_str());
  return 0;
}
