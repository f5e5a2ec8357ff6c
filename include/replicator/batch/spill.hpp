// SpillFile: the change events of one large transaction written to an anonymous temporary file, so a
// batcher can hold a transaction of any size in bounded memory and read it back in pieces at commit.
//   auto f = SpillFile::create("/var/tmp");          // Result<SpillFile, ReplicationError>
//   f->append(event);  ...;  f->finish_writing();  while (*f->read_into(batch, 4 << 20, 50'000, {})) ...;
// The file is private to this process (O_TMPFILE, or unlinked right after mkstemp) and vanishes
// when closed or on a crash. Events keep their relation pointers by index into an in-memory table,
// so the RelationInfo they point to must outlive the file (the batcher keeps it: in_flight()).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "replicator/batch/batch.hpp"
#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"

namespace replicator {

// Counters a batcher exposes about spilling (see BasicBatcher::spill_stats()).
struct SpillStats {
  std::uint64_t transactions = 0;  // transactions moved to a spill file
  std::uint64_t events = 0;        // events written to spill files
  std::uint64_t bytes = 0;         // bytes written to spill files
  std::uint64_t files_open = 0;    // spill files currently open
};

class SpillFile {
 public:
  static constexpr std::size_t kWriteBuffer = 256 * 1024;
  static constexpr std::size_t kReadBuffer = 256 * 1024;
  static constexpr std::size_t kMaxRecord = std::size_t{1} << 31;  // a larger record means a corrupt file

  // Creates the file in `directory` (empty: $TMPDIR, else /tmp).
  static Result<SpillFile, ReplicationError> create(const std::string& directory = {}) {
    std::string dir = directory;
    if (dir.empty()) {
      std::error_code ec;
      dir = std::filesystem::temp_directory_path(ec).string();
      if (ec || dir.empty()) dir = "/tmp";
    }
    int fd = -1;
#ifdef O_TMPFILE
    fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
    if (fd < 0) {
      // No O_TMPFILE on this file system: a named file, unlinked at once.
      std::string templ = dir + "/replicator-spill-XXXXXX";
      fd = ::mkstemp(templ.data());
      if (fd < 0) return io_error("cannot create a spill file in " + dir, errno).error();
      ::unlink(templ.c_str());
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return SpillFile(fd, std::move(dir));
  }

  SpillFile(SpillFile&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)),
        directory_(std::move(o.directory_)),
        relations_(std::move(o.relations_)),
        wbuf_(std::move(o.wbuf_)),
        rbuf_(std::move(o.rbuf_)),
        rpos_(o.rpos_),
        rend_(o.rend_),
        write_offset_(o.write_offset_),
        read_offset_(o.read_offset_),
        events_(o.events_),
        reading_(o.reading_) {}
  SpillFile& operator=(SpillFile&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
      directory_ = std::move(o.directory_);
      relations_ = std::move(o.relations_);
      wbuf_ = std::move(o.wbuf_);
      rbuf_ = std::move(o.rbuf_);
      rpos_ = o.rpos_;
      rend_ = o.rend_;
      write_offset_ = o.write_offset_;
      read_offset_ = o.read_offset_;
      events_ = o.events_;
      reading_ = o.reading_;
    }
    return *this;
  }
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;
  ~SpillFile() { close(); }

  // Appends a copy of `event` (buffered). Not allowed once reading started.
  Status append(const ChangeEvent& event) {
    if (reading_) return ReplicationError::fatal("spill file: append after reading started");
    const std::size_t mark = wbuf_.size();
    put_u32(0);  // record length, patched below
    put_u8(static_cast<std::uint8_t>(event.index()));
    std::visit([this](const auto& ev) { encode(ev); }, event);
    const std::size_t len = wbuf_.size() - mark - 4;
    std::uint32_t len32 = static_cast<std::uint32_t>(len);
    std::memcpy(wbuf_.data() + mark, &len32, 4);
    ++events_;
    if (wbuf_.size() >= kWriteBuffer) return flush_writes();
    return ok_status();
  }

  // Appends every event of `batch` (the in-memory part of a transaction that is being spilled).
  Status append_all(const Batch& batch) {
    for (const ChangeEvent& e : batch.events()) {
      if (auto st = append(e); !st) return st;
    }
    return ok_status();
  }

  // Ends writing: everything appended goes to the file; reading starts at the first event.
  Status finish_writing() {
    if (reading_) return ok_status();
    if (auto st = flush_writes(); !st) return st;
    reading_ = true;
    read_offset_ = 0;
    rpos_ = rend_ = 0;
    std::vector<std::byte>().swap(wbuf_);  // the write buffer is not needed any more
    return ok_status();
  }

  // Appends the next events to `out` until it holds `max_bytes` of values or `max_events` events,
  // skipping events (other than Begin) whose xid is in `skip_xids` (aborted subtransactions).
  // Returns true while more events remain. Errors: I/O, or a corrupt record.
  Result<bool, ReplicationError> read_into(Batch& out, std::size_t max_bytes, std::size_t max_events,
                                           std::span<const Xid> skip_xids) {
    if (!reading_) {
      if (auto st = finish_writing(); !st) return st.error();
    }
    while (out.bytes() < max_bytes && out.size() < max_events) {
      auto more = fill(4);
      if (!more) return more.error();
      if (!*more) return false;  // clean end of file
      std::uint32_t len = 0;
      std::memcpy(&len, rbuf_.data() + rpos_, 4);
      if (len == 0 || len > kMaxRecord) return corrupt("bad record length").error();
      auto have = fill(4 + static_cast<std::size_t>(len));
      if (!have) return have.error();
      if (!*have) return corrupt("truncated record").error();
      std::span<const std::byte> rec(rbuf_.data() + rpos_ + 4, len);
      rpos_ += 4 + static_cast<std::size_t>(len);
      auto st = decode(rec, out, skip_xids);
      if (!st) return st.error();
    }
    auto more = fill(1);
    if (!more) return more.error();
    return *more;
  }

  [[nodiscard]] std::uint64_t events() const noexcept { return events_; }
  // Bytes in the file, including what is still buffered.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return write_offset_ + wbuf_.size(); }
  [[nodiscard]] const std::string& directory() const noexcept { return directory_; }
  [[nodiscard]] bool reading() const noexcept { return reading_; }

 private:
  SpillFile(int fd, std::string directory) : fd_(fd), directory_(std::move(directory)) {
    wbuf_.reserve(kWriteBuffer + 4096);
  }

  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  static Status io_error(const std::string& what, int err) {
    // ENOSPC and friends: the next attempt (after a reconnect) may find space again.
    if (err == ENOSPC || err == EDQUOT || err == EIO || err == EINTR)
      return ReplicationError::retry(what + ": " + std::strerror(err));
    return ReplicationError::fatal(what + ": " + std::strerror(err));
  }
  Status corrupt(const char* what) const {
    return ReplicationError::fatal(std::string("spill file in ") + directory_ + " is corrupt: " + what);
  }

  Status flush_writes() {
    std::size_t done = 0;
    while (done < wbuf_.size()) {
      const ssize_t n =
          ::pwrite(fd_, wbuf_.data() + done, wbuf_.size() - done, static_cast<off_t>(write_offset_ + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error("cannot write spill file in " + directory_, errno);
      }
      done += static_cast<std::size_t>(n);
    }
    write_offset_ += wbuf_.size();
    wbuf_.clear();
    return ok_status();
  }

  // Makes at least `need` unread bytes available; false at a clean end of file (no bytes left).
  Result<bool, ReplicationError> fill(std::size_t need) {
    if (rend_ - rpos_ >= need) return true;
    if (rpos_ > 0) {  // keep the unread tail at the front
      std::memmove(rbuf_.data(), rbuf_.data() + rpos_, rend_ - rpos_);
      rend_ -= rpos_;
      rpos_ = 0;
    }
    if (rbuf_.size() < std::max(need, kReadBuffer)) rbuf_.resize(std::max(need, kReadBuffer));
    while (rend_ < need) {
      if (read_offset_ >= write_offset_)
        return rend_ == 0 ? Result<bool, ReplicationError>(false)
                          : Result<bool, ReplicationError>(corrupt("truncated record").error());
      const std::size_t want = std::min<std::uint64_t>(rbuf_.size() - rend_, write_offset_ - read_offset_);
      const ssize_t n = ::pread(fd_, rbuf_.data() + rend_, want, static_cast<off_t>(read_offset_));
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error("cannot read spill file in " + directory_, errno).error();
      }
      if (n == 0) return corrupt("file shorter than written").error();
      rend_ += static_cast<std::size_t>(n);
      read_offset_ += static_cast<std::uint64_t>(n);
    }
    return true;
  }

  // --- encoding: the event struct as bytes (same process, same layout), then its views' bytes.
  void put_u8(std::uint8_t v) { wbuf_.push_back(static_cast<std::byte>(v)); }
  void put_u32(std::uint32_t v) { put_raw(&v, 4); }
  void put_raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    wbuf_.insert(wbuf_.end(), b, b + n);
  }
  void put_bytes(std::span<const std::byte> b) {
    put_u32(static_cast<std::uint32_t>(b.size()));
    wbuf_.insert(wbuf_.end(), b.begin(), b.end());
  }
  void put_text(std::string_view s) { put_bytes(std::as_bytes(std::span<const char>(s.data(), s.size()))); }
  template <class T>
  void put_struct(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>, "spilled event types must be trivially copyable");
    put_raw(&v, sizeof(T));
  }
  // Relations are written as an index into relations_ (0: null).
  void put_relation(const RelationInfo* rel) {
    if (rel == nullptr) return put_u32(0);
    auto it = std::find(relations_.begin(), relations_.end(), rel);
    if (it == relations_.end()) {
      relations_.push_back(rel);
      it = relations_.end() - 1;
    }
    put_u32(static_cast<std::uint32_t>(it - relations_.begin()) + 1);
  }

  void encode(const RowChangeView& e) {
    put_struct(e);
    put_relation(e.relation);
    put_u32(e.old_tuple.size());
    put_bytes(e.old_tuple.bytes());
    put_u32(e.new_tuple.size());
    put_bytes(e.new_tuple.bytes());
  }
  void encode(const TruncateEventView& e) {
    put_struct(e);
    put_u32(static_cast<std::uint32_t>(e.relations.size()));
    for (const RelationInfo* r : e.relations) put_relation(r);
  }
  void encode(const MessageEventView& e) {
    put_struct(e);
    put_text(e.prefix);
    put_bytes(e.content);
  }
  void encode(const SchemaChangeEvent& e) {
    put_struct(e);
    put_relation(e.old_relation);
    put_relation(e.new_relation);
  }
  void encode(const TwoPhaseEvent& e) {
    put_struct(e);
    put_text(e.gid);
  }
  // Events without views (Begin, Commit, StreamAbort, ...): the struct is all there is. A new event
  // type with a view must get its own overload (the static_assert in put_struct catches most).
  template <class T>
  void encode(const T& e) {
    static_assert(
        !requires { e.relation; } && !requires { e.relations; } && !requires { e.prefix; } && !requires { e.gid; },
        "an event with views needs its own SpillFile::encode overload");
    put_struct(e);
  }

  // --- decoding, with every length checked against the record.
  struct Reader {
    std::span<const std::byte> rec;
    std::size_t pos = 0;
    bool ok = true;
    bool take(void* dst, std::size_t n) {
      if (!ok || rec.size() - pos < n) return ok = false;
      std::memcpy(dst, rec.data() + pos, n);
      pos += n;
      return true;
    }
    std::uint32_t u32() {
      std::uint32_t v = 0;
      take(&v, 4);
      return v;
    }
    std::span<const std::byte> bytes() {
      const std::uint32_t n = u32();
      if (!ok || rec.size() - pos < n) {
        ok = false;
        return {};
      }
      auto s = rec.subspan(pos, n);
      pos += n;
      return s;
    }
  };

  Result<const RelationInfo*, ReplicationError> relation(Reader& r) const {
    const std::uint32_t i = r.u32();
    if (!r.ok) return corrupt("truncated relation index").error();
    if (i == 0) return static_cast<const RelationInfo*>(nullptr);
    if (i > relations_.size()) return corrupt("unknown relation index").error();
    return relations_[i - 1];
  }

  template <class T>
  Status read_struct(Reader& r, T& v) const {
    if (!r.take(&v, sizeof(T))) return corrupt("truncated event");
    return ok_status();
  }

  Status decode(std::span<const std::byte> rec, Batch& out, std::span<const Xid> skip) {
    Reader r{rec};
    std::uint8_t kind = 0;
    if (!r.take(&kind, 1)) return corrupt("empty record");
    if (kind >= std::variant_size_v<ChangeEvent>) return corrupt("unknown event kind");
    Status st = ok_status();
    // Visit by index: build a default alternative, then fill it from the record.
    ChangeEvent event = make_alternative(kind);
    std::visit([&](auto& ev) { st = decode_into(r, ev, out, skip); }, event);
    if (!st) return st;
    if (r.pos != rec.size()) return corrupt("record longer than its event");
    return ok_status();
  }

  template <std::size_t I = 0>
  static ChangeEvent make_alternative(std::size_t kind) {
    if constexpr (I + 1 < std::variant_size_v<ChangeEvent>) {
      if (kind != I) return make_alternative<I + 1>(kind);
    }
    return ChangeEvent{std::in_place_index<I>};
  }

  static bool skipped(const ChangeEvent& e, std::span<const Xid> skip) {
    if (skip.empty() || std::holds_alternative<BeginEvent>(e)) return false;
    const Xid x = txn_of(e).xid;
    return std::find(skip.begin(), skip.end(), x) != skip.end();
  }
  void emit(const ChangeEvent& e, Batch& out, std::span<const Xid> skip) {
    if (!skipped(e, skip)) out.append(e);
  }

  Status decode_into(Reader& r, RowChangeView& e, Batch& out, std::span<const Xid> skip) {
    if (auto st = read_struct(r, e); !st) return st;
    auto rel = relation(r);
    if (!rel) return rel.error();
    e.relation = *rel;
    const auto old_n = static_cast<std::uint16_t>(r.u32());
    auto old_b = r.bytes();
    const auto new_n = static_cast<std::uint16_t>(r.u32());
    auto new_b = r.bytes();
    if (!r.ok) return corrupt("truncated tuple");
    e.old_tuple = TupleView(old_b, old_n);
    e.new_tuple = TupleView(new_b, new_n);
    emit(ChangeEvent{e}, out, skip);
    return ok_status();
  }
  Status decode_into(Reader& r, TruncateEventView& e, Batch& out, std::span<const Xid> skip) {
    if (auto st = read_struct(r, e); !st) return st;
    const std::uint32_t n = r.u32();
    if (!r.ok || n > (r.rec.size() - r.pos) / 4) return corrupt("bad truncate relation count");
    truncated_.clear();
    for (std::uint32_t i = 0; i < n; ++i) {
      auto rel = relation(r);
      if (!rel) return rel.error();
      truncated_.push_back(*rel);
    }
    e.relations = truncated_;
    emit(ChangeEvent{e}, out, skip);
    return ok_status();
  }
  Status decode_into(Reader& r, MessageEventView& e, Batch& out, std::span<const Xid> skip) {
    if (auto st = read_struct(r, e); !st) return st;
    auto prefix = r.bytes();
    auto content = r.bytes();
    if (!r.ok) return corrupt("truncated message");
    e.prefix = std::string_view(reinterpret_cast<const char*>(prefix.data()), prefix.size());
    e.content = content;
    emit(ChangeEvent{e}, out, skip);
    return ok_status();
  }
  Status decode_into(Reader& r, SchemaChangeEvent& e, Batch& out, std::span<const Xid> skip) {
    if (auto st = read_struct(r, e); !st) return st;
    auto old_rel = relation(r);
    if (!old_rel) return old_rel.error();
    auto new_rel = relation(r);
    if (!new_rel) return new_rel.error();
    e.old_relation = *old_rel;
    e.new_relation = *new_rel;
    emit(ChangeEvent{e}, out, skip);
    return ok_status();
  }
  Status decode_into(Reader& r, TwoPhaseEvent& e, Batch& out, std::span<const Xid> skip) {
    if (auto st = read_struct(r, e); !st) return st;
    auto gid = r.bytes();
    if (!r.ok) return corrupt("truncated gid");
    e.gid = std::string_view(reinterpret_cast<const char*>(gid.data()), gid.size());
    emit(ChangeEvent{e}, out, skip);
    return ok_status();
  }
  template <class T>
  Status decode_into(Reader& r, T& e, Batch& out, std::span<const Xid> skip) {
    if (auto st = read_struct(r, e); !st) return st;
    emit(ChangeEvent{e}, out, skip);
    return ok_status();
  }

  int fd_ = -1;
  std::string directory_;
  std::vector<const RelationInfo*> relations_;  // index + 1 is what the file holds
  std::vector<std::byte> wbuf_;
  std::vector<std::byte> rbuf_;
  std::size_t rpos_ = 0;  // next unread byte in rbuf_
  std::size_t rend_ = 0;  // end of valid bytes in rbuf_
  std::uint64_t write_offset_ = 0;
  std::uint64_t read_offset_ = 0;
  std::uint64_t events_ = 0;
  bool reading_ = false;
  std::vector<const RelationInfo*> truncated_;  // decode scratch
};

}  // namespace replicator
