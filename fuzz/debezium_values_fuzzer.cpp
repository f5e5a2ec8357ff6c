// format/debezium_values.hpp: every Debezium mapping on arbitrary text and binary forms. Byte 0
// picks the column type (kTypes, with its modifier), byte 1 the wire form (bit 0) and the handling
// modes (bits 1-5); the rest is the value. Besides "no crash": a value either encodes or returns
// an error, never both; an encoded value is one valid JSON value (checked with simdjson); with
// schemas, the field schema for the same type is valid JSON too.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input.hpp"
#include "replicator/format/debezium_schema.hpp"
#include "replicator/format/debezium_values.hpp"

namespace f = replicator::format;
using replicator::fuzz::finding;

namespace {

struct TypeCase {
  replicator::values::Oid oid;
  std::int32_t typmod;
};
constexpr TypeCase kTypes[] = {
    {16, -1},    {1560, 1},   {1560, 16},  {1562, -1}, {21, -1},       {23, -1},   {20, -1},
    {26, -1},    {700, -1},   {701, -1},   {1700, -1}, {1700, 655366}, {790, -1},  {25, -1},
    {1042, 3},   {114, -1},   {3802, -1},  {142, -1},  {2950, -1},     {1082, -1}, {1083, -1},
    {1083, 3},   {1266, -1},  {1114, -1},  {1114, 3},  {1184, -1},     {1186, -1}, {17, -1},
    {600, -1},   {869, -1},   {650, -1},   {829, -1},  {774, -1},      {3220, -1}, {3904, -1},
    {20000, -1}, {20001, -1}, {20002, -1}, {1007, -1}, {1231, 655366}, {1009, -1}, {1187, -1},
    {1115, -1},  {1001, -1},  {20003, -1}, {3906, -1}, {3908, -1},     {3912, -1}, {3926, -1}};

const f::DebeziumTypeCatalog& catalog() {
  static const f::DebeziumTypeCatalog cat = [] {
    f::DebeziumTypeCatalog c;
    auto add = [&](replicator::values::Oid oid, char kind, const char* name, replicator::values::Oid base,
                   replicator::values::Oid elem, std::vector<std::string> labels) {
      f::DebeziumType t;
      t.oid = oid;
      t.kind = kind;
      t.name = name;
      t.base_type = base;
      t.element_type = elem;
      t.enum_labels = std::move(labels);
      c.add(std::move(t));
    };
    add(20000, 'b', "hstore", 0, 0, {});
    add(20001, 'e', "mood", 0, 0, {"sad", "ok"});
    add(20002, 'd', "qty", 21, 0, {});
    add(20003, 'b', "_mood", 0, 20001, {});
    return c;
  }();
  return cat;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const TypeCase tc = kTypes[data[0] % std::size(kTypes)];
  const bool binary = (data[1] & 1) != 0;
  f::DebeziumValueModes m;
  m.decimal = static_cast<f::DecimalHandlingMode>((data[1] >> 1) % 3);
  m.interval = static_cast<f::IntervalHandlingMode>((data[1] >> 3) & 1);
  m.binary = static_cast<f::BinaryHandlingMode>((data[1] >> 4) & 3);
  m.time_precision = static_cast<f::TimePrecisionMode>((data[1] >> 6) % 3);
  m.hstore = static_cast<f::HstoreHandlingMode>((data[1] >> 5) & 1);
  const std::span<const std::byte> value(reinterpret_cast<const std::byte*>(data + 2), size - 2);
  replicator::values::TypedValueView v{
      replicator::ColumnValueView{binary ? replicator::ColumnKind::binary : replicator::ColumnKind::text, value},
      tc.oid};
  const auto type = f::resolve_debezium_type(catalog(), tc.oid, tc.typmod);
  std::string out = "[";
  const auto st = f::append_debezium_value(out, v, type, m, "__debezium_unavailable_value");
  static simdjson::dom::parser parser;
  if (st) {
    out.push_back(']');
    simdjson::padded_string p(out);
    if (parser.parse(p).error() != simdjson::SUCCESS) finding("value is not valid JSON", out);
  } else if (st.error().message.empty()) {
    finding("error without a message");
  }
  std::string schema = "[";
  f::append_field_schema(schema, type, m, true, "c");
  schema.push_back(']');
  simdjson::padded_string ps(schema);
  if (parser.parse(ps).error() != simdjson::SUCCESS) finding("field schema is not valid JSON", schema);
  return 0;
}
