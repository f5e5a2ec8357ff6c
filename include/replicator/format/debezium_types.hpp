// Which Debezium mapping a column gets: its type OID and modifier from the Relation message,
// resolved through a small catalog of the non-built-in types (enums with their labels, domains
// with their base type, arrays of those, extension types such as hstore known by name).
//   DebeziumTypeCatalog cat;  DebeziumType mood;  mood.oid = 16390;  mood.kind = 'e';  mood.enum_labels = {"sad",
//   "ok"}; cat.add(mood); DebeziumColumnType t = resolve_debezium_type(cat, col.type_oid, col.type_modifier);  //
//   t.kind == DebeziumKind::enum_
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "replicator/values/types.hpp"

namespace replicator::format {

using values::Oid;

// One row of pg_type the mapping needs. kind is pg_type.typtype: 'b' base, 'd' domain, 'e' enum,
// 'r' range, 'c' composite, 'p' pseudo, 'm' multirange.
struct DebeziumType {
  Oid oid = 0;
  char kind = 'b';
  std::string name;                      // typname, e.g. "hstore", "citext", "ltree"
  Oid base_type = 0;                     // domains: typbasetype
  std::int32_t base_typmod = -1;         // domains: typtypmod (numeric(10,2) domain keeps its scale)
  Oid element_type = 0;                  // arrays: typelem
  std::vector<std::string> enum_labels;  // enums, in enumsortorder
};

// Types the server defined after initdb (OID >= 16384) that the formatter has been told about.
// Entries are only added, never replaced, so pointers to them stay valid.
class DebeziumTypeCatalog {
 public:
  static constexpr Oid kFirstUserOid = 16384;  // FirstNormalObjectId: below it every OID is built in

  void add(DebeziumType t) { types_.try_emplace(t.oid, std::move(t)); }
  [[nodiscard]] const DebeziumType* find(Oid oid) const {
    auto it = types_.find(oid);
    return it == types_.end() ? nullptr : &it->second;
  }
  // Does the mapping of `oid` need a catalog entry it does not have yet?
  [[nodiscard]] bool missing(Oid oid) const { return oid >= kFirstUserOid && find(oid) == nullptr; }
  [[nodiscard]] std::size_t size() const noexcept { return types_.size(); }

 private:
  std::unordered_map<Oid, DebeziumType> types_;
};

// Built-in OIDs the mapping distinguishes beyond values::oid (pg_type.dat).
namespace dbz_oid {
inline constexpr Oid char_ = 18, point = 600, lseg = 601, path = 602, box = 603, polygon = 604, line = 628, cidr = 650,
                     circle = 718, macaddr8 = 774, money = 790, macaddr = 829, inet = 869, interval = 1186,
                     timetz = 1266, bit = 1560, varbit = 1562, tsvector = 3614, int4range = 3904, numrange = 3906,
                     tsrange = 3908, tstzrange = 3910, daterange = 3912, int8range = 3926, pg_lsn = 3220;
}  // namespace dbz_oid

// The element type of a built-in array type (values::element_type_of plus the types only this
// mapping reads), or 0.
constexpr Oid builtin_array_element(Oid array_type) noexcept {
  if (Oid e = values::element_type_of(array_type); e != 0) return e;
  switch (array_type) {
    case 1002: return dbz_oid::char_;
    case 1017: return dbz_oid::point;
    case 651: return dbz_oid::cidr;
    case 775: return dbz_oid::macaddr8;
    case 791: return dbz_oid::money;
    case 1040: return dbz_oid::macaddr;
    case 1041: return dbz_oid::inet;
    case 1183: return values::oid::time;
    case 1187: return dbz_oid::interval;
    case 1270: return dbz_oid::timetz;
    case 1561: return dbz_oid::bit;
    case 1563: return dbz_oid::varbit;
    case 143: return values::oid::xml;
    case 3905: return dbz_oid::int4range;
    case 3907: return dbz_oid::numrange;
    case 3909: return dbz_oid::tsrange;
    case 3911: return dbz_oid::tstzrange;
    case 3913: return dbz_oid::daterange;
    case 3927: return dbz_oid::int8range;
  }
  return 0;
}

// Debezium's mapping families (docs/debezium.md has the table).
enum class DebeziumKind : std::uint8_t {
  boolean,
  bits,
  int16,
  int32,
  int64,
  float32,
  float64,
  numeric,
  money,
  string,
  json,
  xml,
  uuid,
  enum_,
  ltree,
  date,
  time,
  timetz,
  timestamp,
  timestamptz,
  interval,
  bytea,
  point,
  hstore,
};

// A column's (or array element's) mapping. `wire_oid` is the type whose text / send form the
// value arrives in (a domain's base type); `typmod` the effective modifier (a domain's own when
// the column has none).
struct DebeziumScalarType {
  DebeziumKind kind = DebeziumKind::string;
  Oid wire_oid = values::oid::text;
  std::int32_t typmod = -1;
  const DebeziumType* user_type = nullptr;  // enums: the labels for the schema's `allowed`
};

struct DebeziumColumnType {
  DebeziumScalarType scalar;  // arrays: the element's mapping
  bool is_array = false;
  Oid array_oid = 0;  // arrays: the column's own type
};

namespace detail {
constexpr DebeziumKind builtin_kind(Oid t, std::int32_t typmod) noexcept {
  namespace o = values::oid;
  switch (t) {
    case o::bool_: return DebeziumKind::boolean;
    case dbz_oid::bit:
    case dbz_oid::varbit:  // bit(1) (and varbit(1)) are BOOLEAN; bit is bit(1) when no length is given
      return typmod == 1 || (t == dbz_oid::bit && typmod < 0) ? DebeziumKind::boolean : DebeziumKind::bits;
    case o::int2: return DebeziumKind::int16;
    case o::int4: return DebeziumKind::int32;
    case o::int8:
    case o::oid_: return DebeziumKind::int64;
    case o::float4: return DebeziumKind::float32;
    case o::float8: return DebeziumKind::float64;
    case o::numeric: return DebeziumKind::numeric;
    case dbz_oid::money: return DebeziumKind::money;
    case o::json:
    case o::jsonb: return DebeziumKind::json;
    case o::xml: return DebeziumKind::xml;
    case o::uuid: return DebeziumKind::uuid;
    case o::date: return DebeziumKind::date;
    case o::time: return DebeziumKind::time;
    case dbz_oid::timetz: return DebeziumKind::timetz;
    case o::timestamp: return DebeziumKind::timestamp;
    case o::timestamptz: return DebeziumKind::timestamptz;
    case dbz_oid::interval: return DebeziumKind::interval;
    case o::bytea: return DebeziumKind::bytea;
    case dbz_oid::point: return DebeziumKind::point;
  }
  return DebeziumKind::string;  // text types, network, ranges, other geometric types, unknown types
}

inline DebeziumScalarType resolve_scalar(const DebeziumTypeCatalog& cat, Oid t, std::int32_t typmod) {
  for (int depth = 0; depth < 16; ++depth) {  // domains over domains; a cycle cannot exist, the bound is a guard
    if (t < DebeziumTypeCatalog::kFirstUserOid) return {builtin_kind(t, typmod), t, typmod, nullptr};
    const DebeziumType* u = cat.find(t);
    if (u == nullptr) return {DebeziumKind::string, t, typmod, nullptr};  // unknown: its text
    if (u->kind == 'd') {
      if (typmod < 0) typmod = u->base_typmod;
      t = u->base_type;
      continue;
    }
    if (u->kind == 'e') return {DebeziumKind::enum_, t, typmod, u};
    if (u->name == "hstore") return {DebeziumKind::hstore, t, typmod, u};
    if (u->name == "ltree") return {DebeziumKind::ltree, t, typmod, u};
    return {DebeziumKind::string, t, typmod, u};  // citext, isbn, ranges, composites, ...: their text
  }
  return {DebeziumKind::string, t, typmod, nullptr};
}
}  // namespace detail

// The mapping of a column of type `type_oid` with modifier `typmod` (both from the Relation message).
inline DebeziumColumnType resolve_debezium_type(const DebeziumTypeCatalog& cat, Oid type_oid, std::int32_t typmod) {
  DebeziumColumnType out;
  for (int depth = 0; depth < 16; ++depth) {  // a domain over an array type maps as that array
    const DebeziumType* u = type_oid >= DebeziumTypeCatalog::kFirstUserOid ? cat.find(type_oid) : nullptr;
    if (u == nullptr || u->kind != 'd') break;
    if (typmod < 0) typmod = u->base_typmod;
    type_oid = u->base_type;
  }
  Oid elem = builtin_array_element(type_oid);
  if (elem == 0 && type_oid >= DebeziumTypeCatalog::kFirstUserOid) {
    if (const DebeziumType* u = cat.find(type_oid); u != nullptr && u->kind == 'b' && u->element_type != 0)
      elem = u->element_type;
  }
  if (elem != 0) {
    out.is_array = true;
    out.array_oid = type_oid;
    out.scalar = detail::resolve_scalar(cat, elem, typmod);  // an array column's typmod is its element's
    return out;
  }
  out.scalar = detail::resolve_scalar(cat, type_oid, typmod);
  return out;
}

}  // namespace replicator::format
