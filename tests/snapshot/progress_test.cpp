// Snapshot progress: fraction, rate, ETA and the terminal bar.
#include "replicator/snapshot/progress.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

using namespace replicator::snapshot;
using namespace std::chrono_literals;

TEST_CASE("progress: fraction by rows, ETA from the rate, estimate never below rows done") {
  SnapshotProgress p;
  p.tables_total = 5;
  p.tables_done = 2;
  p.rows_estimated = 1000;
  p.rows_done = 250;
  p.elapsed = 10s;
  CHECK(p.fraction() == Approx(0.25));
  CHECK(p.rows_per_second() == Approx(25.0));
  REQUIRE(p.eta());
  CHECK(p.eta()->count() == 30);
  const std::string bar = format_progress_bar(p, 8);
  CHECK(bar.find("[##------]  25% 2/5 tables 250/1000 rows 25 rows/s ETA 0:30") == 0);

  p.rows_done = 5000;  // stale statistics: more rows than estimated
  CHECK(p.rows_total() == 5000);
  CHECK(p.fraction() == Approx(1.0));

  SnapshotProgress none;  // nothing known yet
  CHECK_FALSE(none.eta());
  CHECK(format_progress_bar(none).find("ETA ?") != std::string::npos);
  none.finished = true;
  CHECK(none.eta()->count() == 0);
}

TEST_CASE("progress counters add up across calls") {
  ProgressCounters c(3, 100);
  c.add_rows(10, 1000);
  c.add_rows(5, 500);
  c.table_done();
  auto p = c.read();
  CHECK(p.rows_done == 15);
  CHECK(p.bytes_done == 1500);
  CHECK(p.tables_done == 1);
  CHECK(p.tables_total == 3);
  CHECK_FALSE(p.finished);
  c.finish();
  CHECK(c.read().finished);
  CHECK(detail::human_count(12345) == "12.3k");
  CHECK(detail::clock_text(std::chrono::seconds(3700)) == "1:01:40");
}

TEST_CASE("the terminal bar redraws in place and ends its line when finished") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  SnapshotProgress p;
  p.tables_total = 2;
  p.rows_estimated = 10;
  p.rows_done = 5;
  p.elapsed = 1s;
  draw_progress_bar(f, p);
  p.rows_done = 10;
  p.tables_done = 2;
  p.finished = true;
  draw_progress_bar(f, p);
  std::rewind(f);
  std::string text;
  for (int c; (c = std::fgetc(f)) != EOF;) text += static_cast<char>(c);
  std::fclose(f);
  CHECK(text.rfind("\r\x1b[Ksnapshot [", 0) == 0);
  CHECK(text.find(" 50% 0/2 tables 5/10 rows") != std::string::npos);
  CHECK(text.find("100% 2/2 tables 10/10 rows") != std::string::npos);
  CHECK(text.back() == '\n');
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
}
