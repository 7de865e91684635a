#include "loop.h"

#include <libwebsockets.h>
#include <poll.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <iostream>

namespace sabla::load {

using nlohmann::json;

namespace {

int callback(lws* wsi, enum lws_callback_reasons reason, void* /*user*/, void* in, size_t len) {
  lws_context* context = lws_get_context(wsi);
  auto* loop = context ? static_cast<Loop*>(lws_context_user(context)) : nullptr;
  if (!loop) return 0;
  try {
    return loop->on_callback(wsi, static_cast<int>(reason), in, len);
  } catch (const std::exception& e) {
    std::cerr << "sabla-load: callback " << static_cast<int>(reason) << ": " << e.what() << "\n";
  } catch (...) {
    std::cerr << "sabla-load: callback " << static_cast<int>(reason) << ": unknown exception\n";
  }
  return -1;
}

// One local protocol per server subprotocol, all sharing the callback. The
// server caps frames at 64 KiB, so one receive buffer holds any of them.
constexpr size_t kRxBuffer = 64 * 1024;
constexpr size_t kTxPacket = 16 * 1024;
lws_protocols kProtocols[] = {
    {"sabla.viewer.v1", callback, 0, kRxBuffer, 1, nullptr, kTxPacket},
    {"sabla.studio.v1", callback, 0, kRxBuffer, 2, nullptr, kTxPacket},
    {"sabla.overlay.v1", callback, 0, kRxBuffer, 3, nullptr, kTxPacket},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0}};

constexpr lws_usec_t kHeartbeatUs = 5 * LWS_US_PER_MS;

// No lws validity (ping) timers: lws 4.1 keeps all timers in one sorted list
// and re-inserts a connection's timer on every frame it receives, a walk over
// every connection; with thousands of them that walk was a third of the load
// generator's CPU. Without a policy lws would ping after 300 s anyway.
const lws_retry_bo_t kNoValidityTimers = {nullptr, 0, 0, 0, 0, 0};

}  // namespace

struct Loop::Timer {
  lws_sorted_usec_list_t sul;
  Loop* self = nullptr;
};

long raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit wanted = limit;
    wanted.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &wanted) == 0) limit = wanted;
  }
  return limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<long>(limit.rlim_cur);
}

Loop::Loop(Target target, Handler& handler) : target_(std::move(target)), handler_(handler) {
  ticker_ = std::make_unique<Timer>();
  heartbeat_ = std::make_unique<Timer>();
  for (Timer* t : {ticker_.get(), heartbeat_.get()}) {
    std::memset(&t->sul, 0, sizeof(t->sul));
    t->self = this;
  }
}

Loop::~Loop() {
  if (context_) {
    lws_sul_cancel(&ticker_->sul);
    lws_sul_cancel(&heartbeat_->sul);
    lws_context_destroy(context_);
    context_ = nullptr;
  }
}

bool Loop::init(std::string* error, bool verbose) {
  lws_set_log_level(verbose ? (LLL_ERR | LLL_WARN | LLL_NOTICE) : LLL_ERR, [](int, const char* line) {
    std::string s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    std::cerr << "lws: " << s << "\n";
  });
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof(info));
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = kProtocols;
  info.user = this;
  info.timeout_secs = 20;           // a stuck handshake fails instead of hanging the run
  info.connect_timeout_secs = 20;
  info.count_threads = 1;
  info.retry_and_idle_policy = &kNoValidityTimers;
  context_ = lws_create_context(&info);
  if (!context_) {
    *error = "could not create the libwebsockets context";
    return false;
  }
  schedule_heartbeat();
  return true;
}

void Loop::open(int count, const std::string& subprotocol, int max_connecting, const std::string& authorization) {
  max_connecting_ = std::max(1, max_connecting);
  for (int i = 0; i < count; ++i) {
    auto c = std::make_unique<Conn>();
    c->index = static_cast<int>(conns_.size());
    c->subprotocol = subprotocol;
    c->authorization = authorization;
    conns_.push_back(std::move(c));
  }
  connect_more();
}

void Loop::connect_more() {
  while (connecting_ < max_connecting_ && next_to_connect_ < conns_.size()) {
    Conn& c = *conns_[next_to_connect_++];
    if (c.state != Conn::State::pending) continue;
    start_connect(c);
  }
}

void Loop::start_connect(Conn& conn) {
  lws_client_connect_info info;
  std::memset(&info, 0, sizeof(info));
  info.context = context_;
  info.address = target_.host.c_str();
  info.port = conn.port ? conn.port : target_.port;
  info.path = target_.path.c_str();
  info.host = target_.host.c_str();
  info.origin = nullptr;  // viewers need no Origin; omitting it tests exactly that
  info.protocol = conn.subprotocol.c_str();
  info.local_protocol_name = conn.subprotocol.c_str();
  info.ietf_version_or_minus_one = -1;
  info.opaque_user_data = &conn;
  info.retry_and_idle_policy = &kNoValidityTimers;
  info.pwsi = &conn.wsi;
  conn.state = Conn::State::connecting;
  conn.handshaking = true;
  conn.connect_started = SteadyClock::now();
  ++connecting_;
  lws* wsi = lws_client_connect_via_info(&info);
  if (!wsi && conn.handshaking) {
    // Failed synchronously without a CONNECTION_ERROR callback.
    conn.handshaking = false;
    --connecting_;
    ++settled_;
    ++counters_.connect_failures;
    conn.state = Conn::State::failed;
    if (conn.error.empty()) conn.error = "connect failed";
    handler_.on_closed(conn);
  }
}

void Loop::send(Conn& conn, std::string text, uint64_t tag) {
  if (conn.state != Conn::State::open || !conn.wsi) return;
  conn.outq.push_back(Conn::Outgoing{std::move(text), tag});
  if (conn.outq.size() == 1) lws_callback_on_writable(conn.wsi);
}

std::deque<Conn::Outgoing> Loop::take_queue(Conn& conn) {
  std::deque<Conn::Outgoing> q;
  q.swap(conn.outq);
  return q;
}

void Loop::close(Conn& conn) {
  switch (conn.state) {
    case Conn::State::pending:
      conn.state = Conn::State::closed;
      ++settled_;
      break;
    case Conn::State::connecting:
      conn.state = Conn::State::closing;  // closed as soon as it opens
      break;
    case Conn::State::open:
      conn.state = Conn::State::closing;
      conn.outq.clear();
      if (conn.wsi) lws_callback_on_writable(conn.wsi);
      break;
    default:
      break;
  }
}

void Loop::close_all() {
  for (auto& c : conns_) close(*c);
}

int Loop::open_count() const {
  return static_cast<int>(
      std::count_if(conns_.begin(), conns_.end(), [](const auto& c) { return c->state == Conn::State::open; }));
}

bool Loop::run_until(const std::function<bool()>& done, TimePoint deadline) {
  while (!done()) {
    if (SteadyClock::now() >= deadline) return false;
    const uint64_t before = activity_;
    if (lws_service(context_, 0) < 0) return done();
    if (activity_ == before) idle_wait();
  }
  return true;
}

// lws computes its poll timeout in whole milliseconds, rounded down: in the
// last millisecond before a timer it polls with timeout 0, again and again.
// With a 1 ms pacing tick that is a busy loop (measured: ~7,500 empty polls
// a second, a third of a core in the kernel, on a box the server shares).
// When a pass did nothing and one of our timers is that close, wait for it
// here instead, with sub-millisecond precision, waking at once on socket
// activity so no reply is read late.
void Loop::idle_wait() {
  TimePoint next = heartbeat_due_;
  if (ticking_) next = std::min(next, ticker_due_);
  const TimePoint now = SteadyClock::now();
  if (next <= now || next - now > std::chrono::milliseconds(1)) return;
  pollfds_.clear();
  for (const auto& c : conns_) {
    if (!c->wsi || c->state == Conn::State::pending || c->state == Conn::State::closed ||
        c->state == Conn::State::failed)
      continue;
    const int fd = lws_get_socket_fd(c->wsi);
    if (fd < 0) continue;
    short events = POLLIN;
    if (c->handshaking || !c->outq.empty() || lws_partial_buffered(c->wsi)) events |= POLLOUT;
    pollfds_.push_back(pollfd{fd, events, 0});
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(next - now).count();
  const timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  ppoll(pollfds_.data(), pollfds_.size(), &ts, nullptr);
}

// lws_service returns at least every kHeartbeat, so deadlines are seen in
// time even when no socket has anything to say. The timer only re-arms from
// its own callback, after it fired. (A one-shot wake timer moved from one
// deadline to the next was tried first; once, with lws 4.1.6, a run stayed in
// lws_service until the earlier deadline. The heartbeat leaves no room for that.)
void Loop::schedule_heartbeat() {
  heartbeat_due_ = SteadyClock::now() + std::chrono::microseconds(kHeartbeatUs);
  lws_sul_schedule(context_, 0, &heartbeat_->sul,
                   [](lws_sorted_usec_list_t* sul) {
                     Loop* self = lws_container_of(sul, Timer, sul)->self;
                     ++self->activity_;
                     self->schedule_heartbeat();
                   },
                   kHeartbeatUs);
}

void Loop::start_ticker(std::chrono::microseconds period, std::function<void()> fn) {
  tick_period_ = period;
  tick_fn_ = std::move(fn);
  ticking_ = true;
  schedule_ticker();
}

void Loop::stop_ticker() {
  ticking_ = false;
  lws_sul_cancel(&ticker_->sul);
}

void Loop::schedule_ticker() {
  ticker_due_ = SteadyClock::now() + tick_period_;
  lws_sul_schedule(context_, 0, &ticker_->sul,
                   [](lws_sorted_usec_list_t* sul) {
                     Loop* self = lws_container_of(sul, Timer, sul)->self;
                     ++self->activity_;
                     if (!self->ticking_) return;
                     self->tick_fn_();
                     if (self->ticking_) self->schedule_ticker();
                   },
                   static_cast<lws_usec_t>(tick_period_.count()));
}

void Loop::deliver(Conn& conn, std::string_view frame) {
  ++counters_.frames_in;
  counters_.bytes_in += frame.size();
  if (handler_.on_raw(conn, frame)) return;
  json msg = json::parse(frame, nullptr, /*allow_exceptions=*/false);
  if (msg.is_discarded() || !msg.is_object()) {
    ++counters_.bad_frames;
    return;
  }
  auto type = msg.find("type");
  if (type != msg.end() && type->is_string() && *type == "batch") {
    auto items = msg.find("items");
    if (items == msg.end() || !items->is_array()) {
      ++counters_.bad_frames;
      return;
    }
    for (const json& item : *items) {
      if (!item.is_object()) {
        ++counters_.bad_frames;
        continue;
      }
      handler_.on_message(conn, item);
    }
    return;
  }
  handler_.on_message(conn, msg);
}

int Loop::write_one(Conn& conn) {
  if (conn.state == Conn::State::closing) {
    static const char kBye[] = "done";
    lws_close_reason(conn.wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char*)kBye, sizeof(kBye) - 1);
    return -1;
  }
  if (conn.state != Conn::State::open || conn.outq.empty()) return 0;
  Conn::Outgoing& out = conn.outq.front();
  const size_t n = out.text.size();
  if (scratch_.size() < LWS_PRE + n) scratch_.resize(LWS_PRE + n);
  std::memcpy(scratch_.data() + LWS_PRE, out.text.data(), n);
  const TimePoint at = SteadyClock::now();
  const int written = lws_write(conn.wsi, scratch_.data() + LWS_PRE, n, LWS_WRITE_TEXT);
  if (written < static_cast<int>(n)) {
    conn.error = "lws_write failed";
    return -1;
  }
  const uint64_t tag = out.tag;
  conn.outq.pop_front();
  ++counters_.frames_out;
  counters_.bytes_out += n;
  handler_.on_sent(conn, tag, at);
  if (!conn.outq.empty() && conn.state == Conn::State::open) lws_callback_on_writable(conn.wsi);
  return 0;
}

int Loop::on_callback(lws* wsi, int reason, void* in, size_t len) {
  auto* conn = static_cast<Conn*>(lws_get_opaque_user_data(wsi));
  if (!conn) return 0;
  ++activity_;
  switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
      conn->wsi = wsi;
      if (conn->handshaking) {
        conn->handshaking = false;
        --connecting_;
        ++settled_;
      }
      conn->opened_at = SteadyClock::now();
      if (conn->state == Conn::State::closing) {
        lws_callback_on_writable(wsi);  // close() came while connecting
      } else {
        conn->state = Conn::State::open;
        handler_.on_open(*conn);
      }
      connect_more();
      return 0;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      if (!conn->handshaking) return 0;  // already accounted for
      conn->handshaking = false;
      --connecting_;
      ++settled_;
      ++counters_.connect_failures;
      conn->state = Conn::State::failed;
      conn->wsi = nullptr;
      conn->error = in && len ? std::string(static_cast<const char*>(in), len)
                              : in ? std::string(static_cast<const char*>(in)) : "connection error";
      handler_.on_closed(*conn);
      connect_more();
      return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE: {
      conn->rx.append(static_cast<const char*>(in), len);
      if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return 0;
      std::string frame;
      frame.swap(conn->rx);
      if (lws_frame_is_binary(wsi)) {
        ++counters_.bad_frames;
        return 0;
      }
      deliver(*conn, frame);
      return 0;
    }
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      if (conn->authorization.empty()) return 0;
      auto** p = static_cast<unsigned char**>(in);
      unsigned char* end = *p + len;
      const auto* value = reinterpret_cast<const unsigned char*>(conn->authorization.data());
      if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, value,
                                       static_cast<int>(conn->authorization.size()), p, end))
        return -1;
      return 0;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      return write_one(*conn);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      const auto* p = static_cast<const unsigned char*>(in);
      if (p && len >= 2) {
        conn->close_code = (p[0] << 8) | p[1];
        conn->error = "closed by the server (" + std::to_string(conn->close_code) + ")";
        if (len > 2) conn->error += ": " + std::string(reinterpret_cast<const char*>(p + 2), len - 2);
      }
      return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED: {
      conn->wsi = nullptr;
      if (conn->handshaking) {  // closed before the upgrade completed
        conn->handshaking = false;
        --connecting_;
        ++settled_;
        ++counters_.connect_failures;
        conn->state = Conn::State::failed;
        if (conn->error.empty()) conn->error = "closed during the handshake";
        handler_.on_closed(*conn);
        connect_more();
        return 0;
      }
      if (conn->state == Conn::State::open) {
        ++counters_.unexpected_closes;
        if (conn->error.empty()) conn->error = "connection closed";
      }
      conn->state = Conn::State::closed;
      conn->outq.clear();
      handler_.on_closed(*conn);
      return 0;
    }
    default:
      return 0;
  }
}

}  // namespace sabla::load
