// The network front: one libwebsockets context on its default poll loop,
// serviced by one thread (the net thread). It serves static pages, the HTTP
// API and the three /ws subprotocols, and implements Outbound for the Room.
//
// The pieces, one file each (net/):
//   net_server.cpp      the lws context, its loop, post()/stop(), the fan-out tick
//   ws_connections.cpp  WebSocket upgrades and connections; Outbound (send,
//                       publish, close, flush) and the write path from the rings
//   fanout_ring.h       the fan-out ring and the coalesced batch
//   http_server.cpp     HTTP requests: transactions, answers, static files,
//                       origin and authentication checks
//   http_api.cpp        the API routes: health, login/logout, sessions,
//                       exports, archive
//   metrics.cpp         /metrics
//
// Threads: everything here runs on the net thread except post() and stop(),
// which any thread may call: they queue work and wake the loop with
// lws_cancel_service(), the only lws call that is safe from another thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/worker.h"
#include "config/config.h"
#include "moderation/rate_limiter.h"
#include "moderation/room.h"
#include "net/broker_hook.h"
#include "net/fanout_ring.h"
#include "store/store.h"

struct lws;
struct lws_context;
struct lws_vhost;

namespace sabla::bridges {
class Bridges;
}

namespace sabla::net {

class NetServer final : public moderation::Outbound {
 public:
  // What a node puts behind the front. A main node (and the one embedded
  // node) gives the Room, which is also its Inbound, and the store. An edge
  // node gives neither: it serves the pages and the viewer and overlay
  // sockets only, and answers studio, archive and API routes with an error
  // naming the main node ([cluster] main_url).
  struct Backend {
    moderation::Inbound* inbound = nullptr;  // required
    moderation::Room* room = nullptr;
    store::Store* store = nullptr;
    BrokerHook* broker = nullptr;  // cluster mode: the link to the other nodes
    bridges::Bridges* bridges = nullptr;  // main node: the platform bridges' states (issue 14)
  };

  NetServer(const Config& config, const Clock& clock);
  ~NetServer() override;

  // Creates the lws context and binds (on the calling thread, before run()).
  Status start(Backend backend);
  int port() const { return port_; }
  // Services the loop until stop(). The calling thread becomes the net thread.
  void run();
  // Any thread.
  void post(std::function<void()> task);
  void stop();
  // Runs tasks posted so far (start-up, before run(); net thread only).
  void run_posted();

  // Outbound (net thread).
  void send(moderation::ConnId conn, std::string frame) override;
  void publish(moderation::Audience audience, std::string frame) override;
  void close(moderation::ConnId conn, int code, std::string reason) override;
  void flush(moderation::Audience audience) override;
  // A frame that holds the whole state as of now (a welcome relayed by an
  // edge node): sent like send(), and the connection skips what its ring
  // holds so far, which the frame already contains (net thread).
  void send_resync(moderation::ConnId conn, std::string frame);
  // The same for a frame that holds the state as of viewer ring position
  // `ring_seq` (a welcome an edge built from the main's template): what the
  // ring holds from there on follows it. False (nothing sent) when the ring
  // no longer holds that position (net thread).
  bool send_resync_from(moderation::ConnId conn, std::string frame, uint64_t ring_seq);
  // The viewer ring's next position: what is published from now on (net thread).
  uint64_t viewer_ring_end() const;

  struct Conn;
  struct HttpTxn;
  // The lws callback trampolines into these (net thread).
  int on_http(lws* wsi, int reason, void* user, void* in, size_t len);
  int on_ws(lws* wsi, int role, int reason, void* user, void* in, size_t len);

 private:
  // net_server.cpp: the loop.
  void drain_posted();
  void schedule_tick();
  void on_tick();
  // Asks lws for a writable callback on every connection of a role.
  void wake_all(int role);
  // The client's address: the peer's, or behind a trusted proxy the one
  // X-Forwarded-For names ([server] trusted_proxies).
  std::string peer_ip(lws* wsi);

  // ws_connections.cpp
  int confirm_upgrade(lws* wsi);
  const FanoutRing* ring_of(int role) const;
  int write_ws(lws* wsi, Conn* c);
  void retry_parked();

  // http_server.cpp
  int handle_http_request(lws* wsi, HttpTxn* txn);
  void respond(HttpTxn* txn, int status, std::string content_type, std::string body,
               std::vector<std::pair<std::string, std::string>> headers = {});
  void respond_json(HttpTxn* txn, int status, const nlohmann::json& body,
                    std::vector<std::pair<std::string, std::string>> headers = {});
  int write_http(lws* wsi, HttpTxn* txn);
  HttpTxn* find_txn(uint64_t id);
  void forget_txn(lws* wsi);
  std::optional<moderation::Actor> authenticate(lws* wsi, bool* via_cookie);
  bool origin_allowed(lws* wsi, bool required);

  // http_api.cpp
  void dispatch_api(lws* wsi, HttpTxn* txn);
  // An edge node's answer to the routes only the main node serves.
  void main_node_only(HttpTxn* txn);
  nlohmann::json health_json(int* status);
  void archive_api(lws* wsi, HttpTxn* txn, const moderation::Actor& actor);
  // GET /api/v1/public/...: the decisions register, no login (issue 13).
  void public_api(HttpTxn* txn);
  // Runs `query` on the reader worker and answers `txn` with its JSON (or
  // its error mapped to 404/400/503/500) back on the net thread.
  void reply_from_reader(HttpTxn* txn, std::function<Result<nlohmann::json>()> query);
  void login(lws* wsi, HttpTxn* txn);
  // GET /api/v1/bridges (the bridges' states) and POST /api/v1/bridges/{name}
  // (a signed webhook post into the ingest path).
  void bridges_api(lws* wsi, HttpTxn* txn, const std::optional<moderation::Actor>& actor);

  // metrics.cpp
  std::string metrics_text();

  const Config& config_;
  const Clock& clock_;
  moderation::Inbound* inbound_ = nullptr;
  moderation::Room* room_ = nullptr;  // null on an edge node
  store::Store* store_ = nullptr;     // null on an edge node
  BrokerHook* broker_ = nullptr;
  bridges::Bridges* bridges_ = nullptr;
  lws_context* context_ = nullptr;
  lws_vhost* vhost_ = nullptr;
  int port_ = 0;
  std::string static_dir_;

  // Cross-thread hand-off to the net thread.
  std::mutex posted_mutex_;
  std::deque<std::function<void()>> posted_;  // GUARDED_BY(posted_mutex_)
  std::atomic<bool> stopping_{false};

  // Net thread only from here on.
  struct Timer;
  std::unique_ptr<Timer> tick_timer_;

  // WebSocket connections.
  uint64_t next_conn_id_ = 1;
  std::unordered_map<moderation::ConnId, Conn*> conns_;
  std::unordered_set<moderation::ConnId> studio_conns_;  // few: studio broadcasts need not walk every viewer
  std::unordered_map<std::string, int> ws_per_ip_;
  std::unordered_set<std::string> trusted_proxies_;  // [server] trusted_proxies, canonical
  std::unordered_map<lws*, moderation::Actor> upgrade_actor_;  // studio handshakes in progress
  std::deque<moderation::ConnId> parked_;  // connections paused until the store has room

  // Fan-out (Outbound::publish): one ring per audience that has many clients.
  std::unique_ptr<FanoutRing> viewer_ring_;
  std::unique_ptr<FanoutRing> overlay_ring_;
  bool viewer_ring_dirty_ = false;
  // write_ws: the frame being written (after LWS_PRE), and the last batch
  // built, shared by viewers at the same place.
  std::vector<unsigned char> write_buf_;
  CoalescedBatch batch_;

  // HTTP.
  uint64_t next_txn_id_ = 1;
  // The request in progress on each HTTP connection, owned here rather than
  // in lws's per-session memory: answers that arrive after a store commit or
  // a password check find it by id, and a connection that went away (or was
  // upgraded, or moved on to its next request) simply is not found.
  std::unordered_map<lws*, std::unique_ptr<HttpTxn>> txn_of_wsi_;
  std::unordered_map<uint64_t, HttpTxn*> txn_by_id_;
  std::unordered_map<std::string, moderation::TokenBucket> login_buckets_;
  struct CachedAuth {
    moderation::Actor actor;
    int64_t expires_at_ms = 0;
  };
  std::unordered_map<std::string, CachedAuth> auth_cache_;  // token/cookie hash -> actor
  std::unique_ptr<Worker> auth_worker_;
  std::unique_ptr<Worker> reader_worker_;  // archive queries: slow reads off the net thread

  uint64_t conns_by_role_[4] = {0, 0, 0, 0};  // open WebSockets, by Role
  uint64_t frames_in_ = 0;
  uint64_t frames_out_ = 0;
  uint64_t culled_ = 0;
  uint64_t http_requests_ = 0;
};

}  // namespace sabla::net
