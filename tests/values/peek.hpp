// Test helper: a publication + pgoutput slot on the real server (scripts/with_postgres.sh), whose
// changes are read with pg_logical_slot_peek_binary_changes, so the same WAL can be decoded twice,
// with binary=false and binary=true, through PgOutputEventDecoder.
//   PeekSlot s(db, {"public.t"});  db.exec("INSERT ...");
//   s.decode(true, [](const ChangeEvent& e) { ... });   // binary=true; views valid during the call
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "replicator/change/event.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/core/transport_event.hpp"
#include "tests/support/pg.hpp"

namespace replicator::test {

inline std::vector<std::byte> from_hex(const std::string& hex) {
  auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::vector<std::byte> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::byte>(nib(hex[2 * i]) * 16 + nib(hex[2 * i + 1]));
  return out;
}

class PeekSlot {
 public:
  // `publication_sql_tail`: what follows CREATE PUBLICATION name, e.g. "FOR TABLE public.t".
  PeekSlot(const PgSession& db, const std::string& publication_sql_tail)
      : db_(db), slot_(unique_name("vslot")), pub_(unique_name("vpub")) {
    db_.exec("CREATE PUBLICATION " + db_.quote_ident(pub_) + " " + publication_sql_tail);
    db_.exec("SELECT pg_create_logical_replication_slot(" + db_.quote_literal(slot_) + ", 'pgoutput')");
  }
  ~PeekSlot() {
    try {
      db_.exec("SELECT pg_drop_replication_slot(" + db_.quote_literal(slot_) + ")");
      db_.exec("DROP PUBLICATION IF EXISTS " + db_.quote_ident(pub_));
    } catch (...) {}
  }
  PeekSlot(const PeekSlot&) = delete;
  PeekSlot& operator=(const PeekSlot&) = delete;

  [[nodiscard]] const std::string& publication() const { return pub_; }
  [[nodiscard]] const std::string& slot() const { return slot_; }

  // Decodes everything in the slot so far (without consuming it) with binary on or off.
  void decode(bool binary, const std::function<void(const ChangeEvent&)>& on_event, int proto = 1) const {
    auto rows = db_.query("SELECT lsn::text, encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes(" +
                          db_.quote_literal(slot_) + ", NULL, NULL, 'proto_version', '" + std::to_string(proto) +
                          "', 'publication_names', " + db_.quote_literal(db_.quote_ident(pub_)) + ", 'binary', '" +
                          (binary ? "true" : "false") + "')");
    PgOutputEventDecoder decoder;
    for (const auto& row : rows) {
      const auto bytes = from_hex(*row[1]);
      auto lsn = Lsn::parse(*row[0]);
      if (!lsn) throw std::runtime_error("bad lsn " + *row[0]);
      WalMessage m{*lsn, *lsn, PgTimestamp{}, bytes, 0};
      auto st = decoder.decode(m, [&](const ChangeEvent& e) -> Status {
        on_event(e);
        return ok_status();
      });
      if (!st) throw std::runtime_error("decode failed: " + st.error().message);
    }
  }

  // Only the row changes.
  void rows(bool binary, const std::function<void(const RowChangeView&)>& on_row) const {
    decode(binary, [&](const ChangeEvent& e) {
      if (const auto* r = std::get_if<RowChangeView>(&e)) on_row(*r);
    });
  }

 private:
  const PgSession& db_;
  std::string slot_;
  std::string pub_;
};

}  // namespace replicator::test
