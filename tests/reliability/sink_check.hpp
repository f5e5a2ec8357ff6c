// SinkLog: the JSON lines file of the `replicator` program's file sink, parsed for the reliability
// checks: every row change with its transaction (begin's final_lsn = commit LSN, commit's end_lsn),
// byte offsets, and which program run (segment) wrote it. Then the checks of docs/guarantees.md:
// nothing lost, nothing extra, duplicates only re-deliveries after a restart from the resume
// position, the final table state rebuilt from the file equals the source, and the server's
// confirmed_flush_lsn never ahead of what was durable in the file.
//   SinkLog log = SinkLog::parse(path, workload, {0, off1, off2});   // segment start offsets
//   auto r = check_delivery(log, workload.changes(), resume_lsns);   // r.missing, r.duplicates, r.problems
#pragma once

#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tests/reliability/workload.hpp"
#include "tests/support/pg.hpp"

namespace replicator::test {

inline std::uint64_t parse_lsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) throw std::runtime_error("not an LSN: " + std::string(text));
  return (std::stoull(std::string(text.substr(0, slash)), nullptr, 16) << 32) |
         std::stoull(std::string(text.substr(slash + 1)), nullptr, 16);
}

inline std::string lsn_text(std::uint64_t v) {
  std::ostringstream s;
  s << std::uppercase << std::hex << (v >> 32) << '/' << (v & 0xFFFFFFFFu);
  return s.str();
}

// One column value: nullopt for JSON null; `unchanged` for {"unchanged_toast":true}.
struct ColumnValue {
  std::optional<std::string> text;
  bool unchanged = false;
};

struct RowLine {
  ChangeKey key;
  std::uint64_t lsn = 0;
  std::size_t txn = 0;                                       // index into SinkLog::txns
  std::size_t offset = 0;                                    // of the line's first byte
  std::string_view raw;                                      // the line (points into SinkLog::text)
  std::vector<std::pair<std::string, ColumnValue>> new_row;  // insert / update
};

struct TxnLine {
  std::uint64_t xid = 0;
  std::uint64_t final_lsn = 0;  // commit LSN, from begin
  std::uint64_t end_lsn = 0;    // from commit; 0 when the file has no commit for it (cut by a kill)
  std::size_t segment = 0;
  std::size_t end_offset = 0;  // just past the commit line
  bool complete = false;
};

struct SinkLog {
  std::string text;
  std::vector<RowLine> rows;
  std::vector<TxnLine> txns;
  std::vector<std::size_t> segment_starts;  // offset where each program run started appending
  std::size_t other_lines = 0;              // schema_change etc.

  [[nodiscard]] std::size_t segment_of(std::size_t offset) const {
    auto it = std::upper_bound(segment_starts.begin(), segment_starts.end(), offset);
    return it == segment_starts.begin() ? 0 : static_cast<std::size_t>(it - segment_starts.begin()) - 1;
  }

  // Parses `path`. Lines of tables not in `w` are an error (the publication has only its tables).
  static SinkLog parse(const std::string& path, const Workload& w, std::vector<std::size_t> segment_starts) {
    SinkLog log;
    {
      std::ifstream f(path, std::ios::binary);
      std::ostringstream ss;
      ss << f.rdbuf();
      log.text = ss.str();
    }
    log.segment_starts = std::move(segment_starts);
    if (log.segment_starts.empty()) log.segment_starts.push_back(0);
    std::sort(log.segment_starts.begin(), log.segment_starts.end());
    simdjson::dom::parser parser;
    std::optional<std::size_t> open;  // the transaction being read
    std::size_t pos = 0;
    const std::string_view all = log.text;
    while (pos < all.size()) {
      const auto nl = all.find('\n', pos);
      if (nl == std::string_view::npos)
        throw std::runtime_error("sink file ends inside a line at offset " + std::to_string(pos));
      const std::string_view line = all.substr(pos, nl - pos);
      const std::size_t offset = pos;
      pos = nl + 1;
      simdjson::dom::element doc;
      if (parser.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS) {
        throw std::runtime_error("sink line at offset " + std::to_string(offset) +
                                 " is not JSON: " + std::string(line.substr(0, 300)));
      }
      std::string_view op;
      if (doc["op"].get(op) != simdjson::SUCCESS) throw std::runtime_error("sink line without op");
      if (op == "begin") {
        if (open) log.txns[*open].complete = false;  // cut by a kill: the next run sends it again
        TxnLine t;
        std::string_view fl;
        if (doc["xid"].get(t.xid) != simdjson::SUCCESS || doc["final_lsn"].get(fl) != simdjson::SUCCESS)
          throw std::runtime_error("begin line without xid/final_lsn");
        t.final_lsn = parse_lsn(fl);
        t.segment = log.segment_of(offset);
        open = log.txns.size();
        log.txns.push_back(t);
        continue;
      }
      if (op == "commit") {
        if (!open) throw std::runtime_error("commit without begin at offset " + std::to_string(offset));
        auto& t = log.txns[*open];
        std::string_view el, cl;
        std::uint64_t xid = 0;
        if (doc["end_lsn"].get(el) != simdjson::SUCCESS || doc["commit_lsn"].get(cl) != simdjson::SUCCESS ||
            doc["xid"].get(xid) != simdjson::SUCCESS)
          throw std::runtime_error("commit line without end_lsn/commit_lsn");
        if (xid != t.xid || parse_lsn(cl) != t.final_lsn)
          throw std::runtime_error("commit does not match its begin at offset " + std::to_string(offset));
        t.end_lsn = parse_lsn(el);
        t.end_offset = pos;
        t.complete = true;
        open.reset();
        continue;
      }
      if (op != "insert" && op != "update" && op != "delete") {
        ++log.other_lines;  // schema_change, truncate (none expected), ...
        continue;
      }
      if (!open) throw std::runtime_error("row change outside a transaction at offset " + std::to_string(offset));
      std::string_view table, lsn;
      if (doc["table"].get(table) != simdjson::SUCCESS || doc["lsn"].get(lsn) != simdjson::SUCCESS)
        throw std::runtime_error("row line without table/lsn");
      RowLine r;
      r.key.table = w.table_index(table);
      if (r.key.table < 0)
        throw std::runtime_error("a change of a table outside the publication: " + std::string(table));
      r.key.op = op[0] == 'i' ? 'i' : op[0] == 'u' ? 'u' : 'd';
      r.lsn = parse_lsn(lsn);
      r.txn = *open;
      r.offset = offset;
      r.raw = line;
      auto text_of = [](simdjson::dom::element v) -> ColumnValue {
        ColumnValue c;
        std::string_view s;
        if (v.is_null()) return c;
        if (v.get(s) == simdjson::SUCCESS) {
          c.text = std::string(s);
          return c;
        }
        bool b = false;
        if (v["unchanged_toast"].get(b) == simdjson::SUCCESS && b) c.unchanged = true;
        return c;
      };
      auto id_of = [&](simdjson::dom::object obj) -> std::int64_t {
        std::string_view s;
        if (obj["id"].get(s) != simdjson::SUCCESS) throw std::runtime_error("row without id: " + std::string(line));
        return std::stoll(std::string(s));
      };
      if (r.key.op == 'd') {
        simdjson::dom::object key;
        if (doc["key"].get(key) != simdjson::SUCCESS && doc["old"].get(key) != simdjson::SUCCESS)
          throw std::runtime_error("delete without key/old: " + std::string(line));
        r.key.id = id_of(key);
      } else {
        simdjson::dom::object row;
        if (doc["new"].get(row) != simdjson::SUCCESS)
          throw std::runtime_error("insert/update without new: " + std::string(line));
        r.key.id = id_of(row);
        std::string_view cid;
        if (row["cid"].get(cid) != simdjson::SUCCESS) throw std::runtime_error("row without cid: " + std::string(line));
        r.key.cid = std::stoll(std::string(cid));
        for (auto field : row) r.new_row.emplace_back(std::string(field.key), text_of(field.value));
      }
      log.rows.push_back(std::move(r));
    }
    if (open) log.txns[*open].complete = false;
    return log;
  }
};

// What a program run resumed from: the LSN it logged (resume_from=, else the slot's confirmed_flush=).
inline std::optional<std::uint64_t> resume_lsn_from_log(const std::string& log) {
  const auto at = log.find("msg=streaming ");
  if (at == std::string::npos) return std::nullopt;
  const auto eol = log.find('\n', at);
  const std::string line = log.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
  auto field = [&](const std::string& name) -> std::string {
    const auto p = line.find(" " + name + "=");
    if (p == std::string::npos) return {};
    const auto start = p + name.size() + 2;
    const auto end = line.find(' ', start);
    std::string v = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!v.empty() && v.front() == '"') v = v.substr(1, v.size() - 2);
    return v;
  };
  std::string v = field("resume_from");
  if (v.empty() || v.find('/') == std::string::npos) v = field("confirmed_flush");
  if (v.empty() || v.find('/') == std::string::npos) return std::nullopt;
  return parse_lsn(v);
}

struct DeliveryReport {
  std::size_t expected = 0;
  std::size_t delivered = 0;  // distinct changes in complete transactions
  std::size_t missing = 0;
  std::size_t extra = 0;                         // changes nobody committed (e.g. rolled back)
  std::size_t occurrences = 0;                   // row lines in total
  std::size_t duplicates = 0;                    // occurrences beyond the first
  std::size_t duplicates_before_resume_lsn = 0;  // duplicates whose own LSN < resume (interleaved transactions)
  std::size_t incomplete_txns = 0;
  std::vector<std::string> problems;  // each a violated rule, with an example
};

// `resume[s]`: the LSN segment s resumed from (nullopt: unknown, e.g. the first run).
// `allow_same_segment`: duplicates inside one run are allowed (it reconnected by itself).
inline DeliveryReport check_delivery(const SinkLog& log, const ChangeSet& expected,
                                     const std::vector<std::optional<std::uint64_t>>& resume, bool allow_same_segment) {
  DeliveryReport r;
  r.expected = expected.size();
  std::unordered_map<ChangeKey, std::size_t, ChangeKeyHash> first;  // key -> index of first row line
  ChangeSet delivered;
  auto problem = [&](const std::string& what) {
    if (r.problems.size() < 20) r.problems.push_back(what);
  };
  for (const auto& t : log.txns) r.incomplete_txns += t.complete ? 0 : 1;
  for (std::size_t i = 0; i < log.rows.size(); ++i) {
    const RowLine& row = log.rows[i];
    const TxnLine& txn = log.txns[row.txn];
    ++r.occurrences;
    if (txn.complete) delivered.insert(row.key);
    auto [it, inserted] = first.emplace(row.key, i);
    if (inserted) continue;
    ++r.duplicates;
    const RowLine& orig = log.rows[it->second];
    const std::size_t seg = txn.segment;
    const std::size_t orig_seg = log.txns[orig.txn].segment;
    if (orig.raw != row.raw)
      problem("a duplicate differs from the first delivery:\n  " + std::string(orig.raw) + "\n  " +
              std::string(row.raw));
    if (seg == orig_seg && !allow_same_segment) {
      problem("a duplicate within one run (no restart in between) at offset " + std::to_string(row.offset) + ": " +
              std::string(row.raw));
    }
    const auto res = seg < resume.size() ? resume[seg] : std::nullopt;
    if (!res) {
      if (seg != orig_seg) problem("a duplicate in run " + std::to_string(seg) + ", which logged no resume position");
    } else {
      // The server re-sends exactly the transactions whose commit record is at or after the start
      // position; a change's own LSN may be earlier when transactions interleave.
      if (txn.final_lsn < *res) {
        problem("a duplicate from before the resume position " + lsn_text(*res) + " (commit " +
                lsn_text(txn.final_lsn) + ") in run " + std::to_string(seg) + ": " + std::string(row.raw));
      }
      if (row.lsn < *res) ++r.duplicates_before_resume_lsn;
    }
  }
  for (const auto& k : expected) {
    if (!delivered.count(k)) {
      ++r.missing;
      if (r.missing <= 5)
        problem("lost: table " + std::to_string(k.table) + " op " + k.op + " id " + std::to_string(k.id) + " cid " +
                std::to_string(k.cid));
    }
  }
  for (const auto& [k, idx] : first) {
    if (!expected.count(k)) {
      ++r.extra;
      if (r.extra <= 5) problem("never committed, yet delivered: " + std::string(log.rows[idx].raw));
    }
  }
  r.delivered = delivered.size();
  // Inside one run, complete transactions arrive in commit order.
  std::vector<std::uint64_t> last(log.segment_starts.size(), 0);
  for (const auto& t : log.txns) {
    if (!t.complete) continue;
    if (t.final_lsn <= last[t.segment] && !allow_same_segment)
      problem("transactions out of commit order in run " + std::to_string(t.segment));
    last[t.segment] = std::max(last[t.segment], t.final_lsn);
  }
  return r;
}

// The tables' final state rebuilt from the file the way docs/guarantees.md tells consumers to:
// complete transactions in file order, skipping a transaction whose commit end_lsn is not above the
// highest one applied (a re-delivery). Re-applying re-delivered transactions is not harmless: an
// update with an unchanged TOAST value of a row that a later transaction deleted has nothing to keep.
// Compared with the source; returns the differences (empty: equal).
inline std::vector<std::string> compare_final_state(const SinkLog& log, const Workload& w, const PgSession& db) {
  std::vector<std::string> diffs;
  using Row = std::map<std::string, std::optional<std::string>>;
  std::vector<std::map<std::int64_t, Row>> rebuilt(Workload::kTables);
  std::uint64_t applied_end = 0;  // highest end_lsn applied
  std::size_t current = static_cast<std::size_t>(-1);
  bool apply = false;
  for (const auto& row : log.rows) {
    const TxnLine& txn = log.txns[row.txn];
    if (row.txn != current) {  // a transaction's rows are contiguous
      current = row.txn;
      apply = txn.complete && txn.end_lsn > applied_end;
      if (apply) applied_end = txn.end_lsn;
    }
    if (!apply) continue;
    auto& table = rebuilt[static_cast<std::size_t>(row.key.table)];
    if (row.key.op == 'd') {
      table.erase(row.key.id);
      continue;
    }
    Row& target = table[row.key.id];
    for (const auto& [name, value] : row.new_row) {
      if (value.unchanged) {
        if (!target.count(name))
          diffs.push_back("unchanged TOAST for a value never seen: " + std::string(row.raw.substr(0, 200)));
        continue;  // keeps the earlier value
      }
      target[name] = value.text;
    }
  }
  for (int t = 0; t < Workload::kTables; ++t) {
    const auto res = db.query("SELECT * FROM " + w.table(t) + " ORDER BY id");
    PGresult* cols = PQexec(db.get(), ("SELECT * FROM " + w.table(t) + " LIMIT 0").c_str());
    std::vector<std::string> names;
    for (int c = 0; c < PQnfields(cols); ++c) names.emplace_back(PQfname(cols, c));
    PQclear(cols);
    auto& mine = rebuilt[static_cast<std::size_t>(t)];
    if (res.size() != mine.size()) {
      diffs.push_back(w.table(t) + ": " + std::to_string(res.size()) + " rows in the source, " +
                      std::to_string(mine.size()) + " rebuilt from the sink");
    }
    for (const auto& src : res) {
      const std::int64_t id = std::stoll(*src[0]);
      auto it = mine.find(id);
      if (it == mine.end()) {
        if (diffs.size() < 20) diffs.push_back(w.table(t) + ": row " + std::to_string(id) + " missing from the sink");
        continue;
      }
      for (std::size_t c = 0; c < names.size(); ++c) {
        auto v = it->second.find(names[c]);
        if (v == it->second.end() || v->second != src[c]) {
          if (diffs.size() < 20) {
            diffs.push_back(w.table(t) + ": row " + std::to_string(id) + " column " + names[c] + ": source " +
                            (src[c] ? "'" + src[c]->substr(0, 80) + "'" : "NULL") + ", sink " +
                            (v == it->second.end() ? "absent"
                             : v->second           ? "'" + v->second->substr(0, 80) + "'"
                                                   : "NULL"));
          }
        }
      }
    }
  }
  return diffs;
}

// Prints each line of `what` under `title` (the failures of a check, for the test log).
inline void print_all(const std::string& title, const std::vector<std::string>& what) {
  for (const auto& w : what) std::cout << title << ": " << w << "\n";
  std::cout.flush();
}

// Keeps `files` for a failed run: copies them to $TEST_UNDECLARED_OUTPUTS_DIR (bazel's outputs.zip).
inline void keep_for_inspection(const std::vector<std::string>& files) {
  const char* out = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  if (out == nullptr) return;
  for (const auto& f : files) {
    const std::string cmd = "cp '" + f + "' '" + out + "/' 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) std::cout << "could not keep " << f << "\n";
  }
}

// One sample of the kill test: the server's confirmed_flush_lsn, then the durable size of the sink.
struct FlushSample {
  std::uint64_t confirmed = 0;
  std::size_t durable_bytes = 0;
};

struct FlushCheck {
  std::size_t samples = 0;
  std::size_t violations = 0;            // confirmed past a transaction that was not durable yet
  std::size_t ahead_of_last_commit = 0;  // confirmed > the last durable commit's end (idle keepalive advance)
  std::string example;
};

// For each sample: every complete transaction with end_lsn <= confirmed must have been durable
// (its first commit line inside the durable prefix). Transactions come from the final file, which
// check_delivery shows holds every committed change.
inline FlushCheck check_flush_samples(const SinkLog& log, const std::vector<FlushSample>& samples) {
  std::map<std::uint64_t, std::size_t> first_end;  // end_lsn -> end offset of its first commit line
  for (const auto& t : log.txns) {
    if (!t.complete) continue;
    auto [it, inserted] = first_end.emplace(t.end_lsn, t.end_offset);
    if (!inserted) it->second = std::min(it->second, t.end_offset);
  }
  // Prefix maximum of the offsets by end_lsn: the bytes needed for everything up to an LSN.
  std::vector<std::pair<std::uint64_t, std::size_t>> need;
  std::size_t running = 0;
  for (const auto& [end, off] : first_end) {
    running = std::max(running, off);
    need.emplace_back(end, running);
  }
  FlushCheck c;
  for (const auto& s : samples) {
    ++c.samples;
    auto it = std::upper_bound(need.begin(), need.end(), s.confirmed,
                               [](std::uint64_t v, const auto& p) { return v < p.first; });
    if (it != need.begin()) {
      const std::size_t bytes = std::prev(it)->second;
      if (bytes > s.durable_bytes) {
        ++c.violations;
        if (c.example.empty()) {
          c.example = "confirmed_flush_lsn " + lsn_text(s.confirmed) + " covers a transaction ending at " +
                      lsn_text(std::prev(it)->first) + " whose commit line ends at byte " + std::to_string(bytes) +
                      " but only " + std::to_string(s.durable_bytes) + " bytes were durable";
        }
      }
    }
    // The last commit inside the durable prefix, for the report.
    auto within =
        std::partition_point(need.begin(), need.end(), [&](const auto& p) { return p.second <= s.durable_bytes; });
    const std::uint64_t last_durable = within == need.begin() ? 0 : std::prev(within)->first;
    if (s.confirmed > last_durable) ++c.ahead_of_last_commit;
  }
  return c;
}

}  // namespace replicator::test
