// The server with its video pipeline on (small test card): HLS is served,
// studios get the pipeline status, viewers learn where the stream is.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.h"
#include "support/server_process.h"
#include "support/ws_client.h"

using namespace sabla::test;
using nlohmann::json;

SCENARIO("serve with the test card publishes HLS and reports the pipeline", "[server][video]") {
  ServerProcess srv({}, {{"SABLA_VIDEO_SOURCE", "testcard"}, {"SABLA_VIDEO_SIZE", "320x180"}, {"SABLA_RECORDING", "true"}});
  std::string err;
  REQUIRE(srv.start(&err));
  const int port = srv.port();

  // The first playlist needs two keyframe intervals (hlssink2): bounded wait.
  HttpResponse playlist;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {
    playlist = http_get(port, "/hls/live.m3u8");
    if (playlist.status == 200 && playlist.body.find(".ts") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  } while (std::chrono::steady_clock::now() < deadline);
  REQUIRE(playlist.status == 200);
  CHECK(playlist.body.rfind("#EXTM3U", 0) == 0);
  auto first_segment = playlist.body.substr(playlist.body.find("seg"));
  first_segment = first_segment.substr(0, first_segment.find('\n'));
  auto segment = http_get(port, "/hls/" + first_segment);
  CHECK(segment.status == 200);
  CHECK(segment.body.size() > 188);
  CHECK(static_cast<unsigned char>(segment.body[0]) == 0x47);  // MPEG-TS sync byte

  WsOptions o;
  o.port = port;
  o.subprotocol = "sabla.viewer.v1";
  auto viewer = WsClient::connect(o, &err);
  REQUIRE(viewer);
  auto welcome = viewer->recv_type("welcome", 5000);
  REQUIRE(welcome);
  CHECK((*welcome)["stream"]["hls"] == "/hls/live.m3u8");
  CHECK((*welcome)["stream"]["live"] == true);

  auto login = http_post_json(port, "/api/v1/login", json{{"name", "producer"}, {"password", srv.initial_password(2000)}});
  REQUIRE(login.status == 200);
  WsOptions so = o;
  so.subprotocol = "sabla.studio.v1";
  so.cookie = cookie_from(login, "sabla_session");
  so.origin = "http://127.0.0.1:" + std::to_string(port);
  auto studio = WsClient::connect(so, &err);
  REQUIRE(studio);
  auto status = studio->recv_until(
      [](const json& j) { return j.value("type", "") == "pipeline" && j.value("fps", 0.0) > 0; }, 8000);
  REQUIRE(status);
  CHECK((*status)["state"] == "playing");
  CHECK((*status)["source_live"] == true);
  CHECK((*status)["recording"].get<std::string>().find(".mkv") != std::string::npos);
  CHECK(srv.terminate() == 0);  // a clean stop with the pipeline running
}

SCENARIO("a pipeline error rebuilds the pipeline without restarting the server", "[server][video]") {
  ServerProcess srv({}, {{"SABLA_VIDEO_SOURCE", "testcard"}, {"SABLA_VIDEO_SIZE", "320x180"}});
  std::string err;
  REQUIRE(srv.start(&err));
  const int port = srv.port();
  const std::string hls = srv.data_dir() + "/hls";
  auto wait_for_playlist = [&](int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      auto p = http_get(port, "/hls/live.m3u8");
      if (p.status == 200 && p.body.find(".ts") != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return false;
  };
  REQUIRE(wait_for_playlist(20));
  auto metrics = http_get(port, "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("sabla_video_playing 1\n") != std::string::npos);
  CHECK(metrics.body.find("sabla_video_restarts_total 0\n") != std::string::npos);
  CHECK(metrics.body.find("# TYPE sabla_video_fps gauge") != std::string::npos);

  WHEN("the HLS folder disappears under the running pipeline (the next segment cannot be written)") {
    std::error_code ec;
    std::filesystem::remove_all(hls, ec);
    REQUIRE_FALSE(ec);
    THEN("the error is reported, the pipeline is rebuilt and HLS is served again, same process") {
      bool restarted = false;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (!restarted && std::chrono::steady_clock::now() < deadline) {
        auto m = http_get(port, "/metrics");
        restarted = m.status == 200 && m.body.find("sabla_video_restarts_total 0\n") == std::string::npos &&
                    m.body.find("sabla_video_restarts_total") != std::string::npos;
        if (!restarted) std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
      REQUIRE(restarted);
      CHECK(srv.running());
      CHECK(wait_for_playlist(20));
      auto health = http_get(port, "/api/v1/health");
      CHECK(health.status == 200);
      CHECK(srv.terminate() == 0);
    }
  }
}

// Issue #11, defect 3: two destinations on one host and app (two channels on
// one platform) once gave two identical series,
// sabla_video_restream_live{url="rtmp://h/live"}, and Prometheus kept one.
// Port 1 on 127.0.0.1 refuses connections: the destinations keep
// reconnecting, and only their metric lines matter here.
SCENARIO("restreams to the same host and app get distinct metric series without their keys", "[server][video]") {
  const std::string keys[] = {"first-KEY-4a8f", "second-KEY-9c2e"};
  ServerProcess srv({}, {{"SABLA_VIDEO_SOURCE", "testcard"},
                         {"SABLA_VIDEO_SIZE", "320x180"},
                         {"SABLA_RECORDING", "false"},
                         {"SABLA_RESTREAM_URLS",
                          "rtmp://127.0.0.1:1/live/" + keys[0] + ",rtmp://127.0.0.1:1/live/" + keys[1]}});
  std::string err;
  REQUIRE(srv.start(&err));
  const int port = srv.port();

  // Series (name plus labels) of the restream gauge, once the pipeline reports.
  std::vector<std::string> series;
  std::string body;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (series.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    auto m = http_get(port, "/metrics");
    REQUIRE(m.status == 200);
    body = m.body;
    series.clear();
    std::istringstream lines(body);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("sabla_video_restream_live{", 0) == 0) series.push_back(line.substr(0, line.rfind(' ')));
    if (series.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  INFO(body);
  REQUIRE(series.size() == 2);
  THEN("each destination has its own series: its index, and the redacted url as before") {
    CHECK(series[0] != series[1]);
    CHECK(series[0] == R"(sabla_video_restream_live{index="0",url="rtmp://127.0.0.1:1/live"})");
    CHECK(series[1] == R"(sabla_video_restream_live{index="1",url="rtmp://127.0.0.1:1/live"})");
  }
  THEN("no series repeats anywhere in the exposition, and no stream key is in it") {
    std::set<std::string> seen;
    std::istringstream lines(body);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line[0] == '#') continue;
      INFO(line);
      CHECK(seen.insert(line.substr(0, line.rfind(' '))).second);
    }
    for (const std::string& key : keys) CHECK(body.find(key) == std::string::npos);
    CHECK(body.find("KEY") == std::string::npos);
  }
  CHECK(srv.terminate() == 0);
}
