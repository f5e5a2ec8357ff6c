// Wal2JsonEventDecoder on arbitrary JSON messages (fuzz_input.hpp's framing). Two decoders run
// in lockstep on each message: one parses a copy with SIMDJSON_PADDING readable bytes after it
// in place, the other gets no slack and must copy for padding; both must agree on every status and
// event. Checks: an error is fatal and says wal2json; a row's tuples have its relation's width and
// every value lies inside the tuple bytes (ASan sees any read past them).
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "replicator/wal2json/decoder.hpp"

using namespace replicator;
using replicator::fuzz::require;

namespace {

wal2json::StaticRelationCatalog catalog() {
  RelationInfo t;
  t.oid = 16400;
  t.schema = "public";
  t.name = "t";
  t.columns = {{"id", 23, -1, true}, {"v", 25, -1, false}, {"b", 17, -1, false}};
  RelationInfo full = t;
  full.oid = 16401;
  full.name = "t_full";
  full.replica_identity = ReplicaIdentity::full;
  for (auto& c : full.columns) c.is_key = true;
  return wal2json::StaticRelationCatalog({t, full});
}

// What a sink could see of an event, reading every byte of its values.
std::string summary(const ChangeEvent& e) {
  std::string s(event_name(e));
  if (const auto* row = std::get_if<RowChangeView>(&e)) {
    require(row->relation != nullptr, "row without a relation");
    const std::size_t width = row->relation->columns.size();
    if (row->op != ChangeOp::delete_) require(row->new_tuple.size() == width, "new tuple width");
    if (row->old_kind != OldTupleKind::none) require(row->old_tuple.size() == width, "old tuple width");
    for (const TupleView* t : {&row->new_tuple, &row->old_tuple}) {
      for (ColumnValueView v : *t) {
        require(fuzz::within(t->bytes(), v.bytes.data(), v.bytes.size()), "value outside its tuple");
        s += static_cast<char>(v.kind);
        s.append(v.text());
      }
    }
    s += row->relation->qualified_name();
  } else if (const auto* m = std::get_if<MessageEventView>(&e)) {
    s.append(m->prefix);
    s.append(reinterpret_cast<const char*>(m->content.data()), m->content.size());
  } else if (const auto* tr = std::get_if<TruncateEventView>(&e)) {
    for (const auto* r : tr->relations) s += r->qualified_name();
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wal2json::Wal2JsonEventDecoder in_place(catalog());
  wal2json::Wal2JsonEventDecoder copying(catalog());
  std::vector<std::byte> padded;
  fuzz::for_each_message(data, size, [&](std::span<const std::byte> msg, std::size_t offset) {
    padded.assign(msg.begin(), msg.end());
    padded.resize(msg.size() + simdjson::SIMDJSON_PADDING, std::byte{'x'});
    const WalMessage a{Lsn{offset + 1},           Lsn{}, PgTimestamp{}, std::span(padded.data(), msg.size()), 0,
                       simdjson::SIMDJSON_PADDING};
    const WalMessage b{Lsn{offset + 1}, Lsn{}, PgTimestamp{}, msg, 0, 0};
    std::vector<std::string> ea, eb;
    const Status sa = in_place.decode(a, [&](const ChangeEvent& e) -> Status {
      ea.push_back(summary(e));
      return ok_status();
    });
    const Status sb = copying.decode(b, [&](const ChangeEvent& e) -> Status {
      eb.push_back(summary(e));
      return ok_status();
    });
    require(static_cast<bool>(sa) == static_cast<bool>(sb), "padded in place and copied disagree on the status");
    require(ea == eb, "padded in place and copied disagree on the events");
    if (!sa) {
      require(!sa.error().retryable(), "a decoding error is retryable", sa.error().message);
      require(sa.error().message.find("wal2json") != std::string::npos, "error does not say wal2json",
              sa.error().message);
      require(sa.error().message == sb.error().message, "error messages differ", sa.error().message);
    }
  });
  return 0;
}
