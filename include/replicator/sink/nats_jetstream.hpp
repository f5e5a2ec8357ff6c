// NatsJetStreamSink: each change event as one NATS JetStream message (the bytes of the JSON lines
// sink's line, without the '\n') on `<prefix>.<schema>.<table>`, with a stable Nats-Msg-Id so the
// stream's duplicate window drops what a restart re-sends. flush() returns once every message of
// the batch has a PubAck (stored on the stream's quorum), so the slot only moves past acknowledged
// changes. Links libnats: use //:replicator_nats, not the core target.
//   NatsJetStreamSink sink({.urls = {"nats://127.0.0.1:4222"}, .stream = "CDC"});
//   DebeziumNatsJetStreamSink dbz(options, DebeziumFormatter({.server_name = "shop"}));
//
// Ordering: messages are published asynchronously (at most max_in_flight without a PubAck), and
// each one after the first of a flush carries Nats-Expected-Last-Msg-Id = the id of the one before
// (order_guard), so the server refuses a message whose predecessor was not stored (a leader change
// mid-window): the stream never holds a later change before an earlier one. A refused or failed
// publish fails the flush as retryable; the next attempt re-sends the batch and the duplicate
// window drops what was stored already.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "replicator/batch/batch.hpp"
#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/format/debezium.hpp"
#include "replicator/format/json.hpp"
#include "replicator/sink/json_lines.hpp"
#include "replicator/sink/nats_options.hpp"

namespace replicator {

namespace nats {

// What one event is published as: the subject(s) and the Replicator-Op header.
inline std::string_view op_name(const ChangeEvent& e) {
  return std::visit(
      [](const auto& ev) -> std::string_view {
        using E = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<E, RowChangeView>) return to_string(ev.op);
        else if constexpr (std::is_same_v<E, TruncateEventView>) return "truncate";
        else if constexpr (std::is_same_v<E, MessageEventView>) return "message";
        else if constexpr (std::is_same_v<E, BeginEvent>) return "begin";
        else if constexpr (std::is_same_v<E, CommitEvent>) return "commit";
        else if constexpr (std::is_same_v<E, SchemaChangeEvent>) return "schema_change";
        else return "other";
      },
      e);
}

}  // namespace nats

namespace detail {

// libnats' process-wide state: opened once, never closed (other users may share it).
inline void nats_open_once() {
  static const bool opened = [] {
    nats_Open(-1);
    return true;
  }();
  (void)opened;
}

inline std::string nats_status_text(natsStatus s) {
  std::string out = natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  if (const char* detail = nats_GetLastError(&last); detail != nullptr && *detail != '\0' && last == s)
    out += std::string(": ") + detail;
  return out;
}

// One message of the batch being flushed.
struct NatsOutgoing {
  std::string subject;
  std::string payload;
  std::string id;   // Nats-Msg-Id
  std::string lsn;  // Replicator-Lsn
  std::string xid;  // Replicator-Xid
  std::string_view op;
  std::string table;  // for the too-large line
  enum class State : std::uint8_t { waiting, in_flight, acked, failed, abandoned } state = State::waiting;
};

// Shared with libnats' ack thread: the sink's messages and their acks, behind one mutex.
struct NatsPublishState {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<NatsOutgoing> out;
  std::unordered_map<std::string, std::size_t> index_of;  // Nats-Msg-Id -> position in out
  std::size_t in_flight = 0;
  std::size_t acked = 0;
  std::optional<std::size_t> first_failed;  // lowest position that failed
  std::string failure;                      // why (of first_failed)
  bool failure_fatal = false;
  std::size_t order_refusals = 0;  // this attempt's publishes refused by the order guard (wrong last msg id)
  std::uint64_t total_acked = 0;
  std::uint64_t total_duplicates = 0;
  std::uint64_t total_order_refusals = 0;
  std::chrono::steady_clock::time_point last_ack;

  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<NatsPublishState*>(closure);
    const char* id = nullptr;
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr) {
      std::lock_guard lock(self->mu);
      auto it = self->index_of.find(id);
      if (it != self->index_of.end() && self->out[it->second].state == NatsOutgoing::State::in_flight) {
        NatsOutgoing& m = self->out[it->second];
        --self->in_flight;
        self->last_ack = std::chrono::steady_clock::now();
        if (pa != nullptr) {
          m.state = NatsOutgoing::State::acked;
          ++self->acked;
          ++self->total_acked;
          if (pa->Duplicate) ++self->total_duplicates;
        } else {
          m.state = NatsOutgoing::State::failed;
          if (pae != nullptr && pae->ErrCode == JSStreamWrongLastMsgIDErr) {
            ++self->order_refusals;
            ++self->total_order_refusals;
          }
          if (!self->first_failed || it->second < *self->first_failed) {
            self->first_failed = it->second;
            self->failure = describe(pae, m);
            // The server refused it for good (larger than the stream allows): retrying cannot help.
            // Everything else (503 no responders, timeout, wrong last msg id) can.
            self->failure_fatal = pae != nullptr && pae->ErrCode == JSStreamMessageExceedsMaximumErr;
          }
        }
        self->cv.notify_all();
      }
    }
    natsMsg_Destroy(msg);
  }

  static std::string describe(const jsPubAckErr* pae, const NatsOutgoing& m) {
    std::string why = pae == nullptr ? std::string("no acknowledgement") : std::string(natsStatus_GetText(pae->Err));
    if (pae != nullptr && pae->ErrText != nullptr && *pae->ErrText != '\0')
      why += std::string(" (") + pae->ErrText + ")";
    if (pae != nullptr && pae->ErrCode != 0) why += " [err_code " + std::to_string(pae->ErrCode) + "]";
    if (pae != nullptr && pae->ErrCode == JSStreamMessageExceedsMaximumErr) why += " (raise the stream's max_msg_size)";
    return why + " publishing " +
           (m.table.empty() ? std::string() : "the change of " + m.table + " at LSN " + m.lsn + " ") + "(Nats-Msg-Id " +
           m.id + ") to " + m.subject;
  }
};

}  // namespace detail

template <class Formatter>
class BasicNatsJetStreamSink {
  static_assert(LineFormatter<Formatter>,
                "Formatter does not satisfy LineFormatter: it needs lines(std::string&, const ChangeEvent&) -> Status");

 public:
  BasicNatsJetStreamSink(NatsJetStreamOptions options, Formatter formatter)
      : options_(std::move(options)),
        formatter_(std::move(formatter)),
        state_(std::make_unique<detail::NatsPublishState>()) {}
  explicit BasicNatsJetStreamSink(
      NatsJetStreamOptions options) requires std::same_as<Formatter, format::ChangeJsonFormatter>
      : BasicNatsJetStreamSink(options, format::ChangeJsonFormatter{options.publish_transactions, true}) {}

  BasicNatsJetStreamSink(BasicNatsJetStreamSink&& o) noexcept
      : options_(std::move(o.options_)),
        formatter_(std::move(o.formatter_)),
        state_(std::move(o.state_)),
        conn_(std::exchange(o.conn_, nullptr)),
        js_(std::exchange(o.js_, nullptr)),
        next_(o.next_),
        txn_commit_(o.txn_commit_),
        txn_index_(o.txn_index_),
        snapshot_table_(std::move(o.snapshot_table_)),
        max_payload_(o.max_payload_) {}
  BasicNatsJetStreamSink& operator=(BasicNatsJetStreamSink&&) = delete;
  BasicNatsJetStreamSink(const BasicNatsJetStreamSink&) = delete;
  ~BasicNatsJetStreamSink() { disconnect(); }

  // Connects (and checks or creates the stream). write() does it when not connected; calling it
  // first turns a bad URL, refused credentials or a missing stream into an error at startup.
  // Retryable: no server reachable. Fatal: credentials refused, TLS failure, stream missing (and
  // create_stream off), a stream the cluster cannot place (more replicas than servers).
  Status connect() {
    if (js_ != nullptr && natsConnection_Status(conn_) != NATS_CONN_STATUS_CLOSED) return ok_status();
    disconnect();
    detail::nats_open_once();
    natsOptions* opts = nullptr;
    if (auto st = make_options(&opts); !st) {
      natsOptions_Destroy(opts);
      return st;
    }
    const natsStatus s = natsConnection_Connect(&conn_, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
      conn_ = nullptr;
      const std::string text = detail::nats_status_text(s);
      if (s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED ||
          text.find("Authorization") != std::string::npos)
        return ReplicationError::fatal("the NATS server refused the credentials (" + auth_keys() + "): " + text);
      // libnats reads the credentials file at each connect and names it when it cannot use it
      // (unreadable, no JWT or no seed in it): no retry mends that. Its text names the file, never
      // the seed.
      if (!options_.creds_file.empty() && text.find(options_.creds_file) != std::string::npos)
        return ReplicationError::fatal(
            "nats_creds_file is not a usable credentials file (a user JWT and its nkey seed): " + text);
      if (s == NATS_SSL_ERROR || s == NATS_SECURE_CONNECTION_WANTED || s == NATS_SECURE_CONNECTION_REQUIRED)
        return ReplicationError::fatal("TLS to the NATS server failed (nats_tls_ca, nats_tls_cert, nats_tls_key): " +
                                       text);
      return ReplicationError::retry("cannot connect to NATS (" + join_urls() + "): " + text);
    }
    max_payload_ = static_cast<std::size_t>(natsConnection_GetMaxPayload(conn_));
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = options_.ack_timeout.count();
    // The window is ours (max_in_flight); libnats' own limit sits above it so that its count,
    // which drops only after our ack handler returned, never stalls a publish.
    jo.PublishAsync.MaxPending = static_cast<int64_t>(options_.max_in_flight) * 2 + 16;
    jo.PublishAsync.StallWait = options_.ack_timeout.count();
    jo.PublishAsync.AckHandler = &detail::NatsPublishState::on_ack;
    jo.PublishAsync.AckHandlerClosure = state_.get();
    if (const natsStatus js = natsConnection_JetStream(&js_, conn_, &jo); js != NATS_OK) {
      js_ = nullptr;
      disconnect();
      return ReplicationError::retry("cannot open a JetStream context: " + detail::nats_status_text(js));
    }
    if (auto st = ensure_stream(); !st) {
      disconnect();
      return st;
    }
    return ok_status();
  }

  // Formats the batch and publishes it (asynchronously, at most max_in_flight awaiting an ack).
  Status write(const Batch& batch) {
    if (auto st = connect(); !st) return st;
    settle();  // a previous attempt that failed leaves nothing behind
    for (const ChangeEvent& e : batch.events()) {
      if (auto st = add(e); !st) {
        settle();
        return st;
      }
    }
    if (auto st = publish_ready(); !st) {
      settle();
      return st;
    }
    return ok_status();
  }

  // Returns once every message written since the last flush has a PubAck; any failure (nack,
  // timeout, 503 no responders, refused order) fails it as retryable after the window drained.
  Status flush() {
    if (js_ == nullptr) return ok_status();
    Status st = publish_all();
    if (st) {
      std::lock_guard lock(state_->mu);
      state_->out.clear();
      state_->index_of.clear();
      state_->acked = 0;
      next_ = 0;
      return st;
    }
    settle();
    return st;
  }

  [[nodiscard]] std::uint64_t acked() const {
    std::lock_guard lock(state_->mu);
    return state_->total_acked;
  }
  // Acks the server marked duplicate (dropped by the duplicate window: re-sent after a restart).
  [[nodiscard]] std::uint64_t duplicates() const {
    std::lock_guard lock(state_->mu);
    return state_->total_duplicates;
  }
  // Publishes the server refused because the one before them was not stored (the order guard).
  [[nodiscard]] std::uint64_t order_refusals() const {
    std::lock_guard lock(state_->mu);
    return state_->total_order_refusals;
  }
  [[nodiscard]] const NatsJetStreamOptions& options() const noexcept { return options_; }
  [[nodiscard]] std::size_t max_payload() const noexcept { return max_payload_; }

  // The stream created with create_stream: subjects `<prefix>.>`, file storage, replicas, window.
  [[nodiscard]] std::string stream_subject() const { return options_.subject_prefix + ".>"; }

 private:
  // The configured way to authenticate, for the line that says the server refused it.
  [[nodiscard]] std::string auth_keys() const {
    if (!options_.creds_file.empty()) return "nats_creds_file";
    if (!options_.user.empty()) return "nats_user / nats_password";
    if (!options_.token.empty()) return "nats_token";
    return "none set: nats_creds_file, nats_user + nats_password or nats_token";
  }

  Status make_options(natsOptions** out) {
    if (natsOptions_Create(out) != NATS_OK)
      return ReplicationError::fatal("cannot create NATS options (out of memory)");
    natsOptions* o = *out;
    std::vector<const char*> urls;
    for (const auto& u : options_.urls) urls.push_back(u.c_str());
    auto check = [](natsStatus s, std::string_view what) -> Status {
      if (s == NATS_OK) return ok_status();
      return ReplicationError::fatal(std::string(what) + ": " + detail::nats_status_text(s));
    };
    if (auto st = check(natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size())), "bad nats_url"); !st)
      return st;
    (void)natsOptions_SetName(o, options_.connection_name.c_str());
    (void)natsOptions_SetTimeout(o, 2000);
    (void)natsOptions_SetMaxReconnect(o, -1);  // libnats rides out a server restart; flush() times out meanwhile
    (void)natsOptions_SetReconnectWait(o, 250);
    (void)natsOptions_SetNoRandomize(o, false);
    if (!options_.creds_file.empty()) {
      if (auto st = check(natsOptions_SetUserCredentialsFromFiles(o, options_.creds_file.c_str(), nullptr),
                          "nats_creds_file");
          !st)
        return st;
    }
    if (!options_.user.empty()) {
      if (auto st = check(natsOptions_SetUserInfo(o, options_.user.c_str(), options_.password.c_str()), "nats_user");
          !st)
        return st;
    }
    if (!options_.token.empty()) {
      if (auto st = check(natsOptions_SetToken(o, options_.token.c_str()), "nats_token"); !st) return st;
    }
    if (!options_.tls_ca.empty() || !options_.tls_cert.empty()) {
      if (auto st = check(natsOptions_SetSecure(o, true), "TLS"); !st) return st;
      if (!options_.tls_ca.empty()) {
        if (auto st = check(natsOptions_LoadCATrustedCertificates(o, options_.tls_ca.c_str()), "nats_tls_ca"); !st)
          return st;
      }
      if (!options_.tls_cert.empty()) {
        if (auto st = check(natsOptions_LoadCertificatesChain(o, options_.tls_cert.c_str(), options_.tls_key.c_str()),
                            "nats_tls_cert / nats_tls_key");
            !st)
          return st;
      }
    }
    return ok_status();
  }

  Status ensure_stream() {
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, options_.stream.c_str(), nullptr, &code);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return ok_status();
    }
    if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
      return ReplicationError::retry("cannot look up NATS stream " + options_.stream + ": " +
                                     detail::nats_status_text(s));
    }
    if (!options_.create_stream) {
      return ReplicationError::fatal("NATS stream " + options_.stream + " does not exist: create it (subjects " +
                                     stream_subject() + ") or set nats_create_stream: true");
    }
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const std::string subject = stream_subject();
    const char* subjects[] = {subject.c_str()};
    cfg.Name = options_.stream.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = options_.replicas;
    cfg.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.duplicate_window).count();
    code = static_cast<jsErrCode>(0);
    s = js_AddStream(&si, js_, &cfg, nullptr, &code);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return ok_status();
    }
    const std::string text = detail::nats_status_text(s);
    if (code == JSStreamNameExistErr) return ok_status();  // another instance made it meanwhile
    if (code == JSClusterNoPeersErr || code == JSInsufficientResourcesErr ||
        text.find("no suitable peers") != std::string::npos)
      return ReplicationError::fatal("cannot create NATS stream " + options_.stream + " with " +
                                     std::to_string(options_.replicas) + " replicas: " + text +
                                     " (nats_replicas may not exceed the JetStream servers of the cluster)");
    if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS)
      return ReplicationError::retry("cannot create NATS stream " + options_.stream + " yet: " + text);
    return ReplicationError::fatal("cannot create NATS stream " + options_.stream + ": " + text);
  }

  void disconnect() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    js_ = nullptr;
    if (conn_ != nullptr) natsConnection_Destroy(conn_);
    conn_ = nullptr;
  }

  std::string join_urls() const {
    std::string s;
    for (const auto& u : options_.urls) s += (s.empty() ? "" : ",") + u;
    return s;
  }

  // The message id's first part: the transaction's commit LSN, restarting the index per transaction.
  std::string next_id(const TxnContext& txn, Lsn lsn, std::string_view table) {
    if (!txn.commit_lsn.is_valid()) {
      // Not in a transaction: a non-transactional message (its LSN is unique) or a snapshot row
      // (all share the consistent point: numbered per table in copy order).
      if (txn_commit_.is_valid() || table != snapshot_table_) {
        txn_commit_ = Lsn{};
        snapshot_table_ = std::string(table);
        txn_index_ = 0;
      }
      return lsn.to_string() + (table.empty() ? std::string("-m")
                                              : "-" + nats::subject_token(table) + "-" + std::to_string(txn_index_++));
    }
    if (txn.commit_lsn != txn_commit_) {
      txn_commit_ = txn.commit_lsn;
      txn_index_ = 0;
    }
    return txn_commit_.to_string() + "-" + std::to_string(txn_index_++);
  }

  Status add(const ChangeEvent& e) {
    const bool framing = std::holds_alternative<BeginEvent>(e) || std::holds_alternative<CommitEvent>(e);
    if (std::holds_alternative<StreamAbortEvent>(e) || std::holds_alternative<TwoPhaseEvent>(e)) return ok_status();
    if (framing && !options_.publish_transactions) {
      if (const auto* b = std::get_if<BeginEvent>(&e)) {  // the index restarts with each transaction
        txn_commit_ = b->txn.commit_lsn;
        txn_index_ = 0;
      }
      return ok_status();
    }
    line_.clear();
    if (auto st = formatter_.lines(line_, e); !st) return st;
    const std::string_view op = nats::op_name(e);
    const std::string& prefix = options_.subject_prefix;
    // Subjects: one per table the event is about.
    std::vector<std::pair<std::string, std::string>> targets;  // (subject, schema.table)
    Lsn lsn;
    TxnContext txn;
    std::visit(
        [&](const auto& ev) {
          using E = std::decay_t<decltype(ev)>;
          if constexpr (requires { ev.lsn; }) lsn = ev.lsn;
          if constexpr (requires { ev.txn; }) txn = ev.txn;
          auto table_of = [&](const RelationInfo* r) {
            if (r == nullptr) return std::pair<std::string, std::string>{prefix + ".unknown", "unknown"};
            return std::pair<std::string, std::string>{
                prefix + "." + nats::subject_token(r->schema) + "." + nats::subject_token(r->name),
                r->qualified_name()};
          };
          if constexpr (std::is_same_v<E, RowChangeView>) targets.push_back(table_of(ev.relation));
          else if constexpr (std::is_same_v<E, SchemaChangeEvent>) targets.push_back(table_of(ev.new_relation));
          else if constexpr (std::is_same_v<E, TruncateEventView>) {
            for (const RelationInfo* r : ev.relations) targets.push_back(table_of(r));
          } else if constexpr (std::is_same_v<E, MessageEventView>)
            targets.push_back({prefix + "._message." + nats::subject_token(ev.prefix), std::string()});
          else targets.push_back({prefix + ".transaction", std::string()});
        },
        e);
    if (const auto* b = std::get_if<BeginEvent>(&e)) {
      txn_commit_ = b->txn.commit_lsn;
      txn_index_ = 0;
    }
    // Each line the formatter wrote is one message (a Debezium delete may add a tombstone line).
    std::size_t start = 0;
    while (start < line_.size()) {
      std::size_t nl = line_.find('\n', start);
      if (nl == std::string::npos) nl = line_.size();
      const std::string_view payload(line_.data() + start, nl - start);
      start = nl + 1;
      for (const auto& [subject, table] : targets) {
        detail::NatsOutgoing m;
        m.subject = subject;
        m.payload = std::string(payload);
        const bool snapshot_row = !txn.commit_lsn.is_valid() && !table.empty();
        m.id = next_id(txn, lsn, snapshot_row ? table : std::string_view());
        m.lsn = lsn.to_string();
        m.xid = std::to_string(txn.xid);
        m.op = op;
        m.table = table;
        // The server counts headers and payload: "NATS/1.0", our four headers and the order chain.
        const std::size_t size = m.payload.size() + 2 * m.id.size() + m.lsn.size() + m.xid.size() + 128;
        if (max_payload_ != 0 && size > max_payload_) {
          return ReplicationError::fatal("a change of " + (table.empty() ? std::string(m.subject) : table) +
                                         " at LSN " + m.lsn + " is " + std::to_string(m.payload.size()) +
                                         " bytes, more than the NATS server's max_payload of " +
                                         std::to_string(max_payload_) +
                                         " bytes: raise max_payload in the nats-server configuration (up to 64 MB)");
        }
        std::lock_guard lock(state_->mu);
        state_->index_of[m.id] = state_->out.size();
        state_->out.push_back(std::move(m));
      }
    }
    if (options_.max_in_flight > 0 && pending_unsent() >= options_.max_in_flight) return publish_ready();
    return ok_status();
  }

  std::size_t pending_unsent() {
    std::lock_guard lock(state_->mu);
    return state_->out.size() - next_;
  }

  // Publishes waiting messages while the window has room; never waits for acks.
  Status publish_ready() {
    std::unique_lock lock(state_->mu);
    return publish_some(lock, false);
  }

  // Publishes everything, waiting for room and then for every ack.
  Status publish_all() {
    std::unique_lock lock(state_->mu);
    if (auto st = publish_some(lock, true); !st) return st;
    if (auto st = wait_acks(lock, 0); !st) return st;
    return ok_status();
  }

  Status publish_some(std::unique_lock<std::mutex>& lock, bool wait_for_room) {
    detail::NatsPublishState& s = *state_;
    // A failure stops publishing only when the window is full: what is in the window goes out
    // anyway (the order guard refuses what follows a gap), which keeps one attempt's effect on
    // the stream independent of when the failing ack arrives.
    while (next_ < s.out.size()) {
      if (s.in_flight >= options_.max_in_flight) {
        if (!wait_for_room) return ok_status();
        if (auto st = wait_acks(lock, options_.max_in_flight - 1); !st) return st;
        continue;
      }
      detail::NatsOutgoing& m = s.out[next_];
      natsMsg* msg = nullptr;
      natsStatus ns =
          natsMsg_Create(&msg, m.subject.c_str(), nullptr, m.payload.data(), static_cast<int>(m.payload.size()));
      if (ns == NATS_OK) ns = natsMsgHeader_Set(msg, "Nats-Msg-Id", m.id.c_str());
      if (ns == NATS_OK) ns = natsMsgHeader_Set(msg, "Replicator-Lsn", m.lsn.c_str());
      if (ns == NATS_OK) ns = natsMsgHeader_Set(msg, "Replicator-Xid", m.xid.c_str());
      if (ns == NATS_OK) ns = natsMsgHeader_Set(msg, "Replicator-Op", std::string(m.op).c_str());
      // The chain: each message of this flush after the first names the one before it, so the
      // server stores none whose predecessor it did not store.
      if (ns == NATS_OK && options_.order_guard && next_ > 0)
        ns = natsMsgHeader_Set(msg, "Nats-Expected-Last-Msg-Id", s.out[next_ - 1].id.c_str());
      if (ns != NATS_OK) {
        natsMsg_Destroy(msg);
        return ReplicationError::retry("cannot build the NATS message " + m.id + ": " + detail::nats_status_text(ns));
      }
      m.state = detail::NatsOutgoing::State::in_flight;
      ++s.in_flight;
      ++next_;
      lock.unlock();  // the ack handler may run inside the publish call
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = options_.ack_timeout.count();
      ns = js_PublishMsgAsync(js_, &msg, &po);
      natsMsg_Destroy(msg);  // no-op when the library took it
      lock.lock();
      if (ns != NATS_OK) {
        if (m.state == detail::NatsOutgoing::State::in_flight) {
          m.state = detail::NatsOutgoing::State::failed;
          --s.in_flight;
        }
        if (!s.first_failed || next_ - 1 < *s.first_failed) {
          s.first_failed = next_ - 1;
          s.failure = detail::nats_status_text(ns) + " publishing " + m.id + " to " + m.subject;
          s.failure_fatal = ns == NATS_MAX_PAYLOAD;
        }
        return failure_status();
      }
    }
    return failure_status();
  }

  // Waits until at most `max_left` publishes await an ack, a failure, or ack_timeout without any ack.
  Status wait_acks(std::unique_lock<std::mutex>& lock, std::size_t max_left) {
    detail::NatsPublishState& s = *state_;
    s.last_ack = std::chrono::steady_clock::now();
    for (;;) {
      if (auto st = failure_status(); !st) return st;
      if (s.in_flight <= max_left) return ok_status();
      const auto deadline = s.last_ack + options_.ack_timeout;
      if (std::chrono::steady_clock::now() >= deadline) {
        std::size_t first = 0;
        while (first < s.out.size() && s.out[first].state != detail::NatsOutgoing::State::in_flight) ++first;
        return ReplicationError::retry("no JetStream acknowledgement within " +
                                       std::to_string(options_.ack_timeout.count()) + " ms for " +
                                       std::to_string(s.in_flight) + " messages (first " +
                                       (first < s.out.size() ? s.out[first].id : std::string("?")) + ") on stream " +
                                       options_.stream + ": leader election, lost quorum or disconnected");
      }
      s.cv.wait_until(lock, deadline);
    }
  }

  Status failure_status() {
    detail::NatsPublishState& s = *state_;
    if (!s.first_failed) return ok_status();
    std::string msg = "NATS JetStream refused or lost a publish: " + s.failure;
    if (s.order_refusals > 0)
      msg += " (" + std::to_string(s.order_refusals) + " publishes of the window refused by the order guard)";
    if (s.failure_fatal) return ReplicationError::fatal(msg);
    return ReplicationError::retry(msg + "; the batch is re-sent (the duplicate window drops what was stored)");
  }

  // After a failure: waits for the window to drain (up to ack_timeout), takes back what is still
  // pending, and forgets this attempt. The next write() re-sends from the batch's first change.
  void settle() {
    {
      std::unique_lock lock(state_->mu);
      if (state_->out.empty() && next_ == 0) return;
      const auto deadline = std::chrono::steady_clock::now() + options_.ack_timeout;
      state_->cv.wait_until(lock, deadline, [&] { return state_->in_flight == 0; });
    }
    if (state_->in_flight > 0 && js_ != nullptr) {
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) natsMsgList_Destroy(&pending);
    }
    std::lock_guard lock(state_->mu);
    for (auto& m : state_->out)
      if (m.state == detail::NatsOutgoing::State::in_flight) m.state = detail::NatsOutgoing::State::abandoned;
    state_->out.clear();
    state_->index_of.clear();
    state_->in_flight = 0;
    state_->acked = 0;
    state_->first_failed.reset();
    state_->order_refusals = 0;
    state_->failure.clear();
    state_->failure_fatal = false;
    next_ = 0;
    txn_commit_ = Lsn{};
    txn_index_ = 0;
  }

  NatsJetStreamOptions options_;
  Formatter formatter_;
  std::unique_ptr<detail::NatsPublishState> state_;  // stable: libnats' ack thread points at it
  natsConnection* conn_ = nullptr;
  jsCtx* js_ = nullptr;
  std::size_t next_ = 0;  // next message of state_->out to publish
  Lsn txn_commit_;        // the transaction whose messages are being numbered
  std::uint64_t txn_index_ = 0;
  std::string snapshot_table_;
  std::size_t max_payload_ = 0;
  std::string line_;
};

using NatsJetStreamSink = BasicNatsJetStreamSink<format::ChangeJsonFormatter>;
using DebeziumNatsJetStreamSink = BasicNatsJetStreamSink<format::DebeziumFormatter>;

}  // namespace replicator
