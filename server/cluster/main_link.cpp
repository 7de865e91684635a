// The main node's broker link (see main_link.h).
#include "cluster/main_link.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "protocol/messages.h"

namespace sabla::cluster {

using moderation::Audience;
using moderation::ConnId;
using json = nlohmann::json;

namespace {

constexpr size_t kWriterCapacity = 200'000;  // commands; beyond it frames are dropped (edges resync on the gap)
constexpr size_t kMaxInHand = 4096;          // inbox entries read ahead of the Room
constexpr const char* kOutMaxLen = "100000";
constexpr const char* kDirectMaxLen = "10000";

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string default_node(const char* kind) {
  char host[64] = {0};
  gethostname(host, sizeof(host) - 1);
  return std::string(kind) + "-" + host + "-" + std::to_string(getpid());
}

constexpr int64_t kTemplateCheckMs = 100;  // a new viewer on an edge sees at most this much replayed

// The cluster secret: configured, or this main node's own, made once and
// kept in DATA/cluster.secret (owner-only) so tokens outlive a restart.
Result<std::string> load_secret(const Config& config) {
  if (!config.cluster_secret.empty()) return config.cluster_secret;
  const std::string path = config.data_dir + "/cluster.secret";
  {
    std::ifstream in(path);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      std::string s = ss.str();
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
      if (s.size() >= 16) return s;
      return Status::error("config", path + " holds no usable secret (16 characters at least); remove it to make a new one");
    }
  }
  const std::string secret = crypto::random_secret(32);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::error("io", "cannot create " + path + ": " + std::strerror(errno));
  const std::string line = secret + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Status::error("io", "cannot write " + path);
  return secret;
}

// Raises the edge counter above every edge number in use, stored (ARGV[1],
// from viewer ids in SQLite) or alive (sabla:nodes): after Redis restarts
// empty, a new edge must not take a number whose viewer ids exist.
constexpr const char* kRaiseEdgeSeq =
    "local m = tonumber(ARGV[1]) "
    "for _, n in ipairs(redis.call('SMEMBERS', KEYS[2])) do local v = tonumber(n) if v and v > m then m = v end end "
    "if (tonumber(redis.call('GET', KEYS[1])) or 0) < m then redis.call('SET', KEYS[1], m) end "
    "return m";

}  // namespace

MainLink::MainLink(const Config& config, net::NetServer& net, moderation::Room& room, store::Store& store)
    : config_(config), net_(net), room_(room), store_(store) {
  node_ = config.cluster_node.empty() ? default_node("main") : config.cluster_node;
}

MainLink::~MainLink() { stop(); }

Status MainLink::start() {
  auto address = parse_redis_url(config_.cluster_redis);
  if (!address) return address.status();
  address_ = *address;
  auto secret = load_secret(config_);
  if (!secret) return secret.status();
  secret_ = *secret;
  room_.set_token_secret(secret_);
  {
    // Also the secret, now: edges started after this node welcome viewers at once.
    RedisConn probe(address_);
    Reply r = probe.command({"SET", keys::kSecret, secret_});
    if (!r || reply_is_error(r.get()))
      return Status::error("redis", "cannot reach Redis at " + config_.cluster_redis + ": " +
                                        (r ? reply_str(r.get()) : probe.error()));
  }
  epoch_ = crypto::random_secret(8);
  writer_ = std::make_unique<RedisWriter>(address_, kWriterCapacity);
  writer_->start();
  // The first entry of this run: edges that see a new epoch know the main
  // restarted and re-announce their viewers (the Room's memory is new).
  push_out("b", node_);
  reader_ = std::thread([this] { reader_loop(); });
  spdlog::info("cluster: main node {} on Redis {} (epoch {})", node_, config_.cluster_redis, epoch_);
  return Status::ok();
}

void MainLink::stop() {
  stopping_.store(true);
  if (reader_.joinable()) reader_.join();
  if (writer_) writer_->stop();
}

// ------------------------------------------------------------------ out

void MainLink::push_out(const char* audience, const std::string& frame) {
  ++seq_;
  if (!writer_->push({"XADD", keys::kOut, "MAXLEN", "~", kOutMaxLen, "*", "e", epoch_, "s", std::to_string(seq_), "a",
                      audience, "f", frame})) {
    dropped_++;  // the edges see the gap in s and resync
    return;
  }
  published_++;
}

void MainLink::published(Audience audience, const std::string& frame) {
  push_out(audience == Audience::overlays ? "o" : "v", frame);
}

void MainLink::flushed() { push_out("F", ""); }

void MainLink::push_direct(ConnId conn, std::vector<std::string> fields) {
  std::vector<std::string> argv{"XADD", keys::direct(edge_of(conn)), "MAXLEN", "~", kDirectMaxLen, "*",
                                "e", epoch_, "s", std::to_string(seq_), "c", std::to_string(local_of(conn))};
  for (auto& f : fields) argv.push_back(std::move(f));
  if (writer_->push(std::move(argv))) direct_++;
  else dropped_++;
}

bool MainLink::send_remote(ConnId conn, std::string& frame) {
  if (!is_remote(conn)) return false;
  push_direct(conn, {"f", frame});
  return true;
}

void MainLink::close_remote(ConnId conn, int code, const std::string& reason) {
  if (!is_remote(conn)) return;
  push_direct(conn, {"k", "close", "code", std::to_string(code), "f", reason});
}

// ------------------------------------------------------------------ inbox

void MainLink::reader_loop() {
  RedisConn conn(address_, 5000);
  int failures = 0;
  bool grouped = false;
  // First what an earlier run of this node read but never acknowledged
  // (it crashed before the commit): the same consumer name gets its pending
  // entries back from id 0 on; then new entries (">").
  bool pending_phase = true;
  std::string pending_from = "0";
  while (!stopping_.load()) {
    if (in_hand_.load() >= kMaxInHand) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (!grouped) {
      Reply r = conn.command({"XGROUP", "CREATE", keys::kInbox, keys::kGroup, "0", "MKSTREAM"});
      if (!r) {
        reader_connected_.store(false);
        if (failures == 0) spdlog::warn("redis: main reader lost its connection: {}", conn.error());
        backoff_sleep(failures++, stopping_);
        continue;
      }
      // BUSYGROUP: it exists already; anything else is reported and retried.
      if (reply_is_error(r.get()) && reply_str(r.get()).rfind("BUSYGROUP", 0) != 0) {
        spdlog::warn("redis: XGROUP CREATE: {}", reply_str(r.get()));
        backoff_sleep(failures++, stopping_);
        continue;
      }
      grouped = true;
      pending_phase = true;
      pending_from = "0";
    }
    std::vector<std::string> argv{"XREADGROUP", "GROUP", keys::kGroup, "main", "COUNT", "256"};
    if (!pending_phase) argv.insert(argv.end(), {"BLOCK", "500"});
    argv.insert(argv.end(), {"STREAMS", keys::kInbox, pending_phase ? pending_from : ">"});
    Reply r = conn.command(argv);
    if (!r) {
      reader_connected_.store(false);
      if (failures == 0) spdlog::warn("redis: main reader lost its connection: {}", conn.error());
      grouped = false;  // Redis may have restarted without its data: the group is made again
      backoff_sleep(failures++, stopping_);
      continue;
    }
    if (reply_is_error(r.get())) {
      spdlog::warn("redis: XREADGROUP: {}", reply_str(r.get()));  // NOGROUP after a Redis restart
      grouped = false;
      backoff_sleep(failures++, stopping_);
      continue;
    }
    if (failures > 0) spdlog::info("redis: main reader reconnected");
    failures = 0;
    reader_connected_.store(true);
    std::vector<StreamEntry> got = parse_xread(r.get());
    if (pending_phase) {
      if (got.empty()) {
        pending_phase = false;
        continue;
      }
      pending_from = got.back().id;
      spdlog::info("cluster: {} inbox entries left pending by an earlier run are handled again", got.size());
    }
    if (got.empty()) continue;
    std::vector<Entry> entries;
    entries.reserve(got.size());
    for (auto& g : got) {
      Entry e;
      e.id = g.id;
      const std::string& k = g.get("k");
      e.kind = k.empty() ? 0 : k[0];
      try {
        e.edge = std::stoll(g.get("n"));
        e.local = std::stoull(g.get("c"));
      } catch (...) {
        e.kind = 0;  // malformed: acknowledged and ignored
      }
      e.ip = g.get("ip");
      e.token = g.get("t");
      e.frame = g.get("f");
      entries.push_back(std::move(e));
    }
    in_hand_ += entries.size();
    net_.post([this, entries = std::move(entries)]() mutable { on_entries(std::move(entries)); });
  }
}

void MainLink::on_entries(std::vector<Entry> entries) {
  for (auto& e : entries) in_.push_back(std::move(e));
  inbox_ += entries.size();
  process();
}

void MainLink::push_template(bool force) {
  std::string t = room_.welcome_template();
  if (!force && t == template_) return;
  template_ = std::move(t);
  // Its own stream of one entry, not sabla:out: a template is kilobytes and
  // may change several times a second, and sabla:out keeps 100,000 entries.
  // "s" is the last sabla:out entry it includes; edges take it at that place.
  if (writer_->push({"XADD", keys::kWelcome, "MAXLEN", "1", "*", "e", epoch_, "s", std::to_string(seq_), "f",
                     template_}))
    templates_++;
}

void MainLink::establish(ConnId conn, const Entry& e) {
  remote_viewers_[conn] = e.edge;
  room_.viewer_connected(conn, e.ip);
  // A viewer the edge already knows (after a restart of this node, or a
  // resync): the token it got before names its identity.
  if (!e.token.empty() && e.token.size() <= 128)
    room_.viewer_message(conn, protocol::dump(json{{"type", "hello"}, {"token", e.token}}));
}

void MainLink::process() {
  bool busy = false;
  while (!in_.empty() && !busy) {
    Entry& e = in_.front();
    const ConnId conn = remote_conn(e.edge, e.local);
    const bool known = remote_viewers_.count(conn) > 0;
    switch (e.kind) {
      case 'o':
        if (!known) establish(conn, e);
        break;
      case 'n':
        // Welcomed by the edge from the template, under a signed token.
        if (!known) {
          remote_viewers_[conn] = e.edge;
          room_.viewer_joined(conn, e.ip, e.token);
        }
        break;
      case 'W':
        template_wanted_ = true;
        break;
      case 'r':
        if (!known) establish(conn, e);
        else room_.viewer_message(conn, protocol::dump(json{{"type", "hello"}, {"token", e.token}}));
        break;
      case 'm':
        if (!known) establish(conn, e);
        // The store is behind: this entry (and all after it, for order) waits for the next tick.
        busy = room_.viewer_message(conn, e.frame) == moderation::Verdict::busy;
        break;
      case 'x':
        if (known) {
          remote_viewers_.erase(conn);
          room_.viewer_disconnected(conn);
        }
        break;
      case 'O':
        if (remote_overlays_.count(conn)) room_.overlay_disconnected(conn);
        remote_overlays_.insert(conn);
        room_.overlay_connected(conn);
        break;
      case 'X':
        if (remote_overlays_.erase(conn)) room_.overlay_disconnected(conn);
        break;
      default:
        break;
    }
    if (busy) break;
    to_ack_.push_back(std::move(e.id));
    in_.pop_front();
    in_hand_--;
  }
  if (to_ack_.empty()) return;
  // XACK (and XDEL: nothing reads an entry twice) only once everything the
  // entries caused has committed: a crash before that leaves them pending,
  // and the next run handles them again (client_id makes that idempotent).
  std::vector<std::string> ids = to_ack_;
  RedisWriter* writer = writer_.get();
  const bool queued = store_.after_commit([this, writer, ids](Status s) {
    if (!s) spdlog::warn("cluster: a commit failed; inbox entries stay pending");
    if (!s) return;
    std::vector<std::string> ack{"XACK", keys::kInbox, keys::kGroup};
    std::vector<std::string> del{"XDEL", keys::kInbox};
    ack.insert(ack.end(), ids.begin(), ids.end());
    del.insert(del.end(), ids.begin(), ids.end());
    writer->push(std::move(ack), {}, true);
    writer->push(std::move(del), {}, true);
    acked_ += ids.size();
  });
  if (queued) to_ack_.clear();
}

// ------------------------------------------------------------------ nodes

void MainLink::tick() {
  if (!in_.empty() || !to_ack_.empty()) process();
  const int64_t now = steady_ms();
  if (template_wanted_ || now - last_template_ms_ >= kTemplateCheckMs) {
    push_template(template_wanted_);
    template_wanted_ = false;
    last_template_ms_ = now;
  }
  if (now - last_check_ms_ < 1000) return;
  last_check_ms_ = now;
  check_nodes();
}

void MainLink::check_nodes() {
  // One job on the writer thread: the main's heartbeat, then every edge's.
  net::NetServer* net = &net_;
  const std::string node = node_;
  const std::string secret = secret_;
  const std::string stored_edges = std::to_string(room_.highest_edge_number());
  writer_->push_job([this, net, node, secret, stored_edges](RedisConn& c) {
    // Again every second: Redis may have restarted without its data.
    std::vector<Reply> hb = c.pipeline({{"SET", keys::kMainAlive, node, "EX", "5"},
                                        {"SET", keys::kSecret, secret},
                                        {"EVAL", kRaiseEdgeSeq, "2", keys::kEdgeSeq, keys::kNodes, stored_edges}});
    if (hb.size() != 3) return false;
    Reply members = c.command({"SMEMBERS", keys::kNodes});
    if (!members) return false;
    std::map<int64_t, json> seen;
    std::vector<int64_t> ids;
    if (members->type == REDIS_REPLY_ARRAY)
      for (size_t i = 0; i < members->elements; ++i) {
        try {
          ids.push_back(std::stoll(reply_str(members->element[i])));
        } catch (...) {
        }
      }
    if (!ids.empty()) {
      std::vector<std::string> argv{"MGET"};
      for (int64_t id : ids) argv.push_back(keys::node(id));
      Reply got = c.command(argv);
      if (!got) return false;
      for (size_t i = 0; got->type == REDIS_REPLY_ARRAY && i < got->elements && i < ids.size(); ++i) {
        std::string s = reply_str(got->element[i]);
        json j = json::parse(s, nullptr, false);
        seen[ids[i]] = j.is_discarded() ? json() : j;  // null: the edge's heartbeat expired
      }
    }
    net->post([this, seen = std::move(seen)] {
      // Edges whose heartbeat expired (kill -9, lost network): their viewers are gone.
      std::unordered_set<int64_t> dead;
      for (const auto& [edge, hb] : seen)
        if (hb.is_null()) dead.insert(edge);
      for (const auto& [conn, edge] : remote_viewers_)
        if (!seen.count(edge) || seen.at(edge).is_null()) dead.insert(edge);
      for (int64_t edge : dead) forget_edge(edge);
      nodes_.clear();
      for (const auto& [edge, hb] : seen)
        if (!hb.is_null()) nodes_[edge] = hb;
    });
    return true;
  });
}

void MainLink::forget_edge(int64_t edge) {
  size_t n = 0;
  for (auto it = remote_viewers_.begin(); it != remote_viewers_.end();) {
    if (it->second == edge) {
      ConnId conn = it->first;
      it = remote_viewers_.erase(it);
      room_.viewer_disconnected(conn);
      ++n;
    } else {
      ++it;
    }
  }
  for (auto it = remote_overlays_.begin(); it != remote_overlays_.end();) {
    if (edge_of(*it) == edge) {
      room_.overlay_disconnected(*it);
      it = remote_overlays_.erase(it);
    } else {
      ++it;
    }
  }
  if (n > 0) spdlog::info("cluster: edge {} is gone; its {} viewers are disconnected", edge, n);
  writer_->push({"SREM", keys::kNodes, std::to_string(edge)}, {}, true);
  writer_->push({"DEL", keys::direct(edge)}, {}, true);
}

// ------------------------------------------------------------------ health

json MainLink::health(bool* healthy) const {
  const bool redis = writer_->connected() && reader_connected_.load();
  *healthy = redis;
  json edges = json::array();
  for (const auto& [edge, hb] : nodes_) edges.push_back(hb);
  return json{{"role", "main"}, {"node", node_}, {"redis", redis ? "up" : "down"}, {"edges", edges}};
}

void MainLink::append_metrics(std::string& out) const {
  const bool redis = writer_->connected() && reader_connected_.load();
  const auto m = room_.metrics();
  uint64_t remote = remote_viewers_.size();
  out += "# HELP sabla_cluster_redis_up Whether this node's Redis connections work.\n";
  out += "# TYPE sabla_cluster_redis_up gauge\n";
  out += "sabla_cluster_redis_up " + std::to_string(redis ? 1 : 0) + "\n";
  out += "# TYPE sabla_cluster_published_total counter\n";
  out += "sabla_cluster_published_total " + std::to_string(published_) + "\n";
  out += "# TYPE sabla_cluster_direct_total counter\n";
  out += "sabla_cluster_direct_total " + std::to_string(direct_) + "\n";
  out += "# TYPE sabla_cluster_dropped_total counter\n";
  out += "sabla_cluster_dropped_total " + std::to_string(dropped_) + "\n";
  out += "# TYPE sabla_cluster_inbox_total counter\n";
  out += "sabla_cluster_inbox_total " + std::to_string(inbox_) + "\n";
  out += "# TYPE sabla_cluster_inbox_acked_total counter\n";
  out += "sabla_cluster_inbox_acked_total " + std::to_string(acked_) + "\n";
  out += "# TYPE sabla_cluster_welcome_templates_total counter\n";
  out += "sabla_cluster_welcome_templates_total " + std::to_string(templates_) + "\n";
  out += "# TYPE sabla_cluster_writer_queue gauge\n";
  out += "sabla_cluster_writer_queue " + std::to_string(writer_->queued()) + "\n";
  out += "# HELP sabla_cluster_viewers Viewers by node (this main node and each edge); the total covers every node.\n";
  out += "# TYPE sabla_cluster_viewers gauge\n";
  out += "sabla_cluster_viewers{node=\"" + node_ + "\"} " +
         std::to_string(m.viewers_connected >= remote ? m.viewers_connected - remote : 0) + "\n";
  for (const auto& [edge, hb] : nodes_) {
    std::string name = hb.value("node", std::string("edge-") + std::to_string(edge));
    out += "sabla_cluster_viewers{node=\"" + name + "\"} " + std::to_string(hb.value("viewers", 0)) + "\n";
  }
  out += "sabla_cluster_viewers_total " + std::to_string(m.viewers_connected) + "\n";
}

}  // namespace sabla::cluster
