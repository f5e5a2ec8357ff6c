// The benchmarks' corpora of pgoutput messages: a captured stream file (BENCH_CORPUS=path, as
// written by //tools:capture), or built in: a mixed workload shaped like scripts/bench.sh's SQL,
// and a wide-row one (16 columns of common types per row). stream_file() lays a corpus out as a
// stream file for ReplayTransport (the pipeline benchmark).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgoutput_samples.hpp"
#include "replicator/transport/frame.hpp"

namespace replicator::bench {

using replicator::fuzz::MessageWriter;

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
inline Corpus synthetic_corpus() {
  using namespace replicator::fuzz::samples;
  CorpusBuilder b;
  std::uint32_t xid = 1000;
  // Begin / Commit with advancing LSNs, as a server sends them (the pipeline benchmark confirms them).
  std::uint64_t lsn = kLsn;
  auto begin = [&] { b.add(std::move(MessageWriter('B').u64(lsn + 0x1000).i64(kTime).u32(++xid)).bytes()); };
  auto commit = [&] {
    b.add(std::move(MessageWriter('C').u8(0).u64(lsn + 0x1000).u64(lsn + 0x1030).i64(kTime)).bytes());
    lsn += 0x1100;
  };
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
    if (note.empty()) w.null();
    else w.text(note);
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
    b.add(std::move(
              MessageWriter('D').u32(16384).u8('K').u16(6).text(std::to_string(i)).null().null().null().null().null())
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

// 16 columns per row (int, bigint, text, numeric, timestamptz, bool, uuid, jsonb, float8, date,
// varchar, int2, bytea as hex text, text[], inet, text): the decoder's cost per column, not per message.
inline Corpus wide_corpus() {
  using namespace replicator::fuzz::samples;
  CorpusBuilder b;
  std::uint32_t xid = 5000;
  std::uint64_t lsn = kLsn;
  const char* names[] = {"id",    "account", "name", "balance", "updated_at", "active", "ref",  "attrs",
                         "score", "born",    "code", "rank",    "blob",       "tags",   "addr", "comment"};
  const std::uint32_t types[] = {23, 20, 25, 1700, 1184, 16, 2950, 3802, 701, 1082, 1043, 21, 17, 1009, 869, 25};
  MessageWriter r('R');
  r.u32(16400).cstr("public").cstr("wide_rows").u8('d').u16(16);
  for (int i = 0; i < 16; ++i) r.u8(i == 0 ? 1 : 0).cstr(names[i]).u32(types[i]).u32(0xFFFFFFFF);
  b.add(std::move(r).bytes());
  for (int t = 0; t < 2000; ++t) {
    b.add(std::move(MessageWriter('B').u64(lsn + 0x8000).i64(kTime).u32(++xid)).bytes());
    for (int k = 0; k < 10; ++k) {
      const int id = t * 10 + k;
      const std::string sid = std::to_string(id);
      MessageWriter w('I');
      w.u32(16400).u8('N').u16(16);
      w.text(sid).text(std::to_string(9'000'000'000LL + id)).text("Customer \"" + sid + "\" Ltd.");
      w.text(std::to_string(id % 100000) + ".4200").text("2026-11-25 16:30:51.123456+00");
      w.text(id % 2 ? "t" : "f")
          .text("0b5c3f4e-8a5e-4c62-9f1b-3d2a" + std::string(8 - std::min<std::size_t>(8, sid.size()), '0') + sid);
      w.text("{\"plan\": \"pro\", \"seats\": " + std::to_string(id % 50) + ", \"tags\": [\"a\", \"b\"]}");
      w.text("0.3333333333333333").text("1990-01-0" + std::to_string(1 + id % 9)).text("EU-" + sid);
      w.text(std::to_string(id % 32000)).text("\\x0102030405060708090a0b0c0d0e0f");
      w.text("{red,green,\"dark blue\"}").text("10.0." + std::to_string(id % 256) + ".1/32");
      if (id % 4 == 0) w.null();
      else w.text("line one\nline two\ttabbed");
      b.add(std::move(w).bytes());
    }
    b.add(std::move(MessageWriter('C').u8(0).u64(lsn + 0x8000).u64(lsn + 0x8030).i64(kTime)).bytes());
    lsn += 0x8100;
  }
  return std::move(b).finish("synthetic wide rows, 16 columns (bench/corpus.hpp)");
}

inline Corpus load_stream_file(const char* path) {
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

inline const Corpus& corpus() {
  static const Corpus c = [] {
    const char* path = std::getenv("BENCH_CORPUS");
    return path != nullptr && *path != '\0' ? load_stream_file(path) : synthetic_corpus();
  }();
  return c;
}

// A corpus as a stream file (frames with advancing LSNs) for ReplayTransport.
inline std::vector<std::byte> stream_file(const Corpus& c) {
  std::vector<std::byte> out;
  out.reserve(c.buffer.size() + c.messages.size() * transport::kFrameHeaderSize);
  transport::FrameWriter w(out);
  std::uint64_t lsn = 0x16B3748;
  for (auto m : c.messages) {
    (void)w.write(Lsn{lsn}, m);
    lsn += m.size();
  }
  return out;
}

}  // namespace replicator::bench
