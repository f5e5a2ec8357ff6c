// Metrics: counters, gauges and histograms with labels, and their Prometheus text exposition.
// Updates are relaxed atomics (the replication thread never locks once it holds a child); expose()
// walks the families on whoever scrapes. A labelled child is found (or made) under a mutex once.
//   metrics::Registry reg;
//   auto& changes = reg.counter("replicator_changes_total", "Changes written.", {"table", "op"});
//   changes.with({"public.t", "insert"}).inc();   std::string text = reg.expose();
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace replicator::metrics {

// A monotonic count. set() mirrors a count kept elsewhere (ReplicatorStats); it never goes back.
class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(std::uint64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
  [[nodiscard]] double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Cumulative buckets are computed at exposition time; each observation touches one bucket, count and sum.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
  void observe(double v) noexcept {
    const auto i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
  }
  [[nodiscard]] const std::vector<double>& bounds() const noexcept { return bounds_; }
  [[nodiscard]] std::uint64_t bucket(std::size_t i) const noexcept {
    return counts_[i].load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  [[nodiscard]] double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;                      // upper bounds, ascending; +Inf is implicit
  std::vector<std::atomic<std::uint64_t>> counts_;  // per bucket (not cumulative), last is (last bound, +Inf)
  std::atomic<double> sum_{0.0};
  std::atomic<std::uint64_t> count_{0};
};

// Bucket bounds start, start*factor, ... (count of them).
inline std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  std::vector<double> out;
  for (double b = start; out.size() < count; b *= factor) out.push_back(b);
  return out;
}

enum class MetricType : std::uint8_t { counter, gauge, histogram };

constexpr std::string_view to_string(MetricType t) noexcept {
  switch (t) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

// Metric names [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]*, not starting "__".
constexpr bool valid_metric_name(std::string_view s, bool label = false) noexcept {
  if (s.empty()) return false;
  if (label && s.size() >= 2 && s[0] == '_' && s[1] == '_') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

namespace detail {

// Label values: backslash, double quote and line feed are escaped. HELP text: backslash and line feed.
inline void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
}

inline void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
    out.append(buf, r.ptr);
  }
}

inline void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// {a="x",b="y"} with an optional extra label (le for buckets); nothing when there are no labels.
inline void append_labels(std::string& out, const std::vector<std::string>& names,
                          const std::vector<std::string>& values, std::string_view extra_name = {},
                          std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    append_escaped(out, values[i], true);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> labels)
      : name_(std::move(name)), help_(std::move(help)), type_(type), labels_(std::move(labels)) {
    if (!valid_metric_name(name_)) throw std::invalid_argument("invalid metric name: " + name_);
    for (const auto& l : labels_) {
      if (!valid_metric_name(l, true) || (type_ == MetricType::histogram && l == "le"))
        throw std::invalid_argument("invalid label name for " + name_ + ": " + l);
    }
  }
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;
  virtual ~FamilyBase() = default;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] MetricType type() const noexcept { return type_; }

  void write(std::string& out) const {
    out += "# HELP ";
    out += name_;
    out += ' ';
    append_escaped(out, help_, false);
    out += "\n# TYPE ";
    out += name_;
    out += ' ';
    out += to_string(type_);
    out += '\n';
    write_samples(out);
  }

 protected:
  virtual void write_samples(std::string& out) const = 0;

  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> labels_;
};

}  // namespace detail

// One metric name and its children, one per set of label values (in the order of the label names).
template <class T>
class Family final : public detail::FamilyBase {
 public:
  template <class... Args>
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> labels, Args&&... child_args)
      : FamilyBase(std::move(name), std::move(help), type, std::move(labels)),
        make_([... a = std::forward<Args>(child_args)] { return std::make_unique<T>(a...); }) {
    if (labels_.empty()) (void)with({});  // an unlabelled metric shows from the start
  }

  // The child for these label values (made on first use). Keep the reference: it never moves.
  T& with(std::initializer_list<std::string_view> values) {
    if (values.size() != labels_.size())
      throw std::invalid_argument(name_ + ": expected " + std::to_string(labels_.size()) + " label values");
    std::vector<std::string> key(values.begin(), values.end());
    std::lock_guard lock(mutex_);
    auto it = children_.find(key);
    if (it == children_.end()) it = children_.emplace(std::move(key), make_()).first;
    return *it->second;
  }
  // The unlabelled child.
  T& get() { return with({}); }

  // Each child with its label values, in label order (under the lock: for tests and exposition).
  template <class F>
  void for_each(F&& f) const {
    std::lock_guard lock(mutex_);
    for (const auto& [values, child] : children_) f(values, *child);
  }

 protected:
  void write_samples(std::string& out) const override {
    for_each([&](const std::vector<std::string>& values, const T& child) {
      if constexpr (std::is_same_v<T, Histogram>) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= child.bounds().size(); ++i) {
          cumulative += child.bucket(i);
          std::string le;
          if (i < child.bounds().size()) detail::append_number(le, child.bounds()[i]);
          else le = "+Inf";
          out += name_;
          out += "_bucket";
          detail::append_labels(out, labels_, values, "le", le);
          out += ' ';
          detail::append_number(out, cumulative);
          out += '\n';
        }
        out += name_;
        out += "_sum";
        detail::append_labels(out, labels_, values);
        out += ' ';
        detail::append_number(out, child.sum());
        out += '\n';
        out += name_;
        out += "_count";
        detail::append_labels(out, labels_, values);
        out += ' ';
        detail::append_number(out, child.count());
        out += '\n';
      } else {
        out += name_;
        detail::append_labels(out, labels_, values);
        out += ' ';
        detail::append_number(out, child.value());
        out += '\n';
      }
    });
  }

 private:
  std::function<std::unique_ptr<T>()> make_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

// Families in registration order; names are unique.
class Registry {
 public:
  Family<Counter>& counter(std::string name, std::string help, std::vector<std::string> labels = {}) {
    return add<Counter>(std::move(name), std::move(help), MetricType::counter, std::move(labels));
  }
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> labels = {}) {
    return add<Gauge>(std::move(name), std::move(help), MetricType::gauge, std::move(labels));
  }
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<double> bounds,
                               std::vector<std::string> labels = {}) {
    std::sort(bounds.begin(), bounds.end());
    bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
    if (!bounds.empty() && std::isinf(bounds.back())) bounds.pop_back();  // +Inf is always there
    return add<Histogram>(std::move(name), std::move(help), MetricType::histogram, std::move(labels),
                          std::move(bounds));
  }

  // The Prometheus text exposition format (version 0.0.4).
  [[nodiscard]] std::string expose() const {
    std::string out;
    out.reserve(4096);
    std::lock_guard lock(mutex_);
    for (const auto& f : families_) f->write(out);
    return out;
  }

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  template <class T, class... Args>
  Family<T>& add(std::string name, std::string help, MetricType type, std::vector<std::string> labels, Args&&... args) {
    std::lock_guard lock(mutex_);
    for (const auto& f : families_) {
      if (f->name() == name) throw std::invalid_argument("metric registered twice: " + name);
    }
    auto family = std::make_unique<Family<T>>(std::move(name), std::move(help), type, std::move(labels),
                                              std::forward<Args>(args)...);
    auto& ref = *family;
    families_.push_back(std::move(family));
    return ref;
  }

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<detail::FamilyBase>> families_;
};

}  // namespace replicator::metrics
