// The Kafka Connect schemas Debezium's PostgreSQL connector declares, in the JSON converter's
// form ({"type":..,"optional":..,"name":..,"version":..,"parameters":{..},"field":..}), for
// `debezium_schemas: true` ({"schema": {...}, "payload": {...}}).
//   append_field_schema(out, resolve_debezium_type(cat, oid, typmod), modes, /*optional=*/true, "price");
#pragma once

#include <string>
#include <string_view>

#include "replicator/change/relation.hpp"
#include "replicator/format/debezium_types.hpp"
#include "replicator/format/debezium_values.hpp"
#include "replicator/format/json.hpp"

namespace replicator::format {

namespace detail {

inline void open_schema(std::string& out, std::string_view type) {
  out += "{\"type\":\"";
  out += type;
  out += '"';
}
inline void schema_tail(std::string& out, bool optional, std::string_view name, std::string_view params_json = {},
                        std::string_view doc = {}) {
  out += optional ? ",\"optional\":true" : ",\"optional\":false";
  if (!name.empty()) {
    out += ",\"name\":\"";
    out += name;
    out += "\",\"version\":1";
  }
  if (!doc.empty()) {
    out += ",\"doc\":";
    append_json_string(out, doc);
  }
  if (!params_json.empty()) {
    out += ",\"parameters\":";
    out += params_json;
  }
}

inline void scalar_schema(std::string& out, const DebeziumScalarType& t, const DebeziumValueModes& m, bool optional) {
  auto simple = [&](std::string_view type, std::string_view name = {}) {
    open_schema(out, type);
    schema_tail(out, optional, name);
  };
  const bool connect = m.time_precision == TimePrecisionMode::connect;
  switch (t.kind) {
    case DebeziumKind::boolean: return simple("boolean");
    case DebeziumKind::bits: {
      std::string p = "{\"length\":\"";
      p += std::to_string(t.typmod > 0 ? t.typmod : 2147483647);
      p += "\"}";
      open_schema(out, "bytes");
      return schema_tail(out, optional, "io.debezium.data.Bits", p);
    }
    case DebeziumKind::int16: return simple("int16");
    case DebeziumKind::int32: return simple("int32");
    case DebeziumKind::int64: return simple("int64");
    case DebeziumKind::float32: return simple("float");
    case DebeziumKind::float64: return simple("double");
    case DebeziumKind::numeric:
    case DebeziumKind::money: {
      if (m.decimal == DecimalHandlingMode::double_) return simple("double");
      if (m.decimal == DecimalHandlingMode::string) return simple("string");
      const int scale = t.kind == DebeziumKind::money ? m.money_fraction_digits : numeric_scale(t.typmod);
      if (scale < 0) {
        out +=
            "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},"
            "{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}]";
        return schema_tail(out, optional, "io.debezium.data.VariableScaleDecimal", {}, "Variable scaled decimal");
      }
      std::string p = "{\"scale\":\"" + std::to_string(scale) + "\"";
      if (t.kind == DebeziumKind::numeric)
        p += ",\"connect.decimal.precision\":\"" + std::to_string(numeric_precision(t.typmod)) + "\"";
      p += "}";
      open_schema(out, "bytes");
      return schema_tail(out, optional, "org.apache.kafka.connect.data.Decimal", p);
    }
    case DebeziumKind::string: return simple("string");
    case DebeziumKind::json: return simple("string", "io.debezium.data.Json");
    case DebeziumKind::xml: return simple("string", "io.debezium.data.Xml");
    case DebeziumKind::uuid: return simple("string", "io.debezium.data.Uuid");
    case DebeziumKind::ltree: return simple("string", "io.debezium.data.Ltree");
    case DebeziumKind::enum_: {
      std::string p = "{\"allowed\":";
      std::string allowed;
      if (t.user_type != nullptr)
        for (const auto& l : t.user_type->enum_labels) allowed += (allowed.empty() ? "" : ",") + l;
      append_json_string(p, allowed);
      p += "}";
      open_schema(out, "string");
      return schema_tail(out, optional, "io.debezium.data.Enum", p);
    }
    case DebeziumKind::date:
      return simple("int32", connect ? "org.apache.kafka.connect.data.Date" : "io.debezium.time.Date");
    case DebeziumKind::time:
      if (connect) return simple("int32", "org.apache.kafka.connect.data.Time");
      if (m.time_precision == TimePrecisionMode::adaptive && t.typmod >= 0 && t.typmod <= 3)
        return simple("int32", "io.debezium.time.Time");
      return simple("int64", "io.debezium.time.MicroTime");
    case DebeziumKind::timetz: return simple("string", "io.debezium.time.ZonedTime");
    case DebeziumKind::timestamp:
      if (connect) return simple("int64", "org.apache.kafka.connect.data.Timestamp");
      return simple("int64",
                    t.typmod >= 0 && t.typmod <= 3 ? "io.debezium.time.Timestamp" : "io.debezium.time.MicroTimestamp");
    case DebeziumKind::timestamptz: return simple("string", "io.debezium.time.ZonedTimestamp");
    case DebeziumKind::interval:
      return m.interval == IntervalHandlingMode::string ? simple("string", "io.debezium.time.Interval")
                                                        : simple("int64", "io.debezium.time.MicroDuration");
    case DebeziumKind::bytea: return simple(m.binary == BinaryHandlingMode::bytes ? "bytes" : "string");
    case DebeziumKind::point:
      out +=
          "{\"type\":\"struct\",\"fields\":[{\"type\":\"double\",\"optional\":false,\"field\":\"x\"},"
          "{\"type\":\"double\",\"optional\":false,\"field\":\"y\"},"
          "{\"type\":\"bytes\",\"optional\":true,\"field\":\"wkb\"},"
          "{\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}]";
      return schema_tail(out, optional, "io.debezium.data.geometry.Point", {}, "Geometry (POINT)");
    case DebeziumKind::hstore:
      if (m.hstore == HstoreHandlingMode::json) return simple("string", "io.debezium.data.Json");
      out +=
          "{\"type\":\"map\",\"keys\":{\"type\":\"string\",\"optional\":false},"
          "\"values\":{\"type\":\"string\",\"optional\":true}";
      return schema_tail(out, optional, {});
  }
}

}  // namespace detail

// One column's schema with its "field" name.
inline void append_field_schema(std::string& out, const DebeziumColumnType& t, const DebeziumValueModes& m,
                                bool optional, std::string_view field) {
  if (t.is_array) {
    out += "{\"type\":\"array\",\"items\":";
    detail::scalar_schema(out, t.scalar, m, true);
    out.push_back('}');
    detail::schema_tail(out, optional, {});
  } else {
    detail::scalar_schema(out, t.scalar, m, optional);
  }
  out += ",\"field\":";
  append_json_string(out, field);
  out.push_back('}');
}

// io.debezium.connector.postgresql.Source as this formatter fills it (field "source").
inline constexpr std::string_view kDebeziumSourceSchema =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,"
    "\"parameters\":{\"allowed\":\"true,last,false,incremental\"},\"default\":\"false\",\"field\":\"snapshot\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"}"
    "],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"field\":\"source\"}";

// The transaction block (field "transaction"), Debezium's event.block.
inline constexpr std::string_view kDebeziumTransactionSchema =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}"
    "],\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"}";

}  // namespace replicator::format
