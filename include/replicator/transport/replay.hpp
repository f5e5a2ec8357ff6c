// ReplayTransport: a TransportPolicy that replays a captured stream file (see frame.hpp) and
// hands out WalMessage events exactly like the live transport, then EndOfStream.
//   auto t = ReplayTransport::open("tests/data/basic.stream");   // Result<ReplayTransport, ReplicationError>
//   t->start(Lsn::invalid());  while (auto ev = t->poll(100ms)) { if (holds_alternative<EndOfStream>(*ev)) break; ... }
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "replicator/change/transaction_unit.hpp"
#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "replicator/pgoutput/transaction_unit.hpp"
#include "replicator/core/transport_event.hpp"
#include "replicator/transport/frame.hpp"

namespace replicator::transport {

// start(lsn) resumes the way the server does: a transaction is skipped as a whole when its end
// (the end_lsn of its Commit / Prepare / Commit Prepared / Stream Commit / Stream Prepare,
// rollback_end_lsn of Rollback Prepared) is <= lsn. A streamed transaction's Stream Start/Stop
// blocks go with its final message; a top-level Stream Abort and a non-transactional Message count
// as ending at their LSN + 1 (skipped when their LSN < lsn, as the server's decoder does). These
// rules are change/transaction_unit.hpp's, which the batchers use too.
// Transactions the file does not finish are never skipped (the server would send them again).
// Relation and Type messages of skipped non-streamed transactions are still delivered, at their
// place in the file: the server re-sends them in a new session before their first use, and the
// file holds each only once. start(0/0) replays everything.
namespace detail {
// Deleter of a read-only private mapping of a stream file.
struct Unmap {
  std::size_t size = 0;
  void operator()(std::byte* p) const noexcept { ::munmap(p, size); }
};
}  // namespace detail

class ReplayTransport {
 public:
  explicit ReplayTransport(std::vector<std::byte> bytes)
      : owned_(std::make_unique<std::vector<std::byte>>(std::move(bytes))), bytes_(*owned_) {}
  // Move-only: handed-out payloads point into the owned buffer or the mapping, which a move keeps.
  ReplayTransport(ReplayTransport&&) noexcept = default;
  ReplayTransport& operator=(ReplayTransport&&) noexcept = default;
  ReplayTransport(const ReplayTransport&) = delete;
  ReplayTransport& operator=(const ReplayTransport&) = delete;

  // Maps the file read-only instead of reading it into memory: pages come in as frames are read
  // and the ones already passed are given back (see release_behind), so replaying a file of any
  // size keeps a small resident set. Fatal error if it cannot be opened or mapped.
  [[nodiscard]] static Result<ReplayTransport, ReplicationError> open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ReplicationError::fatal("cannot open stream file " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return ReplicationError::fatal("cannot read stream file " + path + " (not a regular file)");
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size == 0) {
      ::close(fd);
      return ReplayTransport(std::vector<std::byte>{});
    }
    void* base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int mmap_errno = errno;
    ::close(fd);  // the mapping keeps the file
    if (base == MAP_FAILED)
      return ReplicationError::fatal("cannot map stream file " + path + ": " + std::strerror(mmap_errno));
    ::madvise(base, size, MADV_SEQUENTIAL);
    return ReplayTransport(
        std::unique_ptr<std::byte, detail::Unmap>(static_cast<std::byte*>(base), detail::Unmap{size}));
  }

  // (Re)starts at the beginning of the file, skipping what a server would not resend after `lsn`.
  Status start(Lsn lsn) {
    released_ = 0;
    reader_ = FrameReader(bytes_);
    frame_index_ = 0;
    start_lsn_ = lsn;
    connected_ = true;
    ++start_count_;
    compute_skips(lsn);
    return ok_status();
  }

  Result<TransportEvent, ReplicationError> poll(std::chrono::milliseconds /*timeout: replay never waits*/) {
    if (!connected_) return ReplicationError::retry("replay: not connected (call start() first)");
    release_behind(reader_.offset());  // the previous payload may go: it was valid until this call
    while (true) {
      if (reader_.at_end()) return TransportEvent{EndOfStream{}};
      auto frame = reader_.next();
      if (!frame) {
        const Error& e = frame.error();
        if (e.code == Errc::need_more_data) {
          auto err = ReplicationError::fatal("replay: truncated frame at offset " + std::to_string(e.offset) +
                                             " (the file ends inside it)");
          err.decode_error = e;
          return err;
        }
        auto err = ReplicationError::fatal("replay: malformed frame at offset " + std::to_string(e.offset) + " (" +
                                           e.describe() + ")");
        err.decode_error = e;
        return err;
      }
      const std::size_t index = frame_index_++;
      if (index < skip_.size() && skip_[index]) {
        ++skipped_;
        continue;
      }
      ++delivered_;
      // The server's XLogData for logical decoding carries the same LSN as start and end.
      // The rest of the file buffer follows the payload: readable slack for a SIMD parser.
      const auto after =
          static_cast<std::size_t>(bytes_.data() + bytes_.size() - (frame->payload.data() + frame->payload.size()));
      return TransportEvent{
          WalMessage{frame->lsn, frame->lsn, PgTimestamp{}, frame->payload, frame->payload_offset(), after}};
    }
  }

  Status send_status(const StandbyStatus& status) {
    if (!connected_) return ReplicationError::retry("replay: not connected (call start() first)");
    status_updates_.push_back(status);
    return ok_status();
  }

  // --- what happened, for tests (fault injection: tests/support/failing_transport.hpp) ---
  [[nodiscard]] const std::vector<StandbyStatus>& status_updates() const noexcept { return status_updates_; }
  [[nodiscard]] Lsn last_flushed() const noexcept {
    return status_updates_.empty() ? Lsn::invalid() : status_updates_.back().flushed;
  }
  [[nodiscard]] std::size_t start_count() const noexcept { return start_count_; }
  [[nodiscard]] Lsn start_lsn() const noexcept { return start_lsn_; }
  [[nodiscard]] bool connected() const noexcept { return connected_; }
  [[nodiscard]] std::size_t delivered() const noexcept { return delivered_; }  // since construction
  [[nodiscard]] std::size_t skipped() const noexcept { return skipped_; }
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 private:
  struct Unit {
    Lsn end{std::numeric_limits<std::uint64_t>::max()};  // unfinished: never skipped
  };

  // One pass over the frames, grouping them into transactions (units) by the shared unit rules.
  void compute_skips(Lsn lsn) {
    skip_.clear();
    if (!lsn.is_valid()) return;
    std::vector<Unit> units;
    std::vector<std::int64_t> unit_of;  // per frame; -1: not part of any transaction
    std::vector<bool> always;           // Relation/Type outside stream blocks
    std::unordered_map<pgoutput::Xid, std::int64_t> streams;
    std::int64_t current = -1;  // open Begin / Begin Prepare transaction
    std::int64_t block = -1;    // unit of the open Stream Start..Stop block
    auto new_unit = [&units] {
      units.emplace_back();
      return static_cast<std::int64_t>(units.size() - 1);
    };
    auto stream_unit = [&](pgoutput::Xid xid) {
      auto it = streams.find(xid);
      if (it != streams.end()) return it->second;
      const auto u = new_unit();
      streams.emplace(xid, u);
      return u;
    };
    FrameReader reader(bytes_);
    while (!reader.at_end()) {
      release_behind(reader.offset());
      auto frame = reader.next();
      if (!frame) break;  // poll() reports it when it gets there
      std::int64_t unit = -1;
      bool keep = false;
      const auto payload = frame->payload;
      const char tag = payload.empty() ? '\0' : static_cast<char>(payload[0]);
      const bool in_block = block >= 0;
      auto decoded = pgoutput::decode_message(payload, in_block);
      // The unit rules: change/transaction_unit.hpp (shared with the batchers).
      const TxnUnitStep step =
          decoded ? transaction_unit(pgoutput::transaction_facts(*decoded, frame->lsn, in_block)) : TxnUnitStep{};
      if (in_block) {
        unit = block;
        if (decoded ? step.role == TxnRole::block_stops : tag == 'E') block = -1;
      } else if (!decoded) {
        unit = current;
      } else {
        switch (step.role) {
          case TxnRole::continues:  // a sub-transaction's Stream Abort stays part of its stream
            unit = step.streamed ? stream_unit(step.xid) : current;
            break;
          case TxnRole::meta:
            unit = current;
            keep = true;
            break;
          case TxnRole::opens: unit = current = new_unit(); break;
          case TxnRole::ends:
            if (step.streamed) {
              unit = stream_unit(step.xid);
              units[static_cast<std::size_t>(unit)].end = step.end;
              streams.erase(step.xid);
            } else {
              unit = end_current(units, current, step.end);
            }
            break;
          case TxnRole::own:
            unit = new_unit();
            units[static_cast<std::size_t>(unit)].end = step.end;
            break;
          case TxnRole::block_starts: unit = block = stream_unit(step.xid); break;
          case TxnRole::block_stops:  // outside a block: nothing to stop
            unit = current;
            break;
        }
      }
      unit_of.push_back(unit);
      always.push_back(keep);
    }
    released_ = 0;  // poll() reads from the start again; pages come back as it gets to them
    skip_.resize(unit_of.size(), false);
    for (std::size_t i = 0; i < unit_of.size(); ++i) {
      const auto u = unit_of[i];
      skip_[i] = u >= 0 && !always[i] && units[static_cast<std::size_t>(u)].end <= lsn;
    }
  }

  static std::int64_t end_current(std::vector<Unit>& units, std::int64_t& current, Lsn end) {
    if (current < 0) return -1;  // a Commit without Begin: leave it to the consumer to complain
    const auto unit = current;
    units[static_cast<std::size_t>(unit)].end = end;
    current = -1;
    return unit;
  }

  using Unmap = detail::Unmap;
  explicit ReplayTransport(std::unique_ptr<std::byte, Unmap> mapping)
      : mapping_(std::move(mapping)), bytes_(mapping_.get(), mapping_.get_deleter().size) {}

  // Gives the mapped pages wholly before `offset` back to the kernel (they stay in the page
  // cache; touching them again reads them back), at most once per 4 MiB of progress.
  void release_behind(std::size_t offset) noexcept {
    if (!mapping_) return;
    constexpr std::size_t kStep = std::size_t{4} << 20;
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t upto = offset / page * page;
    if (upto < released_ + kStep) return;
    ::madvise(mapping_.get() + released_, upto - released_, MADV_DONTNEED);
    released_ = upto;
  }

  std::unique_ptr<std::vector<std::byte>> owned_;  // bytes given to the constructor
  std::unique_ptr<std::byte, Unmap> mapping_;      // or the mapped file
  std::span<const std::byte> bytes_;
  std::size_t released_ = 0;  // mapped bytes before this were given back
  FrameReader reader_{};
  std::size_t frame_index_ = 0;
  std::vector<bool> skip_;
  Lsn start_lsn_;
  bool connected_ = false;
  std::size_t start_count_ = 0;
  std::size_t delivered_ = 0;
  std::size_t skipped_ = 0;
  std::vector<StandbyStatus> status_updates_;
};

}  // namespace replicator::transport
