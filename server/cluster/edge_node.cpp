// An edge node's broker link and viewer relay (see edge_node.h).
#include "cluster/edge_node.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <chrono>

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "protocol/messages.h"

namespace sabla::cluster {

using moderation::Audience;
using moderation::ConnId;
using moderation::Verdict;
using json = nlohmann::json;

namespace {

constexpr size_t kWriterCapacity = 20'000;
constexpr size_t kAcceptBelow = 10'000;  // viewer frames wait (socket paused) beyond this many queued writes
constexpr const char* kInboxMaxLen = "1000000";
constexpr int64_t kHoldMs = 2000;  // a direct frame waits at most this long for the entries before it
constexpr int64_t kMaxEdgeNumber = (int64_t{1} << 21) - 1;  // viewer ids number << 32 | k stay below 2^53

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

EdgeNode::EdgeNode(const Config& config, net::NetServer& net) : config_(config), net_(net) {}

EdgeNode::~EdgeNode() { stop(); }

Status EdgeNode::start() {
  auto address = parse_redis_url(config_.cluster_redis);
  if (!address) return address.status();
  address_ = *address;
  {
    RedisConn c(address_);
    Reply r = c.command({"INCR", keys::kEdgeSeq});
    if (!r || reply_is_error(r.get()) || r->type != REDIS_REPLY_INTEGER)
      return Status::error("redis", "cannot reach Redis at " + config_.cluster_redis + ": " +
                                        (r ? reply_str(r.get()) : c.error()));
    number_ = r->integer;
    if (number_ < 1 || number_ > kMaxEdgeNumber)
      return Status::error("cluster", "Redis gave edge number " + std::to_string(number_) + " (" +
                                          std::string(keys::kEdgeSeq) + "), above the " +
                                          std::to_string(kMaxEdgeNumber) + " viewer ids allow; reset that key");
    secret_ = config_.cluster_secret;
    if (secret_.empty()) {
      Reply got = c.command({"GET", keys::kSecret});
      if (got && got->type == REDIS_REPLY_STRING) secret_ = reply_str(got.get());
    }
  }
  if (config_.cluster_node.empty()) {
    char host[64] = {0};
    gethostname(host, sizeof(host) - 1);
    node_ = "edge-" + std::to_string(number_) + "-" + host + "-" + std::to_string(getpid());
  } else {
    node_ = config_.cluster_node;
  }
  writer_ = std::make_unique<RedisWriter>(address_, kWriterCapacity);
  writer_->start();
  tick();  // the first heartbeat, so the main counts this node at once
  want_template();
  reader_ = std::thread([this] { reader_loop(); });
  spdlog::info("cluster: edge node {} (number {}) on Redis {}", node_, number_, config_.cluster_redis);
  return Status::ok();
}

void EdgeNode::stop() {
  stopping_.store(true);
  if (reader_.joinable()) reader_.join();
  if (writer_) writer_->stop();
}

// ------------------------------------------------------------------ viewers -> main

bool EdgeNode::inbox(ConnId conn, const char* kind, const std::string& frame, bool force) {
  auto it = clients_.find(conn);
  std::string ip = it != clients_.end() ? it->second.ip : std::string();
  std::string token = it != clients_.end() ? it->second.token : std::string();
  return writer_->push({"XADD", keys::kInbox, "MAXLEN", "~", kInboxMaxLen, "*", "k", kind, "n",
                        std::to_string(number_), "c", std::to_string(conn), "ip", ip, "t", token, "f", frame},
                       {}, force);
}

void EdgeNode::viewer_connected(ConnId conn, const std::string& ip) {
  clients_[conn] = Client{true, ip, {}};
  viewers_++;
  if (!welcome_locally(conn)) inbox(conn, "o", "", true);  // the main welcomes it
}

bool EdgeNode::welcome_locally(ConnId conn) {
  if (template_.size() < 2 || template_[0] != '{' || secret_.empty() || next_local_viewer_ >= (1ull << 32))
    return false;
  const int64_t id = (number_ << 32) | static_cast<int64_t>(next_local_viewer_);
  std::string token = crypto::signed_viewer_token(secret_, id);
  // The template is a JSON object without these keys: they go in front.
  std::string frame = "{\"viewer\":" + std::to_string(id) + ",\"token\":\"" + token + "\",\"name\":\"\"," +
                      template_.substr(1);
  if (!net_.send_resync_from(conn, std::move(frame), template_ring_seq_)) {
    template_.clear();  // the ring moved past it: wait for a newer one
    want_template();
    return false;
  }
  next_local_viewer_++;
  clients_[conn].token = std::move(token);
  inbox(conn, "n", "", true);
  local_welcomes_++;
  return true;
}

void EdgeNode::want_template() { inbox(0, "W", "", true); }

Verdict EdgeNode::viewer_message(ConnId conn, std::string_view frame) {
  if (!clients_.count(conn)) return Verdict::handled;
  if (!can_accept()) return Verdict::busy;
  if (!inbox(conn, "m", std::string(frame), false)) return Verdict::busy;
  forwarded_++;
  return Verdict::handled;
}

void EdgeNode::viewer_disconnected(ConnId conn) {
  if (!clients_.count(conn)) return;
  inbox(conn, "x", "", true);
  clients_.erase(conn);
  viewers_--;
}

void EdgeNode::overlay_connected(ConnId conn) {
  clients_[conn] = Client{false, {}, {}};
  overlays_++;
  inbox(conn, "O", "", true);
}

void EdgeNode::overlay_disconnected(ConnId conn) {
  if (!clients_.count(conn)) return;
  inbox(conn, "X", "", true);
  clients_.erase(conn);
  overlays_--;
}

bool EdgeNode::can_accept() const { return writer_->queued() < kAcceptBelow; }

void EdgeNode::tick() {
  const int64_t now = steady_ms();
  if (!held_.empty()) deliver_ready(false);
  if (now - last_beat_ms_ < 1000) return;
  last_beat_ms_ = now;
  const std::string beat =
      protocol::dump(json{{"node", node_}, {"edge", number_}, {"viewers", viewers_}, {"overlays", overlays_}});
  const std::string key = keys::node(number_);
  const std::string number = std::to_string(number_);
  const bool read_secret = config_.cluster_secret.empty();
  net::NetServer* net = &net_;
  writer_->push_job([this, beat, key, number, read_secret, net](RedisConn& c) {
    std::vector<std::vector<std::string>> commands{
        {"SET", key, beat, "EX", "5"}, {"SADD", keys::kNodes, number}, {"GET", keys::kMainAlive}};
    // The main's secret, until [cluster] secret is set here: it may start after this edge.
    if (read_secret) commands.push_back({"GET", keys::kSecret});
    std::vector<Reply> r = c.pipeline(commands);
    if (r.size() != commands.size()) return false;
    main_alive_.store(!reply_str(r[2].get()).empty());
    if (read_secret && r[3]->type == REDIS_REPLY_STRING) {
      net->post([this, secret = reply_str(r[3].get())] { secret_ = secret; });
    }
    return true;
  });
}

// ------------------------------------------------------------------ main -> viewers

void EdgeNode::reader_loop() {
  RedisConn conn(address_, 5000);
  int failures = 0;
  bool positioned = false;
  std::string out_id;            // last sabla:out entry read
  std::string direct_id = "0";   // this edge's stream is new with its number
  std::string welcome_id = "0";  // the newest template, whenever it was made
  const std::string direct_key = keys::direct(number_);
  while (!stopping_.load()) {
    bool lost = false;
    if (!positioned) {
      Reply last = conn.command({"XREVRANGE", keys::kOut, "+", "-", "COUNT", "1"});
      if (!last || reply_is_error(last.get())) {
        reader_connected_.store(false);
        if (failures == 0) spdlog::warn("redis: edge reader lost its connection: {}", conn.error());
        backoff_sleep(failures++, stopping_);
        continue;
      }
      std::vector<StreamEntry> tail = parse_xrange(last.get(), keys::kOut);
      const std::string newest = tail.empty() ? "0-0" : tail.front().id;
      if (out_id.empty()) {
        out_id = newest;  // start: what is published from now on
        if (!tail.empty()) {
          // ... and the main's place now, so a template made here is usable at once.
          Out at{tail.front().get("e"), 0, 0, {}};
          try {
            at.seq = std::stoull(tail.front().get("s"));
          } catch (...) {
            at.epoch.clear();
          }
          if (!at.epoch.empty())
            net_.post([this, at] { on_read({}, {}, {}, false, at); });
        }
      } else if (stream_id_less(newest, out_id)) {
        // Redis came back without what it held (no persistence): what was
        // published meanwhile is gone. Keep reading after our position (new
        // ids are later) and resync the viewers from the main.
        lost = true;
        spdlog::warn("cluster: Redis lost the stream (newest {} < ours {}): resync", newest, out_id);
      }
      positioned = true;
      if (failures > 0) spdlog::info("redis: edge reader reconnected");
      failures = 0;
      reader_connected_.store(true);
    }
    std::vector<Out> outs;
    std::vector<Direct> directs;
    std::vector<Template> templates;
    if (!lost) {
      Reply r = conn.command({"XREAD", "COUNT", "1000", "BLOCK", "500", "STREAMS", keys::kOut, direct_key,
                              keys::kWelcome, out_id, direct_id, welcome_id});
      if (!r) {
        reader_connected_.store(false);
        positioned = false;
        spdlog::warn("redis: edge reader lost its connection: {}", conn.error());
        backoff_sleep(failures++, stopping_);
        continue;
      }
      if (reply_is_error(r.get())) {
        spdlog::warn("redis: XREAD: {}", reply_str(r.get()));
        backoff_sleep(failures++, stopping_);
        continue;
      }
      for (auto& e : parse_xread(r.get())) {
        uint64_t seq = 0;
        try {
          seq = std::stoull(e.get("s"));
        } catch (...) {
        }
        if (e.stream == keys::kWelcome) {
          welcome_id = e.id;
          templates.push_back(Template{e.get("e"), seq, e.get("f")});
        } else if (e.stream == keys::kOut) {
          out_id = e.id;
          const std::string& a = e.get("a");
          outs.push_back(Out{e.get("e"), seq, a.empty() ? '?' : a[0], e.get("f")});
        } else {
          direct_id = e.id;
          Direct d;
          d.epoch = e.get("e");
          d.seq = seq;
          try {
            d.conn = std::stoull(e.get("c"));
            d.code = e.get("code").empty() ? 0 : std::stoi(e.get("code"));
          } catch (...) {
            continue;
          }
          d.close = e.get("k") == "close";
          d.frame = e.get("f");
          directs.push_back(std::move(d));
        }
      }
    }
    if (outs.empty() && directs.empty() && templates.empty() && !lost) continue;
    net_.post([this, outs = std::move(outs), directs = std::move(directs), templates = std::move(templates),
               lost]() mutable { on_read(std::move(outs), std::move(directs), std::move(templates), lost, {}); });
  }
}

void EdgeNode::on_read(std::vector<Out> outs, std::vector<Direct> directs, std::vector<Template> templates, bool lost,
                       std::optional<Out> position) {
  if (position && epoch_.empty()) {
    epoch_ = position->epoch;
    seq_ = position->seq;
  }
  if (!templates.empty()) held_template_ = std::move(templates.back());
  const int64_t now = steady_ms();
  for (auto& d : directs) {
    d.held_since_ms = now;
    held_.push_back(std::move(d));
  }
  // In the main's order: a direct frame sent after entry s goes out after
  // s reached the ring and before s+1 (a welcome must not miss s+1).
  for (const Out& o : outs) {
    deliver_ready(false);
    take_template();
    apply(o);
  }
  deliver_ready(false);
  take_template();
  if (lost) resync("Redis lost its data");
}

void EdgeNode::apply(const Out& o) {
  received_++;
  if (epoch_.empty()) {
    epoch_ = o.epoch;
    seq_ = o.seq;
  } else if (o.epoch != epoch_) {
    epoch_ = o.epoch;
    seq_ = o.seq;
    resync("the main node restarted");
  } else if (o.seq <= seq_) {
    duplicates_++;  // sent again after a writer reconnect
    return;
  } else {
    if (o.seq != seq_ + 1) {
      gaps_++;
      spdlog::warn("cluster: entries {}..{} of sabla:out are missing: resync", seq_ + 1, o.seq - 1);
      seq_ = o.seq;
      resync("a gap in the stream");
    }
    seq_ = o.seq;
  }
  switch (o.audience) {
    case 'v':
      net_.publish(Audience::viewers, o.frame);
      break;
    case 'o':
      net_.publish(Audience::overlays, o.frame);
      break;
    case 'F':
      net_.flush(Audience::viewers);
      break;
    default:
      break;
  }
}

void EdgeNode::take_template() {
  if (!held_template_) return;
  const Template& t = *held_template_;
  if (t.epoch == epoch_ && t.seq == seq_) {
    // The state as of here: what the ring gets from now on follows it.
    template_ = t.frame;
    template_ring_seq_ = net_.viewer_ring_end();
    held_template_.reset();
  } else if (t.epoch == epoch_ && t.seq < seq_) {
    held_template_.reset();  // passed: a newer one comes with the next change
  }
  // Another epoch: a restarted main's, whose first entry comes next (or a
  // dead one's, which the next template replaces): keep it.
}

void EdgeNode::deliver_ready(bool all) {
  const int64_t now = steady_ms();
  while (!held_.empty()) {
    const Direct& d = held_.front();
    const bool ready = all || (d.epoch == epoch_ && d.seq <= seq_) || now - d.held_since_ms >= kHoldMs ||
                       (d.epoch != epoch_ && now - d.held_since_ms >= 200);
    if (!ready) return;
    deliver(d);
    held_.pop_front();
  }
}

void EdgeNode::deliver(const Direct& d) {
  auto it = clients_.find(d.conn);
  if (it == clients_.end()) return;  // gone meanwhile
  if (d.close) {
    net_.close(d.conn, d.code, d.frame);
    return;
  }
  Client& c = it->second;
  if (!c.viewer) {
    // The only direct frame to an overlay is its state on (re)connect.
    net_.send_resync(d.conn, d.frame);
    return;
  }
  // A welcome (the only frame with a "token" key: inside strings the quotes
  // are escaped): keep the token for a resync and start the viewer's ring
  // after it.
  if (d.frame.find("\"token\":") != std::string::npos) {
    json j = json::parse(d.frame, nullptr, false);
    if (!j.is_discarded() && j.value("type", "") == "welcome" && j.contains("token") && j["token"].is_string()) {
      c.token = j["token"].get<std::string>();
      net_.send_resync(d.conn, d.frame);
      return;
    }
  }
  net_.send(d.conn, d.frame);
}

void EdgeNode::resync(const char* why) {
  resyncs_++;
  template_.clear();  // it may miss what was lost; the main sends a new one
  want_template();
  spdlog::info("cluster: resync of {} viewers and {} overlays ({})", viewers_, overlays_, why);
  for (const auto& [conn, c] : clients_) inbox(conn, c.viewer ? "r" : "O", "", true);
}

// ------------------------------------------------------------------ health

json EdgeNode::health(bool* healthy) const {
  const bool redis = writer_->connected() && reader_connected_.load();
  *healthy = redis;
  return json{{"role", "edge"},
              {"node", node_},
              {"edge", number_},
              {"redis", redis ? "up" : "down"},
              {"main", main_alive_.load() ? "up" : "unknown"},
              {"main_url", config_.cluster_main_url}};
}

void EdgeNode::append_metrics(std::string& out) const {
  const bool redis = writer_->connected() && reader_connected_.load();
  auto line = [&](const char* name, const char* type, uint64_t v) {
    out += std::string("# TYPE ") + name + " " + type + "\n" + name + " " + std::to_string(v) + "\n";
  };
  line("sabla_cluster_redis_up", "gauge", redis ? 1 : 0);
  line("sabla_cluster_received_total", "counter", received_);
  line("sabla_cluster_duplicates_total", "counter", duplicates_);
  line("sabla_cluster_gaps_total", "counter", gaps_);
  line("sabla_cluster_resyncs_total", "counter", resyncs_);
  line("sabla_cluster_forwarded_total", "counter", forwarded_);
  line("sabla_cluster_local_welcomes_total", "counter", local_welcomes_);
  line("sabla_cluster_writer_queue", "gauge", writer_->queued());
  out += "sabla_cluster_viewers{node=\"" + node_ + "\"} " + std::to_string(viewers_) + "\n";
}

}  // namespace sabla::cluster
