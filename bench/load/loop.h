// The connection machinery shared by every sabla-load scenario: one
// libwebsockets client context, many WebSocket connections, one service
// thread (the caller's). Scenarios plug in through Handler and drive the
// connections with send()/close() and a periodic ticker.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

struct lws;
struct lws_context;

namespace sabla::load {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

struct Target {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/ws";
};

struct Conn {
  enum class State { pending, connecting, open, closing, closed, failed };

  struct Outgoing {
    std::string text;
    uint64_t tag = 0;  // handed back to Handler::on_sent
  };

  int index = 0;  // position in Loop::conns()
  int port = 0;   // 0: the target's (a cluster run spreads viewers over the edges' ports)
  lws* wsi = nullptr;
  State state = State::pending;
  bool handshaking = false;  // counted in Loop's connecting_ until it opens or fails
  std::string subprotocol;
  std::string authorization;  // sent as the Authorization header of the handshake, if set
  std::deque<Outgoing> outq;  // not yet handed to lws_write
  std::string rx;             // fragments of the message being received
  int close_code = 0;         // from the peer's close frame, if any
  std::string error;          // why it failed or was closed by the peer
  TimePoint connect_started{};
  TimePoint opened_at{};
};

// Scenario callbacks; all run on the service thread.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual void on_open(Conn&) {}
  // One message (items of a {"type":"batch"} frame arrive one by one, in order).
  virtual void on_message(Conn&, const nlohmann::json& msg) = 0;
  // Sees every complete text frame first; returning true skips the JSON
  // parse and on_message. Scenarios that receive far more frames than they
  // send (fanout) scan frames here so the load generator's own parsing does
  // not eat the CPU the server is being measured with.
  virtual bool on_raw(Conn&, std::string_view /*frame*/) { return false; }
  // `at` was taken right before lws_write for the frame tagged `tag`.
  virtual void on_sent(Conn&, uint64_t /*tag*/, TimePoint /*at*/) {}
  // The connection could not be opened (state failed) or is gone (closed).
  virtual void on_closed(Conn&) {}
};

struct LoopCounters {
  uint64_t connect_failures = 0;
  uint64_t unexpected_closes = 0;  // closed while we did not ask for it
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t bad_frames = 0;  // not JSON, or not an object
};

class Loop {
 public:
  Loop(Target target, Handler& handler);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Creates the lws context. `verbose` lets lws warnings and notices through.
  bool init(std::string* error, bool verbose = false);

  // Adds `count` connections speaking `subprotocol`; they connect while the
  // loop runs, at most `max_connecting` handshakes at a time.
  void open(int count, const std::string& subprotocol, int max_connecting = 64,
            const std::string& authorization = {});

  // Queues a text frame; it is written when the socket is writable.
  void send(Conn& conn, std::string text, uint64_t tag = 0);
  // Drops frames not yet written; returns them (tags) so callers can account.
  std::deque<Conn::Outgoing> take_queue(Conn& conn);
  // Starts a clean close (1000). Pending writes are dropped.
  void close(Conn& conn);
  void close_all();

  // Services the context until `done()` or `deadline`; returns done().
  bool run_until(const std::function<bool()>& done, TimePoint deadline);

  // Calls `fn` every `period` while the loop runs, until stop_ticker().
  void start_ticker(std::chrono::microseconds period, std::function<void()> fn);
  void stop_ticker();

  std::vector<std::unique_ptr<Conn>>& conns() { return conns_; }
  const LoopCounters& counters() const { return counters_; }
  // Connections neither pending nor connecting (opened, failed or closed).
  int settled() const { return settled_; }
  int open_count() const;

  // For the lws callback only.
  int on_callback(lws* wsi, int reason, void* in, size_t len);

 private:
  struct Timer;
  void connect_more();
  void start_connect(Conn& conn);
  void deliver(Conn& conn, std::string_view frame);
  int write_one(Conn& conn);
  void schedule_ticker();
  void schedule_heartbeat();
  void idle_wait();

  Target target_;
  Handler& handler_;
  lws_context* context_ = nullptr;
  std::vector<std::unique_ptr<Conn>> conns_;
  size_t next_to_connect_ = 0;
  int connecting_ = 0;
  int max_connecting_ = 64;
  int settled_ = 0;
  LoopCounters counters_;
  std::vector<unsigned char> scratch_;
  std::unique_ptr<Timer> ticker_;
  std::unique_ptr<Timer> heartbeat_;
  std::chrono::microseconds tick_period_{1000};
  std::function<void()> tick_fn_;
  bool ticking_ = false;
  TimePoint heartbeat_due_{};
  TimePoint ticker_due_{};
  uint64_t activity_ = 0;  // callbacks and timer firings; a pass without any was idle
  std::vector<pollfd> pollfds_;
};

// Raises RLIMIT_NOFILE to its hard limit; returns the new soft limit.
long raise_fd_limit();

}  // namespace sabla::load
