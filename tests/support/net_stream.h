// A blocking-with-deadline TCP (optionally TLS) byte stream for the test clients.
//
// Every operation is bounded by a timeout (poll on a non-blocking socket); nothing
// throws. TLS uses OpenSSL with certificate verification OFF (tests use self-signed
// certificates). Not thread-safe: one stream per thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace sabla::test {

using Clock = std::chrono::steady_clock;

// Milliseconds left until `deadline`, clamped to [0, INT_MAX].
int ms_until(Clock::time_point deadline);
Clock::time_point deadline_in(int timeout_ms);

enum class IoStatus { ok, timeout, eof, error };

class NetStream {
 public:
  // Connects to host:port (numeric or resolvable name) within timeout_ms; with tls
  // also runs the TLS handshake (SNI = host, no verification) within the same budget.
  // Returns nullptr and fills *error on failure.
  static std::unique_ptr<NetStream> connect(const std::string& host, int port, bool tls,
                                            int timeout_ms, std::string* error);
  ~NetStream();
  NetStream(const NetStream&) = delete;
  NetStream& operator=(const NetStream&) = delete;

  // Writes all of `data` before `deadline`. On failure fills *error (optional).
  IoStatus write_all(std::string_view data, Clock::time_point deadline,
                     std::string* error = nullptr);
  // Reads what is available (at most max bytes, at least 1) and appends it to *out;
  // waits until `deadline` for the first byte. eof: the peer closed cleanly.
  IoStatus read_some(std::string* out, Clock::time_point deadline, std::size_t max = 65536,
                     std::string* error = nullptr);
  // Reads until the peer closes or the deadline passes (ok = clean EOF seen).
  IoStatus read_to_eof(std::string* out, Clock::time_point deadline);

  // Half-close (plain TCP: shutdown(SHUT_WR); TLS: close_notify).
  void shutdown_write();
  // Close now. With rst=true sends a TCP RST (SO_LINGER 0) instead of FIN.
  void close(bool rst = false);

  bool is_tls() const { return ssl_ != nullptr; }
  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }

 private:
  NetStream() = default;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

}  // namespace sabla::test
