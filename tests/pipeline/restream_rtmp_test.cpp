// Restream into a real RTMP server: Debian nginx + libnginx-mod-rtmp started
// by the test on an ephemeral 127.0.0.1 port. The program (test card) pushes
// to it; a second program pulls the stream back from the server and decodes
// it; nginx's own recording of the stream is checked as FLV with H.264 + AAC.
// Then the server is killed: HLS must keep growing while the restream
// reports the failure, and it must come back by itself when the server does.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/peer_process.h"
#include "sabla/pipeline/program.h"
#include "support/server_process.h"

namespace fs = std::filesystem;
using namespace sabla;
using namespace sabla::test;
using namespace std::chrono_literals;
using pipeline::Program;
using pipeline::ProgramConfig;
using pipeline::RestreamState;

namespace {

const char* kRtmpModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

// nginx in the foreground with everything (pid, logs, recordings) in `dir`.
struct RtmpServer {
  std::string dir, conf, log, record_dir;
  int port = -1;
  PeerProcess proc;

  bool start(std::string* error) {
    std::string e;
    if (!proc.start({"nginx", "-c", conf, "-p", dir + "/", "-e", log}, dir + "/nginx.out", &e)) {
      *error = "nginx: " + e;
      return false;
    }
    if (!wait_for([&] { return tcp_accepts(port) || !proc.running(); }, 10s) || !proc.running()) {
      *error = "nginx did not listen on 127.0.0.1:" + std::to_string(port) + ": " + file_text(log) +
               file_text(dir + "/nginx.out");
      return false;
    }
    return true;
  }

  static bool make(const std::string& dir, RtmpServer* s, std::string* error) {
    s->dir = dir;
    s->conf = dir + "/nginx.conf";
    s->log = dir + "/error.log";
    s->record_dir = dir + "/rec";
    s->port = free_loopback_port(SOCK_STREAM);
    fs::create_directories(s->record_dir);
    // Run as root, nginx's workers switch to an unprivileged user: they must
    // be able to write the recording.
    ::chmod(s->record_dir.c_str(), 0777);
    std::ofstream f(s->conf);
    f << "load_module " << kRtmpModule << ";\n"
      << "daemon off;\nworker_processes 1;\n"
      << "pid " << dir << "/nginx.pid;\n"
      << "error_log " << s->log << " info;\n"
      << "events { worker_connections 64; }\n"
      << "rtmp { server { listen 127.0.0.1:" << s->port << "; chunk_size 4096;\n"
      << "  application live { live on; record all; record_path " << s->record_dir << "; } } }\n";
    if (!f) {
      *error = "cannot write " + s->conf;
      return false;
    }
    return s->port > 0;
  }
};

// The FLV tags of a (possibly still growing) file: what nginx received.
struct FlvSummary {
  bool header = false;
  int avc_sequence_headers = 0, avc_keyframes = 0, avc_frames = 0;
  int aac_frames = 0;
  // Tag timestamps (ms, with the extended byte) in file order: what a player
  // or a platform's ingest would use to place each frame.
  std::vector<uint32_t> video_ms, audio_ms, all_ms;
};

FlvSummary read_flv(const std::string& path) {
  FlvSummary s;
  std::string b = file_text(path);
  auto u8 = [&](size_t i) { return static_cast<uint8_t>(b[i]); };
  if (b.size() < 13 || b.compare(0, 3, "FLV") != 0) return s;
  s.header = true;
  size_t off = (size_t(u8(5)) << 24 | size_t(u8(6)) << 16 | size_t(u8(7)) << 8 | u8(8)) + 4;
  while (off + 11 <= b.size()) {
    int type = u8(off) & 0x1f;
    size_t size = size_t(u8(off + 1)) << 16 | size_t(u8(off + 2)) << 8 | u8(off + 3);
    size_t data = off + 11;
    if (data + size > b.size()) break;  // the tag being written
    uint32_t ms = uint32_t(u8(off + 7)) << 24 | uint32_t(u8(off + 4)) << 16 | uint32_t(u8(off + 5)) << 8 | u8(off + 6);
    if (type == 9 && size >= 2) {
      int frame_type = u8(data) >> 4, codec = u8(data) & 0x0f, packet = u8(data + 1);
      if (codec == 7 && packet == 0) s.avc_sequence_headers++;
      if (codec == 7 && packet == 1) {
        s.avc_frames++;
        s.video_ms.push_back(ms);
        s.all_ms.push_back(ms);
        if (frame_type == 1) s.avc_keyframes++;
      }
    } else if (type == 8 && size >= 2) {
      if ((u8(data) >> 4) == 10 && u8(data + 1) == 1) {
        s.aac_frames++;
        s.audio_ms.push_back(ms);
        s.all_ms.push_back(ms);
      }
    }
    off = data + size + 4;
  }
  return s;
}

// How one media kind's timestamps advance: each frame its own timestamp,
// never going backwards.
struct Advance {
  size_t frames = 0, distinct = 0, backwards = 0;
  uint32_t span_ms = 0;
};

Advance advance_of(const std::vector<uint32_t>& ms) {
  Advance a;
  a.frames = ms.size();
  for (size_t i = 0; i < ms.size(); i++) {
    if (i == 0 || ms[i] != ms[i - 1]) a.distinct++;
    if (i > 0 && ms[i] < ms[i - 1]) a.backwards++;
  }
  if (!ms.empty()) a.span_ms = ms.back() - ms.front();
  return a;
}

struct RestreamEvents : pipeline::Listener {
  std::mutex mu;
  std::vector<pipeline::RestreamStats> restreams;
  std::vector<std::string> errors, logs;
  void on_state(pipeline::ProgramState) override {}
  void on_error(const std::string& m) override {
    std::lock_guard lk(mu);
    errors.push_back(m);
  }
  void on_source(bool) override {}
  void on_restream(size_t, const pipeline::RestreamStats& s) override {
    std::lock_guard lk(mu);
    restreams.push_back(s);
  }
  void on_log(int, const std::string& m) override {
    std::lock_guard lk(mu);
    logs.push_back(m);
  }
};

}  // namespace

SCENARIO("a restream reaches a real RTMP server and survives it going away", "[pipeline][restream]") {
  if (find_executable("nginx").empty() || !fs::exists(kRtmpModule)) {
    WARN("SKIPPED: nginx or libnginx-mod-rtmp is not installed (scripts/setup installs nginx-light and libnginx-mod-rtmp)");
    return;
  }
  TempDir dir("sabla-rtmp");
  REQUIRE(dir.ok());
  ::chmod(dir.path().c_str(), 0755);
  RtmpServer server;
  std::string error;
  REQUIRE(RtmpServer::make(dir.path(), &server, &error));
  INFO(error);
  REQUIRE(server.start(&error));

  const std::string key = "sablatestkey42";
  const std::string url = "rtmp://127.0.0.1:" + std::to_string(server.port) + "/live/" + key;
  ProgramConfig c = small_program_config();
  c.hls_dir = dir.file("hls");
  c.restream_urls = {url};
  RestreamEvents ev;
  auto started = Program::start(c, &ev);
  REQUIRE(started);
  Program& prog = *started.program;
  auto restream = [&] { return prog.stats().restreams.at(0); };

  REQUIRE(wait_for([&] { return restream().state == RestreamState::live; }, 20s));
  CHECK(restream().url == "rtmp://127.0.0.1:" + std::to_string(server.port) + "/live");

  WHEN("another program pulls the stream back from the server") {
    ProgramConfig pc = small_program_config();
    pc.source = url;
    pc.hls_dir = dir.file("pull-hls");
    auto puller = Program::start(pc, nullptr);
    REQUIRE(puller);
    THEN("it decodes the test card, not its own slate") {
      REQUIRE(wait_for([&] { return puller.program->stats().source_live; }, 15s));
      auto frame = puller.program->snapshot(puller.program->frames_out() + 1, 3000);
      REQUIRE(frame);
      CHECK_FALSE(looks_like_slate(frame->frame));
      puller.program->stop();

      AND_THEN("the server recorded H.264 and AAC in FLV") {
        std::string flv = server.record_dir + "/" + key + ".flv";
        // nginx appends what it receives: wait for a second's worth of it.
        FlvSummary s;
        CHECK(wait_for([&] { return (s = read_flv(flv)).avc_frames >= 15; }, 10s));
        CHECK(s.header);
        CHECK(s.avc_sequence_headers >= 1);
        CHECK(s.avc_keyframes >= 1);
        CHECK(s.avc_frames >= 15);
        CHECK(s.aac_frames >= 10);

        AND_WHEN("the server is killed") {
          REQUIRE(wait_for([&] { return !hls_segments(c.hls_dir + "/live.m3u8").empty(); }, 10s));
          int segments = prog.stats().hls_segments;
          std::string last_listed = hls_segments(c.hls_dir + "/live.m3u8").back();
          server.proc.kill(SIGKILL);
          THEN("the restream reports it while HLS keeps adding segments") {
            REQUIRE(wait_for([&] { return restream().reconnects >= 1; }, 10s));
            CHECK(restream().state != RestreamState::live);
            REQUIRE(wait_for([&] { return prog.stats().hls_segments >= segments + 2; }, 12s));
            CHECK(hls_segments(c.hls_dir + "/live.m3u8").back() != last_listed);
            CHECK(prog.stats().output_fps > 10);
            {
              std::lock_guard lk(ev.mu);
              CHECK_FALSE(ev.errors.empty());
              bool saw_reconnecting = false;
              for (const auto& r : ev.restreams) saw_reconnecting |= r.state == RestreamState::reconnecting;
              CHECK(saw_reconnecting);
            }

            AND_WHEN("the server comes back on the same port") {
              int reconnects = restream().reconnects;
              REQUIRE(server.start(&error));
              THEN("the restream is live again by itself") {
                // Backoff 1, 2, 4, 8 s: at most one 8 s wait after the server is back.
                CHECK(wait_for([&] { return restream().state == RestreamState::live; }, 15s));
                CHECK(restream().reconnects >= reconnects);
                prog.stop();
                std::lock_guard lk(ev.mu);
                for (const auto& v : {ev.errors, ev.logs})
                  for (const auto& m : v) {
                    INFO(m);
                    CHECK(m.find(key) == std::string::npos);
                  }
              }
            }
          }
        }
      }
    }
  }
}

// Defect: on many starts every video tag Sabla sent carried timestamp 0 (the
// encoder's segment never reached flvmux), so nginx recorded hundreds of
// frames at one instant. Each start here is a fresh nginx and a fresh
// program; SABLA_RESTREAM_STARTS sets how many (3 by default, 10 for the
// closing figures).
SCENARIO("every restream start carries advancing video and audio timestamps", "[pipeline][restream]") {
  if (find_executable("nginx").empty() || !fs::exists(kRtmpModule)) {
    WARN("SKIPPED: nginx or libnginx-mod-rtmp is not installed (scripts/setup installs nginx-light and libnginx-mod-rtmp)");
    return;
  }
  int starts = 3;
  if (const char* v = std::getenv("SABLA_RESTREAM_STARTS")) starts = std::max(1, std::atoi(v));
  for (int start = 0; start < starts; start++) {
    TempDir dir("sabla-rtmp-ts");
    REQUIRE(dir.ok());
    ::chmod(dir.path().c_str(), 0755);
    RtmpServer server;
    std::string error;
    REQUIRE(RtmpServer::make(dir.path(), &server, &error));
    INFO(error);
    REQUIRE(server.start(&error));
    const std::string key = "ts" + std::to_string(start);
    ProgramConfig c = small_program_config();
    c.hls_dir = dir.file("hls");
    c.restream_urls = {"rtmp://127.0.0.1:" + std::to_string(server.port) + "/live/" + key};
    auto started = Program::start(c, nullptr);
    REQUIRE(started);
    std::string flv = server.record_dir + "/" + key + ".flv";
    // Two seconds of video at 15 fps.
    FlvSummary s;
    bool got = wait_for([&] { return (s = read_flv(flv)).avc_frames >= 30; }, 25s);
    started.program->stop();
    s = read_flv(flv);
    Advance v = advance_of(s.video_ms), a = advance_of(s.audio_ms), all = advance_of(s.all_ms);
    INFO("start " << start << ": video " << v.frames << " frames, " << v.distinct << " distinct, span " << v.span_ms
                  << " ms; audio " << a.frames << " frames, " << a.distinct << " distinct, span " << a.span_ms
                  << " ms; " << all.backwards << " steps back in file order");
    WARN("restream start " << start << ": video " << v.frames << "/" << v.distinct << " distinct, span " << v.span_ms
                           << " ms; audio " << a.frames << "/" << a.distinct << " distinct, span " << a.span_ms << " ms");
    REQUIRE(got);
    CHECK(v.backwards == 0);
    CHECK(a.backwards == 0);
    CHECK(v.distinct == v.frames);
    // Audio that reached flvmux before the first video frame is placed at
    // the start: at most one repeat there (seen on 3 of 10 starts), never a
    // run of them (before the fix: 29 distinct of 89).
    CHECK(a.distinct + 1 >= a.frames);
    // Frames 1/15 s apart: 30 frames span at least ~1.9 s of timestamps.
    CHECK(v.span_ms + 100 >= (v.frames - 1) * 1000 / 15);
    CHECK(a.span_ms >= v.span_ms / 2);
    // Interleaved in time: a receiver muxing by tag order never goes back.
    CHECK(all.backwards == 0);
  }
}
