// The archive's promise: a comment's stream offset is its place on the
// session's recording. A real server runs the test card with recording on;
// a producer airs a comment and clears it; the session's own recording file
// is then decoded and the frames where the burned-in comment appears and
// disappears are compared with the offsets stored for those on-air events.
#include <catch2/catch.hpp>

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <sqlite3.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "support/http_client.h"
#include "support/server_process.h"
#include "support/ws_client.h"

using namespace sabla::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct DecodedFrame {
  int64_t t_ms;                 // from the file's first frame
  std::vector<double> row_mean;  // mean luma per row
};

// Decodes a Matroska recording to per-row mean luma. The test card scrolls
// horizontally (cyclically), which leaves each row's mean unchanged, while a
// burned-in comment card changes the rows it covers.
std::vector<DecodedFrame> decode_rows(const std::string& path, std::string* error) {
  gst_init(nullptr, nullptr);
  GError* err = nullptr;
  const std::string desc = "filesrc location=\"" + path +
                           "\" ! matroskademux ! h264parse ! avdec_h264 ! videoconvert ! "
                           "video/x-raw,format=GRAY8 ! appsink name=out sync=false";
  GstElement* pipe = gst_parse_launch(desc.c_str(), &err);
  if (!pipe) {
    *error = err ? err->message : "parse failed";
    if (err) g_error_free(err);
    return {};
  }
  if (err) g_error_free(err);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipe), "out");
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  std::vector<DecodedFrame> frames;
  int64_t first_pts = -1;
  for (;;) {
    GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 10 * GST_SECOND);
    if (!sample) break;
    GstBuffer* buf = gst_sample_get_buffer(sample);
    GstStructure* s = gst_caps_get_structure(gst_sample_get_caps(sample), 0);
    int w = 0, h = 0;
    gst_structure_get_int(s, "width", &w);
    gst_structure_get_int(s, "height", &h);
    const int stride = (w + 3) & ~3;  // GRAY8 rows are 4-byte aligned
    GstMapInfo map;
    if (buf && GST_BUFFER_PTS_IS_VALID(buf) && gst_buffer_map(buf, &map, GST_MAP_READ)) {
      const int64_t pts = int64_t(GST_BUFFER_PTS(buf) / GST_MSECOND);
      if (first_pts < 0) first_pts = pts;
      DecodedFrame f{pts - first_pts, {}};
      for (int y = 0; y < h && size_t(y + 1) * stride <= map.size; ++y) {
        double sum = 0;
        for (int x = 0; x < w; ++x) sum += map.data[size_t(y) * stride + x];
        f.row_mean.push_back(sum / w);
      }
      gst_buffer_unmap(buf, &map);
      frames.push_back(std::move(f));
    }
    gst_sample_unref(sample);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipe);
  if (frames.empty()) *error = "no frames decoded from " + path;
  return frames;
}

// Rows whose mean luma moved by more than 12 levels: encoding noise moves a
// few rows that much, a burned-in comment card dozens.
int rows_changed(const DecodedFrame& a, const DecodedFrame& b) {
  int n = 0;
  for (size_t y = 0; y < std::min(a.row_mean.size(), b.row_mean.size()); ++y)
    if (std::abs(a.row_mean[y] - b.row_mean[y]) > 12) ++n;
  return n;
}

std::vector<std::pair<std::string, int64_t>> query_pairs(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::pair<std::string, int64_t>> out;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK)
      while (sqlite3_step(st) == SQLITE_ROW)
        out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                         sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

}  // namespace

SCENARIO("stream offsets place comments and on-air events on the session's own recording", "[server][video]") {
  ServerProcess srv({}, {{"SABLA_VIDEO_SOURCE", "testcard"}, {"SABLA_VIDEO_SIZE", "320x180"}, {"SABLA_RECORDING", "true"}});
  std::string err;
  REQUIRE(srv.start(&err));
  const int port = srv.port();
  const std::string password = srv.initial_password(2000);
  auto login = http_post_json(port, "/api/v1/login", json{{"name", "producer"}, {"password", password}});
  REQUIRE(login.status == 200);
  WsOptions o;
  o.port = port;
  o.subprotocol = "sabla.viewer.v1";
  auto viewer = WsClient::connect(o, &err);
  REQUIRE(viewer);
  REQUIRE(viewer->recv_type("welcome", 5000));
  WsOptions so = o;
  so.subprotocol = "sabla.studio.v1";
  so.cookie = cookie_from(login, "sabla_session");
  so.origin = "http://127.0.0.1:" + std::to_string(port);
  auto studio = WsClient::connect(so, &err);
  REQUIRE(studio);

  // The default session (1) went live at the first start: it records into its own files.
  auto recording = studio->recv_until(
      [](const json& j) {
        return j.value("type", "") == "pipeline" && j.value("recording", "").find("/session-1-") != std::string::npos;
      },
      15000);
  REQUIRE(recording);
  const std::string file = (*recording)["recording"];

  std::vector<int64_t> ids;
  auto post = [&](const std::string& text) {
    const std::string cid = "c" + std::to_string(ids.size());
    viewer->send_json({{"type", "comment"}, {"client_id", cid}, {"text", text}});
    auto ack = viewer->recv_until([&](const json& j) { return j.value("type", "") == "ack" && j.value("client_id", "") == cid; }, 5000);
    REQUIRE(ack);
    ids.push_back((*ack)["id"]);
  };
  post("ما هي خطة تطوير الطرق في الولاية؟");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  post("When will the new bridge open?");
  studio->send_json({{"type", "approve"}, {"id", ids[0]}, {"op", "approve"}});
  REQUIRE(studio->recv_until([](const json& j) { return j.value("op", "") == "approve"; }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  studio->send_json({{"type", "air"}, {"id", ids[0]}, {"op", "air"}});
  REQUIRE(studio->recv_until([](const json& j) { return j.value("op", "") == "air"; }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  studio->send_json({{"type", "clear"}, {"op", "clear"}});
  REQUIRE(studio->recv_until([](const json& j) { return j.value("op", "") == "clear"; }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  post("Thank you for listening.");
  studio.reset();
  viewer.reset();
  REQUIRE(srv.terminate() == 0);  // closes the recording file

  const std::string db = srv.data_dir() + "/sabla.db";
  {  // comment offsets are set and never run backwards
    auto comments = query_pairs(db, "SELECT id, stream_offset_ms FROM comments ORDER BY id");
    REQUIRE(comments.size() == 3);
    for (size_t i = 0; i < comments.size(); ++i) {
      INFO("comment " << comments[i].first << " at " << comments[i].second << " ms");
      CHECK(comments[i].second >= 0);
      if (i) CHECK(comments[i].second >= comments[i - 1].second);
    }
  }
  {  // the comment is on the recorded frames from its aired offset to its cleared offset, within 1 s
    auto events = query_pairs(db, "SELECT kind, stream_offset_ms FROM on_air_events WHERE comment_id=" +
                                      std::to_string(ids[0]) + " ORDER BY id");
    REQUIRE(events.size() == 2);
    REQUIRE(events[0].first == "aired");
    REQUIRE(events[1].first == "cleared");
    const int64_t aired = events[0].second, cleared = events[1].second;
    REQUIRE(aired >= 0);
    REQUIRE(fs::exists(file));
    auto frames = decode_rows(file, &err);
    INFO(err);
    REQUIRE(frames.size() > 30);
    // The last frame is the clean test card (1.5 s after the clear); the
    // first frames may still be the slate while the test card starts.
    const DecodedFrame& clean = frames.back();
    int64_t seen_clean = -1, seen_on = -1, seen_off = -1;
    for (const auto& f : frames) {
      const int change = rows_changed(f, clean);
      if (seen_clean < 0) {
        if (change <= 2) seen_clean = f.t_ms;
      } else if (seen_on < 0) {
        if (change >= 15) seen_on = f.t_ms;
      } else if (seen_off < 0 && change <= 2) {
        seen_off = f.t_ms;
      }
    }
    INFO("aired at offset " << aired << " ms, first seen at " << seen_on << " ms; cleared at offset " << cleared
                            << " ms, gone at " << seen_off << " ms");
    REQUIRE(seen_on >= 0);
    REQUIRE(seen_off >= 0);
    WARN("recording alignment: aired " << (seen_on - aired) << " ms, cleared " << (seen_off - cleared) << " ms");
    CHECK(std::abs(seen_on - aired) <= 1000);
    CHECK(std::abs(seen_off - cleared) <= 1000);
  }

  {  // the session resumes after a restart: a new file of its own, offsets go on, the archive lists both files
    std::string last_offset_sql = "SELECT 'x', max(stream_offset_ms) FROM comments";
    const int64_t before = query_pairs(db, last_offset_sql).at(0).second;
    REQUIRE(srv.restart(&err));
    const int p2 = srv.port();
    auto login2 = http_post_json(p2, "/api/v1/login", json{{"name", "producer"}, {"password", password}});
    REQUIRE(login2.status == 200);
    WsOptions so2;
    so2.port = p2;
    so2.subprotocol = "sabla.studio.v1";
    so2.cookie = cookie_from(login2, "sabla_session");
    so2.origin = "http://127.0.0.1:" + std::to_string(p2);
    auto studio2 = WsClient::connect(so2, &err);
    REQUIRE(studio2);
    REQUIRE(studio2->recv_until(
        [](const json& j) {
          return j.value("type", "") == "pipeline" && j.value("recording", "").find("/session-1-001.mkv") != std::string::npos;
        },
        15000));
    WsOptions vo2;
    vo2.port = p2;
    vo2.subprotocol = "sabla.viewer.v1";
    auto viewer2 = WsClient::connect(vo2, &err);
    REQUIRE(viewer2);
    REQUIRE(viewer2->recv_type("welcome", 5000));
    viewer2->send_json({{"type", "comment"}, {"client_id", "after-restart"}, {"text", "Back again"}});
    REQUIRE(viewer2->recv_type("ack", 5000));
    auto sessions = http_get(p2, "/api/v1/archive/sessions", {{"Cookie", *so2.cookie}});
    studio2.reset();
    viewer2.reset();
    REQUIRE(srv.terminate() == 0);
    CHECK(query_pairs(db, last_offset_sql).at(0).second > before);
    REQUIRE(sessions.status == 200);
    auto body = json::parse(sessions.body, nullptr, false);
    REQUIRE(body.is_object());
    std::vector<std::string> names;
    for (const auto& sj : body["sessions"])
      if (sj.value("id", 0) == 1)
        for (const auto& f : sj["recordings"]) names.push_back(f.value("name", ""));
    CHECK(names == std::vector<std::string>{"session-1-000.mkv", "session-1-001.mkv"});
  }
}
