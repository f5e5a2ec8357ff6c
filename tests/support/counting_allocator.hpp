// Replaces every form of the global operator new/delete with one that counts allocations, for the
// "allocates nothing in steady state" tests. Include it in exactly ONE source file of a binary (it
// defines the replacement operators); read the count around the code under test:
//   const auto before = replicator::test::heap_allocations();  run();  CHECK(heap_allocations() == before);
// Every form is replaced, so memory from one is never freed by another's partner.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace replicator::test {

inline std::atomic<std::size_t> g_heap_allocations{0};

[[nodiscard]] inline std::size_t heap_allocations() noexcept {
  return g_heap_allocations.load(std::memory_order_relaxed);
}

namespace detail {
inline void* counted_alloc(std::size_t n, std::size_t align = 0) noexcept {
  g_heap_allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  return align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                           : std::malloc(n);
}
inline void* checked(void* p) {
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace detail

}  // namespace replicator::test

void* operator new(std::size_t n) {
  return replicator::test::detail::checked(replicator::test::detail::counted_alloc(n));
}
void* operator new[](std::size_t n) {
  return replicator::test::detail::checked(replicator::test::detail::counted_alloc(n));
}
void* operator new(std::size_t n, std::align_val_t a) {
  return replicator::test::detail::checked(replicator::test::detail::counted_alloc(n, static_cast<std::size_t>(a)));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return replicator::test::detail::checked(replicator::test::detail::counted_alloc(n, static_cast<std::size_t>(a)));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return replicator::test::detail::counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return replicator::test::detail::counted_alloc(n);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
