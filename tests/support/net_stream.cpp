#include "support/net_stream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>

namespace sabla::test {

int ms_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  if (left > INT_MAX) return INT_MAX;
  return static_cast<int>(left);
}

Clock::time_point deadline_in(int timeout_ms) {
  return Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
}

namespace {

std::string errno_text(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

std::string ssl_error_text(const char* what) {
  std::string s = what;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    s += "; ";
    s += buf;
  }
  return s;
}

// Waits for `events` on fd until deadline. 1 = ready, 0 = timeout, -1 = error.
int wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, ms_until(deadline));
    if (r > 0) return 1;  // includes POLLERR/POLLHUP: the next call reports it
    if (r == 0) return 0;
    if (errno != EINTR) return -1;
  }
}

void ignore_sigpipe_once() {
  // OpenSSL writes with write(2), which raises SIGPIPE on a reset connection.
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

}  // namespace

std::unique_ptr<NetStream> NetStream::connect(const std::string& host, int port, bool tls,
                                              int timeout_ms, std::string* error) {
  std::string scratch;
  std::string& err = error ? *error : scratch;
  const auto deadline = deadline_in(timeout_ms);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    err = "getaddrinfo(" + host + "): " + gai_strerror(rc);
    return nullptr;
  }

  std::unique_ptr<NetStream> s(new NetStream());
  err = "no address for " + host;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno_text("socket", errno);
      continue;
    }
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno != EINPROGRESS) {
      err = errno_text("connect", errno);
      ::close(fd);
      continue;
    }
    if (rc != 0) {
      int w = wait_fd(fd, POLLOUT, deadline);
      if (w <= 0) {
        err = w == 0 ? "connect: timed out" : errno_text("poll", errno);
        ::close(fd);
        continue;
      }
      int soerr = 0;
      socklen_t len = sizeof soerr;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
      if (soerr != 0) {
        err = errno_text("connect", soerr);
        ::close(fd);
        continue;
      }
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->fd_ = fd;
    break;
  }
  ::freeaddrinfo(res);
  if (s->fd_ < 0) {
    err = host + ":" + service + ": " + err;
    return nullptr;
  }
  err.clear();

  if (tls) {
    ignore_sigpipe_once();
    ERR_clear_error();
    s->ctx_ = SSL_CTX_new(TLS_client_method());
    if (!s->ctx_) {
      err = ssl_error_text("SSL_CTX_new");
      return nullptr;
    }
    SSL_CTX_set_verify(s->ctx_, SSL_VERIFY_NONE, nullptr);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(s->ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    SSL_CTX_set_mode(s->ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    s->ssl_ = SSL_new(s->ctx_);
    if (!s->ssl_ || SSL_set_fd(s->ssl_, s->fd_) != 1) {
      err = ssl_error_text("SSL_new");
      return nullptr;
    }
    in6_addr a6;
    in_addr a4;
    const bool numeric = ::inet_pton(AF_INET, host.c_str(), &a4) == 1 ||
                         ::inet_pton(AF_INET6, host.c_str(), &a6) == 1;
    if (!numeric) SSL_set_tlsext_host_name(s->ssl_, host.c_str());
    for (;;) {
      ERR_clear_error();
      int r = SSL_connect(s->ssl_);
      if (r == 1) break;
      int e = SSL_get_error(s->ssl_, r);
      short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
      if (ev == 0) {
        err = ssl_error_text("TLS handshake failed");
        return nullptr;
      }
      int w = wait_fd(s->fd_, ev, deadline);
      if (w <= 0) {
        err = w == 0 ? "TLS handshake: timed out" : errno_text("poll", errno);
        return nullptr;
      }
    }
  }
  return s;
}

NetStream::~NetStream() { close(); }

void NetStream::close(bool rst) {
  if (ssl_) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (ctx_) {
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
  }
  if (fd_ >= 0) {
    if (rst) {
      linger l{1, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(fd_);
    fd_ = -1;
  }
}

void NetStream::shutdown_write() {
  if (fd_ < 0) return;
  if (ssl_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // sends close_notify; we do not wait for the peer's
  } else {
    ::shutdown(fd_, SHUT_WR);
  }
}

IoStatus NetStream::write_all(std::string_view data, Clock::time_point deadline, std::string* error) {
  std::string scratch;
  std::string& err = error ? *error : scratch;
  if (fd_ < 0) {
    err = "write: connection closed";
    return IoStatus::error;
  }
  std::size_t off = 0;
  while (off < data.size()) {
    const std::size_t chunk = std::min<std::size_t>(data.size() - off, 1 << 20);
    short want = POLLOUT;
    if (ssl_) {
      ERR_clear_error();
      int r = SSL_write(ssl_, data.data() + off, static_cast<int>(chunk));
      if (r > 0) {
        off += static_cast<std::size_t>(r);
        continue;
      }
      int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ) {
        want = POLLIN;
      } else if (e != SSL_ERROR_WANT_WRITE) {
        err = e == SSL_ERROR_SYSCALL && errno != 0 ? errno_text("SSL_write", errno)
                                                   : ssl_error_text("SSL_write");
        return IoStatus::error;
      }
    } else {
      ssize_t r = ::send(fd_, data.data() + off, chunk, MSG_NOSIGNAL);
      if (r > 0) {
        off += static_cast<std::size_t>(r);
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        err = errno_text("send", errno);
        return IoStatus::error;
      }
    }
    int w = wait_fd(fd_, want, deadline);
    if (w == 0) {
      err = "write: timed out";
      return IoStatus::timeout;
    }
    if (w < 0) {
      err = errno_text("poll", errno);
      return IoStatus::error;
    }
  }
  return IoStatus::ok;
}

IoStatus NetStream::read_some(std::string* out, Clock::time_point deadline, std::size_t max,
                              std::string* error) {
  std::string scratch;
  std::string& err = error ? *error : scratch;
  if (fd_ < 0) {
    err = "read: connection closed";
    return IoStatus::error;
  }
  if (max == 0) max = 1;
  const std::size_t old = out->size();
  out->resize(old + max);
  char* buf = out->data() + old;
  for (;;) {
    short want = POLLIN;
    if (ssl_) {
      ERR_clear_error();
      int r = SSL_read(ssl_, buf, static_cast<int>(std::min<std::size_t>(max, INT_MAX)));
      if (r > 0) {
        out->resize(old + static_cast<std::size_t>(r));
        return IoStatus::ok;
      }
      int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
        out->resize(old);
        return IoStatus::eof;
      }
      if (e == SSL_ERROR_WANT_WRITE) {
        want = POLLOUT;
      } else if (e != SSL_ERROR_WANT_READ) {
        out->resize(old);
        if (e == SSL_ERROR_SYSCALL && errno == ECONNRESET) return IoStatus::eof;
        err = e == SSL_ERROR_SYSCALL ? errno_text("SSL_read", errno) : ssl_error_text("SSL_read");
        return IoStatus::error;
      }
    } else {
      ssize_t r = ::recv(fd_, buf, max, 0);
      if (r > 0) {
        out->resize(old + static_cast<std::size_t>(r));
        return IoStatus::ok;
      }
      if (r == 0) {
        out->resize(old);
        return IoStatus::eof;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        int e = errno;
        out->resize(old);
        // A reset after the peer is done is how many servers end a connection.
        if (e == ECONNRESET) return IoStatus::eof;
        err = errno_text("recv", e);
        return IoStatus::error;
      }
    }
    int w = wait_fd(fd_, want, deadline);
    if (w == 0) {
      out->resize(old);
      err = "read: timed out";
      return IoStatus::timeout;
    }
    if (w < 0) {
      out->resize(old);
      err = errno_text("poll", errno);
      return IoStatus::error;
    }
  }
}

IoStatus NetStream::read_to_eof(std::string* out, Clock::time_point deadline) {
  for (;;) {
    IoStatus st = read_some(out, deadline);
    if (st == IoStatus::eof) return IoStatus::ok;
    if (st != IoStatus::ok) return st;
  }
}

}  // namespace sabla::test
