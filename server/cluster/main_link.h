// The main node's side of the cluster (docs/cluster.md): what the Room
// publishes goes to the edges through the stream sabla:out, frames for
// viewers on edges through each edge's sabla:direct:<n>, and what those
// viewers do comes back through sabla:inbox (consumer group "main"), runs
// through the Room exactly like a local viewer's frame, and is XACKed only
// after what it caused committed (Store::after_commit).
//
// Threads: the BrokerHook calls, process() and everything posted run on the
// net thread; reader_loop() on its own Redis thread; Redis writes on the
// RedisWriter's thread.
#pragma once
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cluster/redis.h"
#include "common/status.h"
#include "config/config.h"
#include "moderation/room.h"
#include "net/broker_hook.h"
#include "net/net_server.h"
#include "store/store.h"

namespace sabla::cluster {

class MainLink final : public net::BrokerHook {
 public:
  MainLink(const Config& config, net::NetServer& net, moderation::Room& room, store::Store& store);
  ~MainLink() override;
  // Checks that Redis answers (a clear start-up error otherwise), starts the
  // Redis threads and publishes this run's epoch. Before the net thread runs.
  Status start();
  // Stops the Redis threads (after the net thread stopped).
  void stop();

  // BrokerHook (net thread).
  void published(moderation::Audience audience, const std::string& frame) override;
  void flushed() override;
  void tick() override;
  bool send_remote(moderation::ConnId conn, std::string& frame) override;
  void close_remote(moderation::ConnId conn, int code, const std::string& reason) override;
  nlohmann::json health(bool* healthy) const override;
  void append_metrics(std::string& out) const override;

 private:
  struct Entry {
    std::string id;
    char kind = 0;  // o open, n joined (welcomed by the edge), r resync, m message, x close (viewers);
                    // O, X (overlays); W an edge wants the welcome template
    int64_t edge = 0;
    uint64_t local = 0;
    std::string ip;
    std::string token;
    std::string frame;
  };
  void reader_loop();                 // Redis thread
  void on_entries(std::vector<Entry> entries);  // net thread
  void process();                     // net thread
  void establish(moderation::ConnId conn, const Entry& e);
  void forget_edge(int64_t edge);
  void push_out(const char* audience, const std::string& frame);
  void push_direct(moderation::ConnId conn, std::vector<std::string> fields);
  void check_nodes();                 // net thread, every second
  // Pushes the Room's welcome template into sabla:out when it changed (or
  // an edge asked for it): edges welcome new viewers from it (net thread).
  void push_template(bool force);

  const Config& config_;
  net::NetServer& net_;
  moderation::Room& room_;
  store::Store& store_;
  RedisAddress address_;
  std::string node_;
  std::string epoch_;
  std::string secret_;  // signs viewer tokens on every node (docs/cluster.md)
  std::unique_ptr<RedisWriter> writer_;
  std::thread reader_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reader_connected_{false};
  std::atomic<size_t> in_hand_{0};  // entries read but not processed yet

  // Net thread only.
  uint64_t seq_ = 0;  // of this run's sabla:out entries
  std::deque<Entry> in_;
  std::vector<std::string> to_ack_;
  std::unordered_map<moderation::ConnId, int64_t> remote_viewers_;  // conn -> edge
  std::unordered_set<moderation::ConnId> remote_overlays_;
  std::map<int64_t, nlohmann::json> nodes_;  // edge -> its last heartbeat
  int64_t last_check_ms_ = 0;
  int64_t last_template_ms_ = 0;
  std::string template_;  // the welcome template last pushed
  bool template_wanted_ = false;
  uint64_t templates_ = 0;
  uint64_t published_ = 0;
  uint64_t direct_ = 0;
  uint64_t dropped_ = 0;
  uint64_t inbox_ = 0;
  uint64_t acked_ = 0;
};

}  // namespace sabla::cluster
