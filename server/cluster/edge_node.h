// An edge node (docs/cluster.md): no store, no Room, no pipeline. It serves
// the pages and the viewer and overlay sockets; what the main node
// publishes arrives through the stream sabla:out into the local fan-out
// rings (so each viewer here costs what it costs on the main node), frames
// for one viewer through sabla:direct:<n>, and what viewers do goes to the
// main node through sabla:inbox.
//
// Order and exactly-once: every sabla:out entry carries the main's epoch
// (one per run) and sequence number; the edge skips what it has seen and,
// on a gap (entries lost with a Redis restart, or trimmed) or a new epoch
// (the main restarted), resyncs: it asks the main to welcome each of its
// viewers again, with the token each got, so feeds are whole again.
//
// New viewers: the edge welcomes them itself, from the welcome template the
// main pushes into sabla:welcome whenever it changes (checked every 100 ms),
// taken at the place in sabla:out it was made at,
// with an id of its own numbering (number << 32 | k) and a token signed
// with the cluster secret; what the ring got after the template follows the
// welcome. The main learns of the viewer from an 'n' inbox entry, whenever
// it reads it. Without a template or a secret yet, the main welcomes them.
//
// Threads: Inbound, BrokerHook and everything posted on the net thread;
// reader_loop() on its own Redis thread; writes on the RedisWriter's thread.
#pragma once
#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cluster/redis.h"
#include "common/status.h"
#include "config/config.h"
#include "moderation/front.h"
#include "net/broker_hook.h"
#include "net/net_server.h"

namespace sabla::cluster {

class EdgeNode final : public moderation::Inbound, public net::BrokerHook {
 public:
  EdgeNode(const Config& config, net::NetServer& net);
  ~EdgeNode() override;
  // Takes an edge number from Redis (so a clear start-up error when Redis
  // does not answer) and starts the Redis threads. Before the net thread runs.
  Status start();
  void stop();
  int64_t number() const { return number_; }

  // Inbound (net thread).
  void viewer_connected(moderation::ConnId conn, const std::string& ip) override;
  moderation::Verdict viewer_message(moderation::ConnId conn, std::string_view frame) override;
  void viewer_disconnected(moderation::ConnId conn) override;
  void studio_connected(moderation::ConnId, const moderation::Actor&) override {}
  moderation::Verdict studio_message(moderation::ConnId, std::string_view) override {
    return moderation::Verdict::handled;
  }
  void studio_disconnected(moderation::ConnId) override {}
  void overlay_connected(moderation::ConnId conn) override;
  void overlay_disconnected(moderation::ConnId conn) override;
  bool can_accept() const override;
  // Inbound::tick and BrokerHook::tick: the heartbeat, at most once a second.
  void tick() override;

  // BrokerHook (net thread): an edge publishes nothing of its own.
  void published(moderation::Audience, const std::string&) override {}
  void flushed() override {}
  bool send_remote(moderation::ConnId, std::string&) override { return false; }
  nlohmann::json health(bool* healthy) const override;
  void append_metrics(std::string& out) const override;

 private:
  struct Out {
    std::string epoch;
    uint64_t seq = 0;
    char audience = 0;  // v viewers, o overlays, F flush, b the main started
    std::string frame;
  };
  struct Direct {
    std::string epoch;
    uint64_t seq = 0;  // the main's sabla:out sequence when it sent this
    uint64_t conn = 0;
    bool close = false;
    int code = 0;
    std::string frame;
    int64_t held_since_ms = 0;
  };
  struct Template {
    std::string epoch;
    uint64_t seq = 0;  // the last sabla:out entry it includes
    std::string frame;
  };
  struct Client {
    bool viewer = true;
    std::string ip;
    std::string token;  // from the last welcome relayed to it
  };
  void reader_loop();  // Redis thread
  void on_read(std::vector<Out> outs, std::vector<Direct> directs, std::vector<Template> templates, bool lost,
               std::optional<Out> position);  // net thread
  // Takes the held template when this edge's place in sabla:out is the one it was made at.
  void take_template();
  void apply(const Out& o);
  void deliver_ready(bool all);
  void deliver(const Direct& d);
  void resync(const char* why);
  // Welcomes a new viewer from the template; false when it cannot (net thread).
  bool welcome_locally(moderation::ConnId conn);
  void want_template();
  bool inbox(moderation::ConnId conn, const char* kind, const std::string& frame, bool force);

  const Config& config_;
  net::NetServer& net_;
  RedisAddress address_;
  std::string node_;
  int64_t number_ = 0;
  std::unique_ptr<RedisWriter> writer_;
  std::thread reader_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reader_connected_{false};
  std::atomic<bool> main_alive_{false};

  // Net thread only.
  std::unordered_map<moderation::ConnId, Client> clients_;
  uint64_t viewers_ = 0;
  uint64_t overlays_ = 0;
  std::string epoch_;
  uint64_t seq_ = 0;
  std::string secret_;          // signs the tokens of the viewers welcomed here
  std::optional<Template> held_template_;  // read, waiting for its place in sabla:out
  std::string template_;        // the main's welcome for a new viewer ("" = none usable)
  uint64_t template_ring_seq_ = 0;  // the viewer ring's position when it arrived
  uint64_t next_local_viewer_ = 1;
  uint64_t local_welcomes_ = 0;
  std::deque<Direct> held_;  // direct frames waiting for the sabla:out entries before them
  int64_t last_beat_ms_ = 0;
  uint64_t received_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t gaps_ = 0;
  uint64_t resyncs_ = 0;
  uint64_t forwarded_ = 0;
};

}  // namespace sabla::cluster
