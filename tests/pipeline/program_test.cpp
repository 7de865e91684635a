// Real, short GStreamer programs (videotestsrc test card, 320x180@15,
// ultrafast) checked from the outside: files on disk, events, snapshots.
// Every wait is bounded.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sabla/pipeline/program.h"

namespace fs = std::filesystem;
using namespace sabla;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using pipeline::Program;
using pipeline::ProgramConfig;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("sabla-pipe-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& s) const { return (path / s).string(); }
};

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

ProgramConfig small_config() {
  ProgramConfig c;
  c.width = 320;
  c.height = 180;
  c.fps = 15;
  c.video_bitrate_kbps = 300;
  c.x264_preset = "ultrafast";
  c.audio_bitrate_kbps = 64;
  c.frame_history = 16;
  return c;
}

struct Events : pipeline::Listener {
  std::mutex mu;
  std::vector<std::pair<bool, Clock::time_point>> sources;
  std::vector<std::string> errors, logs;
  std::vector<pipeline::RestreamStats> restreams;
  std::vector<pipeline::ProgramState> states;
  std::atomic<int> segments{0};
  std::thread::id thread;
  std::atomic<bool> wrong_thread{false};

  void check_thread() {
    std::lock_guard lk(mu);
    if (thread == std::thread::id()) thread = std::this_thread::get_id();
    else if (thread != std::this_thread::get_id()) wrong_thread = true;
  }
  void on_state(pipeline::ProgramState s) override {
    check_thread();
    std::lock_guard lk(mu);
    states.push_back(s);
  }
  void on_error(const std::string& m) override {
    check_thread();
    std::lock_guard lk(mu);
    errors.push_back(m);
  }
  void on_source(bool live) override {
    check_thread();
    std::lock_guard lk(mu);
    sources.emplace_back(live, Clock::now());
  }
  void on_restream(size_t, const pipeline::RestreamStats& s) override {
    check_thread();
    std::lock_guard lk(mu);
    restreams.push_back(s);
  }
  void on_hls_segment(const std::string&, int64_t) override {
    check_thread();
    segments++;
  }
  std::vector<std::pair<std::string, int64_t>> recordings;  // path, start running time
  void on_recording_file(const std::string& path, int64_t start_ms) override {
    check_thread();
    std::lock_guard lk(mu);
    recordings.emplace_back(path, start_ms);
  }
  std::optional<std::pair<std::string, int64_t>> recording(size_t i) {
    std::lock_guard lk(mu);
    if (i >= recordings.size()) return std::nullopt;
    return recordings[i];
  }
  void on_log(int, const std::string& m) override {
    check_thread();
    std::lock_guard lk(mu);
    logs.push_back(m);
  }
  size_t source_events() {
    std::lock_guard lk(mu);
    return sources.size();
  }
  std::optional<std::pair<bool, Clock::time_point>> source_event(size_t i) {
    std::lock_guard lk(mu);
    if (i >= sources.size()) return std::nullopt;
    return sources[i];
  }
};

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::vector<std::string> playlist_segments(const std::string& m3u8) {
  std::ifstream f(m3u8);
  std::vector<std::string> out;
  std::string line;
  bool expect = false;
  while (std::getline(f, line)) {
    if (line.rfind("#EXTINF:", 0) == 0) expect = true;
    else if (expect && !line.empty() && line[0] != '#') {
      out.push_back(line);
      expect = false;
    }
  }
  return out;
}

// MPEG-TS segment: collects the first video PES (stream id 0xEn) and checks
// that its first slice is an IDR slice preceded by an SPS.
bool ts_starts_with_idr(const std::vector<uint8_t>& ts, std::string* why) {
  if (ts.size() < 188 || ts.size() % 188) {
    *why = "size " + std::to_string(ts.size()) + " is not a multiple of 188";
    return false;
  }
  int vpid = -1;
  std::vector<uint8_t> es;
  for (size_t off = 0; off + 188 <= ts.size(); off += 188) {
    const uint8_t* p = &ts[off];
    if (p[0] != 0x47) {
      *why = "lost TS sync at " + std::to_string(off);
      return false;
    }
    bool pusi = p[1] & 0x40;
    int pid = ((p[1] & 0x1f) << 8) | p[2];
    int afc = (p[3] >> 4) & 3;
    if (afc == 0 || afc == 2) continue;
    size_t i = 4;
    if (afc == 3) i += 1 + p[4];
    if (i >= 188) continue;
    const uint8_t* pl = p + i;
    size_t n = 188 - i;
    if (pusi && n >= 9 && pl[0] == 0 && pl[1] == 0 && pl[2] == 1 && (pl[3] & 0xF0) == 0xE0) {
      if (vpid >= 0 && pid == vpid) break;  // second video PES: the first is complete
      vpid = pid;
      size_t h = 9 + pl[8];
      if (h < n) es.insert(es.end(), pl + h, pl + n);
    } else if (pid == vpid) {
      es.insert(es.end(), pl, pl + n);
    }
  }
  if (es.empty()) {
    *why = "no video PES";
    return false;
  }
  bool sps = false;
  for (size_t i = 0; i + 3 < es.size(); ++i) {
    if (es[i] == 0 && es[i + 1] == 0 && es[i + 2] == 1) {
      int type = es[i + 3] & 0x1f;
      if (type == 7) sps = true;
      if (type == 1 || type == 5) {
        if (type != 5) *why = "first slice is not IDR";
        else if (!sps) *why = "no SPS before the IDR";
        return type == 5 && sps;
      }
    }
  }
  *why = "no slice in the first video PES";
  return false;
}

struct Rgb {
  int r, g, b;
};
Rgb pixel(const overlay::Frame& f, int x, int y) {
  uint32_t p = f.pixel(x, y);
  return {int((p >> 16) & 0xff), int((p >> 8) & 0xff), int(p & 0xff)};
}
bool near(Rgb a, Rgb b, int tol) {
  return std::abs(a.r - b.r) <= tol && std::abs(a.g - b.g) <= tol && std::abs(a.b - b.b) <= tol;
}

// An opaque orange box (a colour the SMPTE test card does not contain).
overlay::Frame orange_box(int w, int h, int x0, int y0, int x1, int y1) {
  overlay::Frame f;
  f.width = w;
  f.height = h;
  f.stride = w * 4;
  f.pixels.assign(size_t(f.stride) * h, 0);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      uint32_t v = 0xFFFF8000u;  // ARGB premultiplied (opaque)
      std::memcpy(&f.pixels[size_t(y) * f.stride + size_t(x) * 4], &v, 4);
    }
  return f;
}

const Rgb kOrange{255, 128, 0};
const Rgb kSlate{0x14, 0x31, 0x4d};

// Runs a testcard program with a recording for `seconds`; returns the file.
std::string make_clip(const TempDir& dir, int seconds) {
  ProgramConfig c = small_config();
  c.recording_dir = dir / "clip";
  auto started = Program::start(c, nullptr);
  REQUIRE(started);
  REQUIRE(wait_until([&] { return started.program->stats().source_live; }, 10s));
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  started.program->stop();
  for (auto& e : fs::directory_iterator(c.recording_dir)) return e.path().string();
  return "";
}

}  // namespace

SCENARIO("the test card program writes HLS and a recording", "[pipeline]") {
  TempDir dir;
  ProgramConfig c = small_config();
  c.hls_dir = dir / "hls";
  c.recording_dir = dir / "rec";
  Events ev;
  auto t0 = Clock::now();
  auto started = Program::start(c, &ev);
  REQUIRE(started);
  Program& prog = *started.program;
  const std::string playlist = c.hls_dir + "/live.m3u8";

  REQUIRE(wait_until([&] { return fs::exists(playlist); }, 15s));
  auto first_playlist = std::chrono::duration<double>(Clock::now() - t0).count();
  WARN("first playlist after " << first_playlist << " s");
  REQUIRE(wait_until([&] { return playlist_segments(playlist).size() >= 2; }, 15s));

  WHEN("the playlist is read") {
    auto segs = playlist_segments(playlist);
    THEN("every listed segment exists, is MPEG-TS and starts with an IDR frame") {
      for (const auto& s : segs) {
        INFO(s);
        auto bytes = read_file(c.hls_dir + "/" + s);
        REQUIRE(!bytes.empty());
        std::string why;
        CHECK(ts_starts_with_idr(bytes, &why));
        INFO(why);
      }
      AND_THEN("the stats describe a live program") {
        auto st = prog.stats();
        CHECK(st.state == pipeline::ProgramState::playing);
        CHECK(st.source_live);
        CHECK(st.output_fps > 10);
        CHECK(st.hls_segments >= 2);
        CHECK(st.hls_latency_ms > 0);
        CHECK(st.video_kbps > 0);
        CHECK(st.running_time_ms > 0);
        CHECK(st.recording_file.rfind(c.recording_dir, 0) == 0);
        CHECK(ev.segments.load() >= 2);
        int64_t a = prog.running_time_ms();
        std::this_thread::sleep_for(200ms);
        int64_t b = prog.running_time_ms();
        CHECK(b - a >= 150);
        CHECK(b - a <= 1000);
        AND_WHEN("the program stops") {
          prog.stop();
          prog.stop();  // idempotent
          THEN("a non-empty Matroska recording is left, and callbacks came from one thread") {
            std::vector<fs::path> files;
            for (auto& e : fs::directory_iterator(c.recording_dir)) files.push_back(e.path());
            REQUIRE(files.size() == 1);
            auto bytes = read_file(files[0].string());
            REQUIRE(bytes.size() > 1000);
            CHECK(bytes[0] == 0x1A);
            CHECK(bytes[1] == 0x45);
            CHECK(bytes[2] == 0xDF);
            CHECK(bytes[3] == 0xA3);
            CHECK_FALSE(ev.wrong_thread);
            std::lock_guard lk(ev.mu);
            CHECK(ev.states.back() == pipeline::ProgramState::stopped);
          }
        }
      }
    }
  }
}

SCENARIO("each session gets its own recording files", "[pipeline]") {
  TempDir dir;
  ProgramConfig c = small_config();
  c.recording_dir = dir / "rec";
  c.recording_name = "session-1";
  // A file left by an earlier run of the same session is never overwritten.
  fs::create_directories(c.recording_dir);
  { std::ofstream(c.recording_dir + "/session-1-000.mkv") << "earlier run"; }
  Events ev;
  auto started = Program::start(c, &ev);
  REQUIRE(started);
  Program& prog = *started.program;
  REQUIRE(wait_until([&] { return ev.recording(0).has_value(); }, 10s));
  CHECK(ev.recording(0)->first == c.recording_dir + "/session-1-001.mkv");
  CHECK(ev.recording(0)->second >= 0);
  REQUIRE(wait_until([&] { return prog.running_time_ms() > 1500; }, 10s));

  WHEN("the recording is split for the next session") {
    CHECK_FALSE(prog.split_recording("../escape"));
    CHECK_FALSE(prog.split_recording(""));
    const int64_t asked_at = prog.running_time_ms();
    REQUIRE(prog.split_recording("session-2"));
    THEN("the new file opens at a keyframe forced right away, not at the next GOP") {
      // The keyframe interval is 2 s: without the forced keyframe the split
      // could come up to 2 s later.
      REQUIRE(wait_until([&] { return ev.recording(1).has_value(); }, 10s));
      auto second = *ev.recording(1);
      CHECK(second.first == c.recording_dir + "/session-2-000.mkv");
      INFO("asked at " << asked_at << " ms, opened at " << second.second << " ms");
      CHECK(second.second >= asked_at - 100);
      CHECK(second.second <= asked_at + 500);
      prog.stop();
      AND_THEN("both files are complete Matroska files and the earlier run's file is untouched") {
        CHECK(read_file(c.recording_dir + "/session-1-000.mkv").size() == std::string("earlier run").size());
        for (const char* name : {"/session-1-001.mkv", "/session-2-000.mkv"}) {
          INFO(name);
          auto bytes = read_file(c.recording_dir + name);
          REQUIRE(bytes.size() > 1000);
          CHECK(bytes[0] == 0x1A);
          CHECK(bytes[1] == 0x45);
        }
      }
    }
  }
}

SCENARIO("an overlay frame is burned in within 2 video frames", "[pipeline]") {
  ProgramConfig c = small_config();
  c.overlay_method = GENERATE(as<std::string>{}, "direct", "composition");
  INFO("overlay_method " << c.overlay_method);
  auto started = Program::start(c, nullptr);
  REQUIRE(started);
  Program& prog = *started.program;
  REQUIRE(wait_until([&] { return prog.stats().source_live; }, 10s));
  const int cx = 80, cy = 120;  // centre of the box below

  auto before = prog.snapshot(prog.frames_out() + 1, 3000);
  REQUIRE(before);
  REQUIRE(before->frame.width == 320);
  CHECK_FALSE(near(pixel(before->frame, cx, cy), kOrange, 60));

  uint64_t n0 = prog.frames_out();
  REQUIRE(prog.set_overlay(orange_box(320, 180, 40, 100, 120, 140)));
  auto after = prog.snapshot(n0 + 2, 3000);
  REQUIRE(after);
  REQUIRE(after->index == n0 + 2);
  CHECK(near(pixel(after->frame, cx, cy), kOrange, 40));
  CHECK_FALSE(near(pixel(after->frame, 200, 40), kOrange, 60));  // outside the box

  // One program, one path: the steps below run in order on it.
  WHEN("the overlay comes at another size") {
    uint64_t n1 = prog.frames_out();
    // 640x360 box at (80,200)-(240,280) lands at (40,100)-(120,140).
    REQUIRE(prog.set_overlay(orange_box(640, 360, 80, 200, 240, 280)));
    auto s = prog.snapshot(n1 + 2, 3000);
    REQUIRE(s);
    CHECK(near(pixel(s->frame, cx, cy), kOrange, 40));
    AND_WHEN("the overlay is cleared") {
      uint64_t n2 = prog.frames_out();
      REQUIRE(prog.set_overlay(overlay::Frame{}));
      auto s2 = prog.snapshot(n2 + 2, 3000);
      REQUIRE(s2);
      CHECK_FALSE(near(pixel(s2->frame, cx, cy), kOrange, 60));
      AND_WHEN("a frame is malformed") {
        overlay::Frame bad = orange_box(320, 180, 0, 0, 10, 10);
        bad.pixels.resize(100);
        CHECK_FALSE(prog.set_overlay(bad));
      }
    }
  }
}

SCENARIO("source loss switches to the slate and back while HLS keeps going", "[pipeline]") {
  TempDir dir;
  std::string clip = make_clip(dir, 3);
  REQUIRE(!clip.empty());
  REQUIRE(fs::file_size(clip) > 1000);

  ProgramConfig c = small_config();
  c.source = "file://" + clip;
  c.hls_dir = dir / "hls";
  c.slate_title = "R&D <session>";  // markup characters must not blank the slate
  Events ev;
  auto started = Program::start(c, &ev);
  REQUIRE(started);
  Program& prog = *started.program;

  // live -> (file ends) slate -> (retried) live
  REQUIRE(wait_until([&] { return ev.source_events() >= 1; }, 10s));
  CHECK(ev.source_event(0)->first == true);
  REQUIRE(wait_until([&] { return ev.source_events() >= 2; }, 10s));
  CHECK(ev.source_event(1)->first == false);
  auto st = prog.stats();
  CHECK(st.slate_switch_ms >= 0);
  CHECK(st.slate_switch_ms <= 1500);
  WARN("slate on air " << st.slate_switch_ms << " ms after the last source frame");
  int segs_at_loss = st.hls_segments;
  uint64_t frames_at_loss = prog.frames_out();

  // The slate (its background colour in a corner) is what goes out now.
  auto slate = prog.snapshot(prog.frames_out() + 1, 2000);
  REQUIRE(slate);
  if (!ev.source_event(2)) CHECK(near(pixel(slate->frame, 4, 4), kSlate, 25));

  REQUIRE(wait_until([&] { return ev.source_events() >= 3; }, 10s));
  CHECK(ev.source_event(2)->first == true);
  // (the clip itself opens with ~0.3 s of its own start-up slate)
  auto live = prog.snapshot(prog.frames_out() + 15, 3000);
  REQUIRE(live);
  CHECK_FALSE(near(pixel(live->frame, 4, 4), kSlate, 25));

  // The program never stalled: frames kept coming at the output rate and HLS grew.
  CHECK(prog.frames_out() > frames_at_loss);
  REQUIRE(wait_until([&] { return prog.stats().hls_segments >= segs_at_loss + 2; }, 10s));
  CHECK(prog.stats().output_fps > 10);
  CHECK(prog.stats().source_losses >= 1);
}

SCENARIO("a broken restream destination does not stall HLS", "[pipeline]") {
  TempDir dir;
  ProgramConfig c = small_config();
  c.hls_dir = dir / "hls";
  c.restream_urls = {"rtmp://127.0.0.1:1/live/secretkey123"};
  Events ev;
  auto started = Program::start(c, &ev);
  REQUIRE(started);
  Program& prog = *started.program;
  REQUIRE(wait_until([&] { return prog.stats().hls_segments >= 2; }, 20s));
  REQUIRE(wait_until([&] { return prog.stats().restreams.at(0).reconnects >= 1; }, 10s));
  auto st = prog.stats();
  CHECK(st.output_fps > 10);
  CHECK(st.restreams[0].url == "rtmp://127.0.0.1:1/live");
  CHECK(st.restreams[0].state != pipeline::RestreamState::live);
  prog.stop();
  std::lock_guard lk(ev.mu);
  CHECK(!ev.errors.empty());
  for (const auto& v : {ev.errors, ev.logs})
    for (const auto& m : v) {
      INFO(m);
      CHECK(m.find("secretkey123") == std::string::npos);
    }
  for (const auto& r : ev.restreams) CHECK(r.last_error.find("secretkey123") == std::string::npos);
}

SCENARIO("bad configurations fail clearly at start", "[pipeline]") {
  ProgramConfig c = small_config();
  GIVEN("a source file that does not exist") {
    c.source = "file:///nonexistent/sabla/clip.mkv";
    auto r = Program::start(c, nullptr);
    CHECK_FALSE(r);
    CHECK(r.error.find("not found") != std::string::npos);
    CHECK(r.error.find("/nonexistent/sabla/clip.mkv") != std::string::npos);
  }
  GIVEN("a loop source path that does not exist") {
    c.source = "loop:/nonexistent.mp4";
    CHECK_FALSE(Program::start(c, nullptr));
  }
  GIVEN("a restream URL without a key") {
    c.restream_urls = {"rtmp://example.com"};
    auto r = Program::start(c, nullptr);
    CHECK_FALSE(r);
    CHECK(r.error.find("restream URL") != std::string::npos);
  }
  GIVEN("an unknown x264 preset") {
    c.x264_preset = "turbo; rm -rf";
    CHECK_FALSE(Program::start(c, nullptr));
  }
  GIVEN("an unsupported source scheme") {
    c.source = "gopher://example.com/x";
    auto r = Program::start(c, nullptr);
    CHECK_FALSE(r);
    CHECK(r.error.find("gopher") != std::string::npos);
  }
}

SCENARIO("stream keys are redacted from URLs", "[pipeline]") {
  CHECK(pipeline::redact_url("rtmp://a.rtmp.youtube.com/live2/abcd-efgh") == "rtmp://a.rtmp.youtube.com/live2");
  CHECK(pipeline::redact_url("rtmps://live-api-s.facebook.com:443/rtmp/FB-123?s_bl=1") ==
        "rtmps://live-api-s.facebook.com:443/rtmp");
  CHECK(pipeline::redact_url("not a url") == "<invalid url>");
  // The README's listener form, and its secrets in the query.
  CHECK(pipeline::redact_url("srt://:9000") == "srt://:9000");
  CHECK(pipeline::redact_url("srt://:9000?passphrase=sabla-secret-1&pbkeylen=16") == "srt://:9000");
  CHECK(pipeline::redact_url("srt://encoder.local:9000?streamid=abc&mode=caller") == "srt://encoder.local:9000");
}

SCENARIO("SRT security settings that libsrt would refuse fail clearly at start", "[pipeline][srt]") {
  ProgramConfig c = small_config();
  c.source = "srt://:9000?localaddress=127.0.0.1";
  SECTION("a passphrase shorter than 10 characters") {
    c.srt_passphrase = "short";
    auto r = Program::start(c, nullptr);
    CHECK_FALSE(r);
    CHECK(r.error.find("10 to 79 characters") != std::string::npos);
    CHECK(r.error.find("short") == std::string::npos);
  }
  SECTION("a passphrase in the URL longer than 79 characters") {
    c.source += "&passphrase=" + std::string(80, 'p');
    auto r = Program::start(c, nullptr);
    CHECK_FALSE(r);
    CHECK(r.error.find("10 to 79 characters") != std::string::npos);
  }
  SECTION("a key length SRT does not have") {
    c.source += "&passphrase=long-enough-1&pbkeylen=20";
    auto r = Program::start(c, nullptr);
    CHECK_FALSE(r);
    CHECK(r.error.find("pbkeylen must be 16, 24 or 32") != std::string::npos);
  }
  SECTION("a key length without a passphrase") {
    c.srt_pbkeylen = 32;
    auto r = Program::start(c, nullptr);
    CHECK_FALSE(r);
    CHECK(r.error.find("needs a passphrase") != std::string::npos);
  }
  SECTION("a passphrase for a source that is not SRT") {
    c.source = "testcard";
    c.srt_passphrase = "long-enough-1";
    auto r = Program::start(c, nullptr);
    CHECK_FALSE(r);
    CHECK(r.error.find("not srt://") != std::string::npos);
  }
}
