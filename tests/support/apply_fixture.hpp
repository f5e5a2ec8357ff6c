// The two clusters of the apply tests: the source of scripts/with_postgres.sh and a private target
// cluster (one per binary), the same tables on both, a publication and a LiveReplicator into
// PostgresApplySink, and the comparison of both sides as multisets (EXCEPT ALL both ways).
//   ApplyFixture f;  auto t = f.table("t", "id int PRIMARY KEY");  f.publish();
//   auto r = f.make();  REQUIRE_OK(ApplyFixture::start(r));  ...;  REQUIRE_OK(f.run_until_equal(r));
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "replicator/live.hpp"
#include "replicator/sink/postgres_apply.hpp"
#include "tests/support/env_config.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/private_cluster.hpp"
#include "tests/support/require_ok.hpp"


namespace replicator::test {

using namespace std::chrono_literals;

template <class Batcher = TransactionBatcher>
using ApplyReplicatorOf = LiveReplicator<PostgresApplySink, Batcher, PostgresApplySink::PositionStore>;
using ApplyReplicator = ApplyReplicatorOf<>;

// The target cluster, one per binary (a start costs a second or two).
inline PrivateCluster& target_cluster() {
  static PrivateCluster cluster;
  return cluster;
}

inline ConnectionConfig target_config() {
  ConnectionConfig c;
  c.host = target_cluster().host();
  c.port = target_cluster().port();
  c.user = "postgres";
  c.dbname = "postgres";
  return c;
}

// Every row of `table` as text, sorted: equal lists are equal multisets (EXCEPT ALL both ways).
inline std::vector<std::string> dump(const PgSession& db, const std::string& table) {
  db.exec("SET TimeZone = 'UTC'");
  std::vector<std::string> out;
  for (const auto& row : db.query("SELECT t::text FROM " + table + " t")) out.push_back(row[0].value_or("NULL"));
  std::sort(out.begin(), out.end());
  return out;
}

// "" when equal, else the sizes and a few rows only one side has.
inline std::string difference(const std::vector<std::string>& src, const std::vector<std::string>& tgt) {
  if (src == tgt) return {};
  std::vector<std::string> only_src, only_tgt;
  std::set_difference(src.begin(), src.end(), tgt.begin(), tgt.end(), std::back_inserter(only_src));
  std::set_difference(tgt.begin(), tgt.end(), src.begin(), src.end(), std::back_inserter(only_tgt));
  std::string out = "source " + std::to_string(src.size()) + " rows, target " + std::to_string(tgt.size());
  for (std::size_t i = 0; i < only_src.size() && i < 3; ++i) out += "; only source: " + only_src[i].substr(0, 200);
  for (std::size_t i = 0; i < only_tgt.size() && i < 3; ++i) out += "; only target: " + only_tgt[i].substr(0, 200);
  return out;
}

struct ApplyFixture {
  PgSession src;
  PgSession tgt{target_cluster().params()};
  std::string slot = unique_name("apply_slot");
  std::string pub = unique_name("apply_pub");
  std::string origin = "replicator_" + slot;
  std::vector<std::string> tables;
  CleanupSql drop_slot{"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" +
                       slot + "'"};
  CleanupSql drop_pub{"DROP PUBLICATION IF EXISTS " + pub};
  std::vector<std::unique_ptr<CleanupSql>> drops;

  // The same DDL on both sides; the table is published.
  std::string table(const std::string& prefix, const std::string& columns, const std::string& after = "") {
    const std::string name = unique_name(prefix);
    const std::string ddl = "CREATE TABLE " + name + " (" + columns + ");" + after;
    both(ddl.find("%t") == std::string::npos ? ddl : replace_all(ddl, "%t", name));
    drops.push_back(std::make_unique<CleanupSql>("DROP TABLE IF EXISTS " + name + " CASCADE"));
    tables.push_back(name);
    return name;
  }
  void both(const std::string& sql) {
    src.exec(sql);
    tgt.exec(sql);
  }
  static std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
    return s;
  }
  void publish() {
    std::string list;
    for (const auto& t : tables) list += (list.empty() ? "" : ", ") + t;
    src.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + list);
  }

  template <class Batcher = TransactionBatcher>
  ApplyReplicatorOf<Batcher> make(PostgresApplyOptions options = {}, bool binary = false, Batcher batcher = {}) {
    if (options.origin_name.empty()) options.origin_name = origin;
    LibpqTransportOptions o;
    o.slot_name = slot;
    o.publication_names = {pub};
    o.proto_version = 2;
    o.streaming = StreamingMode::on;
    o.binary = binary;
    PostgresApplySink sink(target_config(), std::move(options));
    auto store = sink.position_store();
    return ApplyReplicatorOf<Batcher>(LibpqTransport(env_config(), o), PgOutputEventDecoder{}, std::move(batcher),
                           std::move(store), std::move(sink),
                           ReplicatorOptions{.slot_name = slot, .status_interval = 100ms});
  }

  template <class R>
  static Status start(R& r) {
    return start_retrying(r);
  }

  Lsn source_lsn() { return Lsn::parse(*src.scalar("SELECT pg_current_wal_lsn()::text")).value(); }
  Lsn confirmed_flush() {
    auto v = src.scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
    return v ? Lsn::parse(*v).value() : Lsn{};
  }
  Lsn origin_flushed() {
    auto v = tgt.scalar("SELECT pg_replication_origin_progress('" + origin + "', false)::text");
    return v ? Lsn::parse(*v).value() : Lsn{};
  }

  // Runs until every table matches on both sides (or 60 s pass); the slot is never confirmed past
  // what the target's origin holds.
  template <class R>
  Status run_until_equal(R& r) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    auto next_check = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < deadline) {
      auto more = r.run_once(50ms);
      if (!more) return more.error();
      if (std::chrono::steady_clock::now() < next_check) continue;
      next_check = std::chrono::steady_clock::now() + 300ms;
      const Lsn confirmed = confirmed_flush();
      const Lsn held = r.sink().durable_lsn();
      if (r.sink().applied_lsn().is_valid()) CHECK(confirmed <= std::max(held, r.flushed_lsn()));
      if (equal()) return ok_status();
    }
    for (const auto& t : tables) {
      INFO("table " << t);
      CHECK(difference(dump(src, t), dump(tgt, t)) == "");
    }
    WARN("messages " << r.stats().messages << " events " << r.stats().events << " filtered " << r.stats().filtered
                     << " in_flight " << r.batcher().in_flight() << " wal_end " << r.stats().server_wal_end.to_string()
                     << " source " << source_lsn().to_string() << " confirmed " << confirmed_flush().to_string());
    return ReplicationError::fatal("the target did not catch up within 60 s");
  }
  template <class R>
  static Status run_until_error(R& r) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto more = r.run_once(50ms);
      if (!more) return more.error();
    }
    return ok_status();
  }
  bool equal() {
    for (const auto& t : tables)
      if (dump(src, t) != dump(tgt, t)) return false;
    return true;
  }
  void check_equal() {
    for (const auto& t : tables) {
      INFO("table " << t);
      CHECK(difference(dump(src, t), dump(tgt, t)) == "");
    }
  }
};

}  // namespace replicator::test
