#include "net/net_server.h"

#include <libwebsockets.h>
#include <strings.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <list>
#include <sstream>

#include <spdlog/spdlog.h>

#include "archive/export.h"
#include "archive/queries.h"
#include "common/crypto.h"
#include "moderation/text.h"
#include "protocol/messages.h"

namespace sabla::net {

using moderation::Actor;
using moderation::Audience;
using moderation::ConnId;
using moderation::Verdict;
using nlohmann::json;

namespace {

enum Role : int { kViewer = 1, kStudio = 2, kOverlay = 3 };

constexpr size_t kMaxDirectFrames = 4096;     // per connection; beyond it the client is culled
constexpr size_t kMaxBatchBytes = 32 * 1024;  // one coalesced viewer frame
constexpr size_t kMaxHttpBody = 64 * 1024;
constexpr size_t kMaxParkedFrames = 8;
// Frames per message. Browsers never fragment; a flood of tiny or empty
// continuation frames costs a callback each and would never reach the size limit.
constexpr size_t kMaxFragments = 4096;
// The rest of an oversized frame up to this size is read and dropped before the
// 1009 goes out: closing with unread bytes makes the kernel send a reset, which
// can destroy the close frame before the client reads it. Beyond it (a client
// declaring gigabytes) the connection is failed at once.
constexpr size_t kMaxDrainBytes = 1024 * 1024;
constexpr const char* kSecurityHeaders =
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'; "
    "form-action 'self'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "X-Frame-Options: SAMEORIGIN\r\n"
    "Cache-Control: no-cache\r\n";

int http_callback(lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len);
template <int R>
int ws_callback(lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len);

struct WsPss {
  NetServer::Conn* conn;
};

// Performance (bench/README.md, hold): lws allocates rx_buffer_size bytes per
// connection when it opens. At 16 KiB for viewers every connection touched at
// least one page of its own for it (8.6 KiB RSS per idle viewer, measured
// with 6,000). Viewers send small frames (a typical comment is well under
// 1 KiB); longer ones, up to max_frame_bytes, are reassembled from several
// RECEIVE callbacks as before.
constexpr size_t kViewerRxBuffer = 1024;

lws_protocols kProtocols[] = {
    {"http", http_callback, 0, 0, 0, nullptr, 0},
    {protocol::kViewerProtocol, ws_callback<kViewer>, sizeof(WsPss), kViewerRxBuffer, kViewer, nullptr, 64 * 1024},
    {protocol::kStudioProtocol, ws_callback<kStudio>, sizeof(WsPss), 16 * 1024, kStudio, nullptr, 64 * 1024},
    {protocol::kOverlayProtocol, ws_callback<kOverlay>, sizeof(WsPss), 4 * 1024, kOverlay, nullptr, 64 * 1024},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0}};

// Performance (bench/README.md, hold): no lws validity timers. lws 4.1 keeps
// every timer of the loop in one sorted linked list; a ping/hang-up policy
// gives each connection a timer that is re-inserted (a walk of the list, i.e.
// of every connection) on its open and on every frame it sends. With 6,000
// viewers that walk was 21 % of the server's CPU while they connected, and it
// made connecting N viewers cost O(N^2). Both zero: lws schedules none (the
// context's default would otherwise ping after 300 s). Dead peers are found
// by TCP keepalive instead (kernel timers, see kKeepalive* below): the same
// 60 s to notice a vanished client.
const lws_retry_bo_t kIdlePolicy = {nullptr, 0, 0, /*ping after*/ 0, /*hang up after*/ 0, 0};
constexpr int kKeepaliveIdleS = 30;
constexpr int kKeepaliveIntervalS = 10;
constexpr int kKeepaliveProbes = 3;

NetServer* server_of(lws* wsi) {
  return static_cast<NetServer*>(lws_context_user(lws_get_context(wsi)));
}

// No exception may cross into C: this is the one boundary for lws.
int http_callback(lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len) {
  NetServer* self = server_of(wsi);
  if (!self) return lws_callback_http_dummy(wsi, reason, user, in, len);
  try {
    return self->on_http(wsi, reason, user, in, len);
  } catch (const std::exception& e) {
    spdlog::error("http callback {}: {}", static_cast<int>(reason), e.what());
  } catch (...) {
    spdlog::error("http callback {}: unknown exception", static_cast<int>(reason));
  }
  return -1;
}

template <int R>
int ws_callback(lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len) {
  NetServer* self = server_of(wsi);
  if (!self) return 0;
  try {
    return self->on_ws(wsi, R, reason, user, in, len);
  } catch (const std::exception& e) {
    spdlog::error("ws callback {}: {}", static_cast<int>(reason), e.what());
  } catch (...) {
    spdlog::error("ws callback {}: unknown exception", static_cast<int>(reason));
  }
  return -1;
}

std::string header(lws* wsi, enum lws_token_indexes h) {
  int n = lws_hdr_total_length(wsi, h);
  if (n <= 0) return {};
  std::string s(static_cast<size_t>(n) + 1, '\0');
  int got = lws_hdr_copy(wsi, s.data(), n + 1, h);
  if (got < 0) return {};
  s.resize(static_cast<size_t>(got));
  return s;
}

std::string mime_for(const std::string& path) {
  auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".m3u8") return "application/vnd.apple.mpegurl";
  if (ext == ".ts") return "video/mp2t";
  return "application/octet-stream";
}

bool safe_relative_path(const std::string& p) {
  if (p.empty() || p.size() > 200 || p.find("..") != std::string::npos || p.find("//") != std::string::npos)
    return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_' || c == '/';
  });
}

bool is_loopback(const std::string& ip) { return ip.rfind("127.", 0) == 0 || ip == "::1"; }

std::optional<int64_t> parse_id(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

json error_body(const char* code, const std::string& message) {
  return json{{"error", {{"code", code}, {"message", message}}}};
}

}  // namespace

// ------------------------------------------------------------------ types

struct NetServer::Conn {
  ConnId id = 0;
  lws* wsi = nullptr;
  int role = 0;
  std::string ip;
  // Performance (bench/README.md, hold): lists, not deques. A libstdc++
  // deque allocates ~600 bytes as soon as it exists; most viewers get only
  // their welcome here and never park a frame, so per idle connection the two
  // deques were ~1.2 KiB of the 4 KiB budget.
  std::list<std::string> direct;
  uint64_t ring_seq = 0;
  std::string rx;
  size_t rx_frames = 0;  // frames of the message in rx so far
  bool draining = false;  // reading the rest of an oversized frame, to fail cleanly after it
  std::list<std::string> parked;
  int close_code = 0;
  std::string close_reason;
};

struct NetServer::HttpTxn {
  uint64_t id = 0;
  lws* wsi = nullptr;
  std::string method;
  std::string path;
  std::string body;
  bool body_too_large = false;
  std::string ip;
  bool ready = false;
  bool headers_sent = false;
  int status = 0;
  std::string content_type;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> headers;
  // A streamed download (exports): chunks are pulled one per writable, so a
  // million-row export never sits in memory.
  std::unique_ptr<archive::Exporter> exporter;
};

// Viewer- and overlay-bound frames: appended once, read by every client with
// its own tail (ring_seq). A client whose tail fell off the start is culled.
struct NetServer::Ring {
  explicit Ring(size_t cap) : capacity(cap) {}
  std::deque<std::string> items;
  uint64_t base = 0;
  size_t capacity;
  uint64_t end() const { return base + items.size(); }
  void push(std::string frame) {
    items.push_back(std::move(frame));
    while (items.size() > capacity) {
      items.pop_front();
      ++base;
    }
  }
};

struct NetServer::Timer {
  lws_sorted_usec_list_t sul;
  NetServer* self;
};

// ------------------------------------------------------------------ life cycle

NetServer::NetServer(const Config& config, store::Store& store, const Clock& clock)
    : config_(config), store_(store), clock_(clock) {
  viewer_ring_ = std::make_unique<Ring>(static_cast<size_t>(std::max(16, config.viewer_backlog)));
  overlay_ring_ = std::make_unique<Ring>(256);
  auth_worker_ = std::make_unique<Worker>(64);
  reader_worker_ = std::make_unique<Worker>(32);
  tick_timer_ = std::make_unique<Timer>();
  std::memset(&tick_timer_->sul, 0, sizeof(tick_timer_->sul));
  tick_timer_->self = this;
}

NetServer::~NetServer() {
  if (context_) {
    lws_sul_cancel(&tick_timer_->sul);
    lws_context_destroy(context_);
    context_ = nullptr;
  }
  for (auto& [id, c] : conns_) delete c;
  conns_.clear();
}

Status NetServer::start(moderation::Room* room) {
  room_ = room;
  static_dir_ = config_.static_dir.empty() ? std::string(SABLA_DEFAULT_STATIC_DIR) : config_.static_dir;
  if (!std::filesystem::is_directory(static_dir_))
    return Status::error("config", "static directory not found: " + static_dir_);
  lws_set_log_level(LLL_ERR, [](int level, const char* line) {
    std::string s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (level & LLL_ERR) spdlog::error("lws: {}", s);
    else spdlog::debug("lws: {}", s);
  });
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof(info));
  info.port = config_.port;
  info.iface = (config_.bind.empty() || config_.bind == "0.0.0.0" || config_.bind == "::") ? nullptr : config_.bind.c_str();
  info.protocols = kProtocols;
  info.user = this;
  info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE * 0;
  if (config_.bind.find(':') == std::string::npos && !config_.bind.empty() && config_.bind != "0.0.0.0")
    info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  info.timeout_secs = 10;  // slow headers (slowloris) are dropped
  info.retry_and_idle_policy = &kIdlePolicy;
  info.ka_time = kKeepaliveIdleS;
  info.ka_interval = kKeepaliveIntervalS;
  info.ka_probes = kKeepaliveProbes;
  info.max_http_header_data = 8192;
  info.count_threads = 1;
  if (!config_.tls_cert.empty() || !config_.tls_key.empty()) {
    if (config_.tls_cert.empty() || config_.tls_key.empty())
      return Status::error("config", "TLS needs both --tls-cert and --tls-key");
    if (!std::filesystem::exists(config_.tls_cert)) return Status::error("config", "TLS certificate not found: " + config_.tls_cert);
    if (!std::filesystem::exists(config_.tls_key)) return Status::error("config", "TLS key not found: " + config_.tls_key);
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = config_.tls_cert.c_str();
    info.ssl_private_key_filepath = config_.tls_key.c_str();
  }
  context_ = lws_create_context(&info);
  if (!context_) return Status::error("bind", "could not start listening on " + config_.bind + ":" + std::to_string(config_.port) + " (port in use, or bad TLS files?)");
  vhost_ = lws_get_vhost_by_name(context_, "default");
  port_ = vhost_ ? lws_get_vhost_listen_port(vhost_) : config_.port;
  if (port_ <= 0) return Status::error("bind", "could not find the listening port");
  lws_sul_schedule(context_, 0, &tick_timer_->sul,
                   [](lws_sorted_usec_list_t* sul) {
                     auto* t = lws_container_of(sul, Timer, sul);
                     try {
                       t->self->on_tick();
                     } catch (const std::exception& e) {
                       spdlog::error("tick: {}", e.what());
                     }
                   },
                   static_cast<lws_usec_t>(config_.fanout_tick_ms) * LWS_US_PER_MS);
  return Status::ok();
}

void NetServer::run() {
  // lws_service() can fail transiently (e.g. its poll() interrupted by a
  // signal another library's thread provoked); only a persistent failure ends
  // the loop, so a stray signal never takes the server down.
  int failures = 0;
  while (!stopping_.load()) {
    if (lws_service(context_, 0) >= 0) {
      failures = 0;
      continue;
    }
    if (++failures == 1) spdlog::warn("lws_service failed; retrying");
    if (failures >= 100) {
      spdlog::error("lws_service keeps failing; the network loop stops");
      break;
    }
  }
}

void NetServer::post(std::function<void()> task) {
  bool was_empty = false;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(task));
  }
  // Only the first task of a burst needs to wake the loop: the drain takes all.
  if (was_empty && context_) lws_cancel_service(context_);
}

void NetServer::stop() {
  stopping_.store(true);
  if (context_) lws_cancel_service(context_);
}

void NetServer::run_posted() { drain_posted(); }

void NetServer::drain_posted() {
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    tasks.swap(posted_);
  }
  for (auto& t : tasks) {
    try {
      t();
    } catch (const std::exception& e) {
      spdlog::error("posted task: {}", e.what());
    }
  }
  if (!tasks.empty()) retry_parked();
}

void NetServer::on_tick() {
  room_->tick();
  if (viewer_ring_dirty_) {
    viewer_ring_dirty_ = false;
    lws_callback_on_writable_all_protocol(context_, &kProtocols[kViewer]);
  }
  retry_parked();
  // Expired cached credentials are dropped so a logout or expiry is seen.
  const int64_t now = clock_.now_ms();
  for (auto it = auth_cache_.begin(); it != auth_cache_.end();) {
    if (it->second.expires_at_ms <= now) it = auth_cache_.erase(it);
    else ++it;
  }
  if (login_buckets_.size() > 10000) login_buckets_.clear();
  lws_sul_schedule(context_, 0, &tick_timer_->sul,
                   [](lws_sorted_usec_list_t* sul) {
                     auto* t = lws_container_of(sul, Timer, sul);
                     try {
                       t->self->on_tick();
                     } catch (const std::exception& e) {
                       spdlog::error("tick: {}", e.what());
                     }
                   },
                   static_cast<lws_usec_t>(config_.fanout_tick_ms) * LWS_US_PER_MS);
}

std::string NetServer::peer_ip(lws* wsi) {
  char buf[64] = {0};
  lws_get_peer_simple(wsi, buf, sizeof(buf));
  std::string ip(buf);
  if (ip.rfind("::ffff:", 0) == 0) ip = ip.substr(7);
  return ip;
}

// ------------------------------------------------------------------ Outbound

void NetServer::send(ConnId id, std::string frame) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;  // gone meanwhile: nothing to deliver
  Conn* c = it->second;
  if (c->direct.size() >= kMaxDirectFrames) {
    close(id, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too slow");
    return;
  }
  c->direct.push_back(std::move(frame));
  frames_out_++;
  lws_callback_on_writable(c->wsi);
}

void NetServer::publish(Audience audience, std::string frame) {
  switch (audience) {
    case Audience::viewers:
      viewer_ring_->push(std::move(frame));
      viewer_ring_dirty_ = true;  // delivered, coalesced, on the next tick
      break;
    case Audience::overlays:
      overlay_ring_->push(std::move(frame));
      lws_callback_on_writable_all_protocol(context_, &kProtocols[kOverlay]);
      break;
    case Audience::studios:
      for (ConnId id : studio_conns_) send(id, frame);
      break;
  }
}

void NetServer::flush(Audience audience) {
  if (audience != Audience::viewers || !viewer_ring_dirty_) return;
  viewer_ring_dirty_ = false;
  lws_callback_on_writable_all_protocol(context_, &kProtocols[kViewer]);
}

void NetServer::close(ConnId id, int code, std::string reason) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  it->second->close_code = code;
  it->second->close_reason = std::move(reason);
  lws_callback_on_writable(it->second->wsi);
}

// ------------------------------------------------------------------ WebSocket

int NetServer::on_ws(lws* wsi, int role, int reason, void* user, void* in, size_t len) {
  auto* pss = static_cast<WsPss*>(user);
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
      forget_txn(wsi);
      auto* c = new Conn();
      c->id = next_conn_id_++;
      c->wsi = wsi;
      c->role = role;
      c->ip = peer_ip(wsi);
      pss->conn = c;
      conns_[c->id] = c;
      if (role == kStudio) studio_conns_.insert(c->id);
      ws_per_ip_[c->ip]++;
      if (role == kViewer) {
        c->ring_seq = viewer_ring_->end();
        room_->viewer_connected(c->id, c->ip);
      } else if (role == kOverlay) {
        c->ring_seq = overlay_ring_->end();
        room_->overlay_connected(c->id);
      } else {
        auto a = upgrade_actor_.find(wsi);
        if (a == upgrade_actor_.end()) return -1;  // never authenticated: cannot happen past CONFIRM_UPGRADE
        Actor actor = a->second;
        upgrade_actor_.erase(a);
        room_->studio_connected(c->id, actor);
      }
      return 0;
    }
    case LWS_CALLBACK_CLOSED: {
      upgrade_actor_.erase(wsi);
      Conn* c = pss ? pss->conn : nullptr;
      if (!c) return 0;
      pss->conn = nullptr;
      if (role == kViewer) room_->viewer_disconnected(c->id);
      else if (role == kStudio) room_->studio_disconnected(c->id);
      else room_->overlay_disconnected(c->id);
      if (--ws_per_ip_[c->ip] <= 0) ws_per_ip_.erase(c->ip);
      conns_.erase(c->id);
      studio_conns_.erase(c->id);
      parked_.erase(std::remove(parked_.begin(), parked_.end(), c->id), parked_.end());
      delete c;
      return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
      Conn* c = pss ? pss->conn : nullptr;
      if (!c) return -1;
      if (lws_frame_is_binary(wsi)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, (unsigned char*)"text frames only", 16);
        return -1;
      }
      const size_t remaining = lws_remaining_packet_payload(wsi);
      auto too_large = [&] {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char*)"frame too large", 15);
        return -1;
      };
      if (c->draining) return remaining > 0 ? 0 : too_large();
      if (c->rx.size() + len + remaining > static_cast<size_t>(config_.max_frame_bytes)) {
        c->rx.clear();
        if (remaining == 0 || remaining > kMaxDrainBytes) return too_large();
        c->draining = true;
        return 0;
      }
      c->rx.append(static_cast<const char*>(in), len);
      if (lws_remaining_packet_payload(wsi) == 0 && ++c->rx_frames > kMaxFragments) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char*)"too many fragments", 18);
        return -1;
      }
      if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return 0;
      c->rx_frames = 0;
      std::string frame;
      frame.swap(c->rx);
      frames_in_++;
      // lws validates UTF-8 per frame too; this also covers whole messages.
      if (!moderation::is_valid_utf8(frame)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD, (unsigned char*)"invalid UTF-8", 13);
        return -1;
      }
      if (role == kOverlay) {
        send(c->id, protocol::error_frame(protocol::code::kInvalid, "the overlay protocol is read-only"));
        return 0;
      }
      if (!c->parked.empty()) {
        if (c->parked.size() >= kMaxParkedFrames) {
          lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char*)"flooding", 8);
          return -1;
        }
        c->parked.push_back(std::move(frame));
        return 0;
      }
      Verdict v = role == kViewer ? room_->viewer_message(c->id, frame) : room_->studio_message(c->id, frame);
      if (v == Verdict::busy) {
        c->parked.push_back(std::move(frame));
        parked_.push_back(c->id);
        lws_rx_flow_control(wsi, 0);  // the store is behind: stop reading this socket
      }
      return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
      Conn* c = pss ? pss->conn : nullptr;
      if (!c) return -1;
      // A close reason is set once the connection is being failed (by lws, e.g. for
      // RSV bits, or by us): its close frame is out or going out, and RFC 6455
      // 5.5.1 forbids data frames after it. lws 4.1 would still send what we write.
      if (lws_get_close_length(wsi) > 0) return 0;
      return write_ws(wsi, c);
    }
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      // lws 4.1 echoes the peer's close payload. It turns the reserved codes below
      // 3000 into 1002 in place; codes above 4999 (none is defined, RFC 6455 7.4)
      // get the same treatment here. A 1-byte payload is no valid close frame at
      // all (5.5.1) and would be echoed as one: fail with our own 1002 instead.
      auto* payload = static_cast<unsigned char*>(in);
      if (len >= 2 && ((payload[0] << 8) | payload[1]) >= 5000) {
        payload[0] = LWS_CLOSE_STATUS_PROTOCOL_ERR >> 8;
        payload[1] = LWS_CLOSE_STATUS_PROTOCOL_ERR & 0xFF;
      } else if (len == 1) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char*)"invalid close frame", 19);
        return -1;
      }
      return 0;
    }
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      return 0;  // handled once, by the http protocol
    default:
      return 0;
  }
}

void NetServer::retry_parked() {
  size_t rounds = parked_.size();
  while (rounds-- > 0 && !parked_.empty()) {
    if (!store_.can_accept(4)) return;
    ConnId id = parked_.front();
    parked_.pop_front();
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn* c = it->second;
    while (!c->parked.empty()) {
      std::string frame = c->parked.front();
      Verdict v = c->role == kViewer ? room_->viewer_message(c->id, frame) : room_->studio_message(c->id, frame);
      if (v == Verdict::busy) break;
      c->parked.pop_front();
    }
    if (c->parked.empty()) lws_rx_flow_control(c->wsi, 1);
    else parked_.push_back(id);
  }
}

int NetServer::write_ws(lws* wsi, Conn* c) {
  if (c->close_code) {
    lws_close_reason(wsi, static_cast<lws_close_status>(c->close_code), (unsigned char*)c->close_reason.data(),
                     c->close_reason.size());
    return -1;
  }
  // Performance (bench/README.md, fanout): a ring frame is written straight
  // from the ring, and a batch is built once per tick for every viewer that
  // is at the same place (all of them, normally), not once per viewer.
  std::string direct;
  const std::string* out = &direct;
  if (!c->direct.empty()) {
    direct = std::move(c->direct.front());
    c->direct.pop_front();
  } else {
    Ring* ring = c->role == kViewer ? viewer_ring_.get() : c->role == kOverlay ? overlay_ring_.get() : nullptr;
    if (!ring || c->ring_seq >= ring->end()) return 0;
    if (c->ring_seq < ring->base) {
      culled_++;
      lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char*)"too slow", 8);
      return -1;
    }
    // Everything this client has not seen yet goes in one frame: cost
    // follows viewers x ticks, not viewers x messages.
    size_t first = static_cast<size_t>(c->ring_seq - ring->base);
    size_t last = first;
    size_t bytes = 0;
    while (last < ring->items.size() && (last == first || bytes + ring->items[last].size() < kMaxBatchBytes)) {
      bytes += ring->items[last].size() + 1;
      ++last;
    }
    const uint64_t from_seq = c->ring_seq;
    const uint64_t to_seq = ring->base + last;
    if (last - first == 1) {
      out = &ring->items[first];
    } else {
      // Ring items never change once pushed, so (ring, from, to) names one batch.
      if (batch_ring_ != ring || batch_from_ != from_seq || batch_to_ != to_seq) {
        batch_.clear();
        batch_.reserve(bytes + 32);
        batch_ = "{\"type\":\"batch\",\"items\":[";
        for (size_t i = first; i < last; ++i) {
          if (i > first) batch_ += ',';
          batch_ += ring->items[i];
        }
        batch_ += "]}";
        batch_ring_ = ring;
        batch_from_ = from_seq;
        batch_to_ = to_seq;
      }
      out = &batch_;
    }
    c->ring_seq = to_seq;
  }
  // One buffer for every write, not an allocation per delivered frame
  // (lws_write copies what it cannot send at once).
  auto write_text = [&](const std::string& text) {
    if (write_buf_.size() < LWS_PRE + text.size()) write_buf_.resize(LWS_PRE + text.size());
    std::memcpy(write_buf_.data() + LWS_PRE, text.data(), text.size());
    return lws_write(wsi, write_buf_.data() + LWS_PRE, text.size(), LWS_WRITE_TEXT) >= static_cast<int>(text.size());
  };
  if (!write_text(*out)) return -1;
  // Replies queued for this client (a studio's acks and snapshots) go out
  // together while the socket takes them: one writable callback per frame
  // would cost a whole poll() pass over every connection per reply, which
  // left studio replies seconds behind with 10,000 viewers connected.
  for (int more = 0; more < 16 && out == &direct && !c->direct.empty() && !lws_send_pipe_choked(wsi); ++more) {
    const std::string next = std::move(c->direct.front());
    c->direct.pop_front();
    if (!write_text(next)) return -1;
  }
  Ring* ring = c->role == kViewer ? viewer_ring_.get() : c->role == kOverlay ? overlay_ring_.get() : nullptr;
  if (!c->direct.empty() || (ring && c->ring_seq < ring->end())) lws_callback_on_writable(wsi);
  return 0;
}

// ------------------------------------------------------------------ HTTP

bool NetServer::origin_allowed(lws* wsi, bool required) {
  std::string origin = header(wsi, WSI_TOKEN_ORIGIN);
  if (origin.empty()) return !required;
  for (const auto& allowed : config_.allowed_origins)
    if (origin == allowed) return true;
  std::string host = header(wsi, WSI_TOKEN_HOST);
  bool tls = !config_.tls_cert.empty();
  return !host.empty() && origin == std::string(tls ? "https://" : "http://") + host;
}

std::optional<Actor> NetServer::authenticate(lws* wsi, bool* via_cookie) {
  *via_cookie = false;
  const int64_t now = clock_.now_ms();
  std::string auth = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
  if (auth.size() > 7 && strncasecmp(auth.c_str(), "Bearer ", 7) == 0) {
    std::string hash = crypto::sha256_hex(auth.substr(7));
    if (auto it = auth_cache_.find(hash); it != auth_cache_.end()) return it->second.actor;
    auto row = store_.find_api_token(hash);
    if (!row || !row->has_value()) return std::nullopt;
    Actor a{"token:" + (*row)->name, (*row)->role};
    auth_cache_[hash] = CachedAuth{a, now + 60'000};
    return a;
  }
  char value[128];
  size_t max = sizeof(value);
  if (lws_http_cookie_get(wsi, "sabla_session", value, &max) != 0) return std::nullopt;
  std::string cookie(value, max);
  std::string hash = crypto::sha256_hex(cookie);
  *via_cookie = true;
  if (auto it = auth_cache_.find(hash); it != auth_cache_.end()) return it->second.actor;
  auto session = store_.find_auth_session(hash);
  if (!session || !session->has_value() || (*session)->expires_at_ms <= now) return std::nullopt;
  auto account = store_.find_account_by_id((*session)->account_id);
  if (!account || !account->has_value()) return std::nullopt;
  Actor a{(*account)->name, (*account)->role};
  auth_cache_[hash] = CachedAuth{a, std::min((*session)->expires_at_ms, now + 60'000)};
  return a;
}

namespace {
// 426 Upgrade Required plus the Sec-WebSocket-Version we speak (RFC 6455 4.4),
// which lws_return_http_status() cannot add. Returns -1: the connection ends
// after this answer.
int refuse_version(lws* wsi) {
  static const char body[] = "only WebSocket version 13 (RFC 6455) is supported\n";
  unsigned char buf[LWS_PRE + 512];
  unsigned char* start = buf + LWS_PRE;
  unsigned char* p = start;
  unsigned char* end = buf + sizeof(buf) - 1;
  if (lws_add_http_header_status(wsi, 426, &p, end) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_VERSION, (const unsigned char*)"13", 2, &p, end) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char*)"text/plain", 10, &p,
                                   end) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char*)"close", 5, &p, end) ||
      lws_add_http_header_content_length(wsi, sizeof(body) - 1, &p, end) || lws_finalize_http_header(wsi, &p, end))
    return -1;
  std::memcpy(p, body, sizeof(body) - 1);
  p += sizeof(body) - 1;
  lws_write(wsi, start, static_cast<size_t>(p - start), LWS_WRITE_HTTP_HEADERS);
  return -1;
}
}  // namespace

int NetServer::confirm_upgrade(lws* wsi) {
  auto refuse = [&](unsigned int status, const char* why) {
    spdlog::debug("upgrade refused ({}): {}", status, why);
    if (lws_return_http_status(wsi, status, why)) return -1;
    return 1;
  };
  if (header(wsi, WSI_TOKEN_GET_URI) != "/ws") return refuse(HTTP_STATUS_NOT_FOUND, "WebSockets live at /ws");
  // lws 4.1 would also upgrade the pre-RFC drafts (versions 7 and 8); RFC 6455
  // 4.2.2 wants 426 with the version we speak. A missing or malformed key would
  // make lws drop the connection without any answer; RFC 6455 4.2.1 wants a 400.
  if (header(wsi, WSI_TOKEN_VERSION) != "13") return refuse_version(wsi);
  if (header(wsi, WSI_TOKEN_KEY).size() != 24)
    return refuse(HTTP_STATUS_BAD_REQUEST, "Sec-WebSocket-Key missing or malformed");
  std::string wanted = header(wsi, WSI_TOKEN_PROTOCOL);
  int role = 0;
  std::stringstream list(wanted);
  for (std::string item; std::getline(list, item, ',');) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item == protocol::kViewerProtocol) role = kViewer;
    else if (item == protocol::kStudioProtocol) role = kStudio;
    else if (item == protocol::kOverlayProtocol) role = kOverlay;
    if (role) break;
  }
  if (!role) return refuse(HTTP_STATUS_BAD_REQUEST, "choose a subprotocol: sabla.viewer.v1, sabla.studio.v1 or sabla.overlay.v1");
  std::string ip = peer_ip(wsi);
  if (auto it = ws_per_ip_.find(ip); it != ws_per_ip_.end() && it->second >= config_.max_connections_per_ip)
    return refuse(429, "too many connections from your address");
  if (role == kStudio) {
    bool via_cookie = false;
    auto actor = authenticate(wsi, &via_cookie);
    if (!actor) return refuse(HTTP_STATUS_UNAUTHORIZED, "log in first");
    if (!origin_allowed(wsi, via_cookie)) return refuse(HTTP_STATUS_FORBIDDEN, "origin not allowed");
    if (!actor->can_moderate()) return refuse(HTTP_STATUS_FORBIDDEN, "your role cannot use the studio");
    upgrade_actor_[wsi] = *actor;
  } else if (!origin_allowed(wsi, false)) {
    return refuse(HTTP_STATUS_FORBIDDEN, "origin not allowed");
  }
  return 0;
}

void NetServer::respond(HttpTxn* txn, int status, std::string content_type, std::string body,
                        std::vector<std::pair<std::string, std::string>> headers) {
  txn->ready = true;
  txn->status = status;
  txn->content_type = std::move(content_type);
  txn->payload = std::move(body);
  txn->headers = std::move(headers);
  lws_callback_on_writable(txn->wsi);
}

void NetServer::respond_json(HttpTxn* txn, int status, const json& body,
                             std::vector<std::pair<std::string, std::string>> headers) {
  respond(txn, status, "application/json", protocol::dump(body) + "\n", std::move(headers));
}

int NetServer::write_http(lws* wsi, HttpTxn* txn) {
  if (!txn || !txn->ready) return 0;
  if (!txn->headers_sent) {
    std::vector<unsigned char> buf(LWS_PRE + 4096 + txn->headers.size() * 512);
    unsigned char* start = buf.data() + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = buf.data() + buf.size() - 1;
    // Unknown length (a streamed export): lws sends it chunked.
    const lws_filepos_t length = txn->exporter ? LWS_ILLEGAL_HTTP_CONTENT_LEN : txn->payload.size();
    if (lws_add_http_common_headers(wsi, static_cast<unsigned int>(txn->status), txn->content_type.c_str(), length,
                                    &p, end))
      return 1;
    auto add = [&](const std::string& name, const std::string& value) {
      std::string n = name + ":";
      return lws_add_http_header_by_name(wsi, (const unsigned char*)n.c_str(), (const unsigned char*)value.data(),
                                         static_cast<int>(value.size()), &p, end);
    };
    if (add("x-content-type-options", "nosniff") || add("cache-control", "no-store") ||
        add("referrer-policy", "no-referrer"))
      return 1;
    for (const auto& [name, value] : txn->headers)
      if (add(name, value)) return 1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return 1;
    txn->headers_sent = true;
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (txn->exporter) {
    // Runs on the net thread: one page of rows per writable keeps every
    // other client served between chunks.
    std::string chunk;
    const bool more = txn->exporter->next(&chunk);
    if (!more && !txn->exporter->status().is_ok()) {
      spdlog::error("export failed: {}", txn->exporter->status().message());
      return -1;  // the client sees a cut chunked stream, never a silently short file
    }
    std::vector<unsigned char> buf(LWS_PRE + chunk.size());
    std::memcpy(buf.data() + LWS_PRE, chunk.data(), chunk.size());
    if (lws_write(wsi, buf.data() + LWS_PRE, chunk.size(), more ? LWS_WRITE_HTTP : LWS_WRITE_HTTP_FINAL) !=
        static_cast<int>(chunk.size()))
      return -1;
    if (more) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    if (lws_http_transaction_completed(wsi)) return -1;
    return 0;
  }
  std::vector<unsigned char> buf(LWS_PRE + txn->payload.size());
  std::memcpy(buf.data() + LWS_PRE, txn->payload.data(), txn->payload.size());
  if (lws_write(wsi, buf.data() + LWS_PRE, txn->payload.size(), LWS_WRITE_HTTP_FINAL) !=
      static_cast<int>(txn->payload.size()))
    return 1;
  if (lws_http_transaction_completed(wsi)) return -1;
  return 0;
}

NetServer::HttpTxn* NetServer::find_txn(uint64_t id) {
  auto it = txn_by_id_.find(id);
  return it == txn_by_id_.end() ? nullptr : it->second;
}

void NetServer::forget_txn(lws* wsi) {
  auto it = txn_of_wsi_.find(wsi);
  if (it == txn_of_wsi_.end()) return;
  txn_by_id_.erase(it->second->id);
  txn_of_wsi_.erase(it);
}

int NetServer::on_http(lws* wsi, int reason, void* user, void* in, size_t len) {
  auto current = [&]() -> HttpTxn* {
    auto it = txn_of_wsi_.find(wsi);
    return it == txn_of_wsi_.end() ? nullptr : it->second.get();
  };
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      drain_posted();
      return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      forget_txn(wsi);
      return confirm_upgrade(wsi);
    case LWS_CALLBACK_HTTP: {
      forget_txn(wsi);  // keep-alive: the previous request on this connection is over
      auto owned = std::make_unique<HttpTxn>();
      HttpTxn* txn = owned.get();
      txn->id = next_txn_id_++;
      txn->wsi = wsi;
      txn_by_id_[txn->id] = txn;
      txn_of_wsi_[wsi] = std::move(owned);
      http_requests_++;
      txn->path = std::string(static_cast<const char*>(in), len);
      txn->ip = peer_ip(wsi);
      if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) txn->method = "GET";
      else if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) txn->method = "POST";
      else if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0) txn->method = "HEAD";
      else txn->method = "OTHER";
      if (txn->method == "POST") {
        std::string cl = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
        if (cl.empty() || cl == "0") {
          dispatch_api(wsi, txn);  // no body follows
        } else if (std::strtoull(cl.c_str(), nullptr, 10) > kMaxHttpBody) {
          respond_json(txn, 413, error_body("too_large", "request body over 64 KiB"), {{"connection", "close"}});
        }
        return 0;  // the body arrives in LWS_CALLBACK_HTTP_BODY
      }
      return handle_http_request(wsi, txn);
    }
    case LWS_CALLBACK_HTTP_BODY: {
      HttpTxn* txn = current();
      if (!txn) return -1;
      if (txn->body.size() + len > kMaxHttpBody) txn->body_too_large = true;
      else txn->body.append(static_cast<const char*>(in), len);
      return 0;
    }
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
      HttpTxn* txn = current();
      if (!txn) return -1;
      if (txn->ready) return 0;
      if (txn->body_too_large) {
        respond_json(txn, 413, error_body("too_large", "request body over 64 KiB"));
        return 0;
      }
      dispatch_api(wsi, txn);
      return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE:
      return write_http(wsi, current());
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
      if (lws_http_transaction_completed(wsi)) return -1;
      return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_WSI_DESTROY:
      forget_txn(wsi);
      return 0;
    default:
      return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), user, in, len);
  }
}

int NetServer::handle_http_request(lws* wsi, HttpTxn* txn) {
  const std::string& path = txn->path;
  if (txn->method != "GET" && txn->method != "HEAD") {
    respond_json(txn, 405, error_body("method_not_allowed", "method not allowed"));
    return 0;
  }
  std::string file;  // relative to the static directory
  std::string full;  // or an absolute path
  if (path == "/" || path == "/index.html") file = "index.html";
  else if (path == "/studio" || path == "/studio/") file = "studio.html";
  else if (path == "/overlay" || path == "/overlay/") file = "overlay.html";
  else if (path == "/archive" || path == "/archive/") file = "archive.html";
  else if (path == "/report" || path == "/report.html") file = "report.html";
  else if (path.rfind("/assets/", 0) == 0 && safe_relative_path(path.substr(1))) file = path.substr(1);
  // Front-end packages come from npm (scripts/setup), never from the repository.
  else if (path == "/vendor/hls.min.js") file = "node_modules/hls.js/dist/hls.min.js";
  // The pipeline's HLS output: flat file names only.
  else if (path.rfind("/hls/", 0) == 0 && path.find('/', 5) == std::string::npos && safe_relative_path(path.substr(5)))
    full = config_.data_dir + "/hls/" + path.substr(5);
  if (!file.empty()) full = static_dir_ + "/" + file;
  if (!full.empty()) {
    if (!std::filesystem::is_regular_file(full)) {
      respond_json(txn, 404, error_body("not_found", "no such page"));
      return 0;
    }
    int n = lws_serve_http_file(wsi, full.c_str(), mime_for(full).c_str(), kSecurityHeaders,
                                static_cast<int>(std::strlen(kSecurityHeaders)));
    if (n < 0) return -1;
    if (n > 0 && lws_http_transaction_completed(wsi)) return -1;
    return 0;
  }
  dispatch_api(wsi, txn);
  return 0;
}

// The pipeline's gauges, when the server runs one (read from its thread-safe stats).
namespace {
void append_video_metrics(const json& v, std::ostringstream& o,
                          const std::function<void(const char*, const char*, const char*)>& metric) {
  if (!v.is_object()) return;
  auto number = [&](const char* key) {
    auto it = v.find(key);
    return it != v.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  const struct {
    const char* name;
    const char* type;
    const char* help;
    double value;
  } video[] = {
      {"sabla_video_playing", "gauge", "1 while the program pipeline plays.", v.value("state", "") == "playing" ? 1.0 : 0.0},
      {"sabla_video_source_live", "gauge", "1 while the input is on air, 0 while the slate is.",
       v.value("source_live", false) ? 1.0 : 0.0},
      {"sabla_video_source_losses_total", "counter", "Input losses (switches to the slate).", number("source_losses")},
      {"sabla_video_fps", "gauge", "Program frames per second over the last second.", number("fps")},
      {"sabla_video_frames_total", "counter", "Program frames since the pipeline started.", number("frames")},
      {"sabla_video_dropped_frames_total", "counter", "Frames dropped before the encoder.", number("dropped")},
      {"sabla_video_bitrate_kbps", "gauge", "Encoder output over the last second.", number("kbps")},
      {"sabla_video_hls_latency_seconds", "gauge", "Estimated HLS latency for a player 3 segments behind.",
       number("hls_latency_ms") / 1000.0},
      {"sabla_video_restarts_total", "counter", "Pipeline rebuilds after errors.", number("restarts")},
  };
  for (const auto& one : video) {
    metric(one.name, one.type, one.help);
    o << one.name << ' ' << one.value << '\n';
  }
  auto restreams = v.find("restreams");
  if (restreams == v.end() || !restreams->is_array() || restreams->empty()) return;
  metric("sabla_video_restream_live", "gauge", "1 while a restream destination receives the program (by redacted URL).");
  for (const auto& r : *restreams) {
    std::string url = r.value("url", "");
    std::string escaped;
    for (char c : url) {
      if (c == '\\' || c == '"') escaped += '\\';
      if (c != '\n') escaped += c;
    }
    o << "sabla_video_restream_live{url=\"" << escaped << "\"} " << (r.value("state", "") == "live" ? 1 : 0) << '\n';
  }
}
}  // namespace

std::string NetServer::metrics_text() {
  const auto m = room_->metrics();
  const auto s = store_.metrics();
  std::ostringstream o;
  o.precision(15);  // counters stay exact well past a million
  auto metric = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  metric("sabla_connections", "gauge", "Open WebSocket connections by role.");
  o << "sabla_connections{role=\"viewer\"} " << m.viewers_connected << '\n'
    << "sabla_connections{role=\"studio\"} " << m.studios_connected << '\n'
    << "sabla_connections{role=\"overlay\"} " << m.overlays_connected << '\n';
  struct Single {
    const char* name;
    const char* type;
    const char* help;
    double value;
  };
  const Single singles[] = {
      {"sabla_comments_received_total", "counter", "Comments received (viewers and bridges).",
       double(m.comments_received)},
      {"sabla_comments_acked_total", "counter", "Comments acknowledged after commit.", double(m.comments_acked)},
      {"sabla_comments_refused_total", "counter", "Comments refused before storing (empty, too long, limits, bans).",
       double(m.comments_rejected_input)},
      {"sabla_comments_approved_total", "counter", "Comments approved (by a moderator or automatically).",
       double(m.comments_approved)},
      {"sabla_comments_rejected_total", "counter", "Comments rejected.", double(m.comments_rejected)},
      {"sabla_votes_total", "counter", "Votes counted.", double(m.votes)},
      {"sabla_pending_comments", "gauge", "Comments waiting for moderation.", double(m.pending)},
      {"sabla_store_queue_length", "gauge", "Operations waiting for the store writer.", double(s.queue_length)},
      {"sabla_store_transactions_total", "counter", "Committed store transactions.", double(s.transactions)},
      {"sabla_store_operations_total", "counter", "Committed store operations.", double(s.operations)},
      {"sabla_store_commit_seconds", "gauge", "Duration of the latest COMMIT.", s.last_commit_ms / 1000.0},
      {"sabla_store_commit_seconds_max", "gauge", "Longest COMMIT since start.", s.max_commit_ms / 1000.0},
      {"sabla_ws_frames_in_total", "counter", "WebSocket messages received.", double(frames_in_)},
      {"sabla_ws_culled_total", "counter", "Clients closed for lagging behind.", double(culled_)},
      {"sabla_http_requests_total", "counter", "HTTP requests.", double(http_requests_)},
  };
  for (const auto& one : singles) {
    metric(one.name, one.type, one.help);
    o << one.name << ' ' << one.value << '\n';
  }
  append_video_metrics(room_->video_status(), o, metric);
  return o.str();
}

void NetServer::login(lws* wsi, HttpTxn* txn) {
  if (!origin_allowed(wsi, false)) return respond_json(txn, 403, error_body("forbidden", "origin not allowed"));
  const int64_t steady = clock_.steady_ms();
  auto bucket = login_buckets_.try_emplace(txn->ip, static_cast<double>(config_.login_attempts_per_minute),
                                           config_.login_attempts_per_minute / 60.0, steady).first;
  int64_t retry = 0;
  if (!bucket->second.try_take(steady, &retry))
    return respond_json(txn, 429, error_body("rate_limited", "too many login attempts"),
                        {{"retry-after", std::to_string((retry + 999) / 1000)}});
  auto body = json::parse(txn->body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("name") || !body.contains("password") ||
      !body["name"].is_string() || !body["password"].is_string())
    return respond_json(txn, 400, error_body("invalid", "send {\"name\":...,\"password\":...}"));
  std::string name = body["name"].get<std::string>();
  std::string password = body["password"].get<std::string>();
  auto account = store_.find_account(name);
  if (!account) return respond_json(txn, 500, error_body("internal", "could not read accounts"));
  std::optional<store::AccountRow> row = *account;
  const uint64_t txn_id = txn->id;
  // Argon2 takes tens of ms: it runs on the auth worker, never on the net thread.
  bool queued = auth_worker_->post([this, row, password, txn_id] {
    static const std::string dummy = crypto::hash_password("not a real password");
    bool ok = crypto::verify_password(row ? row->password_hash : dummy, password) && row.has_value();
    post([this, row, ok, txn_id] {
      HttpTxn* t = find_txn(txn_id);
      if (!t) return;  // the client went away meanwhile
      if (!ok) return respond_json(t, 401, error_body("unauthorized", "wrong name or password"));
      std::string cookie = crypto::random_secret(32);
      int64_t expires = clock_.now_ms() + config_.auth_session_hours * 3600 * 1000;
      store::AuthSessionRow session{crypto::sha256_hex(cookie), row->id, expires};
      std::string set_cookie = "sabla_session=" + cookie + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                               std::to_string(config_.auth_session_hours * 3600) +
                               (config_.tls_cert.empty() ? "" : "; Secure");
      json reply = {{"name", row->name}, {"role", row->role}};
      if (!store_.save_auth_session(session, [this, txn_id, reply, set_cookie](Status s) {
            HttpTxn* t2 = find_txn(txn_id);
            if (!t2) return;
            if (!s) return respond_json(t2, 500, error_body("internal", "could not save the login"));
            respond_json(t2, 200, reply, {{"set-cookie", set_cookie}});
          }))
        respond_json(t, 503, error_body("busy", "try again"));
    });
  });
  if (!queued) respond_json(txn, 503, error_body("busy", "too many logins at once, try again"));
}

// The archive page's reads. They run on the net thread on their own
// read-only connection; each is bounded (paged scans, limits).
void NetServer::archive_api(lws* wsi, HttpTxn* txn, const Actor& actor) {
  if (txn->method != "GET") return respond_json(txn, 405, error_body("method_not_allowed", "use GET"));
  if (actor.role != "archivist" && actor.role != "producer")
    return respond_json(txn, 403, error_body("forbidden", "the archive is for archivists and producers"));
  auto arg = [&](const char* name) {
    char value[512] = {0};
    const char* v = lws_get_urlarg_by_name(wsi, name, value, sizeof(value));
    return std::string(v ? v : "");
  };
  auto number = [&](const char* name, int64_t fallback) {
    std::string v = arg(name);
    int64_t n = fallback;
    if (!v.empty()) {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 0) return int64_t{-1};
    }
    return n;
  };
  // A search may scan a whole session (seconds for a million comments): it
  // runs on the reader worker, never on the net thread, and the answer comes
  // back through post() like a store completion.
  const uint64_t txn_id = txn->id;
  auto reply = [&](std::function<Result<json>()> query) {
    bool queued = reader_worker_->post([this, txn_id, query = std::move(query)] {
      auto result = std::make_shared<Result<json>>(query());
      post([this, txn_id, result] {
        HttpTxn* t = find_txn(txn_id);
        if (!t) return;  // the client went away meanwhile
        const Result<json>& r = *result;
        if (r) return respond_json(t, 200, *r);
        const Status failure = r.status();  // by value: code() must not outlive it
        const std::string& code = failure.code();
        const int status = code == "not_found" ? 404 : code == "invalid" ? 400 : code == "timeout" ? 503 : 500;
        respond_json(t, status, error_body(status == 500 ? "internal" : code.c_str(), failure.message()));
      });
    });
    if (!queued) respond_json(txn, 503, error_body("busy", "too many archive queries at once, try again"));
  };
  const std::string db = config_.db_path();
  const std::string& path = txn->path;
  if (path == "/api/v1/archive/sessions") return reply([db] { return archive::session_summaries(db); });
  const std::string prefix = "/api/v1/archive/sessions/";
  if (path.rfind(prefix, 0) != 0) return respond_json(txn, 404, error_body("not_found", "no such route"));
  std::string rest = path.substr(prefix.size());
  auto slash = rest.find('/');
  auto id = parse_id(rest.substr(0, slash));
  std::string what = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (!id) return respond_json(txn, 404, error_body("not_found", "no such session"));
  const int64_t session = *id;
  if (what == "timeline") return reply([db, session] { return archive::timeline(db, session); });
  if (what == "top") {
    int64_t limit = number("limit=", 10);
    if (limit < 1) return respond_json(txn, 400, error_body("invalid", "limit must be a positive integer"));
    limit = std::min(limit, archive::kTopMaxLimit);
    return reply([db, session, limit] { return archive::top_comments(db, session, limit); });
  }
  if (what == "comments") {
    int64_t limit = number("limit=", 100), offset = number("offset=", 0);
    if (limit < 1 || offset < 0) return respond_json(txn, 400, error_body("invalid", "limit and offset must be integers"));
    limit = std::min(limit, archive::kSearchMaxLimit);
    return reply([db, session, q = arg("q="), st = arg("status="), src = arg("source="), au = arg("author="), limit,
                  offset] { return archive::search_comments(db, session, q, st, src, au, limit, offset); });
  }
  respond_json(txn, 404, error_body("not_found", "no such route"));
}

void NetServer::dispatch_api(lws* wsi, HttpTxn* txn) {
  const std::string& path = txn->path;
  const bool get = txn->method == "GET" || txn->method == "HEAD";
  const bool post_method = txn->method == "POST";
  if (path == "/api/v1/health") {
    if (!get) return respond_json(txn, 405, error_body("method_not_allowed", "use GET"));
    auto sid = room_->current_session_id();
    return respond_json(txn, 200, json{{"status", "ok"}, {"version", SABLA_VERSION},
                                       {"session", sid ? json(*sid) : json()}});
  }
  if (path == "/metrics") {
    if (!get) return respond_json(txn, 405, error_body("method_not_allowed", "use GET"));
    if (!config_.metrics_public && !is_loopback(txn->ip))
      return respond_json(txn, 403, error_body("forbidden", "metrics are served to loopback only"));
    return respond(txn, 200, "text/plain; version=0.0.4; charset=utf-8", metrics_text());
  }
  if (path == "/api/v1/login") {
    if (!post_method) return respond_json(txn, 405, error_body("method_not_allowed", "use POST"));
    return login(wsi, txn);
  }
  bool via_cookie = false;
  auto actor = authenticate(wsi, &via_cookie);
  if (path == "/api/v1/logout") {
    if (!post_method) return respond_json(txn, 405, error_body("method_not_allowed", "use POST"));
    const std::string clear_cookie = "sabla_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";
    char value[128];
    size_t max = sizeof(value);
    if (lws_http_cookie_get(wsi, "sabla_session", value, &max) == 0) {
      std::string hash = crypto::sha256_hex(std::string(value, max));
      auth_cache_.erase(hash);
      // Answer only once the session is gone from disk: until then a request with
      // the cookie would still find it (and cache it again for a minute), so the
      // cache entry is dropped once more after the commit.
      const uint64_t txn_id = txn->id;
      if (!store_.delete_auth_session(hash, [this, txn_id, hash, clear_cookie](Status s) {
            auth_cache_.erase(hash);
            HttpTxn* t = find_txn(txn_id);
            if (!t) return;
            if (!s) return respond_json(t, 500, error_body("internal", "could not end the login"));
            respond_json(t, 200, json{{"ok", true}}, {{"set-cookie", clear_cookie}});
          }))
        respond_json(txn, 503, error_body("busy", "try again"));
      return;
    }
    return respond_json(txn, 200, json{{"ok", true}}, {{"set-cookie", clear_cookie}});
  }
  if (path == "/api/v1/me") {
    if (!actor) return respond_json(txn, 401, error_body("unauthorized", "not logged in"));
    return respond_json(txn, 200, json{{"name", actor->name}, {"role", actor->role}});
  }
  if (path.rfind("/api/v1/archive/", 0) == 0) {
    if (!actor) return respond_json(txn, 401, error_body("unauthorized", "log in first"));
    return archive_api(wsi, txn, *actor);
  }
  if (path.rfind("/api/v1/sessions", 0) != 0) return respond_json(txn, 404, error_body("not_found", "no such route"));
  if (!actor) return respond_json(txn, 401, error_body("unauthorized", "log in or send a bearer token"));
  if (post_method && via_cookie && !origin_allowed(wsi, true))
    return respond_json(txn, 403, error_body("forbidden", "origin not allowed"));

  const uint64_t txn_id = txn->id;
  auto done = [this, txn_id](moderation::ApiReply r) {
    if (HttpTxn* t = find_txn(txn_id)) respond_json(t, r.status, r.body);
  };
  if (path == "/api/v1/sessions") {
    if (get) {
      auto r = room_->list_sessions();
      return respond_json(txn, r.status, r.body);
    }
    if (!post_method) return respond_json(txn, 405, error_body("method_not_allowed", "use GET or POST"));
    auto body = json::parse(txn->body, nullptr, false);
    if (body.is_discarded()) return respond_json(txn, 400, error_body("invalid", "malformed JSON"));
    return room_->create_session(*actor, body, done);
  }
  // /api/v1/sessions/{id}/{live|end|comments|export}
  std::string rest = path.substr(std::strlen("/api/v1/sessions/"));
  auto slash = rest.find('/');
  auto id = parse_id(rest.substr(0, slash));
  std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (!id || (action != "live" && action != "end" && action != "comments" && action != "export" &&
              action != "retention"))
    return respond_json(txn, 404, error_body("not_found", "no such route"));
  if (action == "retention") {
    if (!post_method) return respond_json(txn, 405, error_body("method_not_allowed", "use POST"));
    if (actor->role != "archivist" && actor->role != "producer")
      return respond_json(txn, 403, error_body("forbidden", "retention is set by archivists and producers"));
    auto body = json::parse(txn->body, nullptr, false);
    std::optional<int64_t> days;
    const bool valid = body.is_object() && body.contains("days") &&
                       (body["days"].is_null() ||
                        (body["days"].is_number_integer() && body["days"].get<int64_t>() >= 1 &&
                         body["days"].get<int64_t>() <= 36500));
    if (!valid)
      return respond_json(txn, 400, error_body("invalid", "send {\"days\": 1-36500} or {\"days\": null} to keep forever"));
    if (!body["days"].is_null()) days = body["days"].get<int64_t>();
    const int64_t session = *id;
    if (!store_.set_retention(session, days, [this, txn_id, session, days](Status st) {
          HttpTxn* t = find_txn(txn_id);
          if (!t) return;
          if (!st) {
            const bool missing = st.code() == "not_found";
            return respond_json(t, missing ? 404 : 500, error_body(missing ? "not_found" : "internal", st.message()));
          }
          respond_json(t, 200, json{{"id", session}, {"retention_days", days ? json(*days) : json()}});
        }))
      respond_json(txn, 503, error_body("busy", "the store is busy, try again"));
    return;
  }
  if (action == "export") {
    if (!get) return respond_json(txn, 405, error_body("method_not_allowed", "use GET"));
    if (actor->role != "archivist" && actor->role != "producer")
      return respond_json(txn, 403, error_body("forbidden", "exports are for archivists and producers"));
    char value[32] = {0};
    const char* f = lws_get_urlarg_by_name(wsi, "format=", value, sizeof(value));
    auto format = archive::parse_format(f ? f : "csv");
    if (!format)
      return respond_json(txn, 400, error_body("invalid", "format must be csv, json, ndjson, vtt, srt, chat-vtt or audit"));
    auto exporter = archive::Exporter::open(config_.db_path(), *id, *format);
    if (!exporter) {
      const bool missing = exporter.status().code() == "not_found";
      return respond_json(txn, missing ? 404 : 500, error_body(missing ? "not_found" : "internal", exporter.status().message()));
    }
    std::string disposition = "attachment; filename=\"" + (*exporter)->file_name() + "\"";
    std::string type = (*exporter)->content_type();
    txn->exporter = std::move(*exporter);
    return respond(txn, 200, type, {}, {{"content-disposition", disposition}});
  }
  if (!post_method) return respond_json(txn, 405, error_body("method_not_allowed", "use POST"));
  if (action == "live") return room_->set_session_live(*actor, *id, done);
  if (action == "end") return room_->end_session(*actor, *id, done);
  auto body = json::parse(txn->body, nullptr, false);
  if (body.is_discarded()) return respond_json(txn, 400, error_body("invalid", "malformed JSON"));
  return room_->bridge_comment(*actor, *id, body, done);
}

}  // namespace sabla::net
