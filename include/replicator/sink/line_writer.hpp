// DurableLineWriter: buffers complete lines and writes them to a descriptor; flush() writes
// everything out and, for a file, fdatasync()s it: that is what makes a position safe to confirm.
// A file whose last line was cut by a crash is trimmed back to its last complete line on open, and
// after a failed write the file goes back to its size at the last flush, so a batch written again
// after recover() never leaves half a batch behind.
//   auto w = DurableLineWriter::open_file("/var/lib/replicator/changes.jsonl");  // Result<...>
//   w->buffer().append("{...}\n");  if (w->full()) w->drain();  ...  w->flush();
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "replicator/core/error.hpp"

namespace replicator {

struct LineWriterOptions {
  bool sync = true;                    // fdatasync() files on flush (never attempted for pipes / terminals)
  std::size_t buffer_bytes = 1 << 20;  // write() to the descriptor when this much is buffered
};

class DurableLineWriter {
 public:
  // Standard output (not closed, not synced: a pipe or terminal has nothing to fsync).
  static DurableLineWriter to_stdout(LineWriterOptions options = {}) {
    return DurableLineWriter(STDOUT_FILENO, false, false, options);
  }

  // Appends to `path` (created 0644 if missing). A last line cut short by a crash is removed.
  static Result<DurableLineWriter, ReplicationError> open_file(const std::string& path,
                                                               LineWriterOptions options = {}) {
    const int fd =
        ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);  // read: to find a cut last line
    if (fd < 0) return ReplicationError::fatal("cannot open sink file " + path + ": " + std::strerror(errno));
    DurableLineWriter w(fd, true, options.sync, options);
    w.path_ = path;
    if (auto st = w.trim_partial_line(); !st) return st.error();
    return w;
  }

  // Writes to a descriptor the caller owns or hands over (`owns_fd`); `sync`: fdatasync() on flush.
  DurableLineWriter(int fd, bool owns_fd, bool sync, LineWriterOptions options = {})
      : fd_(fd), owns_(owns_fd), sync_(sync && options.sync), buffer_bytes_(options.buffer_bytes) {
    buffer_.reserve(buffer_bytes_ + 4096);
  }
  DurableLineWriter(DurableLineWriter&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)),
        owns_(std::exchange(o.owns_, false)),
        sync_(o.sync_),
        buffer_bytes_(o.buffer_bytes_),
        path_(std::move(o.path_)),
        buffer_(std::move(o.buffer_)),
        durable_size_(o.durable_size_),
        dirty_(o.dirty_) {}
  DurableLineWriter& operator=(DurableLineWriter&&) = delete;
  DurableLineWriter(const DurableLineWriter&) = delete;
  ~DurableLineWriter() {
    if (owns_ && fd_ >= 0) ::close(fd_);
  }

  // Before appending a new batch: an earlier write that failed half-way is undone first.
  Status begin_batch() { return dirty_ ? repair() : ok_status(); }
  // Where lines go; each must be complete (end in '\n') before drain() or flush().
  [[nodiscard]] std::string& buffer() noexcept { return buffer_; }
  [[nodiscard]] bool full() const noexcept { return buffer_.size() >= buffer_bytes_; }

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

  [[nodiscard]] int fd() const noexcept { return fd_; }

  // write()s the whole buffer. On failure the buffer is dropped and the writer marked dirty.
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

 private:
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
  std::size_t buffer_bytes_ = 1 << 20;
  std::string path_;
  std::string buffer_;
  off_t durable_size_ = 0;
  bool dirty_ = false;
};

}  // namespace replicator
