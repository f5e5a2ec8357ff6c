// Workload: a pgbench-like writer for the reliability tests. Several worker threads run random
// transactions (single-row and range inserts / updates / deletes, small to large, rolled back ones,
// ROLLBACK TO SAVEPOINT) over three published tables with text, numeric, timestamptz, bool, jsonb,
// NULLs and out-of-line TOAST values, and log every committed row change with a unique key.
//   Workload w(db_params, "kill");  w.create(admin);           // tables + publication w.publication()
//   w.run(2 /*workers*/, 200000 /*changes*/, 40s /*pace*/);     // blocks; survives server restarts
//   const auto& expected = w.changes();                         // every committed change, once
// Every insert and update sets the row's `cid` to a fresh number, and ids are never reused, so a
// change is identified by (table, op, id, cid) (a delete by (table, id)). Each committed
// transaction also inserts its number into an unpublished ledger table: when the connection breaks
// during COMMIT (a server restart), the ledger says whether it committed.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tests/support/pg.hpp"

namespace replicator::test {

// One row change. op: 'i' insert, 'u' update, 'd' delete (cid 0: a delete is keyed by id).
struct ChangeKey {
  int table = 0;
  char op = 0;
  std::int64_t id = 0;
  std::int64_t cid = 0;
  friend bool operator==(const ChangeKey&, const ChangeKey&) = default;
};

struct ChangeKeyHash {
  std::size_t operator()(const ChangeKey& k) const noexcept {
    std::uint64_t h = static_cast<std::uint64_t>(k.id) * 0x9E3779B97F4A7C15ull;
    h ^= static_cast<std::uint64_t>(k.cid) + 0x7F4A7C15ull + (h << 6) + (h >> 2);
    h ^= static_cast<std::uint64_t>(k.table * 131 + k.op);
    return static_cast<std::size_t>(h);
  }
};

using ChangeSet = std::unordered_set<ChangeKey, ChangeKeyHash>;

struct WorkloadStats {
  std::uint64_t committed = 0;    // transactions
  std::uint64_t rolled_back = 0;  // on purpose (ROLLBACK)
  std::uint64_t failed = 0;       // broken by a server stop (in doubt, settled by the ledger)
  std::uint64_t failed_committed = 0;
  std::uint64_t changes = 0;
};

class Workload {
 public:
  static constexpr int kTables = 3;

  // `params`: libpq keyword/value pairs of the source database (empty: the PG* environment).
  Workload(std::vector<std::pair<std::string, std::string>> params, const std::string& prefix)
      : params_(std::move(params)) {
    const std::string base = unique_name(prefix);
    for (int t = 0; t < kTables; ++t) tables_[t] = base + "_" + static_cast<char>('a' + t);
    ledger_ = base + "_ledger";
    publication_ = base + "_pub";
  }

  [[nodiscard]] const std::string& table(int t) const { return tables_[static_cast<std::size_t>(t)]; }
  [[nodiscard]] const std::string& publication() const { return publication_; }
  [[nodiscard]] const std::string& ledger() const { return ledger_; }
  // Table index of a (schema-less) table name, -1 when not ours.
  [[nodiscard]] int table_index(std::string_view name) const {
    for (int t = 0; t < kTables; ++t)
      if (tables_[static_cast<std::size_t>(t)] == name) return t;
    return -1;
  }

  // Table a: many types and NULLs. Table b: REPLICA IDENTITY FULL with jsonb. Table c: bodies
  // stored out of line (STORAGE EXTERNAL), so updates that keep them send unchanged TOAST.
  void create(const PgSession& db) const {
    db.exec("CREATE TABLE " + tables_[0] +
            " (id bigint PRIMARY KEY, cid bigint NOT NULL, n integer, txt text, amount numeric(14,2),"
            " at timestamptz, flag boolean)");
    db.exec("CREATE TABLE " + tables_[1] + " (id bigint PRIMARY KEY, cid bigint NOT NULL, note text, data jsonb)");
    db.exec("ALTER TABLE " + tables_[1] + " REPLICA IDENTITY FULL");
    db.exec("CREATE TABLE " + tables_[2] + " (id bigint PRIMARY KEY, cid bigint NOT NULL, tag integer, body text)");
    db.exec("ALTER TABLE " + tables_[2] + " ALTER COLUMN body SET STORAGE EXTERNAL");
    db.exec("CREATE TABLE " + ledger_ + " (tx bigint PRIMARY KEY)");
    db.exec("CREATE PUBLICATION " + publication_ + " FOR TABLE " + tables_[0] + ", " + tables_[1] + ", " + tables_[2]);
  }

  [[nodiscard]] std::string drop_sql() const {
    return "DROP PUBLICATION IF EXISTS " + publication_ + "; DROP TABLE IF EXISTS " + tables_[0] + ", " + tables_[1] +
           ", " + tables_[2] + ", " + ledger_;
  }

  // Runs `workers` threads until `changes` row changes are committed (in total), pacing them so the
  // run takes about `pace` (0: as fast as possible). Connection failures (server restarts) are
  // waited out; any other SQL error throws. Returns when all workers are done.
  void run(int workers, std::uint64_t changes, std::chrono::milliseconds pace, std::uint32_t seed = 20261125) {
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t per_worker =
        (changes + static_cast<std::uint64_t>(workers) - 1) / static_cast<std::uint64_t>(workers);
    std::vector<std::thread> threads;
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(workers));
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        try {
          worker(w, per_worker, pace, start, seed + static_cast<std::uint32_t>(w) * 7919u);
        } catch (...) {
          errors[static_cast<std::size_t>(w)] = std::current_exception();
          stop_ = true;
        }
      });
    }
    for (auto& t : threads) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }

  void stop() { stop_ = true; }
  [[nodiscard]] std::uint64_t committed_changes() const { return committed_changes_.load(); }

  // Every committed change (valid after run()).
  [[nodiscard]] const ChangeSet& changes() const { return changes_; }
  [[nodiscard]] const WorkloadStats& stats() const { return stats_; }

 private:
  struct Op {
    int table;
    char op;
    std::int64_t lo, hi, cid_base;
  };
  struct Undo {
    int table;
    std::int64_t id;
    bool was_inserted;  // undo: erase (else: re-insert)
  };

  // Column values as SQL expressions of the change's cid `c` (so every change writes distinct values).
  static std::string values_sql(int table, const std::string& c) {
    switch (table) {
      case 0:
        return "CASE WHEN " + c + " % 7 = 0 THEN NULL ELSE (" + c + " % 100000)::int END, " + "CASE WHEN " + c +
               " % 5 = 0 THEN NULL ELSE 'a-' || " + c + " || E' \"q\" \\\\ ''s'' \\u00e9\\u4e2d' END, " + "(" + c +
               " % 1000000) / 100.0, " + "timestamptz '2024-01-01 00:00:00+00' + " + c + " * interval '1 second', " +
               "CASE " + c + " % 3 WHEN 0 THEN NULL WHEN 1 THEN true ELSE false END";
      case 1:
        return "CASE WHEN " + c + " % 4 = 0 THEN NULL ELSE 'note ' || " + c + " || E'\\nline 2\\t' END, " +
               "jsonb_build_object('cid', " + c + ", 's', 'x\"y', 'list', jsonb_build_array(1, " + c + " % 10))";
      default:
        return "(" + c + " % 1000)::int, CASE WHEN " + c + " % 3 = 0 THEN repeat(md5(" + c +
               "::text), 80) ELSE 'small ' || " + c + " END";
    }
  }
  static const char* columns_sql(int table) {
    switch (table) {
      case 0: return "n, txt, amount, at, flag";
      case 1: return "note, data";
      default: return "tag, body";
    }
  }

  std::string op_sql(const Op& o) const {
    const std::string& t = tables_[static_cast<std::size_t>(o.table)];
    const std::string lo = std::to_string(o.lo), hi = std::to_string(o.hi);
    if (o.op == 'i') {
      const std::string c = "(" + std::to_string(o.cid_base) + " + g - " + lo + ")";
      return "INSERT INTO " + t + " (id, cid, " + columns_sql(o.table) + ") SELECT g, " + c + ", " +
             values_sql(o.table, c) + " FROM generate_series(" + lo + ", " + hi + ") g;";
    }
    if (o.op == 'd') return "DELETE FROM " + t + " WHERE id BETWEEN " + lo + " AND " + hi + ";";
    const std::string c = "(" + std::to_string(o.cid_base) + " + id - " + lo + ")";
    if (o.table == 2 && o.cid_base % 2 == 0) {
      // Keep the body: large ones go out as unchanged TOAST.
      return "UPDATE " + t + " SET cid = " + c + ", tag = -(" + c + " % 1000)::int WHERE id BETWEEN " + lo + " AND " +
             hi + ";";
    }
    return "UPDATE " + t + " SET (cid, " + columns_sql(o.table) + ") = (" + c + ", " + values_sql(o.table, c) +
           ") WHERE id BETWEEN " + lo + " AND " + hi + ";";
  }

  PGconn* connect_retrying() const {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    for (;;) {
      std::vector<const char*> keys, values;
      for (const auto& [k, v] : params_) {
        keys.push_back(k.c_str());
        values.push_back(v.c_str());
      }
      keys.push_back(nullptr);
      values.push_back(nullptr);
      PGconn* c = PQconnectdbParams(keys.data(), values.data(), 0);
      if (c != nullptr && PQstatus(c) == CONNECTION_OK) {
        PGresult* r = PQexec(c, "SET synchronous_commit = on");
        PQclear(r);
        return c;
      }
      const std::string why = c ? PQerrorMessage(c) : "out of memory";
      if (c) PQfinish(c);
      if (std::chrono::steady_clock::now() > give_up) throw std::runtime_error("workload: cannot reconnect: " + why);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  void worker(int w, std::uint64_t target, std::chrono::milliseconds pace, std::chrono::steady_clock::time_point start,
              std::uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::set<std::int64_t> live[kTables];
    std::int64_t next_id[kTables];
    for (auto& n : next_id) n = static_cast<std::int64_t>(w + 1) * 1'000'000'000LL;
    std::vector<ChangeKey> log;
    WorkloadStats st;
    PGconn* conn = connect_retrying();
    std::uint64_t done = 0;
    auto pick = [&](std::uint64_t lo, std::uint64_t hi) { return lo + rng() % (hi - lo + 1); };

    while (done < target && !stop_) {
      // Plan one transaction against the live ids, remembering how to undo it.
      const unsigned kind = static_cast<unsigned>(rng() % 100);
      // 62 % small (1-4 rows), 25 % medium, 4 % large (up to ~9000 rows), 6 % rolled back, 3 % with
      // a ROLLBACK TO SAVEPOINT; the large ones carry most of the changes.
      const bool rollback = kind >= 91 && kind < 97;
      const bool savepoint = kind >= 97;
      int nops;
      std::uint64_t max_span;
      if (kind < 62) nops = static_cast<int>(pick(1, 4)), max_span = 1;
      else if (kind < 87) nops = static_cast<int>(pick(2, 6)), max_span = 40;
      else if (kind < 91) nops = static_cast<int>(pick(1, 3)), max_span = 3000;
      else nops = static_cast<int>(pick(2, 4)), max_span = 40;
      std::vector<Op> ops;
      std::vector<Undo> undo;
      std::vector<ChangeKey> pending;
      std::string sql = "BEGIN;";
      const std::int64_t txno = next_tx_.fetch_add(1);
      for (int i = 0; i < nops; ++i) {
        const int t = static_cast<int>(rng() % kTables);
        std::uint64_t span = pick(1, max_span);
        if (t == 2 && span > 1000) span = 1000;  // bodies are up to 2.5 kB each
        const unsigned what = static_cast<unsigned>(rng() % 10);
        Op o{t, 'i', 0, 0, 0};
        if (what >= 5 && !live[t].empty()) {
          o.op = what >= 8 ? 'd' : 'u';
          const std::int64_t first = *live[t].begin(), last = *live[t].rbegin();
          const std::int64_t from =
              first + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(last - first + 1));
          auto it = live[t].lower_bound(from);
          if (it == live[t].end()) it = std::prev(it);
          o.lo = *it;
          o.hi = o.lo + static_cast<std::int64_t>(span) - 1;
        } else {
          o.lo = next_id[t];
          o.hi = o.lo + static_cast<std::int64_t>(span) - 1;
          next_id[t] = o.hi + 1;
        }
        o.cid_base = next_cid_.fetch_add(o.hi - o.lo + 1 + 1);  // +1: a gap, so blocks never touch
        const bool undone_by_savepoint = savepoint && i == 1;
        if (undone_by_savepoint) {
          o.op = 'i';  // only new ids, so nothing later depends on it
          o.lo = next_id[t];
          o.hi = o.lo + static_cast<std::int64_t>(span) - 1;
          next_id[t] = o.hi + 1;
          sql += " SAVEPOINT s; " + op_sql(o) + " ROLLBACK TO SAVEPOINT s;";
          continue;
        }
        sql += " " + op_sql(o);
        if (o.op == 'i') {
          for (std::int64_t id = o.lo; id <= o.hi; ++id) {
            live[t].insert(id);
            undo.push_back({t, id, true});
            pending.push_back({t, 'i', id, o.cid_base + id - o.lo});
          }
        } else {
          auto it = live[t].lower_bound(o.lo);
          while (it != live[t].end() && *it <= o.hi) {
            const std::int64_t id = *it;
            if (o.op == 'd') {
              pending.push_back({t, 'd', id, 0});
              undo.push_back({t, id, false});
              it = live[t].erase(it);
            } else {
              pending.push_back({t, 'u', id, o.cid_base + id - o.lo});
              ++it;
            }
          }
        }
      }
      if (rollback) {
        sql += " ROLLBACK;";
      } else {
        sql += " INSERT INTO " + ledger_ + " VALUES (" + std::to_string(txno) + "); COMMIT;";
      }

      PGresult* res = PQexec(conn, sql.c_str());
      const bool ok = res != nullptr && PQresultStatus(res) == PGRES_COMMAND_OK;
      const std::string err = ok ? std::string() : std::string(PQerrorMessage(conn));
      PQclear(res);
      bool committed = ok && !rollback;
      if (!ok) {
        if (PQstatus(conn) == CONNECTION_OK) {
          // The connection is fine, so this is a real SQL error in the workload: a test bug.
          PQfinish(conn);
          throw std::runtime_error("workload SQL failed: " + err + "\n" + sql.substr(0, 2000));
        }
        // The server went away mid-transaction: did the COMMIT make it?
        PQfinish(conn);
        conn = connect_retrying();
        ++st.failed;
        if (!rollback) {
          const std::string check = "SELECT count(*) FROM " + ledger_ + " WHERE tx = " + std::to_string(txno);
          PGresult* r = PQexec(conn, check.c_str());
          if (r == nullptr || PQresultStatus(r) != PGRES_TUPLES_OK) {
            PQclear(r);
            PQfinish(conn);
            throw std::runtime_error("workload: cannot read the ledger after a failure");
          }
          committed = std::string(PQgetvalue(r, 0, 0)) == "1";
          PQclear(r);
          if (committed) ++st.failed_committed;
        }
      }
      if (committed) {
        ++st.committed;
        log.insert(log.end(), pending.begin(), pending.end());
        done += pending.size();
        committed_changes_ += pending.size();
      } else {
        if (rollback && ok) ++st.rolled_back;
        for (auto u = undo.rbegin(); u != undo.rend(); ++u) {
          if (u->was_inserted) live[u->table].erase(u->id);
          else live[u->table].insert(u->id);
        }
      }
      if (pace.count() > 0) {
        // Stay on schedule: `done` of `target` changes should take done/target of `pace`.
        const auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     pace * (static_cast<double>(done) / static_cast<double>(target)));
        if (due > std::chrono::steady_clock::now()) std::this_thread::sleep_until(due);
      }
    }
    PQfinish(conn);
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& k : log) {
      if (!changes_.insert(k).second) throw std::runtime_error("workload: a change key was produced twice");
    }
    stats_.committed += st.committed;
    stats_.rolled_back += st.rolled_back;
    stats_.failed += st.failed;
    stats_.failed_committed += st.failed_committed;
    stats_.changes += log.size();
  }

  std::vector<std::pair<std::string, std::string>> params_;
  std::string tables_[kTables];
  std::string ledger_;
  std::string publication_;
  std::atomic<std::int64_t> next_cid_{1};
  std::atomic<std::int64_t> next_tx_{1};
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> committed_changes_{0};
  std::mutex mu_;
  ChangeSet changes_;
  WorkloadStats stats_;
};

}  // namespace replicator::test
