// JsonLinesSink: one JSON object per line per event, in the shape of the `decode` program
// (format/json.hpp), to stdout or to a file. flush() writes everything out and, for a file,
// fdatasync()s it: that is what makes the position safe to confirm.
//   auto sink = JsonLinesSink::open_file("/var/lib/replicator/changes.jsonl");  // Result<JsonLinesSink, ...>
//   JsonLinesSink out = JsonLinesSink::to_stdout();
// A file whose last line was cut by a crash is trimmed back to its last complete line on open.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "replicator/batch/batch.hpp"
#include "replicator/change.hpp"
#include "replicator/error.hpp"
#include "replicator/format/json.hpp"

namespace replicator {

struct JsonLinesOptions {
  bool transactions = true;    // "begin" / "commit" lines
  bool schema_changes = true;  // "schema_change" lines (new column set of a table)
  bool sync = true;            // fdatasync() files on flush (never attempted for pipes / terminals)
  std::size_t buffer_bytes = 1 << 20;  // write() to the descriptor when this much is buffered
  // Another line format, e.g. format/debezium.hpp's DebeziumFormatter::lines(): appends zero or
  // more complete lines (each ending in '\n') for one event. Unset: the shape below.
  std::function<Status(std::string&, const ChangeEvent&)> format{};  // {}: designated initializers may omit it
};

// Appends the JSON line (without '\n') for one event, in format/json.hpp's shape. schema_change
// (not a pgoutput message, so not in the decode program's output) is built from its primitives.
inline Status append_event_json(std::string& out, const ChangeEvent& event) {
  using namespace format;
  const std::size_t mark = out.size();
  auto failed = [&](const Error& e) -> Status {
    out.resize(mark);
    return ReplicationError::decoding(e, "cannot format change event as JSON: ");
  };
  return std::visit(
      overloaded{
          [&](const RowChangeView& r) -> Status {
            if (r.relation == nullptr) return ReplicationError::fatal("row change without relation metadata");
            auto res = append_change_json(out, r.op, r.lsn, r.txn.xid, *r.relation,
                                          r.old_kind, r.old_tuple, r.new_tuple);
            return res ? ok_status() : failed(res.error());
          },
          [&](const BeginEvent& b) -> Status {
            append_begin_json(out, b.lsn, pgoutput::BeginView{b.txn.commit_lsn, b.txn.commit_time, b.txn.xid});
            return ok_status();
          },
          [&](const CommitEvent& c) -> Status {
            append_commit_json(out, c.lsn, c.txn.xid,
                               pgoutput::CommitView{0, c.txn.commit_lsn, c.end_lsn, c.txn.commit_time});
            return ok_status();
          },
          [&](const MessageEventView& m) -> Status {
            append_message_json(out, m.lsn, m.txn.xid,
                                pgoutput::LogicalMessageView{m.txn.xid, static_cast<std::uint8_t>(m.transactional ? 1 : 0),
                                                             m.message_lsn, m.prefix, m.content});
            return ok_status();
          },
          [&](const TruncateEventView& t) -> Status {
            append_truncate_json(out, t.lsn, t.txn.xid, t.relations, t.cascade, t.restart_identity);
            return ok_status();
          },
          [&](const SchemaChangeEvent& s) -> Status {
            // {"op":"schema_change","lsn":..,"xid":..,"schema":..,"table":..,"columns":[{"name":..,"type_oid":..,"type_modifier":..,"key":..}]}
            const RelationInfo* rel = s.new_relation;
            if (rel == nullptr) return ok_status();
            format::detail::open(out, "schema_change", s.lsn);
            format::detail::field_uint(out, "xid", s.txn.xid);
            format::detail::field(out, "schema", std::string_view(rel->schema));
            format::detail::field(out, "table", std::string_view(rel->name));
            format::detail::key(out, "columns");
            out.push_back('[');
            bool first = true;
            for (const auto& c : rel->columns) {
              if (!first) out.push_back(',');
              first = false;
              out.append("{\"name\":");
              append_json_string(out, c.name);
              format::detail::field_uint(out, "type_oid", c.type_oid);
              format::detail::field_int(out, "type_modifier", c.type_modifier);
              format::detail::field(out, "key", c.is_key);
              out.push_back('}');
            }
            out.append("]}");
            return ok_status();
          },
          [&](const StreamAbortEvent&) -> Status { return ok_status(); },  // consumed by batchers
          [&](const TwoPhaseEvent& t) -> Status {  // the default batchers consume these; a custom one may pass them on
            const Xid x = t.txn.xid;
            switch (t.kind) {
              case TwoPhaseKind::begin_prepare:
                append_begin_prepare_json(out, t.lsn, {t.prepare_lsn, t.end_lsn, t.time, x, t.gid});
                break;
              case TwoPhaseKind::prepare:
                if (t.streamed) append_stream_prepare_json(out, t.lsn, {0, t.prepare_lsn, t.end_lsn, t.time, x, t.gid});
                else append_prepare_json(out, t.lsn, {0, t.prepare_lsn, t.end_lsn, t.time, x, t.gid});
                break;
              case TwoPhaseKind::commit_prepared:
                append_commit_prepared_json(out, t.lsn, {0, t.txn.commit_lsn, t.end_lsn, t.time, x, t.gid});
                break;
              case TwoPhaseKind::rollback_prepared:
                append_rollback_prepared_json(out, t.lsn, {0, t.prepare_end_lsn, t.end_lsn, PgTimestamp{}, t.time, x, t.gid});
                break;
            }
            return ok_status();
          },
      },
      event);
}

class JsonLinesSink {
 public:
  // Standard output (not closed, not synced: a pipe or terminal has nothing to fsync).
  static JsonLinesSink to_stdout(JsonLinesOptions options = {}) { return JsonLinesSink(STDOUT_FILENO, false, false, options); }

  // Appends to `path` (created 0644 if missing). A last line cut short by a crash is removed.
  static Result<JsonLinesSink, ReplicationError> open_file(const std::string& path, JsonLinesOptions options = {}) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);  // read: to find a cut last line
    if (fd < 0) return ReplicationError::fatal("cannot open sink file " + path + ": " + std::strerror(errno));
    JsonLinesSink sink(fd, true, options.sync, options);
    sink.path_ = path;
    if (auto st = sink.trim_partial_line(); !st) return st.error();
    return sink;
  }

  // Writes to a descriptor the caller owns (e.g. a pipe); `sync`: fdatasync() on flush.
  JsonLinesSink(int fd, bool owns_fd, bool sync, JsonLinesOptions options = {})
      : fd_(fd), owns_(owns_fd), sync_(sync && options.sync), options_(options) {
    buffer_.reserve(options_.buffer_bytes + 4096);
  }
  JsonLinesSink(JsonLinesSink&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)),
        owns_(std::exchange(o.owns_, false)),
        sync_(o.sync_),
        options_(o.options_),
        path_(std::move(o.path_)),
        buffer_(std::move(o.buffer_)),
        durable_size_(o.durable_size_),
        dirty_(o.dirty_),
        lines_(o.lines_) {}
  JsonLinesSink& operator=(JsonLinesSink&&) = delete;
  JsonLinesSink(const JsonLinesSink&) = delete;
  ~JsonLinesSink() {
    if (owns_ && fd_ >= 0) ::close(fd_);
  }

  Status write(const Batch& batch) {
    if (dirty_) {  // an earlier write failed half-way: drop its partial output first
      if (auto st = repair(); !st) return st;
    }
    for (const ChangeEvent& e : batch.events()) {
      if (options_.format) {
        const std::size_t mark = buffer_.size();
        if (auto st = options_.format(buffer_, e); !st) return st;
        lines_ += static_cast<std::size_t>(std::count(buffer_.begin() + static_cast<std::ptrdiff_t>(mark), buffer_.end(), '\n'));
        if (buffer_.size() >= options_.buffer_bytes) {
          if (auto st = drain(); !st) return st;
        }
        continue;
      }
      if (!options_.transactions && (std::holds_alternative<BeginEvent>(e) || std::holds_alternative<CommitEvent>(e)))
        continue;
      if (!options_.schema_changes && std::holds_alternative<SchemaChangeEvent>(e)) continue;
      if (std::holds_alternative<StreamAbortEvent>(e)) continue;
      if (auto st = append_event_json(buffer_, e); !st) return st;
      buffer_.push_back('\n');
      ++lines_;
      if (buffer_.size() >= options_.buffer_bytes) {
        if (auto st = drain(); !st) return st;
      }
    }
    return ok_status();
  }

  Status flush() {
    if (auto st = drain(); !st) return st;
    if (sync_ && ::fdatasync(fd_) != 0) {
      const int err = errno;
      if (err != EINVAL && err != EROFS) return io_error("fdatasync", err);  // EINVAL: not syncable (pipe)
    }
    if (owns_) {
      struct stat st {};
      if (::fstat(fd_, &st) == 0) durable_size_ = st.st_size;
    }
    return ok_status();
  }

  [[nodiscard]] std::size_t lines() const noexcept { return lines_; }
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  Status drain() {
    std::string_view rest = buffer_;
    while (!rest.empty()) {
      const ssize_t n = ::write(fd_, rest.data(), rest.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        dirty_ = true;
        buffer_.clear();  // the batch is written again after recover()
        return io_error("write", err);
      }
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    buffer_.clear();
    return ok_status();
  }

  // Back to the size of the last flush (our own file only): a failed write may have left half a batch.
  Status repair() {
    buffer_.clear();
    if (owns_ && ::ftruncate(fd_, durable_size_) != 0) return io_error("truncate", errno);
    dirty_ = false;
    return ok_status();
  }

  Status trim_partial_line() {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return io_error("stat", errno);
    off_t size = st.st_size;
    char buf[4096];
    off_t end = size;
    while (end > 0) {
      const off_t start = end > static_cast<off_t>(sizeof buf) ? end - static_cast<off_t>(sizeof buf) : 0;
      const ssize_t n = ::pread(fd_, buf, static_cast<std::size_t>(end - start), start);
      if (n <= 0) return io_error("read", n < 0 ? errno : EIO);
      for (ssize_t i = n - 1; i >= 0; --i) {
        if (buf[i] == '\n') {
          const off_t keep = start + i + 1;
          if (keep != size && ::ftruncate(fd_, keep) != 0) return io_error("truncate", errno);
          durable_size_ = keep;
          return ok_status();
        }
      }
      end = start;
    }
    if (size != 0 && ::ftruncate(fd_, 0) != 0) return io_error("truncate", errno);  // no complete line at all
    durable_size_ = 0;
    return ok_status();
  }

  Status io_error(const char* op, int err) const {
    std::string what = std::string("sink: cannot ") + op + " " + (path_.empty() ? std::string("output") : path_) +
                       ": " + std::strerror(err);
    // A full or failing disk may recover; a closed pipe or a bad descriptor will not.
    if (err == ENOSPC || err == EDQUOT || err == EIO || err == EAGAIN || err == EROFS)
      return ReplicationError::retry(std::move(what));
    return ReplicationError::fatal(std::move(what));
  }

  int fd_ = -1;
  bool owns_ = false;
  bool sync_ = false;
  JsonLinesOptions options_;
  std::string path_;
  std::string buffer_;
  off_t durable_size_ = 0;
  bool dirty_ = false;
  std::size_t lines_ = 0;
};

}  // namespace replicator
