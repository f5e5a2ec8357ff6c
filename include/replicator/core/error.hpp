// Typed errors and a small Result<T> for the hot path (no exceptions while decoding).
//   Result<Lsn> r = Lsn::parse("0/16B3748");
//   if (!r) std::cerr << r.error().describe();
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace replicator {

// What went wrong while reading bytes or text. Kept small so Result<T> stays cheap.
enum class Errc : std::uint8_t {
  truncated,            // the message ends before a field it declares
  trailing_bytes,       // bytes left over after the last field
  unknown_message,      // unknown message tag
  unknown_tuple_kind,   // tuple column kind other than n/u/t/b
  unknown_flag,         // a flags byte with bits the protocol does not define
  negative_length,      // a length or count field below zero
  unterminated_string,  // a C string without its NUL
  unexpected_message,   // a message that is not valid in the current state (e.g. Stream Stop outside a stream)
  bad_lsn_text,         // text that is not an X/Y LSN
  bad_frame,            // a stream-file frame header that cannot be right
  need_more_data,       // not an error in the input: the buffer ends mid-frame
  malformed_json,       // text that is not the JSON a plugin (wal2json) sends
};

constexpr std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::truncated: return "truncated";
    case Errc::trailing_bytes: return "trailing bytes";
    case Errc::unknown_message: return "unknown message type";
    case Errc::unknown_tuple_kind: return "unknown tuple column kind";
    case Errc::unknown_flag: return "unknown flag";
    case Errc::negative_length: return "negative length";
    case Errc::unterminated_string: return "unterminated string";
    case Errc::unexpected_message: return "unexpected message";
    case Errc::bad_lsn_text: return "malformed LSN";
    case Errc::bad_frame: return "malformed frame";
    case Errc::need_more_data: return "need more data";
    case Errc::malformed_json: return "malformed JSON";
  }
  return "unknown error";
}

// A decode error: the code, the byte offset where it was found and the field being read.
// `field` always points at a string literal, so copying an Error never allocates.
struct Error {
  Errc code{};
  std::size_t offset = 0;
  std::string_view field{};

  [[nodiscard]] std::string describe() const {
    std::string out(to_string(code));
    if (!field.empty()) {
      out += " reading ";
      out += field;
    }
    out += " at offset ";
    out += std::to_string(offset);
    return out;
  }
  friend bool operator==(const Error&, const Error&) = default;
};

// Failures outside decoding (connections, SQL, files): fatal ones stop the program with one clear
// line; retryable ones reconnect with backoff. Classified from SQLSTATE / libpq status, not text.
enum class ErrorKind : std::uint8_t { fatal, retryable };

struct ReplicationError {
  ErrorKind kind = ErrorKind::fatal;
  std::string sqlstate;  // empty when not from the server
  std::string message;   // one line, never contains a password
  // Set when bytes failed to decode (a message, a frame, a value): the code, offset and field, so
  // callers and tests can act on what failed without reading the message.
  std::optional<Error> decode_error{};

  [[nodiscard]] bool retryable() const noexcept { return kind == ErrorKind::retryable; }
  static ReplicationError fatal(std::string message, std::string sqlstate = {}) {
    return {ErrorKind::fatal, std::move(sqlstate), std::move(message)};
  }
  static ReplicationError retry(std::string message, std::string sqlstate = {}) {
    return {ErrorKind::retryable, std::move(sqlstate), std::move(message)};
  }
  // A decode failure, fatal: `context` says what was being decoded; the Error's text follows it.
  static ReplicationError decoding(const Error& e, const std::string& context, std::string sqlstate = {}) {
    return {ErrorKind::fatal, std::move(sqlstate), context + e.describe(), e};
  }
};

// Either a value or an error (a decode Error by default). Deliberately tiny: bool test, value(), error().
template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  constexpr Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  constexpr Result(E error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit by design

  [[nodiscard]] constexpr bool has_value() const noexcept { return state_.index() == 0; }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  [[nodiscard]] constexpr T& value() & { return *std::get_if<0>(&state_); }
  [[nodiscard]] constexpr const T& value() const& { return *std::get_if<0>(&state_); }
  [[nodiscard]] constexpr T&& value() && { return std::move(*std::get_if<0>(&state_)); }
  constexpr T* operator->() { return std::get_if<0>(&state_); }
  constexpr const T* operator->() const { return std::get_if<0>(&state_); }
  constexpr T& operator*() & { return value(); }
  constexpr const T& operator*() const& { return value(); }

  [[nodiscard]] constexpr const E& error() const { return *std::get_if<1>(&state_); }

 private:
  std::variant<T, E> state_;
};

// Result of an operation with no value.
using Status = Result<std::monostate, ReplicationError>;
inline Status ok_status() { return Status{std::monostate{}}; }

}  // namespace replicator
