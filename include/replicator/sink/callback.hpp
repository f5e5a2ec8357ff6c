// CallbackSink: hands each batch, or each event, to a user callable. The callable may return void
// or Status (a failed Status stops the batch and keeps the position where it was).
//   CallbackSink per_event([](const ChangeEvent& e) { std::cout << event_name(e) << '\n'; });
//   CallbackSink per_batch([](const Batch& b) -> Status { return db.insert_all(b); },
//                          []() -> Status { return db.commit(); });  // flush: make it durable
#pragma once

#include <concepts>
#include <type_traits>
#include <utility>

#include "replicator/batch/batch.hpp"
#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"

namespace replicator {

namespace detail {
template <class F, class Arg>
Status invoke_status(F& f, const Arg& arg) {
  if constexpr (std::is_void_v<std::invoke_result_t<F&, const Arg&>>) {
    f(arg);
    return ok_status();
  } else {
    return f(arg);
  }
}
struct NoFlush {
  Status operator()() const { return ok_status(); }
};
}  // namespace detail

template <class OnData, class OnFlush = detail::NoFlush>
class CallbackSink {
  static constexpr bool kPerBatch = std::is_invocable_v<OnData&, const Batch&>;
  static constexpr bool kPerEvent = std::is_invocable_v<OnData&, const ChangeEvent&>;
  static_assert(
      kPerBatch || kPerEvent,
      "CallbackSink: the callable must take (const Batch&) or (const ChangeEvent&) and return void or Status");

 public:
  explicit CallbackSink(OnData on_data, OnFlush on_flush = {})
      : on_data_(std::move(on_data)), on_flush_(std::move(on_flush)) {}

  Status write(const Batch& batch) {
    if constexpr (kPerBatch) {
      return detail::invoke_status(on_data_, batch);
    } else {
      for (const ChangeEvent& e : batch.events()) {
        auto s = detail::invoke_status(on_data_, e);
        if (!s) return s;
      }
      return ok_status();
    }
  }

  Status flush() {
    if constexpr (std::is_void_v<std::invoke_result_t<OnFlush&>>) {
      on_flush_();
      return ok_status();
    } else {
      return on_flush_();
    }
  }

  [[nodiscard]] OnData& callback() noexcept { return on_data_; }

 private:
  OnData on_data_;
  OnFlush on_flush_;
};

template <class OnData>
CallbackSink(OnData) -> CallbackSink<OnData>;
template <class OnData, class OnFlush>
CallbackSink(OnData, OnFlush) -> CallbackSink<OnData, OnFlush>;

}  // namespace replicator
