// RelationInfo: a table as change events name it (schema, name, replica identity, columns with
// type OIDs and key flags), owned by the decoder's cache and pointed to by every row change.
//   for (const ColumnInfo& c : row.relation->columns) if (c.is_key) use(c.name, c.type_oid);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace replicator {

// Transaction ids as sent on the wire; 0 (InvalidTransactionId) means "not sent".
using Xid = std::uint32_t;
using Oid = std::uint32_t;

// Which old tuple an Update or Delete carries.
enum class OldTupleKind : char {
  none = 0,
  key = 'K',   // the replica identity key columns (DEFAULT / USING INDEX), others are null
  full = 'O',  // the whole old row (REPLICA IDENTITY FULL)
};

enum class ReplicaIdentity : char {
  default_ = 'd',
  nothing = 'n',
  full = 'f',
  index = 'i',
};

constexpr std::string_view to_string(ReplicaIdentity r) noexcept {
  switch (r) {
    case ReplicaIdentity::default_: return "default";
    case ReplicaIdentity::nothing: return "nothing";
    case ReplicaIdentity::full: return "full";
    case ReplicaIdentity::index: return "index";
  }
  return "unknown";
}

struct ColumnInfo {
  std::string name;
  Oid type_oid = 0;
  std::int32_t type_modifier = -1;
  bool is_key = false;
  friend bool operator==(const ColumnInfo&, const ColumnInfo&) = default;
};

struct RelationInfo {
  Oid oid = 0;
  std::string schema;  // "pg_catalog" when the server sent an empty namespace
  std::string name;
  ReplicaIdentity replica_identity = ReplicaIdentity::default_;
  std::vector<ColumnInfo> columns;
  std::uint64_t version = 0;  // bumps each time the server sends a different definition

  [[nodiscard]] std::string qualified_name() const { return schema + "." + name; }
  // Same definition, ignoring version.
  [[nodiscard]] bool same_definition(const RelationInfo& o) const {
    return oid == o.oid && schema == o.schema && name == o.name && replica_identity == o.replica_identity &&
           columns == o.columns;
  }
};

struct TypeInfo {
  Oid oid = 0;
  std::string schema;
  std::string name;
};

}  // namespace replicator
