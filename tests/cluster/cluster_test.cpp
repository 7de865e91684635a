// The cluster against real processes: a redis-server started here on an
// ephemeral loopback port, a main node and edge nodes (the sabla binary),
// real WebSocket clients. Each wait is bounded; every process is stopped by
// the test.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "support/clients.h"
#include "support/http_client.h"
#include "support/redis_process.h"
#include "support/server_process.h"
#include "support/ws_client.h"

using namespace sabla::test;
using nlohmann::json;

namespace {

int64_t count_rows(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return -1;
  sqlite3_stmt* st = nullptr;
  int64_t n = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

// A viewer's welcome (the raw message), after connecting to `port`.
std::unique_ptr<WsClient> viewer_on(int port, json* welcome = nullptr) {
  WsOptions o;
  o.port = port;
  o.subprotocol = "sabla.viewer.v1";
  std::string err;
  auto c = WsClient::connect(o, &err);
  INFO(err);
  REQUIRE(c);
  auto w = c->recv_type("welcome", 8000);
  REQUIRE(w);
  if (welcome) *welcome = *w;
  return c;
}

struct Cluster {
  RedisProcess redis;
  std::unique_ptr<ServerProcess> main;
  std::vector<std::unique_ptr<ServerProcess>> edges;
  std::string password;

  void start(int edge_count) {
    std::string err;
    INFO(err);
    REQUIRE(redis.start(&err));
    main = std::make_unique<ServerProcess>(std::vector<std::string>{"--redis", redis.url()});
    REQUIRE(main->start(&err));
    password = main->initial_password(3000);
    REQUIRE_FALSE(password.empty());
    for (int i = 0; i < edge_count; ++i) {
      edges.push_back(std::make_unique<ServerProcess>(std::vector<std::string>{
          "--edge", "--redis", redis.url(), "--main-url", "http://127.0.0.1:" + std::to_string(main->port())}));
      INFO(edges.back()->describe());
      REQUIRE(edges.back()->start(&err));
    }
  }
};

#define SKIP_WITHOUT_REDIS()                                          \
  if (!RedisProcess::available()) {                                   \
    WARN("redis-server is not installed: cluster test skipped");      \
    return;                                                           \
  }

}  // namespace

SCENARIO("a viewer on an edge posts, the studio on the main approves, viewers on every node see it", "[cluster]") {
  SKIP_WITHOUT_REDIS();
  Cluster cl;
  cl.start(2);
  const int main_port = cl.main->port();
  auto mod = open_studio(main_port, login_cookie(main_port, "producer", cl.password));

  json w_main, w_edge1, w_edge2;
  auto on_main = viewer_on(main_port, &w_main);
  auto on_edge1 = viewer_on(cl.edges[0]->port(), &w_edge1);
  auto on_edge2 = viewer_on(cl.edges[1]->port(), &w_edge2);

  THEN("every node gives the same welcome, with viewer ids unique across nodes") {
    for (const char* key : {"session", "feed", "overlay", "settings", "stream"}) {
      CHECK(w_edge1[key] == w_main[key]);
      CHECK(w_edge2[key] == w_main[key]);
    }
    std::set<int64_t> ids{w_main["viewer"].get<int64_t>(), w_edge1["viewer"].get<int64_t>(),
                          w_edge2["viewer"].get<int64_t>()};
    CHECK(ids.size() == 3);
  }

  const std::string text = "سؤال من حافة: متى يبدأ المشروع؟";
  REQUIRE(on_edge1->send_json({{"type", "comment"}, {"client_id", "e-1"}, {"text", text}}));
  auto ack = on_edge1->recv_type("ack", 8000);
  REQUIRE(ack);
  CHECK((*ack)["status"] == "pending");
  const int64_t id = (*ack)["id"];
  // The ack from an edge still means "in SQLite".
  CHECK(count_rows(cl.main->data_dir() + "/sabla.db", "SELECT count(*) FROM comments WHERE id=" + std::to_string(id)) == 1);

  auto pending = mod->recv_type("pending", 5000);
  REQUIRE(pending);
  CHECK((*pending)["comment"]["id"] == id);
  REQUIRE(mod->send_json({{"type", "approve"}, {"id", id}, {"op", "a1"}}));
  REQUIRE(mod->recv_type("ok", 5000));
  for (WsClient* v : {on_main.get(), on_edge1.get(), on_edge2.get()}) {
    auto c = v->recv_type("comment", 8000);
    REQUIRE(c);
    CHECK((*c)["comment"]["id"] == id);
    CHECK((*c)["comment"]["text"] == text);
  }
  // Management's response reaches the author on the edge, and nobody else.
  REQUIRE(mod->send_json({{"type", "outcome"}, {"id", id}, {"status", "studying"}, {"op", "o1"}}));
  REQUIRE(mod->recv_until([](const json& j) { return j.value("op", "") == "o1"; }, 5000));
  auto outcome = on_edge1->recv_type("outcome", 8000);
  REQUIRE(outcome);
  CHECK((*outcome)["id"] == id);
  CHECK((*outcome)["outcome"]["status"] == "studying");
  CHECK_FALSE(on_edge2->recv_type("outcome", 300));

  WHEN("the same client_id comes again through the other edge with the same token") {
    auto again = viewer_on(cl.edges[1]->port());
    REQUIRE(again->send_json({{"type", "hello"}, {"token", w_edge1["token"]}}));
    auto welcome = again->recv_type("welcome", 8000);
    REQUIRE(welcome);
    THEN("the token names the same viewer on the other node, and the resend is acked without a new row") {
      CHECK((*welcome)["viewer"] == w_edge1["viewer"]);
      CHECK((*welcome)["feed"].size() == 1);
      REQUIRE(again->send_json({{"type", "comment"}, {"client_id", "e-1"}, {"text", text}}));
      auto ack2 = again->recv_type("ack", 8000);
      REQUIRE(ack2);
      CHECK((*ack2)["id"] == id);
      CHECK(count_rows(cl.main->data_dir() + "/sabla.db", "SELECT count(*) FROM comments") == 1);
    }
  }

  WHEN("a viewer on an edge is banned from the studio") {
    REQUIRE(mod->send_json({{"type", "ban"}, {"viewer", w_edge1["viewer"]}, {"seconds", 600}, {"op", "b1"}}));
    auto ok = mod->recv_until([](const json& j) { return j.value("op", "") == "b1"; }, 5000);
    REQUIRE(ok);
    THEN("their next comment through the edge is refused by the main's rules") {
      REQUIRE(on_edge1->send_json({{"type", "comment"}, {"client_id", "e-2"}, {"text", "again"}}));
      auto e = on_edge1->recv_type("error", 8000);
      REQUIRE(e);
      CHECK((*e)["code"] == "banned");
    }
  }

  WHEN("the edge is asked for the studio or the API") {
    const int edge_port = cl.edges[0]->port();
    auto r = http_get(edge_port, "/api/v1/sessions");
    THEN("it answers 421 naming the main node, and its health reports Redis") {
      CHECK(r.status == 421);
      auto body = json_body(r);
      REQUIRE(body);
      CHECK((*body)["error"]["code"] == "main_node_only");
      CHECK((*body)["error"].dump().find(std::to_string(main_port)) != std::string::npos);
      auto h = json_body(http_get(edge_port, "/api/v1/health"));
      REQUIRE(h);
      CHECK((*h)["cluster"]["redis"] == "up");
      CHECK((*h)["cluster"]["role"] == "edge");
    }
  }
}

SCENARIO("approvals reach viewers on every edge exactly once and in the main node's order", "[cluster]") {
  SKIP_WITHOUT_REDIS();
  Cluster cl;
  cl.start(2);
  const int main_port = cl.main->port();
  auto mod = open_studio(main_port, login_cookie(main_port, "producer", cl.password));
  std::vector<std::unique_ptr<WsClient>> viewers;
  for (int i = 0; i < 3; ++i) {
    viewers.push_back(viewer_on(cl.edges[0]->port()));
    viewers.push_back(viewer_on(cl.edges[1]->port()));
  }
  viewers.push_back(viewer_on(main_port));
  // Comments from every node, approved in an order of the studio's choosing.
  constexpr int kComments = 24;
  std::vector<int64_t> ids;
  for (int i = 0; i < kComments; ++i) {
    WsClient* from = viewers[static_cast<size_t>(i) % viewers.size()].get();
    REQUIRE(from->send_json({{"type", "comment"}, {"client_id", "c" + std::to_string(i)}, {"text", "comment " + std::to_string(i)}}));
    auto ack = from->recv_type("ack", 8000);
    REQUIRE(ack);
    ids.push_back((*ack)["id"]);
  }
  std::vector<int64_t> order = ids;
  std::reverse(order.begin(), order.end());
  for (int64_t id : order) REQUIRE(mod->send_json({{"type", "approve"}, {"id", id}}));
  for (auto& v : viewers) {
    std::vector<int64_t> got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got.size() < order.size() && std::chrono::steady_clock::now() < deadline) {
      auto c = v->recv_type("comment", 2000);
      if (c) got.push_back((*c)["comment"]["id"]);
    }
    // Nothing more comes: each approval exactly once.
    auto extra = v->recv_type("comment", 500);
    CHECK_FALSE(extra);
    CHECK(got == order);
  }
  // Counts cover every node: 7 viewers, 3 on each edge, 1 on the main.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string metrics;
  while (std::chrono::steady_clock::now() < deadline) {
    metrics = http_get(main_port, "/metrics").body;
    if (metrics.find("sabla_cluster_viewers_total 7") != std::string::npos &&
        std::count(metrics.begin(), metrics.end(), '\n') > 0 && metrics.find("viewers{node=\"edge-") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  INFO(metrics);
  CHECK(metrics.find("sabla_cluster_viewers_total 7") != std::string::npos);
  CHECK(metrics.find("} 3\n") != std::string::npos);
}

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// A viewer that has commented once (so its identity is stored and its token
// survives any node), with its welcome.
std::unique_ptr<WsClient> committed_viewer(int port, const std::string& client_id, json* welcome, int64_t* id) {
  auto v = viewer_on(port, welcome);
  REQUIRE(v->send_json({{"type", "comment"}, {"client_id", client_id}, {"text", "first " + client_id}}));
  auto ack = v->recv_type("ack", 8000);
  REQUIRE(ack);
  *id = (*ack)["id"];
  return v;
}

// The value of a metric line "name value" in a /metrics text, -1 if absent.
int64_t metric(const std::string& text, const std::string& name) {
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + name.size() + 2));
}

}  // namespace

SCENARIO("an edge is killed: its viewers come back on another edge with their identity", "[cluster][faults]") {
  SKIP_WITHOUT_REDIS();
  Cluster cl;
  cl.start(2);
  const int main_port = cl.main->port();
  auto mod = open_studio(main_port, login_cookie(main_port, "producer", cl.password));
  json welcome;
  int64_t id = 0;
  auto v = committed_viewer(cl.edges[0]->port(), "k-1", &welcome, &id);
  auto bystander = viewer_on(cl.edges[0]->port());

  const auto killed_at = Clock::now();
  cl.edges[0]->kill9();
  CHECK(v->wait_close(5000) != 0);
  // Approved while the viewer was away.
  REQUIRE(mod->send_json({{"type", "approve"}, {"id", id}, {"op", "a"}}));
  REQUIRE(mod->recv_type("ok", 5000));

  auto back = viewer_on(cl.edges[1]->port());
  REQUIRE(back->send_json({{"type", "hello"}, {"token", welcome["token"]}}));
  auto again = back->recv_type("welcome", 8000);
  REQUIRE(again);
  const double reconnect_ms = ms_since(killed_at);
  WARN("edge kill -9 -> welcome on the other edge: " << reconnect_ms << " ms");
  CHECK((*again)["viewer"] == welcome["viewer"]);
  REQUIRE((*again)["feed"].size() == 1);
  CHECK((*again)["feed"][0]["id"] == id);

  THEN("the main node stops counting the dead edge's viewers once its heartbeat expires") {
    const auto deadline = Clock::now() + std::chrono::seconds(12);
    int64_t total = -1;
    while (Clock::now() < deadline) {
      total = metric(http_get(main_port, "/metrics").body, "sabla_cluster_viewers_total");
      if (total == 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    WARN("viewers counted on the main " << ms_since(killed_at) << " ms after the kill: " << total);
    CHECK(total == 1);
  }
}

namespace {

// The edge number a node printed at start ("... (number 3) on Redis ..."), 0 if none.
int64_t edge_number_of(const ServerProcess& p) {
  const std::string text = p.stdout_text() + p.stderr_text();
  const auto at = text.find("(number ");
  return at == std::string::npos ? 0 : std::stoll(text.substr(at + 8));
}

constexpr int64_t kEdgeIdBase = int64_t{1} << 32;  // ids an edge numbers itself: edge << 32 | k

// Resumes a SIGSTOPped process however the scenario ends.
struct Resume {
  pid_t pid;
  ~Resume() { ::kill(pid, SIGCONT); }
};

}  // namespace

SCENARIO("an edge welcomes a new viewer itself, while the main node does not answer", "[cluster][faults]") {
  SKIP_WITHOUT_REDIS();
  Cluster cl;
  cl.start(2);
  const int main_port = cl.main->port();
  auto mod = open_studio(main_port, login_cookie(main_port, "producer", cl.password));
  json first_welcome;
  int64_t approved = 0;
  auto author = committed_viewer(cl.edges[1]->port(), "w-1", &first_welcome, &approved);
  REQUIRE(mod->send_json({{"type", "approve"}, {"id", approved}, {"op", "a"}}));
  REQUIRE(mod->recv_type("ok", 5000));
  REQUIRE(author->recv_type("comment", 8000));
  // The main pushes its welcome template within 100 ms of a change.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));

  REQUIRE(::kill(cl.main->pid(), SIGSTOP) == 0);
  Resume resume{cl.main->pid()};
  const auto stopped_at = Clock::now();
  json w;
  auto v = viewer_on(cl.edges[0]->port(), &w);
  WARN("welcome from the edge while the main is stopped: " << ms_since(stopped_at) << " ms");

  // One run, no sections: each start of a cluster costs seconds of CI.
  // The welcome is whole, with an id of the edge's numbering and a signed token.
  CHECK(w["viewer"].get<int64_t>() >= kEdgeIdBase);
  CHECK(w["viewer"].get<int64_t>() >> 32 == edge_number_of(*cl.edges[0]));
  CHECK(w["token"].get<std::string>().rfind("v1.", 0) == 0);
  REQUIRE(w["feed"].size() == 1);
  CHECK(w["feed"][0]["id"] == approved);
  for (const char* key : {"session", "overlay", "settings", "stream"}) CHECK(w[key] == first_welcome[key]);

  // A comment before the main is back waits for it: the ack still means "in SQLite".
  REQUIRE(v->send_json({{"type", "comment"}, {"client_id", "w-2"}, {"text", "من الحافة والرئيسية متوقفة"}}));
  CHECK_FALSE(v->recv_type("ack", 600));
  ::kill(cl.main->pid(), SIGCONT);
  auto ack = v->recv_type("ack", 8000);
  REQUIRE(ack);
  // Stored under the id the edge gave.
  CHECK(count_rows(cl.main->data_dir() + "/sabla.db",
                   "SELECT viewer_id FROM comments WHERE id=" + std::to_string((*ack)["id"].get<int64_t>())) ==
        w["viewer"].get<int64_t>());
  // The token names that viewer on the other edge and on the main.
  for (int port : {cl.edges[1]->port(), main_port}) {
    auto again = viewer_on(port);
    REQUIRE(again->send_json({{"type", "hello"}, {"token", w["token"]}}));
    auto back = again->recv_until(
        [&](const json& j) { return j.value("type", "") == "welcome" && j.value("token", "") == w["token"]; }, 8000);
    REQUIRE(back);
    CHECK((*back)["viewer"] == w["viewer"]);
  }
  // A token with a forged signature names nobody: it gets an identity of its own.
  const std::string forged = "v1." + std::to_string(w["viewer"].get<int64_t>()) + "." + std::string(32, '0');
  auto other = viewer_on(main_port);
  REQUIRE(other->send_json({{"type", "hello"}, {"token", forged}}));
  auto back = other->recv_type("welcome", 8000);
  REQUIRE(back);
  CHECK((*back)["viewer"] != w["viewer"]);
  CHECK((*back)["token"] != forged);
}

SCENARIO("two edges share one port: the kernel spreads viewers over both, and when one dies the other takes all",
         "[cluster][faults]") {
  SKIP_WITHOUT_REDIS();
  Cluster cl;
  cl.start(0);
  const std::string main_url = "http://127.0.0.1:" + std::to_string(cl.main->port());
  std::string err;
  ServerProcess a(std::vector<std::string>{"--edge", "--redis", cl.redis.url(), "--main-url", main_url, "--share-port"});
  INFO(a.describe());
  REQUIRE(a.start(&err));
  ServerProcess b(std::vector<std::string>{"--edge", "--redis", cl.redis.url(), "--main-url", main_url, "--share-port",
                                           "--port", std::to_string(a.port())});
  INFO(err);
  REQUIRE(b.start(&err));
  REQUIRE(b.port() == a.port());
  const int port = a.port();
  const int64_t number_a = edge_number_of(a), number_b = edge_number_of(b);
  REQUIRE(number_a > 0);
  REQUIRE(number_b > 0);

  // Each edge welcomes from the main's template once it has one: the id then says which edge answered.
  auto edge_of_viewer = [](const json& w) { return w["viewer"].get<int64_t>() >> 32; };
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  std::map<int64_t, int> per_edge;
  std::vector<std::unique_ptr<WsClient>> viewers;
  while (viewers.size() < 24 && Clock::now() < deadline) {
    json w;
    auto v = viewer_on(port, &w);
    if (edge_of_viewer(w) == 0) {  // welcomed by the main: this edge has no template yet
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    per_edge[edge_of_viewer(w)]++;
    viewers.push_back(std::move(v));
  }
  REQUIRE(viewers.size() == 24);
  WARN("24 viewers on one port: " << per_edge[number_a] << " on one edge, " << per_edge[number_b] << " on the other");
  CHECK(per_edge[number_a] > 0);
  CHECK(per_edge[number_b] > 0);
  CHECK(per_edge[number_a] + per_edge[number_b] == 24);

  WHEN("one edge is killed") {
    a.kill9();
    THEN("every new viewer on the port lands on the other") {
      for (int i = 0; i < 10; ++i) {
        json w;
        auto v = viewer_on(port, &w);
        const int64_t edge = edge_of_viewer(w);
        CHECK((edge == number_b || edge == 0));  // 0: the main welcomed it for the edge
      }
    }
  }
}

SCENARIO("the main node is killed mid-ingest: edges keep their viewers, every comment is acked once it is back",
         "[cluster][faults]") {
  SKIP_WITHOUT_REDIS();
  Cluster cl;
  cl.start(2);
  // Within the per-viewer rate limit (a burst of 5): the main's rules apply to edge viewers too.
  constexpr int kViewers = 20;
  constexpr int kPerViewer = 4;
  std::vector<std::unique_ptr<WsClient>> viewers;
  for (int i = 0; i < kViewers; ++i) viewers.push_back(viewer_on(cl.edges[static_cast<size_t>(i) % 2]->port()));
  std::map<std::string, int64_t> acked;  // client_id -> id
  std::vector<std::string> errors;
  auto collect = [&](WsClient& v, int timeout_ms) {
    for (auto& m : v.drain(50, timeout_ms)) {
      if (m.value("type", "") == "ack") acked[m["client_id"].get<std::string>()] = m["id"];
      else if (m.value("type", "") == "error") errors.push_back(m.dump());
    }
  };
  int sent = 0;
  auto send_round = [&](int round) {
    for (int i = 0; i < kViewers; ++i) {
      REQUIRE(viewers[static_cast<size_t>(i)]->send_json(
          {{"type", "comment"}, {"client_id", "v" + std::to_string(i) + "-" + std::to_string(round)},
           {"text", "تعليق " + std::to_string(round)}}));
      ++sent;
    }
  };
  send_round(0);
  for (auto& v : viewers) collect(*v, 300);
  const size_t acked_before_kill = acked.size();
  send_round(1);
  // Killed while those are being stored and acked.
  cl.main->kill9();
  const auto killed_at = Clock::now();
  for (int round = 2; round < kPerViewer; ++round) send_round(round);
  for (auto& v : viewers) collect(*v, 300);
  const size_t acked_before_restart = acked.size();
  std::string err;
  INFO(err);
  REQUIRE(cl.main->restart(&err));
  const double down_ms = ms_since(killed_at);
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (acked.size() < static_cast<size_t>(sent) && Clock::now() < deadline)
    for (auto& v : viewers) collect(*v, 200);
  const double all_acked_ms = ms_since(killed_at);
  const int64_t stored = count_rows(cl.main->data_dir() + "/sabla.db", "SELECT count(*) FROM comments");
  std::set<int64_t> ids;
  for (const auto& [cid, id] : acked) ids.insert(id);
  WARN("main kill -9 mid-ingest: sent " << sent << ", acked before the kill " << acked_before_kill
                                        << ", acked before the restart " << acked_before_restart
                                        << ", acked " << acked.size() << " (" << ids.size() << " ids), stored "
                                        << stored << "; main down " << down_ms << " ms, all acked after "
                                        << all_acked_ms << " ms");
  for (auto& v : viewers) CHECK_FALSE(v->is_closed());
  CHECK(errors.empty());
  for (const auto& e : errors) UNSCOPED_INFO(e);
  CHECK(acked.size() == static_cast<size_t>(sent));
  CHECK(ids.size() == static_cast<size_t>(sent));
  // Nothing acknowledged is lost, nothing is stored twice.
  CHECK(stored == sent);
  CHECK(acked_before_kill > 0);
}

SCENARIO("Redis is killed and restarted empty: nodes reconnect, viewers stay, the feed is right afterwards",
         "[cluster][faults]") {
  SKIP_WITHOUT_REDIS();
  Cluster cl;
  cl.start(2);
  const int main_port = cl.main->port();
  auto mod = open_studio(main_port, login_cookie(main_port, "producer", cl.password));
  json w;
  int64_t first = 0;
  auto v0 = committed_viewer(cl.edges[0]->port(), "r-1", &w, &first);
  auto v1 = viewer_on(cl.edges[1]->port());

  cl.redis.kill9();
  const auto killed_at = Clock::now();
  // Approved while Redis is down: it reaches the edges once Redis is back.
  REQUIRE(mod->send_json({{"type", "approve"}, {"id", first}, {"op", "a"}}));
  REQUIRE(mod->recv_type("ok", 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  std::string err;
  INFO(err);
  REQUIRE(cl.redis.restart(&err));
  // Every node reports Redis up again.
  std::vector<int> ports{main_port, cl.edges[0]->port(), cl.edges[1]->port()};
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  size_t up = 0;
  while (Clock::now() < deadline) {
    up = 0;
    for (int p : ports) {
      auto h = json_body(http_get(p, "/api/v1/health"));
      if (h && (*h)["cluster"]["redis"] == "up") ++up;
    }
    if (up == ports.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  WARN("Redis kill -9, restart empty: all nodes up again " << ms_since(killed_at) << " ms after the kill");
  REQUIRE(up == ports.size());
  CHECK_FALSE(v0->is_closed());
  CHECK_FALSE(v1->is_closed());

  // The approval made while Redis was down arrives (as a comment, or in the
  // resync's welcome).
  for (WsClient* v : {v0.get(), v1.get()}) {
    auto got = v->recv_until(
        [&](const json& j) {
          if (j.value("type", "") == "comment") return j["comment"]["id"] == first;
          if (j.value("type", "") == "welcome")
            for (const auto& c : j["feed"])
              if (c["id"] == first) return true;
          return false;
        },
        10000);
    CHECK(got);
  }
  // And the path from edges to the main works again (the consumer group is new).
  REQUIRE(v1->send_json({{"type", "comment"}, {"client_id", "r-2"}, {"text", "after the restart"}}));
  auto ack = v1->recv_type("ack", 10000);
  REQUIRE(ack);
  REQUIRE(mod->send_json({{"type", "approve"}, {"id", (*ack)["id"]}, {"op", "b"}}));
  for (WsClient* v : {v0.get(), v1.get()}) {
    auto c = v->recv_until(
        [&](const json& j) { return j.value("type", "") == "comment" && j["comment"]["id"] == (*ack)["id"]; }, 10000);
    CHECK(c);
  }
}

namespace {

// nginx on loopback with the documented config (docs/nginx/sabla-cluster.conf).
struct Nginx {
  TempDir dir{"sabla-nginx"};
  pid_t pid = -1;
  int port = 0;
  ~Nginx() {
    if (pid > 0) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      int st = 0;
      ::waitpid(pid, &st, 0);
    }
  }
  static bool available() { return ::access("/usr/sbin/nginx", X_OK) == 0; }
  bool start(int main_port, const std::vector<int>& edge_ports, std::string* error) {
    std::ifstream in(std::string(SABLA_SOURCE_DIR) + "/docs/nginx/sabla-cluster.conf");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string conf = ss.str();
    // A free port: bind 0, read it, close (nginx binds it right after).
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    ::close(fd);
    std::string edges;
    for (int p : edge_ports) edges += "server 127.0.0.1:" + std::to_string(p) + " max_fails=1 fail_timeout=5s;\n    ";
    auto replace = [&](const std::string& from, const std::string& to) {
      for (size_t at = conf.find(from); at != std::string::npos; at = conf.find(from, at + to.size()))
        conf.replace(at, from.size(), to);
    };
    replace("@LISTEN@", "127.0.0.1:" + std::to_string(port));
    replace("@EDGES@", edges);
    replace("@MAIN@", "127.0.0.1:" + std::to_string(main_port));
    replace("@DIR@", dir.path());
    // Workers run as an unprivileged user when nginx starts as root.
    ::chmod(dir.path().c_str(), 0777);
    std::ofstream(dir.file("nginx.conf")) << conf;
    const std::string conf_path = dir.file("nginx.conf");
    const std::string prefix = dir.path();
    pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::execl("/usr/sbin/nginx", "nginx", "-c", conf_path.c_str(), "-p", prefix.c_str(), "-e",
              (prefix + "/error.log").c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
      if (http_get(port, "/api/v1/health").status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::ifstream log(dir.file("error.log"));
    std::stringstream l;
    l << log.rdbuf();
    *error = "nginx did not answer on port " + std::to_string(port) + ": " + l.str();
    return false;
  }
};

}  // namespace

SCENARIO("nginx in front of two edges: a viewer whose edge dies comes back through nginx on the other",
         "[cluster][faults][nginx]") {
  SKIP_WITHOUT_REDIS();
  if (!Nginx::available()) {
    WARN("nginx is not installed: test skipped");
    return;
  }
  Cluster cl;
  cl.start(2);
  Nginx nginx;
  std::string err;
  INFO(err);
  REQUIRE(nginx.start(cl.main->port(), {cl.edges[0]->port(), cl.edges[1]->port()}, &err));
  // The pages and health come through nginx; the API from the main node.
  CHECK(http_get(nginx.port, "/").status == 200);
  auto sessions = http_get(nginx.port, "/api/v1/sessions");
  CHECK(sessions.status != 421);

  json welcome;
  int64_t id = 0;
  auto v = committed_viewer(nginx.port, "n-1", &welcome, &id);
  // Which edge has it: the one whose /metrics counts a viewer.
  size_t on = 2;
  for (size_t i = 0; i < 2; ++i)
    if (http_get(cl.edges[i]->port(), "/metrics").body.find("\"} 1\n") != std::string::npos) on = i;
  REQUIRE(on < 2);
  const auto killed_at = Clock::now();
  cl.edges[on]->kill9();
  CHECK(v->wait_close(5000) != 0);
  // The page reconnects through the same address and presents its token.
  std::unique_ptr<WsClient> back;
  json again;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!back && Clock::now() < deadline) {
    WsOptions o;
    o.port = nginx.port;
    o.subprotocol = "sabla.viewer.v1";
    back = WsClient::connect(o, &err);
    if (!back || !back->recv_type("welcome", 5000)) {
      back.reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  REQUIRE(back);
  REQUIRE(back->send_json({{"type", "hello"}, {"token", welcome["token"]}}));
  auto w = back->recv_type("welcome", 8000);
  REQUIRE(w);
  WARN("through nginx: edge kill -9 -> welcome with the same identity on the other edge in " << ms_since(killed_at)
                                                                                          << " ms");
  CHECK((*w)["viewer"] == welcome["viewer"]);
  CHECK(http_get(cl.edges[1 - on]->port(), "/metrics").body.find("\"} 1\n") != std::string::npos);
}
