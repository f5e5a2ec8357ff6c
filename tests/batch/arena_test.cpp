#include "replicator/batch/arena.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>

using replicator::Arena;
using replicator::ChunkPool;

TEST_CASE("Arena copies stay valid across chunk growth and alignment is honoured") {
  auto pool = std::make_shared<ChunkPool>(256);
  Arena arena(pool);
  std::vector<std::string_view> copies;
  for (int i = 0; i < 100; ++i) copies.push_back(arena.copy(std::string_view("value-" + std::to_string(i))));
  CHECK(arena.chunk_count() > 1);
  for (int i = 0; i < 100; ++i) CHECK(copies[i] == "value-" + std::to_string(i));
  auto* p = arena.allocate(3, 8);
  CHECK(reinterpret_cast<std::uintptr_t>(p) % 8 == 0);
  // A value bigger than a chunk gets a chunk of its own.
  const std::string big(1000, 'x');
  CHECK(arena.copy(std::string_view(big)) == big);
}

TEST_CASE("Arena::clear returns standard chunks to the pool for reuse; oversize ones are freed") {
  auto pool = std::make_shared<ChunkPool>(256);
  Arena arena(pool);
  for (int i = 0; i < 20; ++i) (void)arena.allocate(100, 1);
  (void)arena.allocate(1000, 1);  // oversize
  const std::size_t chunks = arena.chunk_count();
  arena.clear();
  CHECK(arena.bytes_used() == 0);
  CHECK(arena.chunk_count() == 0);
  CHECK(pool->free_chunks() == chunks - 1);
  (void)arena.allocate(100, 1);
  CHECK(pool->free_chunks() == chunks - 2);  // taken from the pool, not allocated
}

TEST_CASE("Arena::splice moves chunks and their views to another arena") {
  auto pool = std::make_shared<ChunkPool>(256);
  Arena a(pool), b(pool);
  const auto in_b = b.copy(std::string_view("from b"));
  const auto in_a = a.copy(std::string_view("from a"));
  const std::size_t total = a.bytes_used() + b.bytes_used();
  a.splice(b);
  CHECK(b.chunk_count() == 0);
  CHECK(b.bytes_used() == 0);
  CHECK(a.bytes_used() == total);
  CHECK(in_b == "from b");
  CHECK(in_a == "from a");
  CHECK(a.copy(std::string_view("after")) == "after");
}
