// CopyRowDecoder: turns the bytes of `COPY ... TO STDOUT` (text or binary format) into rows laid out
// like pgoutput TupleData, so a snapshot row is a TupleView exactly like a streamed one.
//   CopyRowDecoder rows(CopyFormat::text, 3);
//   auto st = rows.feed(copy_data_bytes, [&](TupleView row) { use(row); return ok_status(); });
//   if (st) st = rows.finish();  // an unfinished row or a missing binary trailer is an error
// Text values are the type's output text (as pgoutput sends without binary=true); binary values are
// the type's send format (as with binary=true). Malformed input is a typed error, never UB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "replicator/core/error.hpp"
#include "replicator/change/row.hpp"

namespace replicator::snapshot {

enum class CopyFormat : std::uint8_t { text, binary };

constexpr std::string_view to_string(CopyFormat f) noexcept { return f == CopyFormat::text ? "text" : "binary"; }

class CopyRowDecoder {
 public:
  CopyRowDecoder(CopyFormat format, std::uint16_t columns) : format_(format), columns_(columns) {}

  // Decodes every complete row in `data` (plus bytes kept from earlier calls) and calls
  // on_row(TupleView) -> Status for each; the view is valid during the call. Bytes of an unfinished
  // row are kept for the next call (PostgreSQL sends one row per CopyData, but that is not relied on).
  template <class OnRow>
  Status feed(std::span<const std::byte> data, OnRow&& on_row) {
    if (pending_.empty()) {
      std::size_t used = 0;
      if (auto st = parse(data, used, on_row); !st) return st;
      pending_.assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
      return ok_status();
    }
    pending_.insert(pending_.end(), data.begin(), data.end());
    std::size_t used = 0;
    auto st = parse(pending_, used, on_row);
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(used));
    return st;
  }

  // At the end of the COPY: nothing may be left over, and a binary COPY must have ended with its trailer.
  [[nodiscard]] Status finish() const {
    if (!pending_.empty()) return bad("the COPY data ends in the middle of a row");
    if (format_ == CopyFormat::binary && !trailer_seen_) return bad("binary COPY data ends without its trailer");
    return ok_status();
  }

  [[nodiscard]] std::uint64_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  static Status bad(std::string what) {
    return ReplicationError::fatal("malformed COPY data from the server: " + std::move(what), "08P01");
  }

  template <class OnRow>
  Status parse(std::span<const std::byte> data, std::size_t& used, OnRow& on_row) {
    return format_ == CopyFormat::text ? parse_text(data, used, on_row) : parse_binary(data, used, on_row);
  }

  // --- text: rows end with '\n', fields split by '\t', \N is NULL, backslash escapes.
  template <class OnRow>
  Status parse_text(std::span<const std::byte> data, std::size_t& used, OnRow& on_row) {
    const char* base = reinterpret_cast<const char*>(data.data());
    const std::string_view all(base, data.size());
    while (used < all.size()) {
      const std::size_t nl = all.find('\n', used);
      if (nl == std::string_view::npos) return ok_status();  // unfinished row: kept by feed()
      if (auto st = text_row(all.substr(used, nl - used)); !st) return st;
      bytes_ += nl + 1 - used;
      used = nl + 1;
      ++rows_;
      if (auto st = on_row(TupleView(tuple_, columns_)); !st) return st;
    }
    return ok_status();
  }

  Status text_row(std::string_view line) {
    tuple_.clear();
    if (columns_ == 0) return line.empty() ? ok_status() : bad("a row has columns, expected none");
    std::uint32_t fields = 0;
    std::size_t start = 0;
    for (;;) {
      const std::size_t tab = line.find('\t', start);
      const std::string_view field =
          line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start);
      if (++fields > columns_) break;
      if (auto st = text_field(field); !st) return st;
      if (tab == std::string_view::npos) break;
      start = tab + 1;
    }
    if (fields != columns_) {
      return bad("a row has " + std::to_string(fields) + " columns, expected " + std::to_string(columns_));
    }
    return ok_status();
  }

  Status text_field(std::string_view f) {
    if (f == "\\N") {
      tuple_.push_back(std::byte{'n'});
      return ok_status();
    }
    const std::size_t at = tuple_.size();
    tuple_.resize(at + 5);
    tuple_[at] = std::byte{'t'};
    if (f.find('\\') == std::string_view::npos) {
      append(f);
    } else {
      for (std::size_t i = 0; i < f.size(); ++i) {
        const char c = f[i];
        if (c != '\\') {
          tuple_.push_back(static_cast<std::byte>(c));
          continue;
        }
        if (++i == f.size()) return bad("a backslash ends a field");
        const char e = f[i];
        unsigned char out;
        switch (e) {
          case 'b': out = '\b'; break;
          case 'f': out = '\f'; break;
          case 'n': out = '\n'; break;
          case 'r': out = '\r'; break;
          case 't': out = '\t'; break;
          case 'v': out = '\v'; break;
          case 'x': {  // \xH or \xHH
            int v = -1;
            std::size_t n = 0;
            while (n < 2 && i + 1 < f.size() && hex(f[i + 1]) >= 0) {
              v = (v < 0 ? 0 : v * 16) + hex(f[++i]);
              ++n;
            }
            if (v < 0) {
              out = 'x';  // "\x" without digits is a plain x
            } else {
              out = static_cast<unsigned char>(v);
            }
            break;
          }
          default:
            if (e >= '0' && e <= '7') {  // \O, \OO or \OOO
              unsigned v = static_cast<unsigned>(e - '0');
              for (int n = 0; n < 2 && i + 1 < f.size() && f[i + 1] >= '0' && f[i + 1] <= '7'; ++n)
                v = v * 8 + static_cast<unsigned>(f[++i] - '0');
              out = static_cast<unsigned char>(v & 0xFF);
            } else {
              out = static_cast<unsigned char>(e);  // any other escaped character stands for itself
            }
        }
        tuple_.push_back(static_cast<std::byte>(out));
      }
    }
    put_be32(at + 1, static_cast<std::uint32_t>(tuple_.size() - at - 5));
    return ok_status();
  }

  // --- binary: "PGCOPY\n\377\r\n\0", int32 flags, int32 extension length + extension, then per row
  // int16 field count (-1: trailer) and per field int32 length (-1: NULL) + bytes.
  template <class OnRow>
  Status parse_binary(std::span<const std::byte> data, std::size_t& used, OnRow& on_row) {
    static constexpr unsigned char kSignature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xFF, '\r', '\n', 0};
    const std::size_t n = data.size();
    if (!header_seen_) {
      if (n < 19) return ok_status();
      if (std::memcmp(data.data(), kSignature, sizeof kSignature) != 0) return bad("binary COPY signature missing");
      const std::uint32_t flags = be32(data.data() + 11);
      if ((flags & (1u << 16)) != 0) return bad("binary COPY with OIDs");
      if ((flags & 0xFFFE0000u) != 0) return bad("binary COPY header has unknown critical flags");
      const std::uint32_t ext = be32(data.data() + 15);
      if (ext > (1u << 30)) return bad("binary COPY header extension too long");
      if (n < 19 + static_cast<std::size_t>(ext)) return ok_status();
      used = 19 + ext;
      bytes_ += used;
      header_seen_ = true;
    }
    while (used < n) {
      if (trailer_seen_) return bad("bytes after the binary COPY trailer");
      if (n - used < 2) return ok_status();
      const auto count = static_cast<std::int16_t>(be16(data.data() + used));
      if (count == -1) {
        trailer_seen_ = true;
        used += 2;
        bytes_ += 2;
        continue;
      }
      if (count != static_cast<std::int16_t>(columns_) || count < 0) {
        return bad("a row has " + std::to_string(count) + " columns, expected " + std::to_string(columns_));
      }
      // Measure the row first: only a complete row is converted.
      std::size_t p = used + 2;
      bool complete = true;
      for (std::uint16_t c = 0; c < columns_; ++c) {
        if (n - p < 4) {
          complete = false;
          break;
        }
        const auto len = static_cast<std::int32_t>(be32(data.data() + p));
        p += 4;
        if (len == -1) continue;
        if (len < 0) return bad("negative field length");
        if (n - p < static_cast<std::size_t>(len)) {
          complete = false;
          break;
        }
        p += static_cast<std::size_t>(len);
      }
      if (!complete) return ok_status();
      tuple_.clear();
      std::size_t q = used + 2;
      for (std::uint16_t c = 0; c < columns_; ++c) {
        const auto len = static_cast<std::int32_t>(be32(data.data() + q));
        q += 4;
        if (len == -1) {
          tuple_.push_back(std::byte{'n'});
          continue;
        }
        tuple_.push_back(std::byte{'b'});
        const std::size_t at = tuple_.size();
        tuple_.resize(at + 4);
        put_be32(at, static_cast<std::uint32_t>(len));
        tuple_.insert(tuple_.end(), data.begin() + static_cast<std::ptrdiff_t>(q),
                      data.begin() + static_cast<std::ptrdiff_t>(q + static_cast<std::size_t>(len)));
        q += static_cast<std::size_t>(len);
      }
      bytes_ += p - used;
      used = p;
      ++rows_;
      if (auto st = on_row(TupleView(tuple_, columns_)); !st) return st;
    }
    return ok_status();
  }

  static int hex(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static std::uint32_t be32(const std::byte* p) noexcept { return replicator::detail::load_be32(p); }
  static std::uint16_t be16(const std::byte* p) noexcept {
    return static_cast<std::uint16_t>((static_cast<unsigned>(p[0]) << 8) | static_cast<unsigned>(p[1]));
  }
  void put_be32(std::size_t at, std::uint32_t v) noexcept {
    tuple_[at] = static_cast<std::byte>(v >> 24);
    tuple_[at + 1] = static_cast<std::byte>(v >> 16);
    tuple_[at + 2] = static_cast<std::byte>(v >> 8);
    tuple_[at + 3] = static_cast<std::byte>(v);
  }
  void append(std::string_view s) {
    const auto* b = reinterpret_cast<const std::byte*>(s.data());
    tuple_.insert(tuple_.end(), b, b + s.size());
  }

  CopyFormat format_;
  std::uint16_t columns_;
  bool header_seen_ = false;
  bool trailer_seen_ = false;
  std::vector<std::byte> pending_;  // an unfinished row from the previous feed()
  std::vector<std::byte> tuple_;    // the current row in TupleData layout (reused)
  std::uint64_t rows_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace replicator::snapshot
