// Structured log lines for the `replicator` program: one logfmt line per event on stderr,
//   time=2026-01-02T03:04:05.678Z level=info msg="streaming" slot=s1 lsn=0/16B3748
// Registered secrets (passwords, DSNs) are replaced with *** in every line before it is written.
//   Logger log(LogLevel::info);  log.add_secret(cfg.source.password);  log.info("connected", {{"host",
//   cfg.source.host}});
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "replicator/core/lsn.hpp"

namespace replicator::program {

// One key=value field. Values are formatted when the field is built.
struct Field {
  std::string_view key;
  std::string value;

  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  Field(std::string_view k, Lsn v) : key(k), value(v.to_string()) {}
  template <class Int, class = std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool>>>
  Field(std::string_view k, Int v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, double v);
};

class Logger {
 public:
  using Writer = std::function<void(std::string_view line)>;  // gets the whole line with '\n'

  // Writes to stderr (fd 2) with one write() per line.
  explicit Logger(LogLevel min_level = LogLevel::info);
  Logger(LogLevel min_level, Writer writer);

  void set_level(LogLevel level) noexcept { min_level_ = level; }
  [[nodiscard]] LogLevel level() const noexcept { return min_level_; }
  [[nodiscard]] bool enabled(LogLevel level) const noexcept { return level >= min_level_; }

  // Every later line has each occurrence of `secret` replaced by ***. Empty secrets are ignored.
  void add_secret(std::string secret);

  void log(LogLevel level, std::string_view msg, std::initializer_list<Field> fields = {});
  void debug(std::string_view msg, std::initializer_list<Field> fields = {}) { log(LogLevel::debug, msg, fields); }
  void info(std::string_view msg, std::initializer_list<Field> fields = {}) { log(LogLevel::info, msg, fields); }
  void warn(std::string_view msg, std::initializer_list<Field> fields = {}) { log(LogLevel::warn, msg, fields); }
  void error(std::string_view msg, std::initializer_list<Field> fields = {}) { log(LogLevel::error, msg, fields); }

  // The line log() would write (without redaction and without the time when `with_time` is false).
  static std::string format(LogLevel level, std::string_view msg, std::initializer_list<Field> fields,
                            bool with_time = true);

 private:
  LogLevel min_level_;
  Writer writer_;
  std::vector<std::string> secrets_;
  std::mutex mutex_;
};

// Appends `value` to `out` as a logfmt value: bare when safe, else double-quoted with escapes.
void append_logfmt_value(std::string& out, std::string_view value);

}  // namespace replicator::program
