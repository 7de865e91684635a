// Runs the real `sabla` binary for integration tests.
//
//   sabla::test::ServerProcess srv;            // own fresh data dir (TempDir)
//   std::string err;
//   REQUIRE(srv.start(&err));                  // INFO(err) on failure
//   ... talk to 127.0.0.1:srv.port() ...
//   srv.kill9(); REQUIRE(srv.restart(&err));   // crash + restart on the same data dir
//
// The child runs `SABLA_BINARY serve --port 0 --bind 127.0.0.1 --data DIR <args...>` in
// its own process group with extra environment, stdin from /dev/null, stdout/stderr
// captured line by line by a reader thread and teed into DIR/test-server.log. It gets
// SIGKILL if the test process dies (PR_SET_PDEATHSIG: tied to the thread that called
// start()). Not thread-safe, except the output accessors (stdout_lines() etc.).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace sabla::test {

// mkdtemp("/tmp/<prefix>-XXXXXX"); removed recursively on destruction unless the
// environment variable SABLA_KEEP_TEST_DIRS is set (then the path is printed to stderr).
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "sabla-test");
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  void keep() { keep_ = true; }  // do not remove on destruction

 private:
  void remove();
  std::string path_;
  bool keep_ = false;
};

struct ServerOptions {
  std::string binary;                                     // empty: SABLA_BINARY
  std::string data_dir;                                   // empty: a fresh TempDir
  std::vector<std::string> args;                          // appended after the defaults
  std::vector<std::pair<std::string, std::string>> env;   // set/override in the child
  int start_timeout_ms = 10000;
  bool keep_port_on_restart = false;  // restart() passes --port <previous port>
  bool die_with_parent = true;
};

class ServerProcess {
 public:
  explicit ServerProcess(ServerOptions opts = {});
  ServerProcess(std::vector<std::string> args, std::vector<std::pair<std::string, std::string>> env = {});
  ~ServerProcess();  // kill9()
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Spawns the server and waits (start_timeout_ms) for a line "listening on
  // http[s]://HOST:PORT" (stdout, or stderr as a fallback). false with *error (which
  // includes the exit status and the output tail) if it exits or times out.
  bool start(std::string* error = nullptr);
  // Stops the server if running (terminate()) and starts it again: same data dir and
  // args; a new port unless keep_port_on_restart. Output buffers are reset.
  bool restart(std::string* error = nullptr);
  // SIGKILL to the process group, then reap. No-op if not running.
  void kill9();
  // SIGTERM, wait up to timeout_ms for exit, then kill9(). Returns exit_code() or -1.
  int terminate(int timeout_ms = 5000);
  bool running();  // reaps if it has exited

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool tls() const { return tls_; }  // the listening line said https://
  const std::string& data_dir() const { return data_dir_; }
  std::string log_path() const { return data_dir_ + "/test-server.log"; }
  // Exit code once reaped: the status for a normal exit, 128+signal when killed.
  std::optional<int> exit_code() const { return exit_code_; }

  // Token after "password: " on an output line of this run; waits up to wait_ms for it.
  std::string initial_password(int wait_ms = 0);
  // Token after "account: " (sabla prints "producer account: NAME" before the password).
  std::string initial_account() const;
  std::vector<std::string> stdout_lines() const;
  std::vector<std::string> stderr_lines() const;
  std::string stdout_text() const;
  std::string stderr_text() const;
  // Waits until an output line (either stream) of this run contains `needle`.
  bool wait_for_output(std::string_view needle, int timeout_ms);
  // One-paragraph state for failure messages: pid, port, exit code, output tail.
  std::string describe(std::size_t tail_lines = 20) const;

 private:
  bool spawn(const std::vector<std::string>& argv, std::string* error);
  void reader_loop(int out_fd, int err_fd);
  void on_line(bool is_err, std::string line);
  void reap(int status);
  void join_reader();
  bool wait_exit(int timeout_ms);

  ServerOptions opts_;
  std::unique_ptr<TempDir> own_dir_;
  std::string data_dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool tls_ = false;
  std::optional<int> exit_code_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> out_lines_;
  std::vector<std::string> err_lines_;
  std::string password_;
  std::string account_;
  int seen_port_ = 0;
  bool seen_tls_ = false;
  bool reader_done_ = true;
  std::FILE* log_ = nullptr;
  std::atomic<bool> stop_reader_{false};
  std::thread reader_;
};

}  // namespace sabla::test
