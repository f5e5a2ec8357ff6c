// PgTimestamp: the server's timestamps on the wire (microseconds since 2000-01-01 UTC).
//   PgTimestamp t{0};  t.unix_micros() == 946684800000000;  t.format_iso8601() == "2000-01-01T00:00:00.000000Z"
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace replicator {

class PgTimestamp {
 public:
  static constexpr std::int64_t kUnixEpochOffsetMicros = 946'684'800'000'000;  // 2000-01-01 - 1970-01-01

  constexpr PgTimestamp() noexcept = default;
  constexpr explicit PgTimestamp(std::int64_t micros_since_2000) noexcept : micros_(micros_since_2000) {}
  // Saturates at the ends of the range (any 64-bit value can arrive on the wire).
  static constexpr PgTimestamp from_unix_micros(std::int64_t unix_micros) noexcept {
    if (unix_micros < std::numeric_limits<std::int64_t>::min() + kUnixEpochOffsetMicros)
      return PgTimestamp{std::numeric_limits<std::int64_t>::min()};
    return PgTimestamp{unix_micros - kUnixEpochOffsetMicros};
  }

  [[nodiscard]] constexpr std::int64_t micros_since_2000() const noexcept { return micros_; }
  [[nodiscard]] constexpr std::int64_t unix_micros() const noexcept {
    if (micros_ > std::numeric_limits<std::int64_t>::max() - kUnixEpochOffsetMicros)
      return std::numeric_limits<std::int64_t>::max();
    return micros_ + kUnixEpochOffsetMicros;
  }
  [[nodiscard]] constexpr std::int64_t unix_millis() const noexcept {
    const auto u = unix_micros();
    return u >= 0 ? u / 1000 : -((-u + 999) / 1000);
  }
  friend constexpr auto operator<=>(PgTimestamp, PgTimestamp) noexcept = default;

  // "2026-11-25T16:30:51.123456Z"; formatted without allocation into a fixed buffer.
  struct Text {
    std::array<char, 40> chars{};
    std::uint8_t size = 0;
    [[nodiscard]] constexpr std::string_view view() const noexcept { return {chars.data(), size}; }
  };
  [[nodiscard]] constexpr Text format_iso8601() const noexcept {
    // Seconds first, then the epoch shift: no overflow for any 64-bit value (years up to +-292277).
    std::int64_t secs = micros_ / 1'000'000;
    std::int64_t frac = micros_ % 1'000'000;
    if (frac < 0) {
      frac += 1'000'000;
      --secs;
    }
    secs += kUnixEpochOffsetMicros / 1'000'000;
    std::int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    const std::int64_t sod = secs - days * 86400;
    // Howard Hinnant's civil_from_days.
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const std::int64_t doe = days - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    std::int64_t y = yoe + era * 400;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) ++y;
    Text t;
    auto put = [&t](std::int64_t v, int width) {
      for (int i = width - 1; i >= 0; --i) {
        t.chars[t.size + i] = static_cast<char>('0' + v % 10);
        v /= 10;
      }
      t.size = static_cast<std::uint8_t>(t.size + width);
    };
    auto ch = [&t](char c) { t.chars[t.size++] = c; };
    if (y < 0) {
      ch('-');
      y = -y;
    }
    put(y, y > 9999 ? 6 : 4);
    ch('-');
    put(m, 2);
    ch('-');
    put(d, 2);
    ch('T');
    put(sod / 3600, 2);
    ch(':');
    put(sod / 60 % 60, 2);
    ch(':');
    put(sod % 60, 2);
    ch('.');
    put(frac, 6);
    ch('Z');
    return t;
  }
  [[nodiscard]] std::string to_string() const { return std::string(format_iso8601().view()); }

 private:
  std::int64_t micros_ = 0;
};

}  // namespace replicator
