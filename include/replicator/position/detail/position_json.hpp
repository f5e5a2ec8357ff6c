// A Position as one line of JSON, the text of the Azure Blob position store's blob:
//   {"version":1,"lsn":"0/16B3748","slot":"my_slot","system_id":"7300000000000000123","timeline":1,"saved_at_unix_us":1764088251123456}
// system_id is a string (a uint64 does not fit a JSON number's double). The parser accepts exactly
// this shape in any key order (the text is read from storage others can write: a typed error, no UB).
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "replicator/core/lsn.hpp"
#include "replicator/core/slot_name.hpp"
#include "replicator/position/position.hpp"

namespace replicator::detail {

inline std::string format_position_json(const Position& p) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(p.saved_at.time_since_epoch()).count();
  return "{\"version\":1,\"lsn\":\"" + p.lsn.to_string() + "\",\"slot\":\"" + p.slot + "\",\"system_id\":\"" +
         std::to_string(p.system_id) + "\",\"timeline\":" + std::to_string(p.timeline) +
         ",\"saved_at_unix_us\":" + std::to_string(us) + "}\n";
}

// The position, or why the text is not one (a short phrase for an error message).
struct PositionJsonResult {
  std::optional<Position> position;
  std::string problem;
};

class PositionJsonReader {
 public:
  explicit PositionJsonReader(std::string_view text) noexcept : s_(text) {}

  PositionJsonResult read() {
    Position p;
    enum : unsigned { kVersion = 1, kLsn = 2, kSlot = 4, kSystem = 8, kTimeline = 16, kSavedAt = 32, kAll = 63 };
    unsigned seen = 0;
    ws();
    if (!eat('{')) return fail("does not start with '{'");
    ws();
    if (eat('}')) return fail("is an empty object");
    for (;;) {
      std::string_view key;
      ws();
      if (!string(key)) return fail("expected a key string");
      ws();
      if (!eat(':')) return fail("expected ':' after a key");
      ws();
      unsigned bit = 0;
      if (key == "version") {
        std::int64_t v = 0;
        if (!integer(v) || v != 1) return fail("version is not 1");
        bit = kVersion;
      } else if (key == "lsn") {
        std::string_view v;
        if (!string(v)) return fail("lsn is not a string");
        auto l = Lsn::parse(v);
        if (!l) return fail("lsn is not an X/Y LSN");
        p.lsn = *l;
        bit = kLsn;
      } else if (key == "slot") {
        std::string_view v;
        if (!string(v) || (!v.empty() && !is_valid_slot_name(v))) return fail("slot is not a slot name");
        p.slot = std::string(v);
        bit = kSlot;
      } else if (key == "system_id") {
        std::string_view v;
        if (!string(v) || !uint_text(v, p.system_id)) return fail("system_id is not a decimal string");
        bit = kSystem;
      } else if (key == "timeline") {
        std::int64_t v = 0;
        if (!integer(v) || v < 0 || v > 0xFFFFFFFFll) return fail("timeline is not a 32-bit unsigned integer");
        p.timeline = static_cast<std::uint32_t>(v);
        bit = kTimeline;
      } else if (key == "saved_at_unix_us") {
        std::int64_t us = 0;
        using Clock = std::chrono::system_clock;
        constexpr auto kMaxUs = std::chrono::duration_cast<std::chrono::microseconds>(Clock::duration::max()).count();
        if (!integer(us) || us > kMaxUs || us < -kMaxUs) return fail("saved_at_unix_us is not an integer in range");
        p.saved_at = Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(us)));
        bit = kSavedAt;
      } else {
        return fail("has an unknown key");
      }
      if (seen & bit) return fail("has a duplicate key");
      seen |= bit;
      ws();
      if (eat(',')) continue;
      if (eat('}')) break;
      return fail("expected ',' or '}'");
    }
    ws();
    if (i_ != s_.size()) return fail("has text after the object");
    if (seen != kAll) return fail("lacks a key (version, lsn, slot, system_id, timeline, saved_at_unix_us)");
    return {std::move(p), {}};
  }

 private:
  static PositionJsonResult fail(std::string why) { return {std::nullopt, std::move(why)}; }
  void ws() noexcept {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) noexcept {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  // A string without escapes (no value this format writes needs one).
  bool string(std::string_view& out) noexcept {
    if (!eat('"')) return false;
    const auto end = s_.find('"', i_);
    if (end == std::string_view::npos) return false;
    out = s_.substr(i_, end - i_);
    for (char c : out)
      if (c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
    i_ = end + 1;
    return true;
  }
  bool integer(std::int64_t& out) noexcept {
    std::size_t end = i_;
    if (end < s_.size() && s_[end] == '-') ++end;
    while (end < s_.size() && s_[end] >= '0' && s_[end] <= '9') ++end;
    const auto [ptr, ec] = std::from_chars(s_.data() + i_, s_.data() + end, out);
    if (ec != std::errc{} || ptr != s_.data() + end || end == i_) return false;
    i_ = end;
    return true;
  }
  static bool uint_text(std::string_view v, std::uint64_t& out) noexcept {
    if (v.empty() || v.size() > 20) return false;
    const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc{} && ptr == v.data() + v.size();
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

inline PositionJsonResult parse_position_json(std::string_view text) { return PositionJsonReader(text).read(); }

}  // namespace replicator::detail
