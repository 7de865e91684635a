// video_bench: runs the Sabla program (pipeline module) for N seconds and
// prints CPU % of one core, RSS and pipeline figures as one line of
// key=value pairs. Used by bench/video/run.sh.
//
//   video_bench [--seconds 60] [--width 1280] [--height 720] [--fps 30]
//               [--preset veryfast] [--source testcard|URI|PATH]
//               [--out DIR] [--no-overlay] [--no-hls] [--no-rec]
//               [--restream rtmp://...] [--tune zerolatency|none]
//               [--overlay-method direct|composition] [--keyframe-seconds 2]
// The overlay is the real renderer's output (3 comments, lower third,
// ticker); a new comment is aired every 5 s.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "sabla/overlay/renderer.h"
#include "sabla/pipeline/program.h"

using namespace sabla;
using Clock = std::chrono::steady_clock;

static double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key));
  return -1;
}

int main(int argc, char** argv) {
  pipeline::ProgramConfig cfg;
  int seconds = 60;
  bool overlay_on = true, hls = true, rec = true;
  std::string out = "/tmp/sabla-video-bench";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--seconds") seconds = std::atoi(next().c_str());
    else if (a == "--width") cfg.width = std::atoi(next().c_str());
    else if (a == "--height") cfg.height = std::atoi(next().c_str());
    else if (a == "--fps") cfg.fps = std::atoi(next().c_str());
    else if (a == "--preset") cfg.x264_preset = next();
    else if (a == "--tune") { cfg.x264_tune = next(); if (cfg.x264_tune == "none") cfg.x264_tune.clear(); }
    else if (a == "--overlay-method") cfg.overlay_method = next();
    else if (a == "--keyframe-seconds") cfg.keyframe_seconds = std::atoi(next().c_str());
    else if (a == "--source") cfg.source = next();
    else if (a == "--out") out = next();
    else if (a == "--no-overlay") overlay_on = false;
    else if (a == "--no-hls") hls = false;
    else if (a == "--no-rec") rec = false;
    else if (a == "--restream") cfg.restream_urls.push_back(next());
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  std::filesystem::remove_all(out);
  if (hls) cfg.hls_dir = out + "/hls";
  if (rec) cfg.recording_dir = out + "/rec";


  overlay::Renderer renderer(cfg.width, cfg.height);
  overlay::State state;
  overlay::Frame frame;
  state.lower_third = overlay::LowerThird{"سارة", "Sara", "مهندسة", "Engineer", "جلسة", "Session"};
  state.ticker = "Sabla video bench — ticker text";
  int comment_id = 0;
  auto add_comment = [&] {
    overlay::AiredComment c;
    c.id = ++comment_id;
    c.author = "viewer " + std::to_string(c.id);
    c.text = "تعليق رقم " + std::to_string(c.id) + " — comment number " + std::to_string(c.id);
    state.comments.insert(state.comments.begin(), c);
    if (state.comments.size() > 3) state.comments.pop_back();
    frame = renderer.render(state);
  };
  if (overlay_on) add_comment();
  auto t0 = Clock::now();
  double cpu0 = cpu_seconds();
  auto started = pipeline::Program::start(cfg, nullptr);
  if (!started) {
    std::fprintf(stderr, "start failed: %s\n", started.error.c_str());
    return 1;
  }
  auto& prog = *started.program;
  if (overlay_on) prog.set_overlay(frame);

  double first_playlist = -1;
  std::string playlist = cfg.hls_dir + "/live.m3u8";
  auto deadline = t0 + std::chrono::seconds(seconds);
  auto next_comment = t0 + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (hls && first_playlist < 0 && std::filesystem::exists(playlist))
      first_playlist = std::chrono::duration<double>(Clock::now() - t0).count();
    if (overlay_on && Clock::now() >= next_comment) {
      add_comment();
      prog.set_overlay(frame);
      next_comment += std::chrono::seconds(5);
    }
  }
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double cpu = cpu_seconds() - cpu0;
  auto st = prog.stats();
  long rss = status_kb("VmRSS:"), hwm = status_kb("VmHWM:");
  prog.stop();
  std::printf("tool=sabla overlay=%s size=%dx%d@%d preset=%s seconds=%.1f cpu_pct=%.1f rss_mb=%.1f peak_rss_mb=%.1f frames=%llu "
              "fps=%.1f dropped=%llu kbps=%.0f hls_segments=%d first_playlist_s=%.2f hls_latency_ms=%lld\n",
              overlay_on ? cfg.overlay_method.c_str() : "off", cfg.width, cfg.height, cfg.fps, cfg.x264_preset.c_str(), wall, 100.0 * cpu / wall, rss / 1024.0, hwm / 1024.0,
              (unsigned long long)st.frames_out, st.frames_out / wall, (unsigned long long)st.dropped_frames, st.video_kbps,
              st.hls_segments, first_playlist, (long long)st.hls_latency_ms);
  return 0;
}
