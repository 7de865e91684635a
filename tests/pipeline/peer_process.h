// Helpers for the pipeline tests that talk to real peers on 127.0.0.1: an
// RTMP server (nginx + libnginx-mod-rtmp) or an SRT sender (gst-launch-1.0),
// each run as a child process. Header-only: tests/CMakeLists.txt globs .cpp
// files, and only the tests that include this pay for it.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sabla/pipeline/program.h"

namespace sabla::test {

using PeerClock = std::chrono::steady_clock;

inline bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = PeerClock::now() + timeout;
  while (PeerClock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

// Absolute path of an executable: `name` itself when it has a slash, else
// the first match in $PATH plus /usr/sbin and /sbin (nginx lives there and a
// non-root PATH often lacks them). Empty when not found.
inline std::string find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  path += ":/usr/sbin:/sbin";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string p = dir + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// A port that was free on 127.0.0.1 a moment ago (the kernel's choice for
// port 0). SOCK_STREAM for TCP peers, SOCK_DGRAM for SRT (UDP).
inline int free_loopback_port(int type) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// True when something accepts TCP connections on 127.0.0.1:port.
inline bool tcp_accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// One child process in its own process group (so a kill reaches the
// processes it forks too, e.g. nginx's workers), stdout and stderr appended
// to a log file, SIGKILLed if the test process dies, killed and reaped on
// destruction.
class PeerProcess {
 public:
  PeerProcess() = default;
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;
  ~PeerProcess() { kill(SIGKILL); }

  bool start(std::vector<std::string> args, const std::string& log_path, std::string* error) {
    kill(SIGKILL);
    args[0] = find_executable(args[0]);
    if (args[0].empty()) {
      *error = "executable not found";
      return false;
    }
    // Prepared before fork(): the child may only make async-signal-safe calls.
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
      *error = std::string("fork: ") + std::strerror(errno);
      if (log >= 0) ::close(log);
      if (devnull >= 0) ::close(devnull);
      return false;
    }
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      if (devnull >= 0) ::dup2(devnull, 0);
      if (log >= 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also from the parent: no race with an early kill(-pid)
    if (log >= 0) ::close(log);
    if (devnull >= 0) ::close(devnull);
    pid_ = pid;
    return true;
  }

  // Signal to the whole group, then (SIGKILL) reap. No-op when not running.
  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(-pid_, sig);
    if (sig == SIGKILL) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      // The leader is gone; take its group down with it (nginx workers).
      ::kill(-pid_, SIGKILL);
      pid_ = -1;
      return false;
    }
    return true;
  }

 private:
  pid_t pid_ = -1;
};

inline std::string file_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Playlist entries (segment URIs) of an HLS media playlist.
inline std::vector<std::string> hls_segments(const std::string& m3u8) {
  std::ifstream f(m3u8);
  std::vector<std::string> out;
  std::string line;
  bool expect = false;
  while (std::getline(f, line)) {
    if (line.rfind("#EXTINF:", 0) == 0) {
      expect = true;
    } else if (expect && !line.empty() && line[0] != '#') {
      out.push_back(line);
      expect = false;
    }
  }
  return out;
}

// The slate's background (pipeline/src/program.cpp renders it 0x14314d).
struct Rgb {
  int r, g, b;
};
inline Rgb rgb_at(const overlay::Frame& f, int x, int y) {
  uint32_t p = f.pixel(x, y);
  return {int((p >> 16) & 0xff), int((p >> 8) & 0xff), int(p & 0xff)};
}
inline bool near_rgb(Rgb a, Rgb b, int tol) {
  return std::abs(a.r - b.r) <= tol && std::abs(a.g - b.g) <= tol && std::abs(a.b - b.b) <= tol;
}
inline const Rgb kSlateRgb{0x14, 0x31, 0x4d};

// A frame is the slate when its four corners all have the slate colour (the
// slate's text is centred; no test picture used here has that colour).
inline bool looks_like_slate(const overlay::Frame& f) {
  const int x1 = f.width - 5, y1 = f.height - 5;
  return near_rgb(rgb_at(f, 4, 4), kSlateRgb, 25) && near_rgb(rgb_at(f, x1, 4), kSlateRgb, 25) &&
         near_rgb(rgb_at(f, 4, y1), kSlateRgb, 25) && near_rgb(rgb_at(f, x1, y1), kSlateRgb, 25);
}

// Small and cheap: the tests share two cores with everything else.
inline pipeline::ProgramConfig small_program_config() {
  pipeline::ProgramConfig c;
  c.width = 320;
  c.height = 180;
  c.fps = 15;
  c.video_bitrate_kbps = 300;
  c.x264_preset = "ultrafast";
  c.audio_bitrate_kbps = 64;
  c.frame_history = 4;
  return c;
}

}  // namespace sabla::test
