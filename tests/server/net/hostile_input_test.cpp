// Hostile input against the real `sabla serve`: oversized and fragmented floods,
// invalid UTF-8, binary frames, deep JSON, huge numbers, unknown types, slowloris
// headers and a storm of reconnects from one address. For each: the offending
// connection gets a clear error or close code, a bystander viewer/studio pair keeps
// its round trips (viewer posts, studio approves, viewer receives) at a sane latency,
// and the server's resident memory comes back near its baseline.
//
// The figures (round-trip latency, RSS, reconnect rate) are printed: they are
// observations, the asserted bounds are deliberately generous (a shared 2-core box).
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/clients.h"
#include "support/http_client.h"
#include "support/net_stream.h"
#include "support/server_process.h"
#include "support/ws_client.h"

using namespace sabla::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Generous on purpose: the bound catches a server that stalls for everyone while
// one client abuses it, not scheduling noise on a shared machine.
constexpr double kMaxMedianRoundTripMs = 500;
constexpr double kMaxRoundTripMs = 2000;
#if defined(__SANITIZE_ADDRESS__)
// The same tree builds the server with AddressSanitizer, whose quarantine keeps up
// to 256 MiB of freed memory resident on purpose: only runaway growth shows there.
constexpr int64_t kMaxRssGrowthKib = 400 * 1024;
#else
constexpr int64_t kMaxRssGrowthKib = 20 * 1024;
#endif

// Room for the bystander's round trips (the default viewer limit is 0.5 comment/s).
ServerOptions hostile_server_options() {
  ServerOptions o;
  o.env = {{"SABLA_COMMENTS_PER_SECOND", "100"}, {"SABLA_COMMENT_BURST", "100"}};
  return o;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

// A viewer and a studio doing round trips on their own thread: the viewer posts a
// comment, the studio sees it pending and approves it, the viewer receives it
// approved. Catch assertions are not thread-safe, so the thread only records.
class Bystander {
 public:
  Bystander(int port, const std::string& cookie) : viewer_(open_viewer(port)), studio_(open_studio(port, cookie)) {}
  ~Bystander() { stop(); }

  // One round trip in ms, or -1 (the reason goes to last_error()).
  double round_trip() {
    const int n = next_++;
    const std::string text = "bystander round trip " + std::to_string(n);
    const auto t0 = Clock::now();
    if (!viewer_->send_json({{"type", "comment"}, {"client_id", "rt-" + std::to_string(n)}, {"text", text}}))
      return fail("viewer send: " + viewer_->last_error());
    auto pending = studio_->recv_until(
        [&](const json& j) { return json_type(j) == "pending" && j["comment"]["text"] == text; }, 5000);
    if (!pending) return fail("studio never saw the comment pending (close " + std::to_string(studio_->close_code()) + ")");
    const int64_t id = (*pending)["comment"]["id"];
    if (!studio_->send_json({{"type", "approve"}, {"id", id}})) return fail("studio send: " + studio_->last_error());
    auto delivered = viewer_->recv_until(
        [&](const json& j) { return json_type(j) == "comment" && j["comment"]["id"] == id; }, 5000);
    if (!delivered) return fail("viewer never received the approved comment (close " + std::to_string(viewer_->close_code()) + ")");
    // Acks, ok replies, counters: not needed, and the backlog must not grow.
    viewer_->clear_backlog();
    studio_->clear_backlog();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }

  void start() {
    running_ = true;
    thread_ = std::thread([this] {
      while (running_) {
        double ms = round_trip();
        {
          std::lock_guard lk(mu_);
          if (ms >= 0) samples_.push_back(ms);
        }
        std::this_thread::sleep_for(100ms);
      }
    });
  }
  void stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }
  // Stops the thread and checks what it saw during `what`.
  void check(const std::string& what) {
    // A few samples at least, even when the abuse was over quickly.
    for (auto until = Clock::now() + 5s; Clock::now() < until;) {
      {
        std::lock_guard lk(mu_);
        if (samples_.size() + failures_ >= 3) break;
      }
      std::this_thread::sleep_for(20ms);
    }
    stop();
    std::vector<double> s;
    {
      std::lock_guard lk(mu_);
      s.swap(samples_);
    }
    std::printf("hostile: %-34s bystander round trips %3zu  median %6.1f ms  p95 %6.1f ms  max %6.1f ms  failures %d\n",
                what.c_str(), s.size(), percentile(s, 0.5), percentile(s, 0.95), percentile(s, 1.0), failures_.load());
    INFO(what << ": " << last_error_);
    CHECK(failures_ == 0);
    REQUIRE(s.size() >= 1);
    CHECK(percentile(s, 0.5) < kMaxMedianRoundTripMs);
    CHECK(percentile(s, 1.0) < kMaxRoundTripMs);
    failures_ = 0;
  }
  const std::string& last_error() const { return last_error_; }

 private:
  double fail(std::string why) {
    failures_++;
    last_error_ = std::move(why);
    return -1;
  }
  std::unique_ptr<WsClient> viewer_;
  std::unique_ptr<WsClient> studio_;
  int next_ = 0;
  std::atomic<bool> running_{false};
  std::atomic<int> failures_{0};
  std::string last_error_;
  std::mutex mu_;
  std::vector<double> samples_;
  std::thread thread_;
};

// A server with a warmed-up bystander and its baseline memory.
struct Arena {
  ServerProcess srv{hostile_server_options()};
  int port = 0;
  std::unique_ptr<Bystander> bystander;
  int64_t baseline_kib = 0;

  Arena() {
    std::string err;
    const bool started = srv.start(&err);
    INFO(err);
    REQUIRE(started);
    port = srv.port();
    bystander = std::make_unique<Bystander>(port, login_cookie(port, "producer", srv.initial_password(2000)));
    // Warm-up: the first round trips pay for lazy allocations, not abuse.
    for (int i = 0; i < 10; ++i) REQUIRE(bystander->round_trip() >= 0);
    baseline_kib = rss_kib(srv.pid());
    REQUIRE(baseline_kib > 0);
    std::printf("hostile: baseline RSS %lld KiB, quiet round trip %.1f ms\n", static_cast<long long>(baseline_kib),
                bystander->round_trip());
  }

  // After the abuse is over: memory near the baseline. glibc keeps freed memory in
  // its arenas, so this bounds growth rather than demanding the exact figure.
  void check_memory(const std::string& what) {
    std::this_thread::sleep_for(500ms);  // let closes and the store settle
    const int64_t after = rss_kib(srv.pid());
    std::printf("hostile: %-34s RSS %lld KiB after (baseline %lld KiB, %+lld KiB)\n", what.c_str(),
                static_cast<long long>(after), static_cast<long long>(baseline_kib),
                static_cast<long long>(after - baseline_kib));
    CHECK(after - baseline_kib < kMaxRssGrowthKib);
    REQUIRE(srv.running());
  }
};

std::unique_ptr<WsClient> raw_viewer(int port) {
  WsOptions o;
  o.port = port;
  o.subprotocol = "sabla.viewer.v1";
  std::string err;
  auto c = WsClient::connect(o, &err);
  INFO(err);
  REQUIRE(c);
  REQUIRE(c->recv_type("welcome", 5000));
  return c;
}

// The connection is still served: a hello is answered with a welcome.
void check_still_served(WsClient& c) {
  REQUIRE(c.send_json({{"type", "hello"}, {"name", "still here"}}));
  auto w = c.recv_type("welcome", 5000);
  INFO("close code " << c.close_code() << " " << c.last_error());
  REQUIRE(w);
  CHECK((*w)["name"] == "still here");
}

void check_error_reply(WsClient& c, const std::string& frame) {
  INFO("sent: " << frame.substr(0, 80));
  REQUIRE(c.send_text(frame));
  auto e = c.recv_type("error", 5000);
  INFO("close code " << c.close_code() << " " << c.last_error());
  REQUIRE(e);
  CHECK_FALSE((*e).value("code", "").empty());
  CHECK_FALSE((*e).value("message", "").empty());
}

std::string frame_header(std::uint8_t op, bool fin, std::uint64_t length) {
  std::string h;
  h.push_back(static_cast<char>((fin ? 0x80 : 0) | op));
  if (length < 126) {
    h.push_back(static_cast<char>(0x80 | length));
  } else {
    h.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) h.push_back(static_cast<char>((length >> (8 * i)) & 0xFF));
  }
  h.append("\x11\x22\x33\x44", 4);
  return h;
}

}  // namespace

TEST_CASE("hostile input: offenders are closed or told, bystanders unaffected, memory returns", "[hostile][net]") {
  Arena arena;
  const int port = arena.port;
  Bystander& bystander = *arena.bystander;

  {
    INFO("oversized frames");
    bystander.start();
    std::vector<std::unique_ptr<WsClient>> abusers;
    for (int i = 0; i < 10; ++i) abusers.push_back(raw_viewer(port));
    for (auto& a : abusers) a->send_text(std::string(512 * 1024, 'a'));  // 8x the limit
    auto liar = raw_viewer(port);  // declares 1 GiB, sends a few bytes, waits
    liar->send_raw(frame_header(opcode::text, true, 1ull << 30) + "{\"type\":");
    // Up to 1 MiB the server reads the rest of the frame and drops it, then closes
    // cleanly: every writer reads its 1009.
    for (auto& a : abusers) CHECK(a->wait_close(5000) == 1009);
    // Beyond that it fails at once; a client still pushing may get a TCP reset
    // (its unread bytes) that overtakes the close frame: over either way.
    auto huge = raw_viewer(port);
    huge->send_text(std::string(3 << 20, 'h'));
    const int huge_code = huge->wait_close(5000);
    CHECK((huge_code == 1009 || huge_code == 1006));
    CHECK(liar->wait_close(5000) == 1009);
    bystander.check("oversized frames");
  }
  {
    INFO("fragment floods");
    bystander.start();
    // One-byte continuation frames: the cap on frames per message (4096) ends the
    // flood long before it could reach the size limit. Exactly one frame over the
    // cap, so that nothing is left unread when the server closes (unread bytes
    // turn its FIN into a RST, which can destroy the close frame in flight).
    auto tiny = raw_viewer(port);
    std::string flood = encode_frame(opcode::text, "{\"type\":\"hello\",\"pad\":\"", false);
    for (int i = 0; i < 4096; ++i) flood += encode_frame(opcode::continuation, "x", false);
    tiny->send_raw(flood);  // may fail part-way once the server has closed
    CHECK(tiny->wait_close(5000) == 1009);
    CHECK(tiny->close_reason() == "too many fragments");
    // Empty continuation frames never grow the message: only the cap ends them.
    auto empty = raw_viewer(port);
    std::string nothing = encode_frame(opcode::text, "{", false);
    for (int i = 0; i < 4096; ++i) nothing += encode_frame(opcode::continuation, "", false);
    empty->send_raw(nothing);
    CHECK(empty->wait_close(5000) == 1009);
    // 4096 frames is still a message.
    auto many = raw_viewer(port);
    const std::string hello = "{\"type\":\"hello\",\"name\":\"frag\"}";
    std::string allowed = encode_frame(opcode::text, hello.substr(0, 1), false);
    for (int i = 0; i < 4094; ++i) allowed += encode_frame(opcode::continuation, "", false);
    allowed += encode_frame(opcode::continuation, hello.substr(1), true);
    many->send_raw(allowed);
    auto w = many->recv_type("welcome", 5000);
    INFO("close " << many->close_code() << " " << many->close_reason());
    REQUIRE(w);
    CHECK((*w)["name"] == "frag");
    bystander.check("fragment floods");
  }
  {
    INFO("invalid UTF-8 and binary frames");
    bystander.start();
    const std::vector<std::string> bad_utf8 = {"\xC3\x28", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC0\xAF",
                                               "\xFF\xFE", "\xE2\x82"};
    for (const auto& bytes : bad_utf8) {
      auto v = raw_viewer(port);
      v->send_text("{\"type\":\"comment\",\"client_id\":\"u\",\"text\":\"" + bytes + "\"}");
      CHECK(v->wait_close(5000) == 1007);
    }
    for (const std::string& bytes : {std::string(""), std::string("\x00\x01\x02", 3), std::string(60000, '\x7F')}) {
      auto v = raw_viewer(port);
      v->send_binary(bytes);
      CHECK(v->wait_close(5000) == 1003);
    }
    bystander.check("invalid UTF-8, binary frames");
  }
  {
    INFO("deep JSON, huge numbers, unknown types");
    bystander.start();
    auto v = raw_viewer(port);
    // Within the frame limit: refused by the nesting check, the connection goes on.
    check_error_reply(*v, std::string(60000, '['));
    check_error_reply(*v, "{\"type\":\"comment\",\"x\":" + std::string(20000, '[') + std::string(20000, ']') + "}");
    std::string objects;
    for (int i = 0; i < 10000; ++i) objects += "{\"a\":";
    objects += "1" + std::string(10000, '}');
    check_error_reply(*v, objects);
    for (const char* frame : {
             "{\"type\":\"vote\",\"id\":1e999999}",
             "{\"type\":\"vote\",\"id\":-1e999999}",
             "{\"type\":\"vote\",\"id\":123456789012345678901234567890123456789}",
             "{\"type\":\"vote\",\"id\":18446744073709551615}",
             "{\"type\":\"vote\",\"id\":-9223372036854775808}",
             "{\"type\":\"vote\",\"id\":0.5}",
             "{\"type\":\"vote\",\"id\":-0}",
             "{\"type\":\"comment\",\"client_id\":1e308,\"text\":\"\"}",
             "{\"type\":\"comment\",\"client_id\":99999999999999999999999,\"text\":12}",
             "{\"type\":\"hello\",\"name\":1e400,\"token\":-1e400}",
         })
      check_error_reply(*v, frame);
    for (const char* type : {"\"approve\"", "\"ban\"", "\"settings\"", "\"air\"", "\"__proto__\"", "\"\"", "null",
                             "[]", "{}", "1e999", "\"welcome\"", "\"comment \""})
      check_error_reply(*v, std::string("{\"type\":") + type + ",\"id\":1}");
    check_still_served(*v);
    // 100,000 '[' is over the frame limit: that is a close, not a parse.
    auto deep = raw_viewer(port);
    deep->send_text(std::string(100000, '['));
    CHECK(deep->wait_close(5000) == 1009);
    bystander.check("deep JSON, numbers, unknown types");
  }
  arena.check_memory("after all of the above");
}

TEST_CASE("hostile input: slowloris headers are timed out, others keep being served", "[hostile][net]") {
  Arena arena;
  const int port = arena.port;
  // Each slow client sends a request line and then dribbles one header byte every
  // 400 ms, forever: it never finishes its headers.
  constexpr int kSlow = 40;
  struct Slow {
    std::unique_ptr<NetStream> s;
    double closed_after_s = -1;
  };
  std::vector<Slow> slow(kSlow);
  const auto t0 = Clock::now();
  for (int i = 0; i < kSlow; ++i) {
    std::string err;
    slow[i].s = NetStream::connect("127.0.0.1", port, false, 5000, &err);
    INFO(err);
    REQUIRE(slow[i].s);
    // Half of them are WebSocket upgrades in the making.
    const std::string start = i % 2 ? "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Slow: "
                                     : "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    REQUIRE(slow[i].s->write_all(start, deadline_in(2000)) == IoStatus::ok);
  }
  std::atomic<bool> dribbling{true};
  std::mutex slow_mu;
  std::thread dribbler([&] {
    while (dribbling) {
      {
        std::lock_guard lk(slow_mu);
        for (auto& one : slow) {
          if (one.closed_after_s >= 0) continue;
          std::string got;
          // A closed connection shows as EOF/error on read, or as a failed write.
          IoStatus r = one.s->read_some(&got, Clock::now(), 4096);
          bool gone = r == IoStatus::eof || r == IoStatus::error;
          if (!gone) gone = one.s->write_all("a", deadline_in(50)) != IoStatus::ok;
          if (gone) one.closed_after_s = std::chrono::duration<double>(Clock::now() - t0).count();
        }
      }
      std::this_thread::sleep_for(400ms);
    }
  });
  // Meanwhile everyone else: the bystander pair, fresh viewers, plain HTTP.
  arena.bystander->start();
  int http_ok = 0, viewers_ok = 0;
  const auto until = t0 + 25s;
  bool all_closed = false;
  while (Clock::now() < until && !all_closed) {
    if (http_get(port, "/api/v1/health").status == 200) ++http_ok;
    {
      WsOptions o;
      o.port = port;
      o.subprotocol = "sabla.viewer.v1";
      auto v = WsClient::connect(o);
      if (v && v->recv_type("welcome", 3000)) ++viewers_ok;
    }
    std::this_thread::sleep_for(300ms);
    std::lock_guard lk(slow_mu);
    all_closed = std::all_of(slow.begin(), slow.end(), [](const Slow& s) { return s.closed_after_s >= 0; });
  }
  dribbling = false;
  dribbler.join();
  arena.bystander->check("during slowloris");
  double last_close = 0;
  int closed = 0;
  for (const auto& one : slow)
    if (one.closed_after_s >= 0) {
      ++closed;
      last_close = std::max(last_close, one.closed_after_s);
    }
  std::printf("hostile: slowloris: %d/%d dribbling connections cut, the last after %.1f s; meanwhile %d health "
              "checks and %d fresh viewers served\n",
              closed, kSlow, last_close, http_ok, viewers_ok);
  CHECK(closed == kSlow);
  CHECK(last_close < 20);  // lws timeout_secs is 10: headers must be complete by then
  CHECK(http_ok >= 10);
  CHECK(viewers_ok >= 10);
  arena.check_memory("after slowloris");
}

TEST_CASE("hostile input: 10,000 rapid reconnects from one address", "[hostile][net]") {
  Arena arena;
  const int port = arena.port;
  arena.bystander->start();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;
  std::atomic<int> upgraded{0}, refused_429{0}, other{0};
  std::mutex err_mu;
  std::string some_error;
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WsOptions o;
        o.port = port;
        o.subprotocol = "sabla.viewer.v1";
        HandshakeResult r = WsClient::try_connect(o);
        if (r.status_code == 101 && r.client) {
          // Alternate the ways a client goes away: close frame, FIN, RST.
          if (i % 3 == 0) r.client->close(1000);
          r.client->abort(/*rst=*/i % 3 == 2);
          ++upgraded;
        } else if (r.status_code == 429) {
          ++refused_429;
        } else {
          ++other;
          std::lock_guard lk(err_mu);
          some_error = "thread " + std::to_string(t) + ": HTTP " + std::to_string(r.status_code) + " " + r.error;
        }
      }
    });
  for (auto& th : threads) th.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  arena.bystander->check("during 10,000 reconnects");
  std::printf("hostile: 10,000 reconnects in %.1f s (%.0f/s): %d upgraded, %d refused with 429, %d other\n", seconds,
              kThreads * kPerThread / seconds, upgraded.load(), refused_429.load(), other.load());
  INFO(some_error);
  CHECK(other == 0);
  CHECK(upgraded + refused_429 == kThreads * kPerThread);
  // At most 4 connections at a time (plus ones still closing) against a limit of 64.
  CHECK(refused_429 == 0);
  CHECK(seconds < 60);

  // Every one of them was counted out again: the address still gets its full quota
  // of 64 connections (the bystander holds 2), and not one more.
  // First let the server see the last of them go: only the bystander viewer stays.
  auto viewers_connected = [&] {
    const std::string body = http_get(port, "/metrics").body;
    const std::string key = "sabla_connections{role=\"viewer\"} ";
    auto at = body.find(key);
    return at == std::string::npos ? -1 : std::atoi(body.c_str() + at + key.size());
  };
  for (auto until = Clock::now() + 10s; viewers_connected() != 1 && Clock::now() < until;)
    std::this_thread::sleep_for(50ms);
  REQUIRE(viewers_connected() == 1);
  std::vector<std::unique_ptr<WsClient>> quota;
  for (int i = 0; i < 62; ++i) quota.push_back(raw_viewer(port));
  WsOptions o;
  o.port = port;
  o.subprotocol = "sabla.viewer.v1";
  CHECK(WsClient::try_connect(o).status_code == 429);
  quota.clear();
  arena.check_memory("after 10,000 reconnects");
}
