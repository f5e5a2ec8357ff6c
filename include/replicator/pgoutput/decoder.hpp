// Zero-copy pgoutput decoder (protocol 1-4). Decodes one message payload (the bytes inside an
// XLogData frame) into a Message of views into that payload. No allocation, no exceptions.
//   PgOutputDecoder decoder;
//   auto msg = decoder.decode(payload);  // Result<Message>; check msg.error() on failure
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "replicator/core/detail/byte_reader.hpp"
#include "replicator/core/error.hpp"
#include "replicator/pgoutput/messages.hpp"

namespace replicator::pgoutput {

namespace detail {

using replicator::detail::ByteReader;

// Validates TupleData (Int16 count, then per column a kind byte and, for t/b, Int32 length + bytes).
// Hot path: walks the columns with a local offset (kept in a register, not in the reader) and
// checks every length against what is left before using it; errors carry the same offsets a
// field-by-field read through ByteReader would report.
inline TupleView read_tuple(ByteReader& r, std::string_view field) noexcept {
  const std::int16_t count = r.i16(field);
  if (!r.ok()) return {};
  if (count < 0) {
    r.fail_at(Errc::negative_length, r.position() - 2, field);
    return {};
  }
  const std::byte* const start = r.cursor();
  const std::size_t start_pos = r.position();
  const std::size_t avail = r.remaining();
  std::size_t pos = 0;
  for (std::int16_t i = 0; i < count; ++i) {
    if (pos == avail) {
      r.fail_at(Errc::truncated, start_pos + pos, field);
      return {};
    }
    const char kind = static_cast<char>(start[pos]);
    if (kind == 't' || kind == 'b') {
      if (avail - pos - 1 < 4) {
        r.fail_at(Errc::truncated, start_pos + pos + 1, field);
        return {};
      }
      const std::uint32_t len = load_be32(start + pos + 1);
      if (len > 0x7FFFFFFFu) {
        r.fail_at(Errc::negative_length, start_pos + pos + 1, field);
        return {};
      }
      if (avail - pos - 5 < len) {
        r.fail_at(Errc::truncated, start_pos + pos + 5, field);
        return {};
      }
      pos += 5 + static_cast<std::size_t>(len);
    } else if (kind == 'n' || kind == 'u') {
      pos += 1;
    } else {
      r.fail_at(Errc::unknown_tuple_kind, start_pos + pos, field);
      return {};
    }
  }
  r.skip(pos, field);
  return TupleView({start, pos}, static_cast<std::uint16_t>(count));
}

inline Lsn read_lsn(ByteReader& r, std::string_view field) noexcept { return Lsn{r.u64(field)}; }
inline PgTimestamp read_time(ByteReader& r, std::string_view field) noexcept { return PgTimestamp{r.i64(field)}; }

inline void expect_zero_flags(ByteReader& r, std::uint8_t flags, std::string_view field) noexcept {
  if (flags != 0) r.fail_at(Errc::unknown_flag, r.position() - 1, field);
}

template <class View>
Result<Message> finish(ByteReader& r, View view, std::string_view field) noexcept {
  r.expect_end(field);
  if (!r.ok()) return r.error();
  return Message{std::in_place_type<View>, view};
}

}  // namespace detail

namespace detail {

// One function per message type, each reading its fields, checking flags and markers, and ending
// with finish() (nothing may follow the message).
inline Result<Message> decode_begin(ByteReader& r) noexcept {
  BeginView m;
  m.final_lsn = read_lsn(r, "Begin.final_lsn");
  m.commit_time = read_time(r, "Begin.commit_time");
  m.xid = r.u32("Begin.xid");
  return finish(r, m, "Begin");
}

inline Result<Message> decode_commit(ByteReader& r) noexcept {
  CommitView m;
  m.flags = r.u8("Commit.flags");
  detail::expect_zero_flags(r, m.flags, "Commit.flags");
  m.commit_lsn = read_lsn(r, "Commit.commit_lsn");
  m.end_lsn = read_lsn(r, "Commit.end_lsn");
  m.commit_time = read_time(r, "Commit.commit_time");
  return finish(r, m, "Commit");
}

inline Result<Message> decode_origin(ByteReader& r) noexcept {
  OriginView m;
  m.commit_lsn = read_lsn(r, "Origin.commit_lsn");
  m.name = r.cstring("Origin.name");
  return finish(r, m, "Origin");
}

inline Result<Message> decode_relation(ByteReader& r, bool in_stream) noexcept {
  RelationView m;
  if (in_stream) m.xid = r.u32("Relation.xid");
  m.oid = r.u32("Relation.oid");
  m.schema = r.cstring("Relation.schema");
  m.name = r.cstring("Relation.name");
  const char ident = static_cast<char>(r.u8("Relation.replica_identity"));
  if (r.ok() && ident != 'd' && ident != 'n' && ident != 'f' && ident != 'i')
    r.fail_at(Errc::unknown_flag, r.position() - 1, "Relation.replica_identity");
  m.replica_identity = static_cast<ReplicaIdentity>(ident);
  const std::int16_t ncols = r.i16("Relation.column_count");
  if (ncols < 0) r.fail_at(Errc::negative_length, r.position() - 2, "Relation.column_count");
  const std::byte* start = r.cursor();
  const std::size_t start_pos = r.position();
  for (std::int16_t i = 0; i < ncols && r.ok(); ++i) {
    const std::uint8_t flags = r.u8("Relation.column.flags");
    if (r.ok() && (flags & ~1u) != 0) r.fail_at(Errc::unknown_flag, r.position() - 1, "Relation.column.flags");
    (void)r.cstring("Relation.column.name");
    r.skip(8, "Relation.column.type");
  }
  if (!r.ok()) return r.error();
  m.columns = RelationColumnsView({start, r.position() - start_pos}, static_cast<std::uint16_t>(ncols));
  return finish(r, m, "Relation");
}

inline Result<Message> decode_type(ByteReader& r, bool in_stream) noexcept {
  TypeView m;
  if (in_stream) m.xid = r.u32("Type.xid");
  m.oid = r.u32("Type.oid");
  m.schema = r.cstring("Type.schema");
  m.name = r.cstring("Type.name");
  return finish(r, m, "Type");
}

inline Result<Message> decode_insert(ByteReader& r, bool in_stream) noexcept {
  InsertView m;
  if (in_stream) m.xid = r.u32("Insert.xid");
  m.relation_oid = r.u32("Insert.relation_oid");
  const char n = static_cast<char>(r.u8("Insert.tuple_marker"));
  if (r.ok() && n != 'N') r.fail_at(Errc::unknown_flag, r.position() - 1, "Insert.tuple_marker");
  m.new_tuple = detail::read_tuple(r, "Insert.new_tuple");
  return finish(r, m, "Insert");
}

inline Result<Message> decode_update(ByteReader& r, bool in_stream) noexcept {
  UpdateView m;
  if (in_stream) m.xid = r.u32("Update.xid");
  m.relation_oid = r.u32("Update.relation_oid");
  char marker = static_cast<char>(r.u8("Update.tuple_marker"));
  if (r.ok() && (marker == 'K' || marker == 'O')) {
    m.old_kind = static_cast<OldTupleKind>(marker);
    m.old_tuple = detail::read_tuple(r, "Update.old_tuple");
    marker = static_cast<char>(r.u8("Update.new_tuple_marker"));
  }
  if (r.ok() && marker != 'N') r.fail_at(Errc::unknown_flag, r.position() - 1, "Update.tuple_marker");
  m.new_tuple = detail::read_tuple(r, "Update.new_tuple");
  return finish(r, m, "Update");
}

inline Result<Message> decode_delete(ByteReader& r, bool in_stream) noexcept {
  DeleteView m;
  if (in_stream) m.xid = r.u32("Delete.xid");
  m.relation_oid = r.u32("Delete.relation_oid");
  const char marker = static_cast<char>(r.u8("Delete.tuple_marker"));
  if (r.ok() && marker != 'K' && marker != 'O') r.fail_at(Errc::unknown_flag, r.position() - 1, "Delete.tuple_marker");
  m.old_kind = static_cast<OldTupleKind>(marker);
  m.old_tuple = detail::read_tuple(r, "Delete.old_tuple");
  return finish(r, m, "Delete");
}

inline Result<Message> decode_truncate(ByteReader& r, bool in_stream) noexcept {
  TruncateView m;
  if (in_stream) m.xid = r.u32("Truncate.xid");
  const std::int32_t n = r.i32("Truncate.relation_count");
  if (n < 0) r.fail_at(Errc::negative_length, r.position() - 4, "Truncate.relation_count");
  m.options = r.u8("Truncate.options");
  if (r.ok() && (m.options & ~3u) != 0) r.fail_at(Errc::unknown_flag, r.position() - 1, "Truncate.options");
  if (r.ok()) {
    if (static_cast<std::size_t>(n) > r.remaining() / 4) {
      r.fail(Errc::truncated, "Truncate.relation_oids");
    } else {
      m.relation_oids = OidListView(r.bytes(static_cast<std::size_t>(n) * 4, "Truncate.relation_oids"));
    }
  }
  return finish(r, m, "Truncate");
}

inline Result<Message> decode_logical_message(ByteReader& r, bool in_stream) noexcept {
  LogicalMessageView m;
  if (in_stream) m.xid = r.u32("Message.xid");
  m.flags = r.u8("Message.flags");
  if (r.ok() && (m.flags & ~1u) != 0) r.fail_at(Errc::unknown_flag, r.position() - 1, "Message.flags");
  m.lsn = read_lsn(r, "Message.lsn");
  m.prefix = r.cstring("Message.prefix");
  const std::int32_t len = r.i32("Message.content_length");
  if (len < 0) r.fail_at(Errc::negative_length, r.position() - 4, "Message.content_length");
  m.content = r.bytes(static_cast<std::size_t>(len < 0 ? 0 : len), "Message.content");
  return finish(r, m, "Message");
}

inline Result<Message> decode_stream_start(ByteReader& r) noexcept {
  StreamStartView m;
  m.xid = r.u32("StreamStart.xid");
  const std::uint8_t first = r.u8("StreamStart.first_segment");
  if (r.ok() && first > 1) r.fail_at(Errc::unknown_flag, r.position() - 1, "StreamStart.first_segment");
  m.first_segment = first == 1;
  return finish(r, m, "StreamStart");
}

inline Result<Message> decode_stream_stop(ByteReader& r) noexcept { return finish(r, StreamStopView{}, "StreamStop"); }

inline Result<Message> decode_stream_commit(ByteReader& r) noexcept {
  StreamCommitView m;
  m.xid = r.u32("StreamCommit.xid");
  m.flags = r.u8("StreamCommit.flags");
  detail::expect_zero_flags(r, m.flags, "StreamCommit.flags");
  m.commit_lsn = read_lsn(r, "StreamCommit.commit_lsn");
  m.end_lsn = read_lsn(r, "StreamCommit.end_lsn");
  m.commit_time = read_time(r, "StreamCommit.commit_time");
  return finish(r, m, "StreamCommit");
}

inline Result<Message> decode_stream_abort(ByteReader& r) noexcept {
  StreamAbortView m;
  m.xid = r.u32("StreamAbort.xid");
  m.subxid = r.u32("StreamAbort.subxid");
  // Protocol 4 with streaming=parallel appends the abort LSN and time; older ones end here.
  if (r.ok() && r.remaining() > 0) {
    m.has_abort_info = true;
    m.abort_lsn = read_lsn(r, "StreamAbort.abort_lsn");
    m.abort_time = read_time(r, "StreamAbort.abort_time");
  }
  return finish(r, m, "StreamAbort");
}

inline Result<Message> decode_begin_prepare(ByteReader& r) noexcept {
  BeginPrepareView m;
  m.prepare_lsn = read_lsn(r, "BeginPrepare.prepare_lsn");
  m.end_lsn = read_lsn(r, "BeginPrepare.end_lsn");
  m.prepare_time = read_time(r, "BeginPrepare.prepare_time");
  m.xid = r.u32("BeginPrepare.xid");
  m.gid = r.cstring("BeginPrepare.gid");
  return finish(r, m, "BeginPrepare");
}

// Prepare ('P') and Stream Prepare ('p') share one layout.
inline Result<Message> decode_prepare(ByteReader& r, bool stream) noexcept {
  PrepareView m;
  m.flags = r.u8(stream ? "StreamPrepare.flags" : "Prepare.flags");
  detail::expect_zero_flags(r, m.flags, stream ? "StreamPrepare.flags" : "Prepare.flags");
  m.prepare_lsn = read_lsn(r, stream ? "StreamPrepare.prepare_lsn" : "Prepare.prepare_lsn");
  m.end_lsn = read_lsn(r, stream ? "StreamPrepare.end_lsn" : "Prepare.end_lsn");
  m.prepare_time = read_time(r, stream ? "StreamPrepare.prepare_time" : "Prepare.prepare_time");
  m.xid = r.u32(stream ? "StreamPrepare.xid" : "Prepare.xid");
  m.gid = r.cstring(stream ? "StreamPrepare.gid" : "Prepare.gid");
  if (stream) {
    return finish(r, StreamPrepareView{m}, "StreamPrepare");
  }
  return finish(r, m, "Prepare");
}

inline Result<Message> decode_commit_prepared(ByteReader& r) noexcept {
  CommitPreparedView m;
  m.flags = r.u8("CommitPrepared.flags");
  detail::expect_zero_flags(r, m.flags, "CommitPrepared.flags");
  m.commit_lsn = read_lsn(r, "CommitPrepared.commit_lsn");
  m.end_lsn = read_lsn(r, "CommitPrepared.end_lsn");
  m.commit_time = read_time(r, "CommitPrepared.commit_time");
  m.xid = r.u32("CommitPrepared.xid");
  m.gid = r.cstring("CommitPrepared.gid");
  return finish(r, m, "CommitPrepared");
}

inline Result<Message> decode_rollback_prepared(ByteReader& r) noexcept {
  RollbackPreparedView m;
  m.flags = r.u8("RollbackPrepared.flags");
  detail::expect_zero_flags(r, m.flags, "RollbackPrepared.flags");
  m.prepare_end_lsn = read_lsn(r, "RollbackPrepared.prepare_end_lsn");
  m.rollback_end_lsn = read_lsn(r, "RollbackPrepared.rollback_end_lsn");
  m.prepare_time = read_time(r, "RollbackPrepared.prepare_time");
  m.rollback_time = read_time(r, "RollbackPrepared.rollback_time");
  m.xid = r.u32("RollbackPrepared.xid");
  m.gid = r.cstring("RollbackPrepared.gid");
  return finish(r, m, "RollbackPrepared");
}

}  // namespace detail

// Decodes one pgoutput message. `in_stream` says whether we are between Stream Start and Stream
// Stop: there the server prefixes data messages with the streamed transaction's xid.
// `base_offset` is added to error offsets (e.g. the payload's offset in a file).
[[nodiscard]] inline Result<Message> decode_message(std::span<const std::byte> payload, bool in_stream,
                                                    std::size_t base_offset = 0) noexcept {
  detail::ByteReader r(payload, base_offset);
  const char tag = static_cast<char>(r.u8("message type"));
  if (!r.ok()) return r.error();

  switch (tag) {
    case 'B': return detail::decode_begin(r);
    case 'C': return detail::decode_commit(r);
    case 'O': return detail::decode_origin(r);
    case 'R': return detail::decode_relation(r, in_stream);
    case 'Y': return detail::decode_type(r, in_stream);
    case 'I': return detail::decode_insert(r, in_stream);
    case 'U': return detail::decode_update(r, in_stream);
    case 'D': return detail::decode_delete(r, in_stream);
    case 'T': return detail::decode_truncate(r, in_stream);
    case 'M': return detail::decode_logical_message(r, in_stream);
    case 'S': return detail::decode_stream_start(r);
    case 'E': return detail::decode_stream_stop(r);
    case 'c': return detail::decode_stream_commit(r);
    case 'A': return detail::decode_stream_abort(r);
    case 'b': return detail::decode_begin_prepare(r);
    case 'P': return detail::decode_prepare(r, false);
    case 'p': return detail::decode_prepare(r, true);
    case 'K': return detail::decode_commit_prepared(r);
    case 'r': return detail::decode_rollback_prepared(r);
    default: return Error{Errc::unknown_message, base_offset, "message type"};
  }
}

// Stateful decoder: tracks Stream Start / Stop so data messages inside a stream get their xid,
// and rejects stream messages that arrive out of order. Call reset() after a reconnect.
class PgOutputDecoder {
 public:
  [[nodiscard]] Result<Message> decode(std::span<const std::byte> payload, std::size_t base_offset = 0) noexcept {
    // One named result on every path, so it is built in place (NRVO) instead of copied per message.
    Result<Message> result = decode_message(payload, in_stream_, base_offset);
    if (result) {
      if (std::holds_alternative<StreamStartView>(*result)) {
        if (in_stream_) result = Error{Errc::unexpected_message, base_offset, "StreamStart inside a stream"};
        else in_stream_ = true;
      } else if (std::holds_alternative<StreamStopView>(*result)) {
        if (!in_stream_) result = Error{Errc::unexpected_message, base_offset, "StreamStop outside a stream"};
        else in_stream_ = false;
      }
    }
    return result;
  }
  [[nodiscard]] Result<Message> decode(std::string_view payload, std::size_t base_offset = 0) noexcept {
    return decode(std::as_bytes(std::span<const char>(payload.data(), payload.size())), base_offset);
  }
  // The views would dangle: decode from a buffer that outlives the result.
  Result<Message> decode(std::string&&, std::size_t = 0) = delete;
  Result<Message> decode(std::vector<std::byte>&&, std::size_t = 0) = delete;

  [[nodiscard]] bool in_stream() const noexcept { return in_stream_; }
  void reset() noexcept { in_stream_ = false; }

 private:
  bool in_stream_ = false;
};

}  // namespace replicator::pgoutput
