// Stateful PgOutputDecoder over a sequence of messages (see fuzz_input.hpp for the framing).
// Checks: no crash / UB / leak; errors point inside the payload; every view of a decoded message
// points inside its payload; iterating every tuple, relation column and OID stays in bounds.
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "fuzz_input.hpp"
#include "replicator/pgoutput/decoder.hpp"

namespace pg = replicator::pgoutput;
using replicator::fuzz::require;
using replicator::fuzz::within;

namespace {

struct Checker {
  std::span<const std::byte> payload;
  std::size_t sum = 0;

  void str(std::string_view s) { require(within(payload, s.data(), s.size()), "string view outside the payload"); }
  void tuple(const pg::TupleView& t) {
    require(within(payload, t.bytes().data(), t.bytes().size()), "tuple bytes outside the payload");
    std::size_t n = 0;
    for (pg::ColumnValueView v : t) {
      require(within(payload, v.bytes.data(), v.bytes.size()), "column value outside the payload");
      require(within(t.bytes(), v.bytes.data(), v.bytes.size()), "column value outside its tuple");
      const bool has_bytes = v.kind == pg::ColumnKind::text || v.kind == pg::ColumnKind::binary;
      require(has_bytes || (v.bytes.empty() && (v.is_null() || v.is_unchanged_toast())), "bad column kind");
      for (std::byte b : v.bytes) sum += static_cast<unsigned char>(b);
      ++n;
    }
    require(n == t.size(), "tuple iteration count differs from size()");
    if (!t.empty()) {
      const auto last = t[static_cast<std::uint16_t>(t.size() - 1)];
      require(within(payload, last.bytes.data(), last.bytes.size()), "operator[] outside the payload");
    }
  }
  void operator()(const pg::RelationView& m) {
    str(m.schema);
    str(m.name);
    std::size_t n = 0;
    for (pg::RelationColumnView c : m.columns) {
      str(c.name);
      sum += c.type_oid + c.flags;
      ++n;
    }
    require(n == m.columns.size(), "relation column count differs");
  }
  void operator()(const pg::TypeView& m) {
    str(m.schema);
    str(m.name);
  }
  void operator()(const pg::OriginView& m) { str(m.name); }
  void operator()(const pg::InsertView& m) { tuple(m.new_tuple); }
  void operator()(const pg::UpdateView& m) {
    require(m.old_kind != pg::OldTupleKind::none || m.old_tuple.empty(), "old tuple without a marker");
    tuple(m.old_tuple);
    tuple(m.new_tuple);
  }
  void operator()(const pg::DeleteView& m) { tuple(m.old_tuple); }
  void operator()(const pg::TruncateView& m) {
    std::size_t i = 0;
    for (std::uint32_t oid : m.relation_oids) {
      require(oid == m.relation_oids[i++], "OID iteration differs from operator[]");
    }
    require(i == m.relation_oids.size(), "OID count differs");
  }
  void operator()(const pg::LogicalMessageView& m) {
    str(m.prefix);
    require(within(payload, m.content.data(), m.content.size()), "message content outside the payload");
  }
  void operator()(const pg::BeginPrepareView& m) { str(m.gid); }
  void operator()(const pg::PrepareView& m) { str(m.gid); }
  void operator()(const pg::StreamPrepareView& m) { str(m.gid); }
  void operator()(const pg::CommitPreparedView& m) { str(m.gid); }
  void operator()(const pg::RollbackPreparedView& m) { str(m.gid); }
  template <class Other>
  void operator()(const Other&) {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pg::PgOutputDecoder decoder;
  replicator::fuzz::for_each_message(data, size, [&](std::span<const std::byte> msg, std::size_t offset) {
    const bool was_in_stream = decoder.in_stream();
    auto result = decoder.decode(msg, offset);
    if (!result) {
      const auto& e = result.error();
      require(e.offset >= offset && e.offset <= offset + msg.size(), "error offset outside the message");
      require(!e.field.empty(), "error without a field name");
      require(decoder.in_stream() == was_in_stream, "a failed message changed the stream state");
      return;
    }
    std::visit(Checker{msg}, *result);
    if (std::holds_alternative<pg::StreamStartView>(*result)) require(decoder.in_stream(), "StreamStart not tracked");
    if (std::holds_alternative<pg::StreamStopView>(*result)) require(!decoder.in_stream(), "StreamStop not tracked");
  });
  return 0;
}
