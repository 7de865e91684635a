// The network front's core: the lws context and its protocols, the service
// loop, the cross-thread hand-off (post/stop) and the fan-out tick.
#include "net/net_server.h"

#include <libwebsockets.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "net/net_internal.h"
#include "protocol/messages.h"

namespace sabla::net {

namespace {

int http_callback(lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len);
template <int R>
int ws_callback(lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len);
int shared_listen_callback(lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len);
constexpr const char* kSharedListenProtocol = "sabla-shared-listen";

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
    // --share-port: the SO_REUSEPORT listening socket, adopted as a raw descriptor.
    {kSharedListenProtocol, shared_listen_callback, 0, 0, 0, nullptr, 0},
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

// --share-port (cluster: several edges on one port). lws 4.1's
// LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE does not set SO_REUSEPORT on Linux, so
// a second process on the port failed with EADDRINUSE. Sabla binds the
// socket itself with SO_REUSEPORT (the kernel then spreads new connections
// over every process listening), lws polls it as a raw descriptor, and each
// accepted connection is handed to lws as if its own listener had taken it.
Result<int> open_shared_listener(const std::string& bind, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  const bool any = bind.empty() || bind == "0.0.0.0" || bind == "::";
  const std::string host = any ? "::" : bind;
  const std::string service = std::to_string(port);
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return Status::error("bind", "cannot resolve --bind " + bind + ": " + gai_strerror(rc));
  std::string why = "no address";
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    const int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->ai_family == AF_INET6 && any) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 || ::bind(fd, a->ai_addr, a->ai_addrlen) != 0 ||
        ::listen(fd, 1024) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return Status::error("bind", "could not listen on " + host + ":" + service + " with SO_REUSEPORT: " + why);
  return fd;
}

int listening_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

// Net thread: the shared listener is readable. Takes what is queued (a
// bounded batch, so a connection flood cannot starve the loop) and hands each
// to lws, which closes it itself if it cannot adopt it.
int shared_listen_callback(lws* wsi, enum lws_callback_reasons reason, void*, void*, size_t) {
  if (reason != LWS_CALLBACK_RAW_RX_FILE) return 0;
  const int listener = lws_get_socket_fd(wsi);
  lws_vhost* vhost = lws_get_vhost(wsi);
  for (int i = 0; i < 64; ++i) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        spdlog::warn("accept on the shared port: {}", std::strerror(errno));
      break;
    }
    if (!lws_adopt_socket_vhost(vhost, fd)) spdlog::warn("lws could not adopt a connection from the shared port");
  }
  return 0;  // the listener stays open
}

// An address in one spelling ("::ffff:1.2.3.4" as "1.2.3.4", IPv6 compressed),
// or "" for anything that is not an IP literal.
std::string canonical_ip(std::string_view text) {
  std::string s(text);
  if (s.rfind("::ffff:", 0) == 0 && s.find('.') != std::string::npos) s = s.substr(7);
  char out[INET6_ADDRSTRLEN] = {0};
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) return inet_ntop(AF_INET, &a4, out, sizeof(out)) ? out : "";
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) return inet_ntop(AF_INET6, &a6, out, sizeof(out)) ? out : "";
  return "";
}


}  // namespace

struct NetServer::Timer {
  lws_sorted_usec_list_t sul;
  NetServer* self;
};

// ------------------------------------------------------------------ life cycle

NetServer::NetServer(const Config& config, const Clock& clock) : config_(config), clock_(clock) {
  viewer_ring_ = std::make_unique<FanoutRing>(static_cast<size_t>(std::max(16, config.viewer_backlog)));
  overlay_ring_ = std::make_unique<FanoutRing>(256);
  auth_worker_ = std::make_unique<Worker>(64);
  reader_worker_ = std::make_unique<Worker>(32);
  tick_timer_ = std::make_unique<Timer>();
  std::memset(&tick_timer_->sul, 0, sizeof(tick_timer_->sul));
  tick_timer_->self = this;
  for (const std::string& p : config.trusted_proxies) trusted_proxies_.insert(canonical_ip(p));
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

Status NetServer::start(Backend backend) {
  if (!backend.inbound) return Status::error("internal", "the network front needs an Inbound");
  inbound_ = backend.inbound;
  room_ = backend.room;
  store_ = backend.store;
  broker_ = backend.broker;
  bridges_ = backend.bridges;
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
  // Several processes on one port: the kernel spreads connections over them
  // (open_shared_listener above says why lws does not listen itself then).
  int shared_fd = -1;
  if (config_.cluster_share_port) {
    auto fd = open_shared_listener(config_.bind, config_.port);
    if (!fd) return fd.status();
    shared_fd = *fd;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
  }
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
  if (!context_) {
    if (shared_fd >= 0) ::close(shared_fd);
    return Status::error("bind", "could not start listening on " + config_.bind + ":" + std::to_string(config_.port) + " (port in use, or bad TLS files?)");
  }
  vhost_ = lws_get_vhost_by_name(context_, "default");
  if (shared_fd >= 0) {
    port_ = listening_port(shared_fd);
    lws_sock_file_fd_type u;
    u.filefd = shared_fd;
    if (!vhost_ || !lws_adopt_descriptor_vhost(vhost_, LWS_ADOPT_RAW_FILE_DESC, u, kSharedListenProtocol, nullptr))
      return Status::error("bind", "lws could not watch the shared listening socket");
  } else {
    port_ = vhost_ ? lws_get_vhost_listen_port(vhost_) : config_.port;
  }
  if (port_ <= 0) return Status::error("bind", "could not find the listening port");
  schedule_tick();
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
  inbound_->tick();
  if (broker_) broker_->tick();
  if (viewer_ring_dirty_) {
    viewer_ring_dirty_ = false;
    wake_all(kViewer);
  }
  retry_parked();
  // Expired cached credentials are dropped so a logout or expiry is seen.
  const int64_t now = clock_.now_ms();
  for (auto it = auth_cache_.begin(); it != auth_cache_.end();) {
    if (it->second.expires_at_ms <= now) it = auth_cache_.erase(it);
    else ++it;
  }
  if (login_buckets_.size() > 10000) login_buckets_.clear();
  schedule_tick();
}

void NetServer::schedule_tick() {
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

void NetServer::wake_all(int role) { lws_callback_on_writable_all_protocol(context_, &kProtocols[role]); }


std::string NetServer::peer_ip(lws* wsi) {
  char buf[64] = {0};
  lws_get_peer_simple(wsi, buf, sizeof(buf));
  std::string ip(buf);
  if (ip.rfind("::ffff:", 0) == 0) ip = ip.substr(7);
  if (config_.trusted_proxies.empty()) return ip;
  if (!trusted_proxies_.count(canonical_ip(ip))) return ip;
  // From a balancer we trust: the client is the nearest address in
  // X-Forwarded-For (read right to left, each proxy appends the one it saw)
  // that is not one of ours. Anything unreadable stops the walk: what is left
  // of it was written by someone we do not trust.
  const int len = lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR);
  if (len <= 0 || len > 4096) return ip;
  std::string header(static_cast<size_t>(len) + 1, '\0');
  if (lws_hdr_copy(wsi, header.data(), len + 1, WSI_TOKEN_X_FORWARDED_FOR) < 0) return ip;
  header.resize(std::strlen(header.c_str()));
  std::string_view rest(header);
  while (!rest.empty()) {
    const size_t comma = rest.rfind(',');
    std::string_view item = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const std::string hop = canonical_ip(item);
    if (hop.empty()) break;
    ip = hop;
    if (!trusted_proxies_.count(hop)) break;
  }
  return ip;
}

}  // namespace sabla::net
