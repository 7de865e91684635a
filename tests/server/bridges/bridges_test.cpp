// Bridges (issue 14) against the real `sabla` binary: each platform's API is
// a loopback FixtureServer answering in that platform's documented format
// (fixtures/README.md), the bridge's api_base points at it, and what the
// bridge fed is read back from the real SQLite file and GET /api/v1/bridges.
// Faults: paging, empty pages, duplicates across pages, 429 with Retry-After
// (and Telegram's retry_after), a 5xx burst, expired credentials, malformed
// and oversized answers, Arabic and emoji text, a restart mid-stream, and
// the webhook's signature.
#include <catch2/catch.hpp>

#include <openssl/hmac.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "support/command.h"
#include "support/http_client.h"
#include "support/server_process.h"
#include "fixture_server.h"

using namespace sabla::test;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Runs `sabla serve` with a config file holding `bridges_toml`.
struct Node {
  explicit Node(const std::string& bridges_toml) {
    REQUIRE(config_dir.ok());
    config = config_dir.file("sabla.toml");
    std::ofstream(config) << "[video]\nsource = \"off\"\n\n" << bridges_toml;
    ServerOptions o;
    o.args = {"--config", config};
    srv = std::make_unique<ServerProcess>(o);
    std::string err;
    INFO(err);
    REQUIRE(srv->start(&err));
    std::string out = run_command(std::string(SABLA_BINARY) + " token create probe --role producer --data " +
                                  srv->data_dir() + " 2>/dev/null");
    token = value_after(out, "token: ");
    REQUIRE(token.size() >= 32);
  }
  int port() const { return srv->port(); }
  std::string db() const { return srv->data_dir() + "/sabla.db"; }
  json bridge(const std::string& name) const {
    auto r = http_get(port(), "/api/v1/bridges", {{"Authorization", "Bearer " + token}});
    auto body = json_body(r);
    if (r.status != 200 || !body) return json();
    for (const json& b : (*body)["bridges"])
      if (b["name"] == name) return b;
    return json();
  }
  std::string output() const { return srv->stdout_text() + srv->stderr_text(); }

  TempDir config_dir{"sabla-bridges"};
  std::string config;
  std::unique_ptr<ServerProcess> srv;
  std::string token;
};

// Rows of `sql` from the server's database (read-only, beside the writer).
std::vector<std::vector<std::string>> rows(const std::string& db_path, const std::string& sql) {
  std::vector<std::vector<std::string>> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const unsigned char* t = sqlite3_column_text(st, i);
        row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
      }
      out.push_back(std::move(row));
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

size_t count_source(const Node& n, const std::string& source) {
  auto r = rows(n.db(), "SELECT COUNT(*) FROM comments WHERE source = '" + source + "'");
  return r.empty() ? 0 : std::stoul(r[0][0]);
}

// external_id -> (display_name, text) of a source's comments.
std::map<std::string, std::pair<std::string, std::string>> comments_of(const Node& n, const std::string& source) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (auto& r : rows(n.db(), "SELECT external_id, display_name, text FROM comments WHERE source = '" + source + "'"))
    out[r[0]] = {r[1], r[2]};
  return out;
}

bool eventually(const std::function<bool()>& ok, int timeout_ms = 10000) {
  const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < end) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ok();
}

int64_t ms_between(const FixtureRequest& a, const FixtureRequest& b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b.at - a.at).count();
}

// Computed with OpenSSL, independently of the server's libsodium.
std::string signature(const std::string& secret, const std::string& body) {
  unsigned char digest[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &len);
  static const char* hex = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

}  // namespace

TEST_CASE("YouTube bridge: chat id from the video, pages, 429 Retry-After, a 5xx burst, empty pages, duplicates",
          "[bridges]") {
  const std::string page1_token = "GLbT0rDfpfkCIIKq", page2_token = "GKyd0rDfpfkCIKSr";
  std::atomic<int> page2_calls{0}, empty_calls{0};
  FixtureServer yt([&](const FixtureRequest& r) -> FixtureReply {
    if (r.path == "/youtube/v3/videos") return {200, fixture("youtube_videos.json"), {}};
    if (r.path != "/youtube/v3/liveChat/messages") return {404, "{}", {}};
    const std::string token = r.param("pageToken");
    if (token.empty()) return {200, fixture("youtube_page1.json"), {}};
    if (token == page1_token) {
      const int n = page2_calls++;
      if (n == 0) return {429, R"({"error":{"code":429,"message":"slow down"}})", {{"Retry-After", "1"}}};
      if (n <= 3) return {503, R"({"error":{"code":503,"message":"backend error"}})", {}};
      return {200, fixture("youtube_page2.json"), {}};
    }
    empty_calls++;
    return {200, fixture("youtube_empty.json"), {}};
  });
  Node node(R"([[bridges]]
kind = "youtube"
video_id = "sablaLive01"
api_key = "yt-test-key-0001"
api_base = ")" + yt.base() + R"(/youtube/v3"
backoff_ms = 50
backoff_max_ms = 400
)");
  REQUIRE(eventually([&] { return count_source(node, "youtube") == 4 && empty_calls >= 2; }));

  const auto stored = comments_of(node, "youtube");
  CHECK(stored.at("LCC.yt-message-001") == std::make_pair(std::string("Salim R."), std::string("When will the new clinic open?")));
  CHECK(stored.at("LCC.yt-message-003") ==
        std::make_pair(std::string("مريم البلوشية"), std::string("متى يبدأ العمل في الطريق الجديد؟")));
  CHECK(stored.at("LCC.yt-message-004").second == "Please ask about school buses");  // a Super Chat's comment
  CHECK(stored.at("LCC.yt-message-005") ==
        std::make_pair(std::string("Noor 🌙"), std::string("شكراً للوزارة 🙏🇴🇲 great session 👏")));
  CHECK(stored.count("LCC.yt-message-002") == 0);  // a membership event is not a comment

  const auto requests = yt.requests();
  REQUIRE(requests.size() >= 8);
  CHECK(requests[0].path == "/youtube/v3/videos");
  CHECK(requests[0].param("id") == "sablaLive01");
  CHECK(requests[1].param("liveChatId") == "Cg0KC3NhYmxhTGl2ZTAx");
  CHECK(requests[1].param("key") == "yt-test-key-0001");
  CHECK(requests[1].param("part") == "snippet,authorDetails");
  // The 429's Retry-After: 1 is honoured, then the 5xx burst backs off and recovers.
  std::vector<FixtureRequest> page2;
  for (const auto& r : requests)
    if (r.param("pageToken") == page1_token) page2.push_back(r);
  REQUIRE(page2.size() == 5);
  CHECK(ms_between(page2[0], page2[1]) >= 950);
  for (int i = 1; i < 4; ++i) CHECK(ms_between(page2[i], page2[i + 1]) >= 20);  // backoff with jitter, at least half of 50 ms

  const json state = node.bridge("youtube");
  INFO(state.dump());
  CHECK(state["state"] == "connected");
  CHECK(state["kind"] == "youtube");
  CHECK(state["comments_in"] == 4);
  CHECK(state["duplicates"] == 1);  // message 004 came again on page 2
  CHECK(state["failures"] == 4);
  CHECK(state["poll_interval_ms"] == 100);  // pollingIntervalMillis
  CHECK_THAT(state["last_error"].get<std::string>(), Catch::Contains("HTTP 503"));
  CHECK_THAT(node.output(), !Catch::Contains("yt-test-key-0001"));
  const std::string metrics = http_get(node.port(), "/metrics").body;
  CHECK_THAT(metrics, Catch::Contains("sabla_bridge_up{bridge=\"youtube\",kind=\"youtube\"} 1\n") &&
                          Catch::Contains("sabla_bridge_state{bridge=\"youtube\",state=\"connected\"} 1\n") &&
                          Catch::Contains("sabla_bridge_comments_total{bridge=\"youtube\"} 4\n") &&
                          Catch::Contains("sabla_bridge_duplicates_total{bridge=\"youtube\"} 1\n") &&
                          Catch::Contains("sabla_bridge_failures_total{bridge=\"youtube\"} 4\n") &&
                          Catch::Contains("sabla_bridge_poll_interval_seconds{bridge=\"youtube\"} 0.1\n"));
}

TEST_CASE("YouTube bridge: quota exceeded waits, it is not taken for expired credentials", "[bridges]") {
  std::atomic<int> calls{0};
  FixtureServer yt([&](const FixtureRequest&) -> FixtureReply {
    if (calls++ == 0) return {403, fixture("youtube_quota.json"), {}};
    return {200, fixture("youtube_empty.json"), {}};
  });
  Node node(R"([[bridges]]
kind = "youtube"
name = "yt-main"
live_chat_id = "Cg0KC3NhYmxhTGl2ZTAx"
token = "ya29.oauth-test-token"
api_base = ")" + yt.base() + R"("
backoff_ms = 50
)");
  REQUIRE(eventually([&] { return node.bridge("yt-main")["state"] == "connected"; }));
  const json state = node.bridge("yt-main");
  CHECK_THAT(state["last_error"].get<std::string>(), Catch::Contains("quotaExceeded"));
  CHECK(yt.requests()[0].headers.at("authorization") == "Bearer ya29.oauth-test-token");
  CHECK(yt.requests()[0].param("key").empty());
}

TEST_CASE("X bridge: since_id and next_token paging, a malformed answer, an expired bearer token", "[bridges]") {
  const std::string newest = "1865000000000000103";
  const std::string next = "b26v89c19zqg8o3fpzbkk4gmmjl4p2fu0xwyqyvl1m6q1";
  std::atomic<int> first_calls{0}, since_calls{0};
  FixtureServer x([&](const FixtureRequest& r) -> FixtureReply {
    if (r.path != "/2/tweets/search/recent") return {404, "{}", {}};
    if (r.param("since_id").empty()) {
      if (first_calls++ == 0) return {200, "{\"data\": [ {\"id\": \"1\", \"te", {}};  // cut short
      return {200, fixture("x_page1.json"), {}};
    }
    if (r.param("next_token") == next) return {200, fixture("x_page2.json"), {}};
    const int n = since_calls++;
    if (n == 0) return {200, fixture("x_page1.json"), {}};  // the same page again, with a next_token
    if (n < 4) return {200, fixture("x_empty.json"), {}};
    return {401, fixture("x_unauthorized.json"), {}};
  });
  Node node(R"([[bridges]]
kind = "x"
query = "#sabla_session -is:retweet"
token = "x-test-bearer-0001"
api_base = ")" + x.base() + R"(/2"
poll_interval_ms = 100
backoff_ms = 50
)");
  REQUIRE(eventually([&] { return node.bridge("x")["state"] == "error"; }));
  const size_t requests_at_error = x.count();

  const auto stored = comments_of(node, "x");
  REQUIRE(stored.size() == 3);
  CHECK(stored.at("1865000000000000103").first == "Khalid");
  CHECK(stored.at("1865000000000000102") == std::make_pair(std::string("أحمد"), std::string("#sabla_session سؤالي عن رسوم الكهرباء 💡")));
  CHECK(stored.at("1865000000000000101").first == "fatma_s");  // no display name: the username

  const auto requests = x.requests();
  CHECK(requests[0].headers.at("authorization") == "Bearer x-test-bearer-0001");
  CHECK(requests[0].param("query") == "%23sabla_session%20-is%3Aretweet");
  bool paged = false;
  for (const auto& r : requests)
    if (r.param("next_token") == next) paged = r.param("since_id") == newest;
  CHECK(paged);  // next_token kept the poll's since_id
  // The first poll takes one page only: no next_token without a since_id.
  for (const auto& r : requests)
    if (r.param("since_id").empty()) CHECK(r.param("next_token").empty());

  json state = node.bridge("x");
  INFO(state.dump());
  CHECK(state["comments_in"] == 3);
  CHECK(state["duplicates"] == 3);  // 103 and 102 again, then 102 on the next page
  CHECK_THAT(state["last_error"].get<std::string>(), Catch::Contains("credentials") && Catch::Contains("401"));
  CHECK(node.output().find("malformed answer") != std::string::npos);
  // Expired credentials are reported, not retried.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  CHECK(x.count() == requests_at_error);
  CHECK_THAT(node.output(), !Catch::Contains("x-test-bearer-0001"));
  const std::string metrics = http_get(node.port(), "/metrics").body;
  CHECK_THAT(metrics, Catch::Contains("sabla_bridge_up{bridge=\"x\",kind=\"x\"} 0\n") &&
                          Catch::Contains("sabla_bridge_state{bridge=\"x\",state=\"error\"} 1\n") &&
                          Catch::Contains("sabla_bridge_comments_total{bridge=\"x\"} 3\n"));
}

TEST_CASE("Facebook bridge: after cursors, an oversized answer, an expired token (Graph error 190)", "[bridges]") {
  std::atomic<int> bare_calls{0}, empty_calls{0};
  FixtureServer fb([&](const FixtureRequest& r) -> FixtureReply {
    if (r.path != "/v19.0/1234567890/comments") return {404, "{}", {}};
    const std::string after = r.param("after");
    if (after.empty()) {
      if (bare_calls++ == 0) return {200, "{\"data\":[" + std::string(3 * 1024 * 1024, ' ') + "]}", {}};
      return {200, fixture("facebook_page1.json"), {}};
    }
    if (after == "QVFIUmFfter1") return {200, fixture("facebook_page2.json"), {}};
    if (empty_calls++ < 3) return {200, fixture("facebook_empty.json"), {}};
    return {400, fixture("facebook_expired.json"), {}};
  });
  Node node(R"([[bridges]]
kind = "facebook"
live_video_id = "1234567890"
token = "EAAB-fb-test-token"
api_base = ")" + fb.base() + R"(/v19.0"
poll_interval_ms = 100
backoff_ms = 50
)");
  REQUIRE(eventually([&] { return node.bridge("facebook")["state"] == "error"; }));
  const auto stored = comments_of(node, "facebook");
  REQUIRE(stored.size() == 3);
  CHECK(stored.at("1234567890_1111").first == "Aisha Al-Harthy");
  CHECK(stored.at("1234567890_1113") == std::make_pair(std::string("سعيد"), std::string("نرجو توضيح موعد صرف الدعم 🙏")));
  CHECK(stored.at("1234567890_1114") == std::make_pair(std::string(""), std::string("Thank you 😊")));
  CHECK(stored.count("1234567890_1112") == 0);  // no message (a sticker)

  const auto requests = fb.requests();
  CHECK(requests[0].param("access_token") == "EAAB-fb-test-token");
  CHECK(requests[0].param("order") == "chronological");
  // After the last page, polls ask for what comes after its cursor.
  CHECK(requests.back().param("after") == "QVFIUmFfter2");
  json state = node.bridge("facebook");
  INFO(state.dump());
  CHECK(state["duplicates"] == 1);
  CHECK_THAT(state["last_error"].get<std::string>(), Catch::Contains("190") && Catch::Contains("renew"));
  CHECK(node.output().find("larger than 2 MiB") != std::string::npos);
  CHECK_THAT(node.output(), !Catch::Contains("EAAB-fb-test-token"));
}

TEST_CASE("Telegram bridge: getUpdates offsets, retry_after, one chat only; a restart mid-stream stores nothing twice",
          "[bridges]") {
  std::atomic<int> phase{1}, bare_calls{0};
  std::atomic<bool> second_given{false};
  FixtureServer tg([&](const FixtureRequest& r) -> FixtureReply {
    if (r.path != "/bot123456:tg-test-token/getUpdates") return {404, R"({"ok":false,"error_code":404,"description":"Not Found"})", {}};
    const std::string offset = r.param("offset");
    if (offset.empty()) {
      if (bare_calls++ == 0) return {429, fixture("telegram_429.json"), {}};
      // Until the offset confirms them, Telegram hands the same updates out again.
      return {200, fixture("telegram_updates1.json"), {}};
    }
    if (offset == "730000005" && phase == 2 && !second_given.exchange(true))
      return {200, fixture("telegram_updates2.json"), {}};
    if (offset == "730000006") return {401, fixture("telegram_401.json"), {}};
    return {200, R"({"ok":true,"result":[]})", {}};
  });
  Node node(R"([[bridges]]
kind = "telegram"
chat_id = -1001234567890
token = "123456:tg-test-token"
api_base = ")" + tg.base() + R"("
poll_interval_ms = 100
backoff_ms = 50
)");
  REQUIRE(eventually([&] { return count_source(node, "telegram") == 2 && tg.count() >= 4; }));
  {
    const auto requests = tg.requests();
    CHECK(ms_between(requests[0], requests[1]) >= 950);  // parameters.retry_after = 1
    CHECK(requests[0].param("timeout") == "0");          // under a second: short polls
  }
  auto stored = comments_of(node, "telegram");
  CHECK(stored.at("-1001234567890:41") ==
        std::make_pair(std::string("Yousuf Al-Amri"), std::string("هل ستنشر الوزارة ردودها مكتوبة؟")));
  CHECK(stored.at("-1001234567890:43").second == "Great answers so far 👍🏽");
  CHECK(stored.count("-1009999999999:7") == 0);  // another chat the bot is in

  // A crash and restart: the new process starts without an offset and gets
  // the same updates; only then does Telegram have a new one.
  node.srv->kill9();
  std::string err;
  INFO(err);
  REQUIRE(node.srv->restart(&err));
  phase = 2;
  REQUIRE(eventually([&] { return node.bridge("telegram")["state"] == "error"; }));
  stored = comments_of(node, "telegram");
  CHECK(stored.size() == 3);
  CHECK(stored.at("-1001234567890:44").second == "What about the budget for schools? 📚");
  CHECK(rows(node.db(), "SELECT COUNT(*) FROM comments WHERE source='telegram'")[0][0] == "3");
  json state = node.bridge("telegram");
  INFO(state.dump());
  CHECK(state["duplicates"] == 2);  // 41 and 43 again after the restart
  CHECK(state["comments_in"] == 1);
  CHECK_THAT(state["last_error"].get<std::string>(), Catch::Contains("401") && Catch::Contains("bot token"));
  CHECK_THAT(node.output(), !Catch::Contains("tg-test-token"));
}

TEST_CASE("webhook bridge: signed posts reach the queue; a bad or missing signature is 401 and stores nothing",
          "[bridges]") {
  const std::string secret = "webhook-secret-0123456789";
  Node node(R"([[bridges]]
kind = "webhook"
name = "sms"
secret = ")" + secret + R"("
)");
  const std::string body = json{{"author", "+968 9xxx 1234"}, {"text", "سؤال عبر الرسائل القصيرة 📱"}, {"external_id", "sms-1"}}.dump();
  auto post = [&](const std::string& payload, const Headers& headers, const std::string& name = "sms") {
    HttpRequest req;
    req.port = node.port();
    req.method = "POST";
    req.path = "/api/v1/bridges/" + name;
    req.body = payload;
    req.headers = headers;
    return http_request(req);
  };
  auto first = post(body, {{"X-Sabla-Signature", signature(secret, body)}});
  INFO(first.body);
  REQUIRE(first.status == 202);
  auto reply = json_body(first);
  REQUIRE(reply);
  CHECK((*reply)["duplicate"] == false);
  CHECK((*reply)["id"].is_number_integer());
  CHECK(((*reply)["status"] == "pending" || (*reply)["status"] == "approved"));
  auto again = post(body, {{"X-Sabla-Signature", signature(secret, body)}});
  REQUIRE(again.status == 202);
  CHECK((*json_body(again))["duplicate"] == true);
  CHECK((*json_body(again))["id"] == (*reply)["id"]);

  const std::string other = json{{"author", "x"}, {"text", "forged"}, {"external_id", "sms-2"}}.dump();
  CHECK(post(other, {{"X-Sabla-Signature", signature("another-secret-000000", other)}}).status == 401);
  CHECK(post(other, {}).status == 401);
  CHECK(post(other, {{"X-Sabla-Signature", signature(secret, body)}}).status == 401);  // signs another body
  CHECK(post(other, {{"X-Sabla-Signature", "sha256=zz"}}).status == 401);
  CHECK(post("{not json", {{"X-Sabla-Signature", signature(secret, "{not json")}}).status == 400);
  CHECK(post(other, {{"X-Sabla-Signature", signature(secret, other)}}, "nobody").status == 404);
  // Oversized: refused before it is read (the HTTP front's 64 KiB), and a
  // text longer than the queue takes is refused by the ingest path.
  const std::string huge = json{{"text", std::string(70 * 1024, 'a')}, {"external_id", "sms-3"}}.dump();
  CHECK(post(huge, {{"X-Sabla-Signature", signature(secret, huge)}}).status == 413);
  const std::string long_text = json{{"text", std::string(600, 'b')}, {"external_id", "sms-4"}}.dump();
  auto too_long = post(long_text, {{"X-Sabla-Signature", signature(secret, long_text)}});
  CHECK(too_long.status == 400);
  CHECK_THAT(too_long.body, Catch::Contains("too_long"));

  const auto stored = comments_of(node, "sms");
  REQUIRE(stored.size() == 1);
  CHECK(stored.at("sms-1").second == "سؤال عبر الرسائل القصيرة 📱");
  CHECK(rows(node.db(), "SELECT COUNT(*) FROM comments WHERE text = 'forged'")[0][0] == "0");
  const json state = node.bridge("sms");
  INFO(state.dump());
  CHECK(state["state"] == "listening");
  CHECK(state["comments_in"] == 1);
  CHECK(state["duplicates"] == 1);
  CHECK(state["refused"] == 6);  // 4 signatures, the malformed body, the long text
  const std::string metrics = http_get(node.port(), "/metrics").body;
  CHECK_THAT(metrics, Catch::Contains("sabla_bridge_up{bridge=\"sms\",kind=\"webhook\"} 1\n") &&
                          Catch::Contains("sabla_bridge_refused_total{bridge=\"sms\"} 6\n"));
  // The state is for the studio's roles only.
  CHECK(http_get(node.port(), "/api/v1/bridges").status == 401);
}

TEST_CASE("sabla bridge: a Telegram bridge run apart posts to the main node's ingest API with an API token",
          "[bridges]") {
  std::atomic<int> bare_calls{0};
  FixtureServer tg([&](const FixtureRequest& r) -> FixtureReply {
    if (r.param("offset").empty() && bare_calls++ == 0) return {200, fixture("telegram_updates1.json"), {}};
    return {200, R"({"ok":true,"result":[]})", {}};
  });
  Node main_node("");
  TempDir dir("sabla-bridge-cli");
  const std::string config = dir.file("bridge.toml");
  std::ofstream(config) << "[[bridges]]\nkind = \"telegram\"\nname = \"tg-group\"\ntoken = \"123456:tg-test-token\"\n"
                        << "chat_id = -1001234567890\napi_base = \"" << tg.base() << "\"\npoll_interval_ms = 100\n";
  const std::string url = "http://127.0.0.1:" + std::to_string(main_node.port());
  const std::string log = dir.file("bridge.log");
  std::fflush(stdout);  // or the child would write the parent's buffered output again
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setenv("SABLA_API_TOKEN", main_node.token.c_str(), 1);
    FILE* out = freopen(log.c_str(), "w", stdout);
    (void)out;
    dup2(fileno(stdout), 2);
    execl(SABLA_BINARY, SABLA_BINARY, "bridge", "telegram", "--config", config.c_str(), "--main-url", url.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  const bool stored = eventually([&] { return count_source(main_node, "tg-group") == 2; });
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  std::ifstream in(log);
  const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  INFO(output);
  REQUIRE(stored);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(output, Catch::Contains("bridging 1 bridge(s) to " + url) && Catch::Contains("2 stored"));
  CHECK_THAT(output, !Catch::Contains(main_node.token) && !Catch::Contains("tg-test-token"));
  CHECK(comments_of(main_node, "tg-group").at("-1001234567890:43").second == "Great answers so far 👍🏽");
}
