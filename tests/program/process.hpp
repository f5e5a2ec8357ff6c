// Runs the `replicator` binary as a child process for end-to-end tests: stdout and stderr go to
// files, signals can be sent, and the exit is awaited with a timeout.
//   Child p({program_path(), "--config", cfg}, dir + "/out.jsonl", dir + "/err.log");
//   p.signal(SIGTERM);  int rc = p.wait_exit(10s);  // exit code, or 128+signal
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace replicator::test {

// The binary under test: $TEST_SRCDIR/$TEST_WORKSPACE/src/replicator (data = ["//src:replicator"]).
inline std::string program_path() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr) throw std::runtime_error("TEST_SRCDIR is not set: run under bazel test");
  return std::string(srcdir) + "/" + (ws ? ws : "replicator") + "/src/replicator";
}

inline std::string test_tmpdir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + path);
}

// `s` as a single-quoted YAML scalar ('' for a quote): any text, safe in a config the test writes.
inline std::string yaml_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// How often `needle` occurs in `text` (a log: lines of this run past the count before it).
inline std::size_t count_occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + needle.size())) ++n;
  return n;
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Polls `done` every 50 ms until it is true or `timeout` passes; returns its last value.
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& stdout_path, const std::string& stderr_path,
        const std::vector<std::string>& extra_env = {}) {
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const int out = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (out < 0 || err < 0) ::_exit(127);
      ::dup2(out, 1);
      ::dup2(err, 2);
      for (const auto& kv : extra_env) ::putenv(const_cast<char*>(kv.c_str()));
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  void signal(int sig) const { ::kill(pid_, sig); }

  // True while the process runs (reaps it when it has exited).
  bool running() {
    if (exited_) return false;
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      record(st);
      return false;
    }
    return true;
  }

  // Exit code (128+N when killed by signal N); -1 when it did not exit in time.
  int wait_exit(std::chrono::milliseconds timeout) {
    if (!wait_until([this] { return !running(); }, timeout)) return -1;
    return code_;
  }

 private:
  void record(int st) {
    exited_ = true;
    code_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
  }

  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
};

}  // namespace replicator::test
