#include "support/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#ifndef SABLA_BINARY
#define SABLA_BINARY ""
#endif

extern char** environ;

namespace sabla::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// --- TempDir -------------------------------------------------------------------------------

TempDir::TempDir(std::string_view prefix) {
  std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(tmpl.data())) path_ = tmpl;
}

TempDir::~TempDir() { remove(); }

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)), keep_(other.keep_) {
  other.path_.clear();
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::move(other.path_);
    keep_ = other.keep_;
    other.path_.clear();
  }
  return *this;
}

void TempDir::remove() {
  if (path_.empty()) return;
  const char* keep_env = std::getenv("SABLA_KEEP_TEST_DIRS");
  if (keep_ || (keep_env && *keep_env)) {
    std::fprintf(stderr, "[sabla-test] keeping %s\n", path_.c_str());
  } else {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  path_.clear();
}

// --- helpers -------------------------------------------------------------------------------

namespace {

// Drops ANSI escape sequences (coloured log output) for parsing.
std::string strip_ansi(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

// "listening on http://localhost:8080" -> (8080, false). port 0 if no match.
std::pair<int, bool> parse_listening(std::string_view line) {
  std::size_t p = line.find("listening on ");
  if (p == std::string_view::npos) return {0, false};
  std::string_view rest = line.substr(p + 13);
  bool tls = false;
  if (rest.substr(0, 8) == "https://") {
    tls = true;
    rest.remove_prefix(8);
  } else if (rest.substr(0, 7) == "http://") {
    rest.remove_prefix(7);
  } else {
    return {0, false};
  }
  std::size_t end = rest.find_first_of(" \t/\r\"'");
  std::string_view hostport = rest.substr(0, end);
  std::size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos) return {0, false};
  int port = 0;
  for (char c : hostport.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return {0, false};
    port = port * 10 + (c - '0');
  }
  if (port <= 0 || port > 65535) return {0, false};
  return {port, tls};
}

// Token after `label` ("password: "), unquoted; "" if the line has no such label.
std::string parse_token(std::string_view line, std::string_view label) {
  std::size_t p = line.find(label);
  if (p == std::string_view::npos) return {};
  std::string_view rest = line.substr(p + label.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  rest = rest.substr(0, rest.find_first_of(" \t\r"));
  while (!rest.empty() && (rest.front() == '"' || rest.front() == '\'' || rest.front() == '`')) rest.remove_prefix(1);
  while (!rest.empty() && (rest.back() == '"' || rest.back() == '\'' || rest.back() == '`')) rest.remove_suffix(1);
  return std::string(rest);
}

std::string join_tail(const std::vector<std::string>& lines, std::size_t n) {
  std::string out;
  std::size_t from = lines.size() > n ? lines.size() - n : 0;
  for (std::size_t i = from; i < lines.size(); ++i) out += "  " + lines[i] + "\n";
  return out;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

// --- ServerProcess -------------------------------------------------------------------------

ServerProcess::ServerProcess(ServerOptions opts) : opts_(std::move(opts)) {
  if (opts_.binary.empty()) opts_.binary = SABLA_BINARY;
  if (opts_.data_dir.empty()) {
    own_dir_ = std::make_unique<TempDir>("sabla-server");
    data_dir_ = own_dir_->path();
  } else {
    data_dir_ = opts_.data_dir;
  }
}

ServerProcess::ServerProcess(std::vector<std::string> args, std::vector<std::pair<std::string, std::string>> env)
    : ServerProcess(ServerOptions{"", "", std::move(args), std::move(env)}) {}

ServerProcess::~ServerProcess() {
  kill9();
  join_reader();
}

bool ServerProcess::start(std::string* error) {
  std::string scratch;
  std::string& err = error ? *error : scratch;
  if (pid_ > 0 && running()) {
    err = "already running (pid " + std::to_string(pid_) + ")";
    return false;
  }
  join_reader();
  if (opts_.binary.empty()) {
    err = "no server binary (SABLA_BINARY not defined and ServerOptions::binary empty)";
    return false;
  }
  if (data_dir_.empty()) {
    err = "no data dir (mkdtemp failed?)";
    return false;
  }
  std::error_code ec;
  fs::create_directories(data_dir_, ec);

  std::vector<std::string> argv = {opts_.binary, "serve", "--port",
                                   std::to_string(opts_.keep_port_on_restart && port_ > 0 ? port_ : 0),
                                   "--bind", "127.0.0.1", "--data", data_dir_};
  argv.insert(argv.end(), opts_.args.begin(), opts_.args.end());

  {
    std::lock_guard lk(mu_);
    out_lines_.clear();
    err_lines_.clear();
    password_.clear();
    account_.clear();
    seen_port_ = 0;
    seen_tls_ = false;
  }
  port_ = 0;
  tls_ = false;
  exit_code_.reset();

  if (!spawn(argv, &err)) return false;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.start_timeout_ms);
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, 50ms, [&] { return seen_port_ != 0; });
      if (seen_port_ != 0) {
        port_ = seen_port_;
        tls_ = seen_tls_;
        return true;
      }
    }
    if (!running()) {
      join_reader();
      err = "server exited before listening (exit code " + std::to_string(exit_code_.value_or(-1)) + ")\n" +
            describe();
      return false;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill9();
      err = "server did not print 'listening on http://...:PORT' within " +
            std::to_string(opts_.start_timeout_ms) + " ms\n" + describe();
      return false;
    }
  }
}

bool ServerProcess::restart(std::string* error) {
  if (pid_ > 0 && running()) terminate();
  return start(error);
}

bool ServerProcess::spawn(const std::vector<std::string>& args, std::string* error) {
  // Everything the child needs is prepared before fork(): after it only async-signal-safe
  // calls are allowed (other threads may hold locks).
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  std::vector<std::string> env_store;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    std::string_view key = kv.substr(0, kv.find('='));
    bool overridden = false;
    for (const auto& [k, v] : opts_.env) overridden = overridden || key == k;
    if (!overridden) env_store.emplace_back(kv);
  }
  for (const auto& [k, v] : opts_.env) env_store.push_back(k + "=" + v);
  // Servers in tests run without video unless a test asks for it: a pipeline
  // per test server would load the 2-core test machine for nothing.
  bool video_set = std::getenv("SABLA_VIDEO_SOURCE") != nullptr;
  for (const auto& [k, v] : opts_.env) video_set = video_set || k == "SABLA_VIDEO_SOURCE";
  if (!video_set) env_store.emplace_back("SABLA_VIDEO_SOURCE=off");
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2], exec_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return false;
  }
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return false;
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  const bool pdeath = opts_.die_with_parent;

  pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], exec_pipe[0], exec_pipe[1], devnull})
      if (fd >= 0) ::close(fd);
    return false;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    if (pdeath) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
    }
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &sa, nullptr);  // SIG_IGN would survive exec
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execve(argv[0], argv.data(), envp.data());
    int e = errno;
    ssize_t ignored = ::write(exec_pipe[1], &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }

  ::setpgid(pid, pid);  // also from the parent: no race with an early kill(-pid)
  for (int fd : {out_pipe[1], err_pipe[1], exec_pipe[1], devnull})
    if (fd >= 0) ::close(fd);
  pid_ = pid;

  // exec succeeded iff the CLOEXEC pipe closes without data.
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  ::close(exec_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    wait_exit(5000);
    *error = "exec " + args[0] + ": " + std::strerror(exec_errno);
    return false;
  }

  log_ = std::fopen(log_path().c_str(), "ae");
  if (log_) {
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    std::fprintf(log_, "=== start pid %d:%s\n", static_cast<int>(pid), cmd.c_str());
    std::fflush(log_);
  }
  stop_reader_ = false;
  {
    std::lock_guard lk(mu_);
    reader_done_ = false;
  }
  try {
    reader_ = std::thread([this, o = out_pipe[0], e = err_pipe[0]] { reader_loop(o, e); });
  } catch (...) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    {
      std::lock_guard lk(mu_);
      reader_done_ = true;
    }
    kill9();
    *error = "could not start the output reader thread";
    return false;
  }
  return true;
}

void ServerProcess::reader_loop(int out_fd, int err_fd) {
  std::string partial[2];
  int fds[2] = {out_fd, err_fd};
  for (;;) {
    pollfd p[2];
    int n = 0;
    int idx[2];
    for (int i = 0; i < 2; ++i) {
      if (fds[i] >= 0) {
        p[n] = pollfd{fds[i], POLLIN, 0};
        idx[n++] = i;
      }
    }
    if (n == 0) break;
    int r = ::poll(p, static_cast<nfds_t>(n), 100);
    if (r < 0 && errno != EINTR) break;
    if (r == 0 && stop_reader_) break;  // process gone, pipes drained (or held by strays)
    for (int k = 0; k < n && r > 0; ++k) {
      if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int i = idx[k];
      char buf[8192];
      ssize_t got = ::read(fds[i], buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        ::close(fds[i]);
        fds[i] = -1;
        if (!partial[i].empty()) on_line(i == 1, std::move(partial[i]));
        partial[i].clear();
        continue;
      }
      partial[i].append(buf, static_cast<std::size_t>(got));
      std::size_t nl;
      while ((nl = partial[i].find('\n')) != std::string::npos) {
        std::string line = partial[i].substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        partial[i].erase(0, nl + 1);
        on_line(i == 1, std::move(line));
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (!partial[i].empty()) on_line(i == 1, std::move(partial[i]));
    if (fds[i] >= 0) ::close(fds[i]);
  }
  std::lock_guard lk(mu_);
  reader_done_ = true;
  cv_.notify_all();
}

void ServerProcess::on_line(bool is_err, std::string line) {
  const std::string plain = strip_ansi(line);
  auto [port, tls] = parse_listening(plain);
  std::string pw = parse_token(plain, "password: ");
  std::string account = parse_token(plain, "account: ");
  std::lock_guard lk(mu_);
  if (log_) {
    std::fprintf(log_, "%s%s\n", is_err ? "[stderr] " : "", line.c_str());
    std::fflush(log_);
  }
  // First "listening on" line of this run wins (stdout, or stderr for log output).
  if (port != 0 && seen_port_ == 0) {
    seen_port_ = port;
    seen_tls_ = tls;
  }
  if (!pw.empty() && password_.empty()) password_ = pw;
  if (!account.empty() && account_.empty()) account_ = account;
  (is_err ? err_lines_ : out_lines_).push_back(std::move(line));
  cv_.notify_all();
}

void ServerProcess::reap(int status) {
  exit_code_ = decode_status(status);
  stop_reader_ = true;
}

bool ServerProcess::running() {
  if (pid_ <= 0 || exit_code_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reap(status);
    return false;
  }
  if (r < 0 && errno == ECHILD) {  // reaped elsewhere
    exit_code_ = -1;
    stop_reader_ = true;
    return false;
  }
  return true;
}

bool ServerProcess::wait_exit(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

void ServerProcess::kill9() {
  if (pid_ <= 0) return;
  if (running()) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    wait_exit(10000);
  }
  join_reader();
}

int ServerProcess::terminate(int timeout_ms) {
  if (pid_ <= 0) return -1;
  if (running()) {
    ::kill(pid_, SIGTERM);
    if (!wait_exit(timeout_ms)) kill9();
  }
  join_reader();
  return exit_code_.value_or(-1);
}

void ServerProcess::join_reader() {
  if (reader_.joinable()) {
    stop_reader_ = true;
    reader_.join();
  }
  std::lock_guard lk(mu_);
  if (log_) {
    std::fprintf(log_, "=== exit code %d\n", exit_code_.value_or(-1));
    std::fclose(log_);
    log_ = nullptr;
  }
}

std::string ServerProcess::initial_password(int wait_ms) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] { return !password_.empty() || reader_done_; });
  return password_;
}

std::string ServerProcess::initial_account() const {
  std::lock_guard lk(mu_);
  return account_;
}

std::vector<std::string> ServerProcess::stdout_lines() const {
  std::lock_guard lk(mu_);
  return out_lines_;
}

std::vector<std::string> ServerProcess::stderr_lines() const {
  std::lock_guard lk(mu_);
  return err_lines_;
}

std::string ServerProcess::stdout_text() const {
  std::lock_guard lk(mu_);
  std::string s;
  for (const auto& l : out_lines_) s += l + "\n";
  return s;
}

std::string ServerProcess::stderr_text() const {
  std::lock_guard lk(mu_);
  std::string s;
  for (const auto& l : err_lines_) s += l + "\n";
  return s;
}

bool ServerProcess::wait_for_output(std::string_view needle, int timeout_ms) {
  std::unique_lock lk(mu_);
  std::size_t checked_out = 0, checked_err = 0;
  auto found = [&] {
    for (; checked_out < out_lines_.size(); ++checked_out)
      if (out_lines_[checked_out].find(needle) != std::string::npos) return true;
    for (; checked_err < err_lines_.size(); ++checked_err)
      if (err_lines_[checked_err].find(needle) != std::string::npos) return true;
    return reader_done_;
  };
  cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), found);
  // reader_done_ also ends the wait: re-check for a real match.
  for (const auto* v : {&out_lines_, &err_lines_})
    for (const auto& l : *v)
      if (l.find(needle) != std::string::npos) return true;
  return false;
}

std::string ServerProcess::describe(std::size_t tail_lines) const {
  std::lock_guard lk(mu_);
  std::string s = "sabla server pid " + std::to_string(pid_) + ", port " + std::to_string(port_) +
                  ", data " + data_dir_ + ", " +
                  (exit_code_ ? "exited with " + std::to_string(*exit_code_) : std::string("running")) + "\n";
  s += "stdout tail:\n" + join_tail(out_lines_, tail_lines);
  s += "stderr tail:\n" + join_tail(err_lines_, tail_lines);
  return s;
}

}  // namespace sabla::test
