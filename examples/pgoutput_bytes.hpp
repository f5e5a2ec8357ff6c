// Tiny builders of pgoutput messages for the examples (the server's wire format, big-endian), so
// each example runs on in-memory data without a server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace examples::pgoutput_bytes {

inline void put(std::vector<std::byte>& out, std::uint64_t v, int n) {
  for (int shift = (n - 1) * 8; shift >= 0; shift -= 8) out.push_back(static_cast<std::byte>((v >> shift) & 0xFF));
}
inline void put_str(std::vector<std::byte>& out, std::string_view s, bool nul) {
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  if (nul) out.push_back(std::byte{0});
}

inline std::vector<std::byte> begin(std::uint64_t final_lsn, std::uint32_t xid) {
  std::vector<std::byte> b{std::byte{'B'}};
  put(b, final_lsn, 8);
  put(b, 0, 8);  // commit time
  put(b, xid, 4);
  return b;
}
inline std::vector<std::byte> commit(std::uint64_t commit_lsn, std::uint64_t end_lsn) {
  std::vector<std::byte> b{std::byte{'C'}, std::byte{0}};
  put(b, commit_lsn, 8);
  put(b, end_lsn, 8);
  put(b, 0, 8);
  return b;
}
// Text columns; the first is the key.
inline std::vector<std::byte> relation(std::uint32_t oid, std::string_view schema, std::string_view table,
                                       std::initializer_list<std::string_view> columns) {
  std::vector<std::byte> b{std::byte{'R'}};
  put(b, oid, 4);
  put_str(b, schema, true);
  put_str(b, table, true);
  b.push_back(std::byte{'d'});
  put(b, columns.size(), 2);
  bool first = true;
  for (auto c : columns) {
    b.push_back(std::byte{static_cast<unsigned char>(first ? 1 : 0)});
    first = false;
    put_str(b, c, true);
    put(b, 25, 4);          // text
    put(b, 0xFFFFFFFF, 4);  // no type modifier
  }
  return b;
}
inline std::vector<std::byte> insert(std::uint32_t oid, std::initializer_list<std::string_view> values) {
  std::vector<std::byte> b{std::byte{'I'}};
  put(b, oid, 4);
  b.push_back(std::byte{'N'});
  put(b, values.size(), 2);
  for (auto v : values) {
    b.push_back(std::byte{'t'});
    put(b, v.size(), 4);
    put_str(b, v, false);
  }
  return b;
}

}  // namespace examples::pgoutput_bytes
