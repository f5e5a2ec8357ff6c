// 06: writing your own sink. A SinkPolicy has two members:
//   Status write(const Batch&)   take the batch (events are views into the batch: copy what you keep)
//   Status flush()               make everything written so far durable; only then is the position saved
// This one writes CSV (op,table,key,lsn) to a file and fsyncs on flush; a failure at either step
// keeps the position where it was.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/file.hpp"
#include "replicator/replicator.hpp"
#include "replicator/transport/replay.hpp"

using namespace replicator;

class CsvSink {
 public:
  explicit CsvSink(const std::string& path) : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644)) {}
  CsvSink(CsvSink&& o) noexcept : fd_(std::exchange(o.fd_, -1)), buf_(std::move(o.buf_)), rows_(o.rows_) {}
  ~CsvSink() {
    if (fd_ >= 0) ::close(fd_);
  }

  Status write(const Batch& batch) {
    if (fd_ < 0) return ReplicationError::fatal("csv sink: cannot open the output file");
    for (const ChangeEvent& e : batch) {
      const auto* row = std::get_if<RowChangeView>(&e);
      if (row == nullptr) continue;  // begin/commit/truncate/messages are not CSV rows here
      const ColumnValueView key = row->row()[0];
      buf_ += to_string(row->op);
      buf_ += ',' + row->relation->qualified_name() + ',';
      buf_ += key.is_null() ? "" : std::string(key.text());
      buf_ += ',' + row->lsn.to_string() + '\n';
      ++rows_;
    }
    return ok_status();
  }
  Status flush() {
    if (::write(fd_, buf_.data(), buf_.size()) != static_cast<ssize_t>(buf_.size()) || ::fsync(fd_) != 0)
      return ReplicationError::retry("csv sink: write or fsync failed");
    buf_.clear();
    return ok_status();
  }
  [[nodiscard]] std::size_t rows() const { return rows_; }

 private:
  int fd_;
  std::string buf_;
  std::size_t rows_ = 0;
};
static_assert(SinkPolicy<CsvSink>);

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE.stream\n", argv[0]);
    return 2;
  }
  const char* tmp = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp";
  const std::string csv = std::string(tmp) + "/changes.csv";
  const std::string pos = std::string(tmp) + "/changes.pos";
  ::unlink(pos.c_str());
  auto t = transport::ReplayTransport::open(argv[1]);
  if (!t) return 1;
  Replicator r(std::move(*t), PgOutputEventDecoder{}, CountBatcher{ByCount{5}}, FilePositionStore(pos), CsvSink(csv));
  std::atomic<bool> stop{false};
  if (auto st = r.run(stop); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
    return 1;
  }
  std::printf("%zu rows to %s, position %s saved in %s\n", r.sink().rows(), csv.c_str(),
              r.flushed_lsn().to_string().c_str(), pos.c_str());
  return r.sink().rows() > 0 ? 0 : 1;
}
