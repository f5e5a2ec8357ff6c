// Logger implementation: formatting, redaction, one write() per line so lines never interleave.
#include "logging.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace replicator::program {

Field::Field(std::string_view k, double v) : key(k) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  value = buf;
}

namespace {

void write_stderr(std::string_view line) {
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(2, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failing stderr
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::string iso_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

void append_logfmt_value(std::string& out, std::string_view value) {
  bool bare = !value.empty();
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) {
      bare = false;
      break;
    }
  }
  if (bare) {
    out += value;
    return;
  }
  out += '"';
  for (unsigned char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);  // UTF-8 passes through
        }
    }
  }
  out += '"';
}

Logger::Logger(LogLevel min_level) : Logger(min_level, write_stderr) {}
Logger::Logger(LogLevel min_level, Writer writer) : min_level_(min_level), writer_(std::move(writer)) {}

void Logger::add_secret(std::string secret) {
  if (secret.empty()) return;
  std::lock_guard lock(mutex_);
  secrets_.push_back(std::move(secret));
}

std::string Logger::format(LogLevel level, std::string_view msg, std::initializer_list<Field> fields, bool with_time) {
  std::string line;
  line.reserve(96 + msg.size());
  if (with_time) {
    line += "time=";
    line += iso_now();
    line += ' ';
  }
  line += "level=";
  line += to_string(level);
  line += " msg=";
  append_logfmt_value(line, msg);
  for (const Field& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    append_logfmt_value(line, f.value);
  }
  line += '\n';
  return line;
}

void Logger::log(LogLevel level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line = format(level, msg, fields);
  std::lock_guard lock(mutex_);
  // Defence in depth: nothing should pass a secret here, but if a server or library message
  // ever echoes one, it is masked.
  for (const auto& s : secrets_) {
    for (std::size_t pos = line.find(s); pos != std::string::npos; pos = line.find(s, pos + 3))
      line.replace(pos, s.size(), "***");
  }
  writer_(line);
}

}  // namespace replicator::program
