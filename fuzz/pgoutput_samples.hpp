// Hand-made pgoutput messages of every type, for seed corpora, the allocation test and the
// synthetic benchmark corpus, built with tests/support/pgoutput_writer.hpp's MessageWriter.
//   auto bytes = MessageWriter('I').u32(16384).u8('N').u16(1).text("42").bytes();
//   for (const Sample& s : sample_sequence()) decoder.decode(std::span(s.bytes));
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/pgoutput_writer.hpp"

namespace replicator::fuzz {

using test::MessageWriter;

struct Sample {
  std::string name;  // e.g. "insert", "stream_insert"
  std::vector<std::byte> bytes;
};

namespace samples {
inline constexpr std::uint32_t kRelation = 16384;
inline constexpr std::uint32_t kOtherRelation = 16390;
inline constexpr std::uint32_t kXid = 740;
inline constexpr std::uint32_t kStreamXid = 901;
inline constexpr std::uint64_t kLsn = 0x16B3748;
inline constexpr std::int64_t kTime = 817'000'000'000'000;  // 2025-11-21 as microseconds since 2000

inline std::vector<std::byte> relation(bool in_stream, std::uint32_t oid = kRelation) {
  MessageWriter w('R');
  if (in_stream) w.u32(kStreamXid);
  w.u32(oid).cstr("public").cstr("accounts").u8('d').u16(4);
  w.u8(1).cstr("id").u32(23).u32(0xFFFFFFFF);
  w.u8(0).cstr("name").u32(25).u32(0xFFFFFFFF);
  w.u8(0).cstr("payload").u32(17).u32(0xFFFFFFFF);
  w.u8(0).cstr("price").u32(1700).u32(655366);  // numeric(10,2)
  return std::move(w).bytes();
}
inline std::vector<std::byte> type(bool in_stream) {
  MessageWriter w('Y');
  if (in_stream) w.u32(kStreamXid);
  return std::move(w.u32(16400).cstr("public").cstr("mood")).bytes();
}
inline std::vector<std::byte> insert(bool in_stream, std::string_view id, std::string_view name) {
  MessageWriter w('I');
  if (in_stream) w.u32(kStreamXid);
  w.u32(kRelation).u8('N').u16(4).text(id).text(name).binary(std::string_view("\x00\x01\xff", 3)).null();
  return std::move(w).bytes();
}
inline std::vector<std::byte> update_key(bool in_stream) {
  MessageWriter w('U');
  if (in_stream) w.u32(kStreamXid);
  w.u32(kRelation).u8('K').u16(4).text("1").null().null().null();
  w.u8('N').u16(4).text("2").text("renamed").unchanged_toast().text("9.50");
  return std::move(w).bytes();
}
inline std::vector<std::byte> update_full(bool in_stream) {
  MessageWriter w('U');
  if (in_stream) w.u32(kStreamXid);
  w.u32(kRelation).u8('O').u16(4).text("2").text("renamed").binary("old").text("9.50");
  w.u8('N').u16(4).text("2").text("again").binary("new").null();
  return std::move(w).bytes();
}
inline std::vector<std::byte> update_plain(bool in_stream) {
  MessageWriter w('U');
  if (in_stream) w.u32(kStreamXid);
  w.u32(kRelation).u8('N').u16(4).text("3").text("x").unchanged_toast().text("1.00");
  return std::move(w).bytes();
}
inline std::vector<std::byte> delete_key(bool in_stream) {
  MessageWriter w('D');
  if (in_stream) w.u32(kStreamXid);
  return std::move(w.u32(kRelation).u8('K').u16(4).text("3").null().null().null()).bytes();
}
inline std::vector<std::byte> delete_full(bool in_stream) {
  MessageWriter w('D');
  if (in_stream) w.u32(kStreamXid);
  return std::move(w.u32(kRelation).u8('O').u16(4).text("4").text("gone").binary("").text("0.00")).bytes();
}
inline std::vector<std::byte> truncate(bool in_stream) {
  MessageWriter w('T');
  if (in_stream) w.u32(kStreamXid);
  return std::move(w.u32(2).u8(3).u32(kRelation).u32(kOtherRelation)).bytes();
}
inline std::vector<std::byte> message(bool in_stream, bool transactional) {
  MessageWriter w('M');
  if (in_stream) w.u32(kStreamXid);
  w.u8(transactional ? 1 : 0).u64(kLsn + 0x100).cstr("audit");
  w.u32(5).raw(std::string_view("he\0lo", 5));
  return std::move(w).bytes();
}
inline std::vector<std::byte> begin() {
  return std::move(MessageWriter('B').u64(kLsn + 0x200).i64(kTime).u32(kXid)).bytes();
}
inline std::vector<std::byte> commit() {
  return std::move(MessageWriter('C').u8(0).u64(kLsn + 0x200).u64(kLsn + 0x230).i64(kTime)).bytes();
}
inline std::vector<std::byte> origin() {
  return std::move(MessageWriter('O').u64(kLsn + 0x180).cstr("node_a")).bytes();
}
inline std::vector<std::byte> stream_start(bool first) {
  return std::move(MessageWriter('S').u32(kStreamXid).u8(first ? 1 : 0)).bytes();
}
inline std::vector<std::byte> stream_stop() { return std::move(MessageWriter('E')).bytes(); }
inline std::vector<std::byte> stream_commit() {
  return std::move(MessageWriter('c').u32(kStreamXid).u8(0).u64(kLsn + 0x900).u64(kLsn + 0x930).i64(kTime + 5)).bytes();
}
inline std::vector<std::byte> stream_abort(bool with_abort_info) {
  MessageWriter w('A');
  w.u32(kStreamXid).u32(kStreamXid + 1);
  if (with_abort_info) w.u64(kLsn + 0x950).i64(kTime + 6);
  return std::move(w).bytes();
}
inline std::vector<std::byte> begin_prepare() {
  return std::move(MessageWriter('b').u64(kLsn + 0xA00).u64(kLsn + 0xA40).i64(kTime + 7).u32(kXid + 1).cstr("gid-1"))
      .bytes();
}
inline std::vector<std::byte> prepare(char tag) {
  return std::move(
             MessageWriter(tag).u8(0).u64(kLsn + 0xA00).u64(kLsn + 0xA40).i64(kTime + 7).u32(kXid + 1).cstr("gid-1"))
      .bytes();
}
inline std::vector<std::byte> commit_prepared() {
  return std::move(
             MessageWriter('K').u8(0).u64(kLsn + 0xB00).u64(kLsn + 0xB40).i64(kTime + 8).u32(kXid + 1).cstr("gid-1"))
      .bytes();
}
inline std::vector<std::byte> rollback_prepared() {
  return std::move(MessageWriter('r')
                       .u8(0)
                       .u64(kLsn + 0xA40)
                       .u64(kLsn + 0xC40)
                       .i64(kTime + 7)
                       .i64(kTime + 9)
                       .u32(kXid + 2)
                       .cstr("gid-2"))
      .bytes();
}
}  // namespace samples

// A sequence a stateful decoder accepts in order, with every message type and variant
// (old key / old row / no old tuple, null / unchanged TOAST / text / binary, streamed and not).
inline std::vector<Sample> sample_sequence() {
  using namespace samples;
  std::vector<Sample> s;
  auto add = [&](std::string name, std::vector<std::byte> bytes) { s.push_back({std::move(name), std::move(bytes)}); };
  add("relation", relation(false));
  add("type", type(false));
  add("begin", begin());
  add("origin", origin());
  add("insert", insert(false, "1", "alice"));
  add("insert_empty_tuple", std::move(MessageWriter('I').u32(kRelation).u8('N').u16(0)).bytes());
  add("update_key", update_key(false));
  add("update_full", update_full(false));
  add("update_plain", update_plain(false));
  add("delete_key", delete_key(false));
  add("delete_full", delete_full(false));
  add("truncate", truncate(false));
  add("message_transactional", message(false, true));
  add("commit", commit());
  add("message_plain", message(false, false));
  add("stream_start_first", stream_start(true));
  add("stream_relation", relation(true));
  add("stream_type", type(true));
  add("stream_insert", insert(true, "10", "streamed"));
  add("stream_update_key", update_key(true));
  add("stream_update_full", update_full(true));
  add("stream_update_plain", update_plain(true));
  add("stream_delete_key", delete_key(true));
  add("stream_delete_full", delete_full(true));
  add("stream_truncate", truncate(true));
  add("stream_message", message(true, true));
  add("stream_stop", stream_stop());
  add("stream_start_next", stream_start(false));
  add("stream_insert_2", insert(true, "11", "more"));
  add("stream_stop_2", stream_stop());
  add("stream_abort_subxact", stream_abort(false));
  add("stream_abort_v4", stream_abort(true));
  add("stream_commit", stream_commit());
  add("begin_prepare", begin_prepare());
  add("prepared_insert", insert(false, "20", "prepared"));
  add("prepare", prepare('P'));
  add("commit_prepared", commit_prepared());
  add("rollback_prepared", rollback_prepared());
  add("stream_start_prepare", stream_start(true));
  add("stream_insert_prepare", insert(true, "30", "stream-prepared"));
  add("stream_stop_prepare", stream_stop());
  add("stream_prepare", prepare('p'));
  return s;
}

}  // namespace replicator::fuzz
