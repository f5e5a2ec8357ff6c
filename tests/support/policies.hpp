// Test helpers for the composition layer: pgoutput message builders (big-endian, as the server
// writes them), a scripted transport that fails its Nth operation on purpose, and sinks / stores
// that fail on demand.
//   ScriptedTransport t;  t.wal(0x100, wire::begin(0x200, 7));  t.keepalive(0x300, true);  t.end();
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "replicator/batch/batch.hpp"
#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/position/position.hpp"
#include "replicator/core/transport_event.hpp"
#include "tests/support/pgoutput_writer.hpp"
#include "tests/support/runfiles.hpp"

namespace replicator::test {

namespace wire {

using Writer = MessageWriter;

using StreamXid = std::optional<std::uint32_t>;

inline Bytes begin(std::uint64_t final_lsn, std::uint32_t xid, std::int64_t time = 1000) {
  return Writer('B').u64(final_lsn).u64(static_cast<std::uint64_t>(time)).u32(xid).take();
}
inline Bytes commit(std::uint64_t commit_lsn, std::uint64_t end_lsn, std::int64_t time = 1000) {
  return Writer('C').u8(0).u64(commit_lsn).u64(end_lsn).u64(static_cast<std::uint64_t>(time)).take();
}
struct Col {
  std::string name;
  std::uint32_t type_oid = 25;
  bool key = false;
};
inline Bytes relation(std::uint32_t oid, std::string_view schema, std::string_view name, const std::vector<Col>& cols,
                      StreamXid sx = std::nullopt) {
  Writer w('R');
  w.stream_xid(sx).u32(oid).cstr(schema).cstr(name).u8('d').u16(static_cast<std::uint16_t>(cols.size()));
  for (const auto& c : cols) w.u8(c.key ? 1 : 0).cstr(c.name).u32(c.type_oid).u32(0xFFFFFFFF);
  return w.take();
}
inline Bytes insert(std::uint32_t oid, const std::vector<Val>& vals, StreamXid sx = std::nullopt) {
  return Writer('I').stream_xid(sx).u32(oid).u8('N').tuple(vals).take();
}
// old_kind: 0 (none), 'K' or 'O'.
inline Bytes update(std::uint32_t oid, char old_kind, const std::vector<Val>& old_vals,
                    const std::vector<Val>& new_vals, StreamXid sx = std::nullopt) {
  Writer w('U');
  w.stream_xid(sx).u32(oid);
  if (old_kind != 0) w.u8(static_cast<std::uint8_t>(old_kind)).tuple(old_vals);
  return w.u8('N').tuple(new_vals).take();
}
inline Bytes delete_(std::uint32_t oid, char old_kind, const std::vector<Val>& old_vals, StreamXid sx = std::nullopt) {
  return Writer('D').stream_xid(sx).u32(oid).u8(static_cast<std::uint8_t>(old_kind)).tuple(old_vals).take();
}
inline Bytes truncate(const std::vector<std::uint32_t>& oids, std::uint8_t options, StreamXid sx = std::nullopt) {
  Writer w('T');
  w.stream_xid(sx).u32(static_cast<std::uint32_t>(oids.size())).u8(options);
  for (auto o : oids) w.u32(o);
  return w.take();
}
inline Bytes message(bool transactional, std::uint64_t lsn, std::string_view prefix, std::string_view content,
                     StreamXid sx = std::nullopt) {
  return Writer('M')
      .stream_xid(sx)
      .u8(transactional ? 1 : 0)
      .u64(lsn)
      .cstr(prefix)
      .u32(static_cast<std::uint32_t>(content.size()))
      .raw(content)
      .take();
}
inline Bytes stream_start(std::uint32_t xid, bool first) { return Writer('S').u32(xid).u8(first ? 1 : 0).take(); }
inline Bytes stream_stop() { return Writer('E').take(); }
inline Bytes stream_commit(std::uint32_t xid, std::uint64_t commit_lsn, std::uint64_t end_lsn,
                           std::int64_t time = 2000) {
  return Writer('c').u32(xid).u8(0).u64(commit_lsn).u64(end_lsn).u64(static_cast<std::uint64_t>(time)).take();
}
inline Bytes stream_abort(std::uint32_t xid, std::uint32_t subxid) { return Writer('A').u32(xid).u32(subxid).take(); }

}  // namespace wire

// A transport that plays a script of events. Each WalMessage's payload is copied into one reused
// receive buffer that is scribbled over on the next poll, so a view kept past poll() shows up.
class ScriptedTransport {
 public:
  struct Step {
    enum Kind { wal, keepalive, idle, end, error } kind = wal;
    Lsn lsn;
    Bytes bytes;
    bool reply = false;
  };

  ScriptedTransport& wal(std::uint64_t lsn, Bytes payload) {
    steps_.push_back({Step::wal, Lsn{lsn}, std::move(payload), false});
    return *this;
  }
  ScriptedTransport& keepalive(std::uint64_t wal_end, bool reply = false) {
    steps_.push_back({Step::keepalive, Lsn{wal_end}, {}, reply});
    return *this;
  }
  ScriptedTransport& idle() {
    steps_.push_back({Step::idle, {}, {}, false});
    return *this;
  }
  ScriptedTransport& end() {
    steps_.push_back({Step::end, {}, {}, false});
    return *this;
  }

  Status start(Lsn lsn) {
    starts.push_back(lsn);
    if (fail_start_) return ReplicationError::retry("scripted: start failed");
    return ok_status();
  }

  Result<TransportEvent, ReplicationError> poll(std::chrono::milliseconds) {
    ++polls;
    if (fail_poll_at_ != 0 && polls == fail_poll_at_) return ReplicationError::retry("scripted: injected poll failure");
    std::fill(rx_.begin(), rx_.end(), std::byte{0xEE});
    if (next_ >= steps_.size()) return TransportEvent{Idle{}};
    const Step& s = steps_[next_++];
    switch (s.kind) {
      case Step::wal:
        rx_.assign(s.bytes.begin(), s.bytes.end());
        return TransportEvent{WalMessage{s.lsn, s.lsn, PgTimestamp{}, std::span<const std::byte>(rx_), 0}};
      case Step::keepalive: return TransportEvent{Keepalive{s.lsn, PgTimestamp{}, s.reply}};
      case Step::idle: return TransportEvent{Idle{}};
      case Step::end: return TransportEvent{EndOfStream{}};
      case Step::error: break;
    }
    return ReplicationError::fatal("scripted: bad step");
  }

  Status send_status(const StandbyStatus& s) {
    ++status_calls;
    if (fail_status_at_ != 0 && status_calls == fail_status_at_)
      return ReplicationError::retry("scripted: injected send_status failure");
    statuses.push_back(s);
    if (on_status) on_status(s);
    return ok_status();
  }
  std::function<void(const StandbyStatus&)> on_status;

  // The Nth poll / send_status (counted from the first) fails with a retryable error.
  void fail_nth_poll(std::size_t n) { fail_poll_at_ = polls + n; }
  void fail_nth_status(std::size_t n) { fail_status_at_ = status_calls + n; }
  void fail_start(bool f) { fail_start_ = f; }
  void rewind() { next_ = 0; }
  void reserve_receive_buffer(std::size_t n) { rx_.reserve(n); }
  [[nodiscard]] bool done() const { return next_ >= steps_.size(); }

  std::vector<Lsn> starts;
  std::vector<StandbyStatus> statuses;
  std::size_t polls = 0;
  std::size_t status_calls = 0;

  [[nodiscard]] Lsn last_flushed() const { return statuses.empty() ? Lsn{} : statuses.back().flushed; }

 private:
  std::vector<Step> steps_;
  std::size_t next_ = 0;
  Bytes rx_;
  std::size_t fail_poll_at_ = 0;
  std::size_t fail_status_at_ = 0;
  bool fail_start_ = false;
};

// One captured event, owned (what a sink saw).
struct SeenEvent {
  std::string kind;  // event_name()
  Lsn lsn;
  Xid xid = 0;
  std::string table;  // schema.table for rows
  std::string id;     // text of the first column of the row (new, or old for deletes)
  Lsn commit_lsn;
  Lsn end_lsn;  // commits
};

inline SeenEvent see(const ChangeEvent& e) {
  SeenEvent s;
  s.kind = std::string(event_name(e));
  const TxnContext t = txn_of(e);
  s.xid = t.xid;
  s.commit_lsn = t.commit_lsn;
  std::visit(
      [&](const auto& ev) {
        if constexpr (requires { ev.lsn; }) s.lsn = ev.lsn;
      },
      e);
  if (const auto* r = std::get_if<RowChangeView>(&e)) {
    s.table = r->relation->qualified_name();
    const TupleView& row = r->row();
    if (!row.empty()) {
      auto v = row[0];
      s.id = v.is_null() ? "NULL" : std::string(v.text());
    }
  }
  if (const auto* c = std::get_if<CommitEvent>(&e)) s.end_lsn = c->end_lsn;
  return s;
}

// A sink that records what it saw and what was durable, and fails on demand.
struct RecordingSink {
  std::vector<SeenEvent> written;  // everything write() received
  std::vector<SeenEvent> durable;  // everything covered by a successful flush()
  Lsn durable_commit_end;          // the last commit end LSN made durable
  std::size_t pending_ = 0;
  std::size_t write_calls = 0, flush_calls = 0;
  std::size_t fail_write_at = 0, fail_flush_at = 0;  // 1-based call numbers, 0: never

  Status write(const Batch& b) {
    ++write_calls;
    if (fail_write_at != 0 && write_calls == fail_write_at)
      return ReplicationError::retry("sink: injected write failure");
    for (const auto& e : b.events()) written.push_back(see(e));
    return ok_status();
  }
  Status flush() {
    ++flush_calls;
    if (fail_flush_at != 0 && flush_calls == fail_flush_at) {
      written.resize(durable.size());  // the un-flushed writes are lost
      return ReplicationError::retry("sink: injected flush failure");
    }
    for (std::size_t i = durable.size(); i < written.size(); ++i) {
      durable.push_back(written[i]);
      if (written[i].kind == "commit") durable_commit_end = written[i].end_lsn;
    }
    return ok_status();
  }
};

// A position store over memory that fails its Nth save.
struct FlakyStore {
  std::optional<Position> position;
  std::size_t save_calls = 0;
  std::size_t fail_save_at = 0;  // 1-based, 0: never
  bool fail_all = false;
  bool fail_fatal = false;  // the injected failure is fatal, not retryable

  Result<std::optional<Position>, ReplicationError> load() const { return position; }
  Status save(const Position& p) {
    ++save_calls;
    if (fail_all || (fail_save_at != 0 && save_calls == fail_save_at))
      return fail_fatal ? ReplicationError::fatal("store: injected fatal save failure")
                        : ReplicationError::retry("store: injected save failure");
    position = p;
    history.push_back(p.lsn);
    if (on_save) on_save(p);
    return ok_status();
  }
  std::vector<Lsn> history;
  std::function<void(const Position&)> on_save;
};

}  // namespace replicator::test
