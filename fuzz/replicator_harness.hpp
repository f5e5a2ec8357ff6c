// Drives a stream file through ReplayTransport into the whole Replicator and checks what must hold
// for any input: the confirmed position never goes back and never passes the last transaction the
// sink received; every event the sink gets formats to valid JSON; every error is typed and names an
// offset in the file. Shared by //fuzz:replicator_fuzzer and tests/hostile.
//   auto run = run_replay(bytes, TransactionBatcher{}, RunOptions{});
//   if (!run.violation.empty()) fail(run.violation);  if (run.error) use(run.error->message);
#pragma once

#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <simdjson.h>

#include "replicator/batch/batch.hpp"
#include "replicator/batch/batcher.hpp"
#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/json_lines.hpp"
#include "replicator/transport/replay.hpp"
#include "tests/support/failing_transport.hpp"

namespace replicator::fuzz {

// What the decoder and the sink saw. The Replicator owns its policies, so they report here.
struct Observed {
  Lsn start;        // the stored position the run resumed from
  Lsn sink_commit;  // highest end LSN of a Commit the sink received
  Lsn no_data_end;  // highest end LSN of a completion that leaves nothing to write
  // What the batcher holds, and whether it surely holds rows (then its commit reaches the sink).
  struct Held {
    Xid xid = 0;
    std::string gid;
    bool has_data = false;
  };
  std::vector<Held> open_streams;  // streamed transactions, by xid
  std::vector<Held> prepared;      // prepared transactions, by GID
  bool txn_has_data = false;       // the open normal or prepared transaction has rows, truncates or messages
  std::string json;                // every line the sink got
  std::size_t lines = 0;
  std::size_t batches = 0;
  std::size_t commits = 0;  // Commit events the sink got
  bool check_shape = true;  // batches hold whole transactions (no split, no spill)
  std::string violation;    // the first broken invariant; empty when none

  // The highest position that may be confirmed.
  [[nodiscard]] Lsn bound() const noexcept { return std::max({start, sink_commit, no_data_end}); }
  void violate(std::string what) {
    if (violation.empty()) violation = std::move(what);
  }
};

// The decoder under test, reporting each event the batcher accepted.
class ObservingDecoder {
 public:
  explicit ObservingDecoder(Observed* observed) : observed_(observed) {}

  template <class Handler>
  Status decode(const WalMessage& msg, Handler&& on_event) {
    return inner_.decode(msg, [&](const ChangeEvent& e) -> Status {
      auto st = on_event(e);
      if (st) note(e);
      return st;
    });
  }
  void reset() noexcept {
    inner_.reset();
    observed_->open_streams.clear();
    observed_->prepared.clear();
    observed_->txn_has_data = false;
  }
  void release_retired() noexcept { inner_.release_retired(); }
  [[nodiscard]] const PgOutputEventDecoder& inner() const noexcept { return inner_; }

 private:
  Observed::Held* find_stream(Xid xid) {
    for (auto& h : observed_->open_streams)
      if (h.xid == xid) return &h;
    return nullptr;
  }
  Observed::Held& open_stream(Xid xid) {
    if (auto* h = find_stream(xid)) return *h;
    return observed_->open_streams.emplace_back(Observed::Held{xid, {}, false});
  }
  // Removes the stream; returns whether it surely held rows.
  bool close_stream(Xid xid) {
    auto& v = observed_->open_streams;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it->xid != xid) continue;
      const bool data = it->has_data;
      v.erase(it);
      return data;
    }
    return false;
  }
  // Removes the prepared transaction; returns whether it surely held rows.
  bool take_prepared(std::string_view gid) {
    auto& v = observed_->prepared;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it->gid != gid) continue;
      const bool data = it->has_data;
      v.erase(it);
      return data;
    }
    return false;
  }
  void allow(Lsn end) {
    if (end > observed_->no_data_end) observed_->no_data_end = end;
  }

  // Mirrors what the batchers hand on. A transaction's commit reaches the sink when it surely held
  // rows (or keep_empty_transactions, which this does not assume); otherwise (no rows, a
  // subtransaction aborted, a Stream Commit with nothing held, an unknown Commit Prepared, a
  // Rollback Prepared) only the position may move, to its end.
  void note(const ChangeEvent& e) {
    std::visit(
        [&](const auto& ev) {
          using T = std::decay_t<decltype(ev)>;
          if constexpr (std::is_same_v<T, BeginEvent>) {
            if (ev.txn.streamed) {
              close_stream(ev.txn.top_xid);  // a first segment again: the batcher starts over
              open_stream(ev.txn.top_xid);
            } else {
              observed_->txn_has_data = false;
            }
          } else if constexpr (std::is_same_v<T, CommitEvent>) {
            if (!(ev.txn.streamed ? close_stream(ev.txn.top_xid) : observed_->txn_has_data)) allow(ev.end_lsn);
          } else if constexpr (std::is_same_v<T, StreamAbortEvent>) {
            if (ev.whole_transaction()) {
              close_stream(ev.xid);
            } else if (auto* h = find_stream(ev.xid)) {
              h->has_data = false;  // its rows may all have been the subtransaction's
            }
          } else if constexpr (requires {
                                 ev.kind;
                                 ev.gid;
                                 ev.end_lsn;
                                 ev.streamed;
                               }) {  // two-phase
            const std::string_view kind = to_string(ev.kind);
            if (kind == "begin_prepare") {
              observed_->txn_has_data = false;
            } else if (kind == "prepare") {
              const bool data = ev.streamed ? close_stream(ev.txn.top_xid) : observed_->txn_has_data;
              take_prepared(ev.gid);  // the same GID again: the newer one counts
              observed_->prepared.push_back(Observed::Held{ev.txn.xid, std::string(ev.gid), data});
            } else if (kind == "commit_prepared") {
              if (!take_prepared(ev.gid)) allow(ev.end_lsn);
            } else if (kind == "rollback_prepared") {
              take_prepared(ev.gid);
              allow(ev.end_lsn);
            }
          } else if constexpr (requires { ev.txn.streamed; }) {  // rows, truncates, messages, schema changes
            bool data = !std::is_same_v<T, SchemaChangeEvent>;
            if constexpr (std::is_same_v<T, MessageEventView>) data = ev.transactional;
            if (ev.txn.streamed) {
              open_stream(ev.txn.top_xid).has_data |= data;
            } else {
              observed_->txn_has_data |= data;
            }
          }
        },
        e);
  }

  PgOutputEventDecoder inner_;
  Observed* observed_;
};

// Formats every event as a JSON line, checks the line parses, and records the commits it got.
class RecordingSink {
 public:
  explicit RecordingSink(Observed* observed) : observed_(observed) {}

  Status write(const Batch& batch) {
    ++observed_->batches;
    bool in_txn = false;
    for (const ChangeEvent& e : batch.events()) {
      line_.clear();
      if (auto st = format::append_event_json(line_, e); !st) {
        observed_->violate("an event the decoder accepted does not format as JSON: " + st.error().message);
        return st;
      }
      if (!line_.empty()) {
        if (parser_.parse(line_).error() != simdjson::SUCCESS) observed_->violate("invalid JSON line: " + line_);
        observed_->json += line_;
        observed_->json += '\n';
        ++observed_->lines;
      }
      // Stream Abort and two-phase events steer the batcher; a sink never gets them.
      const bool batcher_only = std::visit(
          [](const auto& ev) {
            return std::is_same_v<std::decay_t<decltype(ev)>, StreamAbortEvent> || requires {
              ev.gid;
              ev.kind;
            };
          },
          e);
      if (batcher_only) observed_->violate("the sink got a " + std::string(event_name(e)) + " event");
      if (const auto* c = std::get_if<CommitEvent>(&e)) {
        ++observed_->commits;
        if (c->end_lsn > observed_->sink_commit) observed_->sink_commit = c->end_lsn;
      }
      if (observed_->check_shape) check_shape(e, in_txn);
    }
    if (observed_->check_shape && in_txn) observed_->violate("a batch ends inside a transaction");
    return ok_status();
  }
  Status flush() { return ok_status(); }

 private:
  void check_shape(const ChangeEvent& e, bool& in_txn) {
    if (std::holds_alternative<BeginEvent>(e)) {
      if (in_txn) observed_->violate("Begin inside a transaction in a batch");
      in_txn = true;
    } else if (std::holds_alternative<CommitEvent>(e)) {
      if (!in_txn) observed_->violate("Commit without Begin in a batch");
      in_txn = false;
    } else if (std::holds_alternative<RowChangeView>(e) || std::holds_alternative<TruncateEventView>(e)) {
      if (!in_txn) observed_->violate("a change outside Begin..Commit in a batch");
    }
  }

  Observed* observed_;
  std::string line_;
  simdjson::dom::parser parser_;
};

struct RunOptions {
  Lsn stored;                        // resume from this stored position (invalid: nothing stored)
  std::size_t fail_poll = 0;         // this poll fails like a dropped connection, then recover() (0: never)
  bool shutdown_after_error = true;  // shutdown() after a failed run_once, as a program would on exit
  bool check_shape = true;           // every batch holds whole transactions (not with split or spill)
  bool trace = false;                // record the confirmed position and the output size after each poll
};

struct RunResult {
  Observed observed;
  std::optional<ReplicationError> error;  // what stopped the run (not the injected failure)
  bool ended = false;                     // reached EndOfStream and shut down cleanly
  Lsn flushed;                            // the confirmed position at the end
  std::size_t polls = 0;
  std::size_t recovers = 0;
  std::vector<StandbyStatus> statuses;
  std::string violation;                // first broken invariant (observed's or the loop's)
  std::vector<Lsn> trace_flushed;       // RunOptions::trace: after each poll
  std::vector<std::size_t> trace_json;  // RunOptions::trace: observed.json.size() after each poll
};

// Batcher options for whole-transaction batches whose every commit reaches the sink (the bound
// on the confirmed position is then exact): keep empty transactions, never spill.
inline BatcherOptions whole_transaction_options() {
  BatcherOptions o;
  o.keep_empty_transactions = true;
  if constexpr (requires { o.memory_limit_bytes; }) o.memory_limit_bytes = 0;
  return o;
}

namespace detail {
// Every "offset N" in `message` names a byte of the file; at least one is there.
inline bool names_offsets_within(std::string_view message, std::size_t file_size) {
  bool any = false;
  for (std::size_t at = message.find("offset "); at != std::string_view::npos; at = message.find("offset ", at + 1)) {
    std::size_t i = at + 7;
    if (i >= message.size() || message[i] < '0' || message[i] > '9') continue;
    std::uint64_t v = 0;
    for (; i < message.size() && message[i] >= '0' && message[i] <= '9' && v < (1ULL << 60); ++i)
      v = v * 10 + static_cast<std::uint64_t>(message[i] - '0');
    if (v > file_size) return false;
    any = true;
  }
  return any;
}

inline std::size_t open_fds() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}
}  // namespace detail

// Runs `bytes` to its end (or first error) with the given batcher, checking after every poll.
template <class Batcher>
RunResult run_replay(std::vector<std::byte> bytes, Batcher batcher, const RunOptions& options) {
  RunResult res;
  Observed& obs = res.observed;
  const std::size_t file_size = bytes.size();
  const std::size_t fds_before = detail::open_fds();
  {
    MemoryPositionStore store;
    if (options.stored.is_valid()) (void)store.save(Position{options.stored, 0, "fuzz", 0, {}});
    obs.start = options.stored;
    obs.check_shape = options.check_shape;
    ReplicatorOptions ropts;
    ropts.slot_name = "fuzz";
    Replicator r(test::FailingPoll<transport::ReplayTransport>(transport::ReplayTransport(std::move(bytes))),
                 ObservingDecoder(&obs), std::move(batcher), std::move(store), RecordingSink(&obs), ropts);
    if (options.fail_poll != 0) r.transport().fail_nth_poll(options.fail_poll);

    Lsn last = r.flushed_lsn();
    std::size_t seen_status = 0;
    auto check = [&](const char* when) {
      const Lsn f = r.flushed_lsn();
      if (f < last) obs.violate(std::string("confirmed position went back ") + when);
      last = f;
      if (f > obs.bound())
        obs.violate(std::string("confirmed ") + f.to_string() + " past the last transaction the sink got (" +
                    obs.bound().to_string() + ") " + when);
      const auto& st = r.transport().status_updates();
      for (; seen_status < st.size(); ++seen_status) {
        const StandbyStatus& s = st[seen_status];
        if (s.flushed > obs.bound()) obs.violate(std::string("status update flushed past the sink ") + when);
        if (s.written < s.flushed) obs.violate(std::string("status update written < flushed ") + when);
        if (seen_status > 0 && s.flushed < st[seen_status - 1].flushed)
          obs.violate(std::string("status update flushed went back ") + when);
      }
      const auto& p = r.position_store().position();
      if (p && p->lsn != f) obs.violate(std::string("stored position differs from the confirmed one ") + when);
    };

    if (auto st = r.start(); !st) {
      obs.violate("start() failed: " + st.error().message);
    } else {
      // One poll per frame, plus the end, plus a restart after the injected failure.
      const std::size_t limit = 2 * (file_size / transport::kFrameHeaderSize + 2) + 4;
      bool failed = false;
      for (; res.polls < limit; ++res.polls) {
        auto more = r.run_once(std::chrono::milliseconds(0));
        check("after a poll");
        if (options.trace) {
          res.trace_flushed.push_back(r.flushed_lsn());
          res.trace_json.push_back(obs.json.size());
        }
        if (!more) {
          const ReplicationError& e = more.error();
          if (options.fail_poll != 0 && res.recovers == 0 && e.retryable() &&
              e.message.find("injected") != std::string::npos) {
            ++res.recovers;
            if (auto rs = r.recover(); !rs) obs.violate("recover() failed: " + rs.error().message);
            check("after recover()");
            continue;
          }
          res.error = e;
          failed = true;
          break;
        }
        if (!*more) break;
      }
      if (res.polls == limit) obs.violate("the replay did not end");
      if (!failed) {
        if (auto st = r.shutdown(); !st) {
          res.error = st.error();
        } else {
          res.ended = true;
        }
        check("after shutdown()");
      } else if (options.shutdown_after_error) {
        (void)r.shutdown();
        check("after shutdown() following an error");
      }
      if (res.error) {
        const ReplicationError& e = *res.error;
        if (e.message.empty()) obs.violate("an error without a message");
        if (e.retryable()) obs.violate("a bad file gave a retryable error: " + e.message);
        if (!detail::names_offsets_within(e.message, file_size))
          obs.violate("an error without an offset in the file: " + e.message);
      }
    }
    res.flushed = r.flushed_lsn();
    res.statuses = r.transport().status_updates();
  }
  if (detail::open_fds() != fds_before) obs.violate("file descriptors leaked (spill files?)");
  res.violation = obs.violation;
  return res;
}

}  // namespace replicator::fuzz
