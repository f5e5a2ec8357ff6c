// Chunked arena for batches: copies of bytes that must outlive the transport's receive buffer.
// Chunks never move (views into them stay valid until clear()) and go back to a shared pool, so
// a batcher in steady state allocates nothing per message.
//   auto pool = std::make_shared<ChunkPool>();  Arena a(pool);
//   std::span<const std::byte> kept = a.copy(view.bytes());  a.clear();  // chunks back to the pool
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace replicator {

// One block of arena memory.
struct ArenaChunk {
  std::unique_ptr<std::byte[]> data;
  std::size_t capacity = 0;
};

// Free chunks shared by the arenas of one batcher (the open transaction, streamed transactions and
// the batch being built all draw from it). Keeps at most `max_retained_bytes` of free chunks.
class ChunkPool {
 public:
  static constexpr std::size_t kDefaultChunkSize = 64 * 1024;

  explicit ChunkPool(std::size_t chunk_size = kDefaultChunkSize,
                     std::size_t max_retained_bytes = 64 * 1024 * 1024) noexcept
      : chunk_size_(chunk_size == 0 ? kDefaultChunkSize : chunk_size), max_retained_(max_retained_bytes) {}

  // A chunk of at least `min_size` bytes: a pooled standard chunk when it fits, else a new one.
  ArenaChunk take(std::size_t min_size) {
    if (min_size <= chunk_size_) {
      if (!free_.empty()) {
        ArenaChunk c = std::move(free_.back());
        free_.pop_back();
        retained_ -= c.capacity;
        return c;
      }
      return ArenaChunk{std::make_unique_for_overwrite<std::byte[]>(chunk_size_),
                        chunk_size_};  // no zeroing: allocate() hands out uninitialised storage
    }
    return ArenaChunk{std::make_unique_for_overwrite<std::byte[]>(min_size), min_size};  // oversize value: own chunk
  }

  void give(ArenaChunk chunk) {
    // Oversize chunks are freed: keeping them would let one huge value pin memory forever.
    if (chunk.capacity != chunk_size_ || retained_ + chunk.capacity > max_retained_) return;
    retained_ += chunk.capacity;
    free_.push_back(std::move(chunk));
  }

  [[nodiscard]] std::size_t chunk_size() const noexcept { return chunk_size_; }
  [[nodiscard]] std::size_t free_chunks() const noexcept { return free_.size(); }

 private:
  std::size_t chunk_size_;
  std::size_t max_retained_;
  std::size_t retained_ = 0;
  std::vector<ArenaChunk> free_;
};

class Arena {
 public:
  Arena() : pool_(std::make_shared<ChunkPool>()) {}
  explicit Arena(std::shared_ptr<ChunkPool> pool) : pool_(pool ? std::move(pool) : std::make_shared<ChunkPool>()) {}
  Arena(Arena&&) noexcept = default;
  Arena& operator=(Arena&& other) noexcept {
    if (this != &other) {
      clear();
      pool_ = std::move(other.pool_);
      used_ = std::move(other.used_);
      tail_ = std::exchange(other.tail_, 0);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  ~Arena() { clear(); }

  // Uninitialised, suitably aligned storage for n bytes; valid until clear().
  std::byte* allocate(std::size_t n, std::size_t align = alignof(std::max_align_t)) {
    if (n == 0) n = 1;
    if (!used_.empty()) {
      const std::size_t start = (tail_ + align - 1) & ~(align - 1);
      if (start + n <= used_.back().capacity) {
        tail_ = start + n;
        bytes_ += n;
        return used_.back().data.get() + start;
      }
    }
    used_.push_back(pool_->take(n));
    tail_ = n;
    bytes_ += n;
    return used_.back().data.get();
  }

  std::span<const std::byte> copy(std::span<const std::byte> bytes) {
    if (bytes.empty()) return {};
    std::byte* p = allocate(bytes.size(), 1);
    std::memcpy(p, bytes.data(), bytes.size());
    return {p, bytes.size()};
  }
  std::string_view copy(std::string_view text) {
    if (text.empty()) return {};
    auto s = copy(std::as_bytes(std::span<const char>(text.data(), text.size())));
    return {reinterpret_cast<const char*>(s.data()), s.size()};
  }
  template <class T>
  std::span<const T> copy_array(std::span<const T> items) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (items.empty()) return {};
    auto* p = reinterpret_cast<T*>(allocate(items.size_bytes(), alignof(T)));
    std::memcpy(static_cast<void*>(p), items.data(), items.size_bytes());
    return {p, items.size()};
  }

  // Takes over `other`'s chunks (views into them stay valid); `other` ends up empty. Our own last
  // chunk stays the one we allocate from.
  void splice(Arena& other) {
    if (other.used_.empty()) return;
    // Element moves, not a vector move: both vectors keep their capacity (no allocation later).
    if (used_.empty()) {
      used_.insert(used_.end(), std::make_move_iterator(other.used_.begin()),
                   std::make_move_iterator(other.used_.end()));
      tail_ = other.tail_;
    } else {
      used_.insert(used_.end() - 1, std::make_move_iterator(other.used_.begin()),
                   std::make_move_iterator(other.used_.end()));
    }
    bytes_ += other.bytes_;
    other.used_.clear();
    other.tail_ = 0;
    other.bytes_ = 0;
  }

  // Returns every chunk to the pool. All views into this arena become invalid.
  void clear() noexcept {
    if (pool_) {
      for (auto& c : used_) {
        try {
          pool_->give(std::move(c));
        } catch (...) {  // pool growth failed: the chunk is simply freed
        }
      }
    }
    used_.clear();
    tail_ = 0;
    bytes_ = 0;
  }

  [[nodiscard]] std::size_t bytes_used() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t chunk_count() const noexcept { return used_.size(); }
  [[nodiscard]] const std::shared_ptr<ChunkPool>& pool() const noexcept { return pool_; }

 private:
  std::shared_ptr<ChunkPool> pool_;
  std::vector<ArenaChunk> used_;
  std::size_t tail_ = 0;   // bytes used in used_.back()
  std::size_t bytes_ = 0;  // payload bytes handed out
};

}  // namespace replicator
