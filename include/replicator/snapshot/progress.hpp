// Progress of an initial snapshot: counters shared by the copy workers, a consistent reading of them
// (rows and tables done, rate, ETA), and two renderings: a one-line bar for a terminal and a
// plain line for logs.
//   ProgressCounters counters(tables.size(), estimated_rows);   counters.add_rows(1000, 65536);
//   SnapshotProgress p = counters.read();
//   std::fprintf(stderr, "\r%s", format_progress_bar(p).c_str());   // [#####-----]  45% 3/5 tables ...
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace replicator::snapshot {

struct SnapshotProgress {
  std::uint64_t rows_done = 0;
  std::uint64_t rows_estimated = 0;  // from table statistics: may be off (or 0 before ANALYZE)
  std::uint64_t bytes_done = 0;      // COPY bytes received
  std::size_t tables_done = 0;
  std::size_t tables_total = 0;
  std::chrono::steady_clock::duration elapsed{};
  bool finished = false;

  [[nodiscard]] double seconds() const noexcept { return std::chrono::duration<double>(elapsed).count(); }
  [[nodiscard]] double rows_per_second() const noexcept {
    const double s = seconds();
    return s > 0 ? static_cast<double>(rows_done) / s : 0.0;
  }
  // The estimate never below what was already copied.
  [[nodiscard]] std::uint64_t rows_total() const noexcept { return std::max(rows_estimated, rows_done); }
  // 0..1 by rows when an estimate exists, else by tables.
  [[nodiscard]] double fraction() const noexcept {
    if (finished) return 1.0;
    if (rows_total() > 0) return std::min(1.0, static_cast<double>(rows_done) / static_cast<double>(rows_total()));
    return tables_total > 0 ? static_cast<double>(tables_done) / static_cast<double>(tables_total) : 0.0;
  }
  // Remaining rows at the current rate; nullopt while nothing is known yet.
  [[nodiscard]] std::optional<std::chrono::seconds> eta() const noexcept {
    if (finished || (tables_total > 0 && tables_done == tables_total)) return std::chrono::seconds(0);
    const double rate = rows_per_second();
    if (rate <= 0 || rows_total() == 0) return std::nullopt;
    const double left = static_cast<double>(rows_total() - rows_done) / rate;
    return std::chrono::seconds(static_cast<std::int64_t>(std::ceil(std::min(left, 1e9))));
  }
};

// Shared by the workers (relaxed atomics: the numbers are for display only).
class ProgressCounters {
 public:
  using Clock = std::chrono::steady_clock;

  ProgressCounters(std::size_t tables_total = 0, std::uint64_t rows_estimated = 0)
      : tables_total_(tables_total), rows_estimated_(rows_estimated), start_(Clock::now()) {}

  void add_rows(std::uint64_t rows, std::uint64_t bytes) noexcept {
    rows_.fetch_add(rows, std::memory_order_relaxed);
    bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }
  void table_done() noexcept { tables_done_.fetch_add(1, std::memory_order_relaxed); }
  void finish() noexcept { finished_.store(true, std::memory_order_relaxed); }

  [[nodiscard]] SnapshotProgress read() const noexcept {
    SnapshotProgress p;
    p.rows_done = rows_.load(std::memory_order_relaxed);
    p.bytes_done = bytes_.load(std::memory_order_relaxed);
    p.tables_done = tables_done_.load(std::memory_order_relaxed);
    p.rows_estimated = rows_estimated_;
    p.tables_total = tables_total_;
    p.elapsed = Clock::now() - start_;
    p.finished = finished_.load(std::memory_order_relaxed);
    return p;
  }

 private:
  std::size_t tables_total_;
  std::uint64_t rows_estimated_;
  Clock::time_point start_;
  std::atomic<std::uint64_t> rows_{0};
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::size_t> tables_done_{0};
  std::atomic<bool> finished_{false};
};

namespace detail {
// 1234 -> "1234", 12345 -> "12.3k", 2600000 -> "2.6M".
inline std::string human_count(double v) {
  char buf[32];
  if (v < 10'000) std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (v < 1e6) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else if (v < 1e9) std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1fG", v / 1e9);
  return buf;
}
// 75 -> "1:15", 3700 -> "1:01:40".
inline std::string clock_text(std::chrono::seconds s) {
  const auto t = s.count();
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(t / 3600),
                  static_cast<long long>(t / 60 % 60), static_cast<long long>(t % 60));
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(t / 60), static_cast<long long>(t % 60));
  return buf;
}
}  // namespace detail

// "[#########-----------]  45% 3/5 tables 1.2M/2.6M rows 85.3k rows/s ETA 0:17" (no newline).
inline std::string format_progress_bar(const SnapshotProgress& p, int width = 24) {
  const double f = p.fraction();
  const int filled = static_cast<int>(f * width);
  std::string out = "[";
  out.append(static_cast<std::size_t>(filled), '#');
  out.append(static_cast<std::size_t>(width - filled), '-');
  char pct[16];
  std::snprintf(pct, sizeof pct, "] %3d%% ", static_cast<int>(f * 100));
  out += pct;
  out += std::to_string(p.tables_done) + "/" + std::to_string(p.tables_total) + " tables ";
  out += detail::human_count(static_cast<double>(p.rows_done));
  if (p.rows_total() > 0) out += "/" + detail::human_count(static_cast<double>(p.rows_total()));
  out += " rows " + detail::human_count(p.rows_per_second()) + " rows/s ETA ";
  const auto eta = p.eta();
  out += eta ? detail::clock_text(*eta) : std::string("?");
  return out;
}

// Writes the bar to a terminal in place (carriage return, erase to end of line); the final call
// (p.finished) ends the line.
inline void draw_progress_bar(std::FILE* out, const SnapshotProgress& p) {
  std::fprintf(out, "\r\x1b[Ksnapshot %s%s", format_progress_bar(p).c_str(), p.finished ? "\n" : "");
  std::fflush(out);
}

}  // namespace replicator::snapshot
