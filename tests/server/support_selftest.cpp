// Self-tests for tests/support (no Sabla server needed): frame codec, handshake key,
// TempDir, the clients against tiny in-test stubs, and ServerProcess with a fake binary.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "support/http_client.h"
#include "support/server_process.h"
#include "support/ws_client.h"

using namespace sabla::test;
using nlohmann::json;

namespace {

// One-connection TCP stub on 127.0.0.1:<ephemeral>; `serve` runs on its own thread.
class Stub {
 public:
  explicit Stub(std::function<void(int)> serve) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(lfd_, 4);
    socklen_t len = sizeof a;
    ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, serve = std::move(serve)] {
      pollfd p{lfd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) != 1) return;
      int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      timeval tv{5, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      serve(fd);
      ::close(fd);
    });
  }
  ~Stub() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
    if (lfd_ >= 0) ::close(lfd_);
    lfd_ = -1;
  }
  int port() const { return port_; }

 private:
  int lfd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

bool stub_send(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until `buf` holds the request head (and `extra` more bytes after it).
std::string stub_read(int fd, std::string& buf, std::size_t extra = 0) {
  std::size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos || buf.size() < end + 4 + extra) {
    char tmp[4096];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return {};
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  std::string head = buf.substr(0, end + 4);
  buf.erase(0, end + 4);
  return head;
}

std::optional<Frame> stub_read_frame(int fd, std::string& buf) {
  for (;;) {
    Frame f;
    std::size_t used = 0;
    if (decode_frame(buf, &f, &used) == DecodeStatus::complete) {
      buf.erase(0, used);
      return f;
    }
    char tmp[4096];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return std::nullopt;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
}

std::string header_in(const std::string& head, const std::string& name) {
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  auto p = lower.find("\r\n" + name + ":");
  if (p == std::string::npos) return {};
  p += name.size() + 3;
  auto e = head.find("\r\n", p);
  std::string v = head.substr(p, e - p);
  while (!v.empty() && v.front() == ' ') v.erase(0, 1);
  return v;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

TEST_CASE("frame encoder/decoder round trip", "[support]") {
  const std::array<std::uint8_t, 4> key{0x37, 0xfa, 0x21, 0x3d};
  for (std::size_t len : {0u, 1u, 125u, 126u, 65535u, 65536u}) {
    for (bool mask : {true, false}) {
      CAPTURE(len, mask);
      std::string payload(len, '\0');
      for (std::size_t i = 0; i < len; ++i) payload[i] = static_cast<char>(i * 31 + 7);
      std::string wire = encode_frame(opcode::binary, payload, true, 0, mask, mask ? &key : nullptr);
      const std::size_t header = (len < 126 ? 2 : len <= 65535 ? 4 : 10) + (mask ? 4 : 0);
      REQUIRE(wire.size() == header + len);
      if (mask && len > 0) CHECK(wire.substr(header) != payload);

      Frame f;
      std::size_t used = 0;
      REQUIRE(decode_frame(wire, &f, &used) == DecodeStatus::complete);
      CHECK(used == wire.size());
      CHECK(f.opcode == opcode::binary);
      CHECK(f.fin);
      CHECK(f.rsv == 0);
      CHECK(f.masked == mask);
      CHECK(f.payload == payload);
      // Every strict prefix is incomplete.
      for (std::size_t cut : {std::size_t{0}, std::size_t{1}, header - 1, wire.size() - 1}) {
        if (cut < wire.size()) CHECK(decode_frame(std::string_view(wire).substr(0, cut), &f, &used) == DecodeStatus::incomplete);
      }
    }
  }
  SECTION("random masks, flags and trailing data") {
    std::string wire = encode_frame(opcode::text, "héllo", false, 0b101) + encode_frame(0x3, "x");
    Frame f;
    std::size_t used = 0;
    REQUIRE(decode_frame(wire, &f, &used) == DecodeStatus::complete);
    CHECK((f.opcode == opcode::text && !f.fin && f.rsv == 0b101 && f.masked && f.payload == "héllo"));
    REQUIRE(decode_frame(std::string_view(wire).substr(used), &f, &used) == DecodeStatus::complete);
    CHECK((f.opcode == 0x3 && f.fin && f.payload == "x"));
  }
  SECTION("RFC 6455 5.7 examples") {
    CHECK(encode_frame(opcode::text, "Hello", true, 0, false) == std::string("\x81\x05Hello"));
    const std::array<std::uint8_t, 4> k{0x37, 0xfa, 0x21, 0x3d};
    CHECK(encode_frame(opcode::text, "Hello", true, 0, true, &k) ==
          std::string("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11));
  }
  SECTION("absurd 64-bit length is an error") {
    std::string wire("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01", 10);
    Frame f;
    std::size_t used = 0;
    CHECK(decode_frame(wire, &f, &used) == DecodeStatus::error);
  }
}

TEST_CASE("Sec-WebSocket-Accept and base64", "[support]") {
  // RFC 6455 section 1.3 (the value is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=, as in section 4.2.2).
  CHECK(websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
}

TEST_CASE("TempDir removes its tree", "[support]") {
  const bool keep = std::getenv("SABLA_KEEP_TEST_DIRS") != nullptr;
  std::string path;
  {
    TempDir dir("sabla-selftest");
    REQUIRE(dir.ok());
    path = dir.path();
    CHECK(path.rfind("/tmp/sabla-selftest-", 0) == 0);
    std::filesystem::create_directories(dir.file("a/b"));
    std::ofstream(dir.file("a/b/c.txt")) << "x";
    TempDir moved = std::move(dir);
    CHECK(!dir.ok());
    CHECK(std::filesystem::exists(moved.file("a/b/c.txt")));
  }
  CHECK(std::filesystem::exists(path) == keep);
}

TEST_CASE("WsClient against a stub server", "[support]") {
  std::string got_key_ok, got_pong, got_text, got_close;
  bool client_masked = false;
  Stub stub([&](int fd) {
    std::string buf;
    std::string head = stub_read(fd, buf);
    std::string key = header_in(head, "sec-websocket-key");
    got_key_ok = header_in(head, "sec-websocket-protocol") + "|" + header_in(head, "origin");
    std::string out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: " + websocket_accept(key) +
                      "\r\nSec-WebSocket-Protocol: sabla.viewer.v1\r\n\r\n";
    // Frames in the same write as the 101, a batch, a ping inside a fragmented message.
    out += encode_frame(opcode::text, R"({"type":"welcome","viewer":1})", true, 0, false);
    out += encode_frame(opcode::text, R"({"type":"batch","items":[{"type":"a"},{"type":"b"},{"type":"c"}]})", true, 0, false);
    out += encode_frame(opcode::text, R"({"type":)", false, 0, false);
    out += encode_frame(opcode::ping, "p1", true, 0, false);
    out += encode_frame(opcode::continuation, R"("frag"})", true, 0, false);
    stub_send(fd, out);
    for (int i = 0; i < 3; ++i) {
      auto f = stub_read_frame(fd, buf);
      if (!f) return;
      if (f->opcode == opcode::pong) got_pong = f->payload;
      if (f->opcode == opcode::text) {
        client_masked = f->masked;
        got_text += f->payload + ";";
        if (f->payload == "hello") stub_send(fd, encode_frame(opcode::text, "echo:hello", true, 0, false));
        if (f->payload == "bye") break;
      }
    }
    stub_send(fd, encode_frame(opcode::close, std::string("\x03\xf1too big", 9), true, 0, false));
    if (auto f = stub_read_frame(fd, buf); f && f->opcode == opcode::close && f->payload.size() >= 2)
      got_close = std::to_string((static_cast<unsigned char>(f->payload[0]) << 8) | static_cast<unsigned char>(f->payload[1]));
  });

  WsOptions o;
  o.port = stub.port();
  o.subprotocol = "sabla.viewer.v1";
  o.origin = "http://localhost";
  std::string err;
  auto ws = WsClient::connect(o, &err);
  INFO(err);
  REQUIRE(ws);
  CHECK(ws->subprotocol() == "sabla.viewer.v1");
  CHECK(ws->status_code() == 101);

  auto welcome = ws->recv_json(2000);
  REQUIRE(welcome);
  CHECK((*welcome)["viewer"] == 1);
  auto c = ws->recv_type("c", 2000);
  REQUIRE(c);
  REQUIRE(ws->backlog().size() == 2);
  CHECK(json_type(*ws->recv_json(0)) == "a");
  CHECK(json_type(*ws->recv_json(0)) == "b");
  auto frag = ws->recv_json(2000);  // the ping in between is answered transparently
  REQUIRE(frag);
  CHECK(json_type(*frag) == "frag");

  REQUIRE(ws->send_text("hello"));
  CHECK(ws->recv_text(2000) == std::optional<std::string>("echo:hello"));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(!ws->recv_json(150));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(!ws->is_closed());
  REQUIRE(ws->send_text("bye"));
  CHECK(ws->wait_close(2000) == 1009);
  CHECK(ws->close_reason() == "too big");
  stub.join();
  CHECK(got_key_ok == "sabla.viewer.v1|http://localhost");
  CHECK(got_pong == "p1");
  CHECK(got_text == "hello;bye;");
  CHECK(client_masked);
  CHECK(got_close == "1009");
}

TEST_CASE("refused upgrade reports the status", "[support]") {
  Stub stub([](int fd) {
    std::string buf;
    stub_read(fd, buf);
    stub_send(fd, "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nX-Why: origin\r\n\r\nno");
  });
  WsOptions o;
  o.port = stub.port();
  HandshakeResult r = WsClient::try_connect(o);
  CHECK(r.status_code == 403);
  CHECK(!r.client);
  CHECK(r.body == "no");
  CHECK(r.header("X-Why") == "origin");
  CHECK(r.error.find("403") != std::string::npos);
}

TEST_CASE("http_request: chunked body, cookies, request shape", "[support]") {
  std::string request;
  Stub stub([&](int fd) {
    std::string buf;
    request = stub_read(fd, buf, 15);  // {"name":"amal"}
    request += buf;
    stub_send(fd,
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
              "Set-Cookie: other=1\r\nSet-Cookie: sabla_session=abc; HttpOnly; SameSite=Strict\r\n"
              "X-Test: 1\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
  });
  HttpResponse r = http_post_json(stub.port(), "/api/v1/login", json{{"name", "amal"}});
  INFO(r.error);
  CHECK(r.status == 200);
  CHECK(r.body == "hello world");
  CHECK(header(r, "X-TEST") == "1");
  CHECK(cookie_from(r, "sabla_session") == "sabla_session=abc");
  stub.join();
  CHECK(request.rfind("POST /api/v1/login HTTP/1.1\r\n", 0) == 0);
  CHECK(request.find("Content-Length: 15\r\n") != std::string::npos);
  CHECK(request.find("Connection: close\r\n") != std::string::npos);
  CHECK(request.find("\r\n\r\n{\"name\":\"amal\"}") != std::string::npos);
}

TEST_CASE("http_request: Content-Length body and connection failure", "[support]") {
  Stub stub([](int fd) {
    std::string buf;
    stub_read(fd, buf);
    stub_send(fd, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 9\r\n\r\n{\"a\":[1]}");
  });
  HttpResponse r = http_get(stub.port(), "/api/v1/me");
  CHECK(r.status == 401);
  REQUIRE(json_body(r));
  CHECK((*json_body(r))["a"][0] == 1);

  HttpRequest req;
  req.port = free_port();
  req.timeout_ms = 1000;
  HttpResponse bad = http_request(req);
  CHECK(bad.status == 0);
  CHECK(!bad.error.empty());
}

TEST_CASE("ServerProcess with a fake server binary", "[support]") {
  TempDir bin("sabla-fakebin");
  REQUIRE(bin.ok());
  const std::string script = bin.file("fake-sabla");
  std::ofstream(script) << "#!/bin/sh\n"
                           "echo \"args: $*\"\n"
                           "echo \"env: $FAKE_VAR\"\n"
                           "echo 'producer account: producer'\n"
                           "echo 'password: s3cret'\n"
                           "echo 'oops' >&2\n"
                           "echo 'listening on http://localhost:4242'\n"
                           "exec sleep 30\n";
  ::chmod(script.c_str(), 0755);

  ServerOptions o;
  o.binary = script;
  o.args = {"--extra"};
  o.env = {{"FAKE_VAR", "yes"}};
  ServerProcess srv(o);
  std::string err;
  REQUIRE(srv.start(&err));
  CHECK(srv.port() == 4242);
  CHECK(!srv.tls());
  CHECK(srv.running());
  CHECK(srv.initial_password(2000) == "s3cret");
  CHECK(srv.initial_account() == "producer");
  auto lines = srv.stdout_lines();
  REQUIRE(!lines.empty());
  CHECK(lines[0] == "args: serve --port 0 --bind 127.0.0.1 --data " + srv.data_dir() + " --extra");
  CHECK(srv.wait_for_output("env: yes", 2000));
  CHECK(srv.wait_for_output("oops", 2000));
  CHECK(srv.stderr_text() == "oops\n");
  CHECK(srv.terminate() == 128 + SIGTERM);
  CHECK(!srv.running());

  REQUIRE(srv.restart(&err));
  const pid_t pid = srv.pid();
  srv.kill9();
  CHECK(srv.exit_code() == 128 + SIGKILL);
  CHECK(::kill(pid, 0) != 0);  // reaped
  std::ifstream log(srv.log_path());
  std::string all((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(all.find("[stderr] oops") != std::string::npos);

  SECTION("a server that exits early fails start() with its output") {
    std::ofstream(script, std::ios::trunc) << "#!/bin/sh\necho 'bad config' >&2\nexit 3\n";
    ServerProcess dead(o);
    CHECK(!dead.start(&err));
    CHECK(err.find("exit code 3") != std::string::npos);
    CHECK(err.find("bad config") != std::string::npos);
  }
}

TEST_CASE("ServerProcess reports a missing binary", "[support]") {
  ServerOptions o;
  o.binary = "/nonexistent/sabla";
  ServerProcess srv(o);
  std::string err;
  CHECK(!srv.start(&err));
  CHECK(err.find("exec /nonexistent/sabla") != std::string::npos);
  CHECK(!srv.running());
}
