// A deliberately simple, allocating pgoutput decoder: every string and value is copied into
// std::string / std::vector. It is the benchmark baseline and the oracle of the differential fuzzer.
//   reference::Decoder d;  auto m = d.decode(payload);   // Result<reference::Message>, owns its data
//   std::string diff = reference::first_difference(view_message, *m);   // "" when they agree
// Written independently of decoder.hpp (byte-at-a-time reads, an internal exception for failures)
// but with the same rules, so both must agree on success, on every field, and on the error code
// and offset of a failure. Not for production use: it allocates per message and throws internally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/pgoutput/messages.hpp"
#include "replicator/pgoutput/tuple.hpp"
#include "replicator/core/timestamp.hpp"

namespace replicator::pgoutput::reference {

struct Column {
  ColumnKind kind = ColumnKind::null;
  std::string value;  // text or binary bytes; empty for null / unchanged TOAST
};
using Tuple = std::vector<Column>;

struct RelationColumn {
  std::uint8_t flags = 0;
  std::string name;
  std::uint32_t type_oid = 0;
  std::int32_t type_modifier = -1;
};

struct Begin {
  Lsn final_lsn;
  PgTimestamp commit_time;
  Xid xid = 0;
};
struct Commit {
  std::uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  PgTimestamp commit_time;
};
struct Origin {
  Lsn commit_lsn;
  std::string name;
};
struct Relation {
  Xid xid = 0;
  Oid oid = 0;
  std::string schema;
  std::string name;
  char replica_identity = 'd';
  std::vector<RelationColumn> columns;
};
struct Type {
  Xid xid = 0;
  Oid oid = 0;
  std::string schema;
  std::string name;
};
struct Insert {
  Xid xid = 0;
  Oid relation_oid = 0;
  Tuple new_tuple;
};
struct Update {
  Xid xid = 0;
  Oid relation_oid = 0;
  char old_kind = 0;
  Tuple old_tuple;
  Tuple new_tuple;
};
struct Delete {
  Xid xid = 0;
  Oid relation_oid = 0;
  char old_kind = 'K';
  Tuple old_tuple;
};
struct Truncate {
  Xid xid = 0;
  std::uint8_t options = 0;
  std::vector<Oid> relation_oids;
};
struct LogicalMessage {
  Xid xid = 0;
  std::uint8_t flags = 0;
  Lsn lsn;
  std::string prefix;
  std::string content;
};
struct StreamStart {
  Xid xid = 0;
  bool first_segment = false;
};
struct StreamStop {};
struct StreamCommit {
  Xid xid = 0;
  std::uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  PgTimestamp commit_time;
};
struct StreamAbort {
  Xid xid = 0;
  Xid subxid = 0;
  bool has_abort_info = false;
  Lsn abort_lsn;
  PgTimestamp abort_time;
};
struct BeginPrepare {
  Lsn prepare_lsn;
  Lsn end_lsn;
  PgTimestamp prepare_time;
  Xid xid = 0;
  std::string gid;
};
struct Prepare {
  std::uint8_t flags = 0;
  Lsn prepare_lsn;
  Lsn end_lsn;
  PgTimestamp prepare_time;
  Xid xid = 0;
  std::string gid;
};
struct CommitPrepared {
  std::uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  PgTimestamp commit_time;
  Xid xid = 0;
  std::string gid;
};
struct RollbackPrepared {
  std::uint8_t flags = 0;
  Lsn prepare_end_lsn;
  Lsn rollback_end_lsn;
  PgTimestamp prepare_time;
  PgTimestamp rollback_time;
  Xid xid = 0;
  std::string gid;
};
struct StreamPrepare {
  std::uint8_t flags = 0;
  Lsn prepare_lsn;
  Lsn end_lsn;
  PgTimestamp prepare_time;
  Xid xid = 0;
  std::string gid;
};

// Same alternatives in the same order as pgoutput::Message, so index() matches.
using Message = std::variant<Begin, Commit, Origin, Relation, Type, Insert, Update, Delete, Truncate, LogicalMessage,
                             StreamStart, StreamStop, StreamCommit, StreamAbort, BeginPrepare, Prepare, CommitPrepared,
                             RollbackPrepared, StreamPrepare>;
static_assert(std::variant_size_v<Message> == std::variant_size_v<pgoutput::Message>);

namespace detail {

struct Failure {
  Error error;
};

// Reads one byte at a time; any shortfall throws Failure naming the field and where it starts.
class Reader {
 public:
  Reader(std::span<const std::byte> in, std::size_t base) : in_(in), base_(base) {}

  [[noreturn]] void fail_at(Errc code, std::size_t pos, std::string_view field) const {
    throw Failure{Error{code, base_ + pos, field}};
  }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return in_.size() - pos_; }

  std::uint64_t be(unsigned n, std::string_view field) {
    if (left() < n) fail_at(Errc::truncated, pos_, field);
    std::uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(in_[pos_ + i]);
    pos_ += n;
    return v;
  }
  std::uint8_t u8(std::string_view f) { return static_cast<std::uint8_t>(be(1, f)); }
  std::uint32_t u32(std::string_view f) { return static_cast<std::uint32_t>(be(4, f)); }
  std::int16_t i16(std::string_view f) { return static_cast<std::int16_t>(static_cast<std::uint16_t>(be(2, f))); }
  std::int32_t i32(std::string_view f) { return static_cast<std::int32_t>(static_cast<std::uint32_t>(be(4, f))); }
  Lsn lsn(std::string_view f) { return Lsn{be(8, f)}; }
  PgTimestamp time(std::string_view f) { return PgTimestamp{static_cast<std::int64_t>(be(8, f))}; }

  std::string cstring(std::string_view field) {
    if (left() == 0) fail_at(Errc::truncated, pos_, field);
    std::string out;
    for (std::size_t i = pos_; i < in_.size(); ++i) {
      const char c = static_cast<char>(in_[i]);
      if (c == '\0') {
        pos_ = i + 1;
        return out;
      }
      out.push_back(c);
    }
    fail_at(Errc::unterminated_string, pos_, field);
  }
  std::string raw(std::size_t n, std::string_view field) {
    if (left() < n) fail_at(Errc::truncated, pos_, field);
    std::string out(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return out;
  }
  void end(std::string_view field) const {
    if (pos_ != in_.size()) fail_at(Errc::trailing_bytes, pos_, field);
  }

 private:
  std::span<const std::byte> in_;
  std::size_t base_;
  std::size_t pos_ = 0;
};

inline Tuple tuple(Reader& r, std::string_view field) {
  const std::size_t count_pos = r.pos();
  const std::int16_t count = r.i16(field);
  if (count < 0) r.fail_at(Errc::negative_length, count_pos, field);
  Tuple out;
  out.reserve(static_cast<std::size_t>(count) < r.left() ? static_cast<std::size_t>(count) : r.left());
  for (int i = 0; i < count; ++i) {
    const std::size_t kind_pos = r.pos();
    const char kind = static_cast<char>(r.u8(field));
    Column c;
    if (kind == 'n' || kind == 'u') {
      c.kind = static_cast<ColumnKind>(kind);
    } else if (kind == 't' || kind == 'b') {
      c.kind = static_cast<ColumnKind>(kind);
      const std::size_t len_pos = r.pos();
      const std::int32_t len = r.i32(field);
      if (len < 0) r.fail_at(Errc::negative_length, len_pos, field);
      c.value = r.raw(static_cast<std::size_t>(len), field);
    } else {
      r.fail_at(Errc::unknown_tuple_kind, kind_pos, field);
    }
    out.push_back(std::move(c));
  }
  return out;
}

inline void zero_flags(Reader& r, std::uint8_t flags, std::string_view field) {
  if (flags != 0) r.fail_at(Errc::unknown_flag, r.pos() - 1, field);
}

// Xid prefix of data messages inside a streamed transaction.
inline Xid stream_xid(Reader& r, bool in_stream, std::string_view field) { return in_stream ? r.u32(field) : 0; }

inline Message parse(Reader& r, bool in_stream) {
  const char tag = static_cast<char>(r.u8("message type"));
  switch (tag) {
    case 'B': {
      Begin m;
      m.final_lsn = r.lsn("Begin.final_lsn");
      m.commit_time = r.time("Begin.commit_time");
      m.xid = r.u32("Begin.xid");
      r.end("Begin");
      return m;
    }
    case 'C': {
      Commit m;
      m.flags = r.u8("Commit.flags");
      zero_flags(r, m.flags, "Commit.flags");
      m.commit_lsn = r.lsn("Commit.commit_lsn");
      m.end_lsn = r.lsn("Commit.end_lsn");
      m.commit_time = r.time("Commit.commit_time");
      r.end("Commit");
      return m;
    }
    case 'O': {
      Origin m;
      m.commit_lsn = r.lsn("Origin.commit_lsn");
      m.name = r.cstring("Origin.name");
      r.end("Origin");
      return m;
    }
    case 'R': {
      Relation m;
      m.xid = stream_xid(r, in_stream, "Relation.xid");
      m.oid = r.u32("Relation.oid");
      m.schema = r.cstring("Relation.schema");
      m.name = r.cstring("Relation.name");
      m.replica_identity = static_cast<char>(r.u8("Relation.replica_identity"));
      if (std::string_view("dnfi").find(m.replica_identity) == std::string_view::npos || m.replica_identity == '\0')
        r.fail_at(Errc::unknown_flag, r.pos() - 1, "Relation.replica_identity");
      const std::size_t ncols_pos = r.pos();
      const std::int16_t ncols = r.i16("Relation.column_count");
      if (ncols < 0) r.fail_at(Errc::negative_length, ncols_pos, "Relation.column_count");
      for (int i = 0; i < ncols; ++i) {
        RelationColumn c;
        c.flags = r.u8("Relation.column.flags");
        if (c.flags > 1) r.fail_at(Errc::unknown_flag, r.pos() - 1, "Relation.column.flags");
        c.name = r.cstring("Relation.column.name");
        const std::size_t type_pos = r.pos();
        if (r.left() < 8) r.fail_at(Errc::truncated, type_pos, "Relation.column.type");
        c.type_oid = r.u32("Relation.column.type");
        c.type_modifier = r.i32("Relation.column.type");
        m.columns.push_back(std::move(c));
      }
      r.end("Relation");
      return m;
    }
    case 'Y': {
      Type m;
      m.xid = stream_xid(r, in_stream, "Type.xid");
      m.oid = r.u32("Type.oid");
      m.schema = r.cstring("Type.schema");
      m.name = r.cstring("Type.name");
      r.end("Type");
      return m;
    }
    case 'I': {
      Insert m;
      m.xid = stream_xid(r, in_stream, "Insert.xid");
      m.relation_oid = r.u32("Insert.relation_oid");
      if (r.u8("Insert.tuple_marker") != 'N') r.fail_at(Errc::unknown_flag, r.pos() - 1, "Insert.tuple_marker");
      m.new_tuple = tuple(r, "Insert.new_tuple");
      r.end("Insert");
      return m;
    }
    case 'U': {
      Update m;
      m.xid = stream_xid(r, in_stream, "Update.xid");
      m.relation_oid = r.u32("Update.relation_oid");
      char marker = static_cast<char>(r.u8("Update.tuple_marker"));
      if (marker == 'K' || marker == 'O') {
        m.old_kind = marker;
        m.old_tuple = tuple(r, "Update.old_tuple");
        marker = static_cast<char>(r.u8("Update.new_tuple_marker"));
      }
      if (marker != 'N') r.fail_at(Errc::unknown_flag, r.pos() - 1, "Update.tuple_marker");
      m.new_tuple = tuple(r, "Update.new_tuple");
      r.end("Update");
      return m;
    }
    case 'D': {
      Delete m;
      m.xid = stream_xid(r, in_stream, "Delete.xid");
      m.relation_oid = r.u32("Delete.relation_oid");
      m.old_kind = static_cast<char>(r.u8("Delete.tuple_marker"));
      if (m.old_kind != 'K' && m.old_kind != 'O') r.fail_at(Errc::unknown_flag, r.pos() - 1, "Delete.tuple_marker");
      m.old_tuple = tuple(r, "Delete.old_tuple");
      r.end("Delete");
      return m;
    }
    case 'T': {
      Truncate m;
      m.xid = stream_xid(r, in_stream, "Truncate.xid");
      const std::size_t n_pos = r.pos();
      const std::int32_t n = r.i32("Truncate.relation_count");
      if (n < 0) r.fail_at(Errc::negative_length, n_pos, "Truncate.relation_count");
      m.options = r.u8("Truncate.options");
      if (m.options > 3) r.fail_at(Errc::unknown_flag, r.pos() - 1, "Truncate.options");
      if (r.left() / 4 < static_cast<std::size_t>(n)) r.fail_at(Errc::truncated, r.pos(), "Truncate.relation_oids");
      for (std::int32_t i = 0; i < n; ++i) m.relation_oids.push_back(r.u32("Truncate.relation_oids"));
      r.end("Truncate");
      return m;
    }
    case 'M': {
      LogicalMessage m;
      m.xid = stream_xid(r, in_stream, "Message.xid");
      m.flags = r.u8("Message.flags");
      if (m.flags > 1) r.fail_at(Errc::unknown_flag, r.pos() - 1, "Message.flags");
      m.lsn = r.lsn("Message.lsn");
      m.prefix = r.cstring("Message.prefix");
      const std::size_t len_pos = r.pos();
      const std::int32_t len = r.i32("Message.content_length");
      if (len < 0) r.fail_at(Errc::negative_length, len_pos, "Message.content_length");
      m.content = r.raw(static_cast<std::size_t>(len), "Message.content");
      r.end("Message");
      return m;
    }
    case 'S': {
      StreamStart m;
      m.xid = r.u32("StreamStart.xid");
      const std::uint8_t first = r.u8("StreamStart.first_segment");
      if (first > 1) r.fail_at(Errc::unknown_flag, r.pos() - 1, "StreamStart.first_segment");
      m.first_segment = first == 1;
      r.end("StreamStart");
      return m;
    }
    case 'E': r.end("StreamStop"); return StreamStop{};
    case 'c': {
      StreamCommit m;
      m.xid = r.u32("StreamCommit.xid");
      m.flags = r.u8("StreamCommit.flags");
      zero_flags(r, m.flags, "StreamCommit.flags");
      m.commit_lsn = r.lsn("StreamCommit.commit_lsn");
      m.end_lsn = r.lsn("StreamCommit.end_lsn");
      m.commit_time = r.time("StreamCommit.commit_time");
      r.end("StreamCommit");
      return m;
    }
    case 'A': {
      StreamAbort m;
      m.xid = r.u32("StreamAbort.xid");
      m.subxid = r.u32("StreamAbort.subxid");
      if (r.left() > 0) {  // protocol 4, streaming=parallel
        m.has_abort_info = true;
        m.abort_lsn = r.lsn("StreamAbort.abort_lsn");
        m.abort_time = r.time("StreamAbort.abort_time");
      }
      r.end("StreamAbort");
      return m;
    }
    case 'b': {
      BeginPrepare m;
      m.prepare_lsn = r.lsn("BeginPrepare.prepare_lsn");
      m.end_lsn = r.lsn("BeginPrepare.end_lsn");
      m.prepare_time = r.time("BeginPrepare.prepare_time");
      m.xid = r.u32("BeginPrepare.xid");
      m.gid = r.cstring("BeginPrepare.gid");
      r.end("BeginPrepare");
      return m;
    }
    case 'P': {
      Prepare m;
      m.flags = r.u8("Prepare.flags");
      zero_flags(r, m.flags, "Prepare.flags");
      m.prepare_lsn = r.lsn("Prepare.prepare_lsn");
      m.end_lsn = r.lsn("Prepare.end_lsn");
      m.prepare_time = r.time("Prepare.prepare_time");
      m.xid = r.u32("Prepare.xid");
      m.gid = r.cstring("Prepare.gid");
      r.end("Prepare");
      return m;
    }
    case 'p': {
      StreamPrepare m;
      m.flags = r.u8("StreamPrepare.flags");
      zero_flags(r, m.flags, "StreamPrepare.flags");
      m.prepare_lsn = r.lsn("StreamPrepare.prepare_lsn");
      m.end_lsn = r.lsn("StreamPrepare.end_lsn");
      m.prepare_time = r.time("StreamPrepare.prepare_time");
      m.xid = r.u32("StreamPrepare.xid");
      m.gid = r.cstring("StreamPrepare.gid");
      r.end("StreamPrepare");
      return m;
    }
    case 'K': {
      CommitPrepared m;
      m.flags = r.u8("CommitPrepared.flags");
      zero_flags(r, m.flags, "CommitPrepared.flags");
      m.commit_lsn = r.lsn("CommitPrepared.commit_lsn");
      m.end_lsn = r.lsn("CommitPrepared.end_lsn");
      m.commit_time = r.time("CommitPrepared.commit_time");
      m.xid = r.u32("CommitPrepared.xid");
      m.gid = r.cstring("CommitPrepared.gid");
      r.end("CommitPrepared");
      return m;
    }
    case 'r': {
      RollbackPrepared m;
      m.flags = r.u8("RollbackPrepared.flags");
      zero_flags(r, m.flags, "RollbackPrepared.flags");
      m.prepare_end_lsn = r.lsn("RollbackPrepared.prepare_end_lsn");
      m.rollback_end_lsn = r.lsn("RollbackPrepared.rollback_end_lsn");
      m.prepare_time = r.time("RollbackPrepared.prepare_time");
      m.rollback_time = r.time("RollbackPrepared.rollback_time");
      m.xid = r.u32("RollbackPrepared.xid");
      m.gid = r.cstring("RollbackPrepared.gid");
      r.end("RollbackPrepared");
      return m;
    }
    default: r.fail_at(Errc::unknown_message, 0, "message type");
  }
}

}  // namespace detail

// One message, stateless: `in_stream` says whether data messages carry the streamed xid.
[[nodiscard]] inline Result<Message> decode_message(std::span<const std::byte> payload, bool in_stream,
                                                    std::size_t base_offset = 0) {
  detail::Reader r(payload, base_offset);
  try {
    return detail::parse(r, in_stream);
  } catch (const detail::Failure& f) {
    return f.error;
  }
}

// Tracks Stream Start / Stop like PgOutputDecoder, with the same out-of-order errors.
class Decoder {
 public:
  [[nodiscard]] Result<Message> decode(std::span<const std::byte> payload, std::size_t base_offset = 0) {
    auto m = decode_message(payload, in_stream_, base_offset);
    if (!m) return m;
    if (std::holds_alternative<StreamStart>(*m)) {
      if (in_stream_) return Error{Errc::unexpected_message, base_offset, "StreamStart inside a stream"};
      in_stream_ = true;
    } else if (std::holds_alternative<StreamStop>(*m)) {
      if (!in_stream_) return Error{Errc::unexpected_message, base_offset, "StreamStop outside a stream"};
      in_stream_ = false;
    }
    return m;
  }
  [[nodiscard]] bool in_stream() const noexcept { return in_stream_; }
  void reset() noexcept { in_stream_ = false; }

 private:
  bool in_stream_ = false;
};

// ---- Comparing a zero-copy Message with a reference Message -------------------------------------

namespace detail {

class Differ {
 public:
  std::string out;

  template <class A, class B>
  void field(std::string_view name, const A& a, const B& b) {
    if (out.empty() && !(a == b)) out = std::string(name) + " differs";
  }
  void bytes(std::string_view name, std::span<const std::byte> a, const std::string& b) {
    field(name, std::string_view(reinterpret_cast<const char*>(a.data()), a.size()), std::string_view(b));
  }
  void tuple(std::string_view name, const TupleView& a, const Tuple& b) {
    if (!out.empty()) return;
    if (a.size() != b.size()) {
      out = std::string(name) + " column count differs";
      return;
    }
    std::size_t i = 0;
    for (ColumnValueView v : a) {
      const Column& c = b[i];
      // Names are built only for a difference: the differential fuzzer calls this per message.
      if (v.kind != c.kind) {
        out = std::string(name) + "[" + std::to_string(i) + "].kind differs";
        return;
      }
      if (v.text() != std::string_view(c.value)) {
        out = std::string(name) + "[" + std::to_string(i) + "].value differs";
        return;
      }
      ++i;
    }
    if (a.empty()) field(std::string(name) + ".bytes", a.bytes().size(), std::size_t{0});
  }

  void operator()(const BeginView& a, const Begin& b) {
    field("final_lsn", a.final_lsn, b.final_lsn);
    field("commit_time", a.commit_time, b.commit_time);
    field("xid", a.xid, b.xid);
  }
  void operator()(const CommitView& a, const Commit& b) {
    field("flags", a.flags, b.flags);
    field("commit_lsn", a.commit_lsn, b.commit_lsn);
    field("end_lsn", a.end_lsn, b.end_lsn);
    field("commit_time", a.commit_time, b.commit_time);
  }
  void operator()(const OriginView& a, const Origin& b) {
    field("commit_lsn", a.commit_lsn, b.commit_lsn);
    field("name", a.name, std::string_view(b.name));
  }
  void operator()(const RelationView& a, const Relation& b) {
    field("xid", a.xid, b.xid);
    field("oid", a.oid, b.oid);
    field("schema", a.schema, std::string_view(b.schema));
    field("name", a.name, std::string_view(b.name));
    field("replica_identity", static_cast<char>(a.replica_identity), b.replica_identity);
    field("column count", std::size_t{a.columns.size()}, b.columns.size());
    if (!out.empty()) return;
    std::size_t i = 0;
    for (RelationColumnView c : a.columns) {
      const RelationColumn& d = b.columns[i++];
      field("column.flags", c.flags, d.flags);
      field("column.name", c.name, std::string_view(d.name));
      field("column.type_oid", c.type_oid, d.type_oid);
      field("column.type_modifier", c.type_modifier, d.type_modifier);
    }
  }
  void operator()(const TypeView& a, const Type& b) {
    field("xid", a.xid, b.xid);
    field("oid", a.oid, b.oid);
    field("schema", a.schema, std::string_view(b.schema));
    field("name", a.name, std::string_view(b.name));
  }
  void operator()(const InsertView& a, const Insert& b) {
    field("xid", a.xid, b.xid);
    field("relation_oid", a.relation_oid, b.relation_oid);
    tuple("new_tuple", a.new_tuple, b.new_tuple);
  }
  void operator()(const UpdateView& a, const Update& b) {
    field("xid", a.xid, b.xid);
    field("relation_oid", a.relation_oid, b.relation_oid);
    field("old_kind", static_cast<char>(a.old_kind), b.old_kind);
    tuple("old_tuple", a.old_tuple, b.old_tuple);
    tuple("new_tuple", a.new_tuple, b.new_tuple);
  }
  void operator()(const DeleteView& a, const Delete& b) {
    field("xid", a.xid, b.xid);
    field("relation_oid", a.relation_oid, b.relation_oid);
    field("old_kind", static_cast<char>(a.old_kind), b.old_kind);
    tuple("old_tuple", a.old_tuple, b.old_tuple);
  }
  void operator()(const TruncateView& a, const Truncate& b) {
    field("xid", a.xid, b.xid);
    field("options", a.options, b.options);
    field("cascade", a.cascade(), (b.options & 1) != 0);
    field("restart_identity", a.restart_identity(), (b.options & 2) != 0);
    field("relation count", a.relation_oids.size(), b.relation_oids.size());
    if (!out.empty()) return;
    std::size_t i = 0;
    for (std::uint32_t oid : a.relation_oids) {
      field("relation_oids[i]", oid, b.relation_oids[i]);
      field("relation_oids operator[]", a.relation_oids[i], b.relation_oids[i]);
      ++i;
    }
  }
  void operator()(const LogicalMessageView& a, const LogicalMessage& b) {
    field("xid", a.xid, b.xid);
    field("flags", a.flags, b.flags);
    field("transactional", a.transactional(), (b.flags & 1) != 0);
    field("lsn", a.lsn, b.lsn);
    field("prefix", a.prefix, std::string_view(b.prefix));
    bytes("content", a.content, b.content);
  }
  void operator()(const StreamStartView& a, const StreamStart& b) {
    field("xid", a.xid, b.xid);
    field("first_segment", a.first_segment, b.first_segment);
  }
  void operator()(const StreamStopView&, const StreamStop&) {}
  void operator()(const StreamCommitView& a, const StreamCommit& b) {
    field("xid", a.xid, b.xid);
    field("flags", a.flags, b.flags);
    field("commit_lsn", a.commit_lsn, b.commit_lsn);
    field("end_lsn", a.end_lsn, b.end_lsn);
    field("commit_time", a.commit_time, b.commit_time);
  }
  void operator()(const StreamAbortView& a, const StreamAbort& b) {
    field("xid", a.xid, b.xid);
    field("subxid", a.subxid, b.subxid);
    field("has_abort_info", a.has_abort_info, b.has_abort_info);
    field("abort_lsn", a.abort_lsn, b.abort_lsn);
    field("abort_time", a.abort_time, b.abort_time);
  }
  void operator()(const BeginPrepareView& a, const BeginPrepare& b) {
    field("prepare_lsn", a.prepare_lsn, b.prepare_lsn);
    field("end_lsn", a.end_lsn, b.end_lsn);
    field("prepare_time", a.prepare_time, b.prepare_time);
    field("xid", a.xid, b.xid);
    field("gid", a.gid, std::string_view(b.gid));
  }
  template <class V, class R>
  requires(std::is_same_v<V, PrepareView>&& std::is_same_v<R, Prepare>) ||
      (std::is_same_v<V, StreamPrepareView> && std::is_same_v<R, StreamPrepare>)void operator()(const V& a,
                                                                                                const R& b) {
    field("flags", a.flags, b.flags);
    field("prepare_lsn", a.prepare_lsn, b.prepare_lsn);
    field("end_lsn", a.end_lsn, b.end_lsn);
    field("prepare_time", a.prepare_time, b.prepare_time);
    field("xid", a.xid, b.xid);
    field("gid", a.gid, std::string_view(b.gid));
  }
  void operator()(const CommitPreparedView& a, const CommitPrepared& b) {
    field("flags", a.flags, b.flags);
    field("commit_lsn", a.commit_lsn, b.commit_lsn);
    field("end_lsn", a.end_lsn, b.end_lsn);
    field("commit_time", a.commit_time, b.commit_time);
    field("xid", a.xid, b.xid);
    field("gid", a.gid, std::string_view(b.gid));
  }
  void operator()(const RollbackPreparedView& a, const RollbackPrepared& b) {
    field("flags", a.flags, b.flags);
    field("prepare_end_lsn", a.prepare_end_lsn, b.prepare_end_lsn);
    field("rollback_end_lsn", a.rollback_end_lsn, b.rollback_end_lsn);
    field("prepare_time", a.prepare_time, b.prepare_time);
    field("rollback_time", a.rollback_time, b.rollback_time);
    field("xid", a.xid, b.xid);
    field("gid", a.gid, std::string_view(b.gid));
  }
  // Different alternatives: only reached when index() differs, which first_difference checks first.
  template <class V, class R>
  void operator()(const V&, const R&) {
    if (out.empty()) out = "message type differs";
  }
};

}  // namespace detail

// "" when the zero-copy message and the reference message agree on the type and every field;
// otherwise the first field that differs.
[[nodiscard]] inline std::string first_difference(const pgoutput::Message& view, const Message& ref) {
  if (view.index() != ref.index()) {
    return "message type differs: " + std::string(message_name(view)) + " vs alternative " +
           std::to_string(ref.index());
  }
  detail::Differ d;
  std::visit(d, view, ref);
  return d.out;
}

}  // namespace replicator::pgoutput::reference
