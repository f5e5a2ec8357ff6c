// JsonLinesSink: one JSON object per line per event, in the shape of the `decode` program
// (format/json.hpp), to stdout or to a file through a DurableLineWriter (sink/line_writer.hpp):
// flush() is write + fdatasync, which is what makes the position safe to confirm. Any other line
// format is the same sink over another formatter: DebeziumLinesSink (format/debezium.hpp).
//   auto sink = JsonLinesSink::open_file("/var/lib/replicator/changes.jsonl");  // Result<JsonLinesSink, ...>
//   JsonLinesSink out = JsonLinesSink::to_stdout();
//   DebeziumLinesSink dbz = DebeziumLinesSink::to_stdout(DebeziumFormatter({.server_name = "shop"}));
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <string>
#include <utility>

#include "replicator/batch/batch.hpp"
#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/format/debezium.hpp"
#include "replicator/format/json.hpp"
#include "replicator/sink/line_writer.hpp"

namespace replicator {

// A line format: appends zero or more complete lines (each ending in '\n') for one event, or
// nothing and an error. format::ChangeJsonFormatter and format::DebeziumFormatter are two.
template <class F>
concept LineFormatter = requires(F f, std::string& out, const ChangeEvent& e) {
  { f.lines(out, e) } -> std::same_as<Status>;
};

// JsonLinesSink's settings: the formatter's line choice and the writer's.
struct JsonLinesOptions {
  bool transactions = true;            // "begin" / "commit" lines
  bool schema_changes = true;          // "schema_change" lines (new column set of a table)
  bool sync = true;                    // fdatasync() files on flush (never attempted for pipes / terminals)
  std::size_t buffer_bytes = 1 << 20;  // write() to the descriptor when this much is buffered

  [[nodiscard]] format::ChangeJsonFormatter formatter() const { return {transactions, schema_changes}; }
  [[nodiscard]] LineWriterOptions writer() const { return {sync, buffer_bytes}; }
};

template <class Formatter>
class BasicJsonLinesSink {
  static_assert(LineFormatter<Formatter>,
                "Formatter does not satisfy LineFormatter: it needs lines(std::string&, const ChangeEvent&) -> Status");

 public:
  static BasicJsonLinesSink to_stdout(Formatter formatter, LineWriterOptions options = {}) {
    return BasicJsonLinesSink(std::move(formatter), DurableLineWriter::to_stdout(options));
  }
  static Result<BasicJsonLinesSink, ReplicationError> open_file(const std::string& path, Formatter formatter,
                                                                LineWriterOptions options = {}) {
    auto w = DurableLineWriter::open_file(path, options);
    if (!w) return w.error();
    return BasicJsonLinesSink(std::move(formatter), std::move(*w));
  }
  // JsonLinesSink's factories from JsonLinesOptions.
  static BasicJsonLinesSink to_stdout(
      JsonLinesOptions options = {}) requires std::same_as<Formatter, format::ChangeJsonFormatter> {
    return to_stdout(options.formatter(), options.writer());
  }
  static Result<BasicJsonLinesSink, ReplicationError> open_file(
      const std::string& path,
      JsonLinesOptions options = {}) requires std::same_as<Formatter, format::ChangeJsonFormatter> {
    return open_file(path, options.formatter(), options.writer());
  }
  // A descriptor the caller owns (owns_fd false) or hands over; `sync`: fdatasync() on flush.
  BasicJsonLinesSink(int fd, bool owns_fd, bool sync,
                     JsonLinesOptions options = {}) requires std::same_as<Formatter, format::ChangeJsonFormatter>
      : BasicJsonLinesSink(options.formatter(), DurableLineWriter(fd, owns_fd, sync, options.writer())) {}

  BasicJsonLinesSink(Formatter formatter, DurableLineWriter writer)
      : formatter_(std::move(formatter)), writer_(std::move(writer)) {}

  Status write(const Batch& batch) {
    if (auto st = writer_.begin_batch(); !st) return st;
    std::string& out = writer_.buffer();
    for (const ChangeEvent& e : batch.events()) {
      const std::size_t mark = out.size();
      if (auto st = formatter_.lines(out, e); !st) return st;
      lines_ += static_cast<std::size_t>(std::count(out.begin() + static_cast<std::ptrdiff_t>(mark), out.end(), '\n'));
      if (writer_.full()) {
        if (auto st = writer_.drain(); !st) return st;
      }
    }
    return ok_status();
  }

  Status flush() { return writer_.flush(); }

  [[nodiscard]] std::size_t lines() const noexcept { return lines_; }  // lines formatted (written or buffered)
  [[nodiscard]] int fd() const noexcept { return writer_.fd(); }
  [[nodiscard]] Formatter& formatter() noexcept { return formatter_; }

 private:
  Formatter formatter_;
  DurableLineWriter writer_;
  std::size_t lines_ = 0;
};

using JsonLinesSink = BasicJsonLinesSink<format::ChangeJsonFormatter>;
using DebeziumLinesSink = BasicJsonLinesSink<format::DebeziumFormatter>;

}  // namespace replicator
