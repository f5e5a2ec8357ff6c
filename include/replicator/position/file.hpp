// FilePositionStore: the position in a small text file, replaced atomically (write a temp file,
// fsync it, rename over the old one, fsync the directory), with a CRC so a damaged file is an
// error rather than a silent restart from the wrong place.
//   FilePositionStore store("/var/lib/replicator/my_slot.pos");
//   auto p = store.load();  // Result<optional<Position>>: nullopt when the file does not exist yet
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "replicator/core/error.hpp"
#include "replicator/position/position.hpp"

namespace replicator {

namespace detail {

inline std::uint32_t crc32(std::string_view data) noexcept {
  static constexpr auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

inline std::string errno_text(int err) { return std::string(std::strerror(err)); }

// Closes a descriptor on scope exit.
struct FdGuard {
  int fd = -1;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

inline bool write_all(int fd, std::string_view data) noexcept {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

template <class T>
bool parse_uint(std::string_view s, T& out, int base = 10) noexcept {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace detail

class FilePositionStore {
 public:
  static constexpr std::string_view kHeader = "# replicator position v1\n";

  explicit FilePositionStore(std::string path) : path_(std::move(path)) {}

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  // nullopt when the file does not exist; an error naming the file and the problem when it cannot
  // be read or is not a valid position file.
  [[nodiscard]] Result<std::optional<Position>, ReplicationError> load() const {
    detail::FdGuard fd{::open(path_.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0) {
      if (errno == ENOENT) return std::optional<Position>{};
      return ReplicationError::fatal("cannot open position file " + path_ + ": " + detail::errno_text(errno));
    }
    std::string text;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd.fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ReplicationError::fatal("cannot read position file " + path_ + ": " + detail::errno_text(errno));
      }
      if (n == 0) break;
      text.append(buf, static_cast<std::size_t>(n));
      if (text.size() > 64 * 1024) return corrupt("larger than 64 KiB");
    }
    return parse(text);
  }

  // Writes the position durably; on return the new file is in place or the old one is untouched.
  Status save(const Position& p) {
    if (!p.slot.empty() && !is_valid_slot_name(p.slot))
      return ReplicationError::fatal("position store: invalid slot name (1-63 of a-z, 0-9, _)");
    const std::string text = format(p);
    const std::string tmp = path_ + ".tmp";
    {
      detail::FdGuard fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
      if (fd.fd < 0) return io_error("create", tmp, errno);
      if (!detail::write_all(fd.fd, text)) return io_error("write", tmp, errno);
      if (::fsync(fd.fd) != 0) return io_error("fsync", tmp, errno);
      const int rc = ::close(fd.fd);
      fd.fd = -1;
      if (rc != 0) return io_error("close", tmp, errno);
    }
    if (::rename(tmp.c_str(), path_.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return io_error("rename", tmp, err);
    }
    // The rename is durable only once the directory entry is.
    const std::string dir = directory_of(path_);
    detail::FdGuard dfd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (dfd.fd < 0) return io_error("open directory", dir, errno);
    if (::fsync(dfd.fd) != 0) return io_error("fsync directory", dir, errno);
    return ok_status();
  }

  // The file's text for a position (exposed for tests and tools).
  [[nodiscard]] static std::string format(const Position& p) {
    std::string body(kHeader);
    body += "lsn=" + p.lsn.to_string() + "\n";
    body += "timeline=" + std::to_string(p.timeline) + "\n";
    body += "slot=" + p.slot + "\n";
    body += "system_id=" + std::to_string(p.system_id) + "\n";
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(p.saved_at.time_since_epoch()).count();
    body += "saved_at_unix_us=" + std::to_string(us) + "\n";
    char crc[16];
    const auto [end, ec] = std::to_chars(crc, crc + sizeof crc, detail::crc32(body), 16);
    (void)ec;
    body += "crc32=" + std::string(crc, end) + "\n";
    return body;
  }

  [[nodiscard]] Result<std::optional<Position>, ReplicationError> parse(std::string_view text) const {
    if (text.substr(0, kHeader.size()) != kHeader) return corrupt("missing header line '# replicator position v1'");
    const auto crc_at = text.rfind("crc32=");
    if (crc_at == std::string_view::npos || (crc_at > 0 && text[crc_at - 1] != '\n'))
      return corrupt("missing crc32 line");
    std::string_view crc_line = text.substr(crc_at + 6);
    if (crc_line.empty() || crc_line.back() != '\n') return corrupt("crc32 line not terminated (truncated file?)");
    crc_line.remove_suffix(1);
    std::uint32_t crc = 0;
    if (!detail::parse_uint(crc_line, crc, 16)) return corrupt("crc32 is not hex");
    if (crc != detail::crc32(text.substr(0, crc_at))) return corrupt("crc32 mismatch (damaged or edited)");

    Position p;
    bool seen[5] = {};
    std::string_view body = text.substr(kHeader.size(), crc_at - kHeader.size());
    while (!body.empty()) {
      const auto nl = body.find('\n');
      if (nl == std::string_view::npos) return corrupt("line without newline");
      const std::string_view line = body.substr(0, nl);
      body.remove_prefix(nl + 1);
      const auto eq = line.find('=');
      if (eq == std::string_view::npos) return corrupt("line without '='");
      const std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
      int idx = -1;
      if (key == "lsn") {
        auto l = Lsn::parse(value);
        if (!l) return corrupt("bad lsn '" + std::string(value) + "'");
        p.lsn = *l;
        idx = 0;
      } else if (key == "timeline") {
        if (!detail::parse_uint(value, p.timeline)) return corrupt("bad timeline");
        idx = 1;
      } else if (key == "slot") {
        if (!value.empty() && !is_valid_slot_name(value)) return corrupt("bad slot name");
        p.slot = std::string(value);
        idx = 2;
      } else if (key == "system_id") {
        if (!detail::parse_uint(value, p.system_id)) return corrupt("bad system_id");
        idx = 3;
      } else if (key == "saved_at_unix_us") {
        std::int64_t us = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), us);
        if (ec != std::errc{} || ptr != value.data() + value.size()) return corrupt("bad saved_at_unix_us");
        // The clock counts finer than microseconds: a value it cannot hold would overflow the cast.
        using Clock = std::chrono::system_clock;
        constexpr auto kMaxUs = std::chrono::duration_cast<std::chrono::microseconds>(Clock::duration::max()).count();
        if (us > kMaxUs || us < -kMaxUs) return corrupt("saved_at_unix_us out of range");
        p.saved_at = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::microseconds(us)));
        idx = 4;
      } else {
        return corrupt("unknown key '" + std::string(key) + "'");
      }
      if (seen[idx]) return corrupt("duplicate key '" + std::string(key) + "'");
      seen[idx] = true;
    }
    for (bool s : seen)
      if (!s) return corrupt("a required key is missing (lsn, timeline, slot, system_id, saved_at_unix_us)");
    return std::optional<Position>{std::move(p)};
  }

 private:
  ReplicationError corrupt(const std::string& why) const {
    return ReplicationError::fatal("position file " + path_ + " is corrupt: " + why +
                                   "; fix or remove it (removing restarts from the slot's confirmed position)");
  }
  // Disk full, read-only file system, I/O errors: the next save may succeed.
  static Status io_error(const char* op, const std::string& path, int err) {
    return ReplicationError::retry(std::string("position store: cannot ") + op + " " + path + ": " +
                                   detail::errno_text(err));
  }
  static std::string directory_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
  }

  std::string path_;
};

}  // namespace replicator
