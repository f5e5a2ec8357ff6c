// Text helpers behind pg/connection.hpp: pulling the SQLSTATE libpq puts into a verbose
// connection error, turning multi-line libpq messages into one line, hiding a password.
// Internal: users never include this.
#pragma once

#include <string>
#include <string_view>

namespace replicator::detail {

inline bool is_sqlstate_char(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }

// With PQERRORS_VERBOSE, libpq formats a server ErrorResponse as "<SEVERITY>:  <SQLSTATE>: <message>"
// (pqBuildErrorMessage3). Connection-time errors have no PGresult to ask for PG_DIAG_SQLSTATE, so
// this structured prefix is the only place the code is available. Returns the last one found
// (libpq appends one message per attempt), or "" when the server never answered with an error.
inline std::string sqlstate_from_verbose_message(std::string_view msg) {
  std::string found;
  for (std::size_t at = msg.find(":  "); at != std::string_view::npos; at = msg.find(":  ", at + 1)) {
    const std::size_t code = at + 3;
    if (code + 7 > msg.size()) break;
    bool ok = msg[code + 5] == ':' && msg[code + 6] == ' ';
    for (std::size_t i = 0; ok && i < 5; ++i) ok = is_sqlstate_char(msg[code + i]);
    if (ok) found.assign(msg.substr(code, 5));
  }
  return found;
}

// Removes the "<SQLSTATE>: " that verbose mode inserts after "<SEVERITY>:  ".
inline std::string strip_verbose_sqlstate(std::string msg) {
  for (std::size_t at = msg.find(":  "); at != std::string::npos; at = msg.find(":  ", at + 1)) {
    const std::size_t code = at + 3;
    if (code + 7 > msg.size()) break;
    bool ok = msg[code + 5] == ':' && msg[code + 6] == ' ';
    for (std::size_t i = 0; ok && i < 5; ++i) ok = is_sqlstate_char(msg[code + i]);
    if (ok) msg.erase(code, 7);
  }
  return msg;
}

// One line: lines trimmed and joined with "; ", libpq's "LOCATION:" lines dropped, other control
// characters replaced, so a message can go into a single log line.
inline std::string one_line(std::string_view msg) {
  std::string out;
  std::size_t start = 0;
  while (start <= msg.size()) {
    std::size_t end = msg.find('\n', start);
    if (end == std::string_view::npos) end = msg.size();
    std::string_view line = msg.substr(start, end - start);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    if (!line.empty() && line.substr(0, 9) != "LOCATION:") {
      if (!out.empty()) out += "; ";
      for (char c : line) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
    }
    start = end + 1;
  }
  return out;
}

// Replaces every occurrence of `secret` (when not empty) with "***".
inline std::string redact(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  for (std::size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
    text.replace(at, secret.size(), "***");
  }
  return text;
}

// Printable form of untrusted input for error messages: control characters become '?', long
// values are cut, so a bad name cannot forge log lines.
inline std::string printable(std::string_view s, std::size_t max = 80) {
  std::string out;
  for (char c : s.substr(0, max)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (s.size() > max) out += "...";
  return out;
}

// "name" with embedded quotes doubled: an SQL identifier for the replication grammar, whose
// scanner has no E'' strings (so PQescapeLiteral's output is not safe there).
inline std::string quote_ident_plain(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// 'text' with embedded single quotes doubled; backslashes are literal in the replication grammar.
inline std::string quote_literal_plain(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

}  // namespace replicator::detail
