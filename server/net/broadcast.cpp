#include "net/broadcast.h"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "net/net_server.h"

namespace sabla::net {

using nlohmann::json;

Broadcast::Broadcast(const Config& config, NetServer& net, Events events)
    : config_(config), net_(net), events_(std::move(events)) {}

Broadcast::~Broadcast() { stop(); }

pipeline::ProgramConfig Broadcast::program_config(const std::string& recording_name) const {
  pipeline::ProgramConfig pc;
  pc.source = config_.video_source;
  pc.srt_passphrase = config_.srt_passphrase;
  pc.srt_pbkeylen = config_.srt_pbkeylen;
  pc.srt_streamid = config_.srt_streamid;
  pc.width = config_.video_width;
  pc.height = config_.video_height;
  pc.fps = config_.video_fps;
  pc.video_bitrate_kbps = config_.video_bitrate_kbps;
  pc.x264_preset = config_.video_preset;
  pc.hls_dir = config_.data_dir + "/hls";
  if (config_.recording) pc.recording_dir = config_.data_dir + "/recordings";
  pc.recording_name = recording_name.empty() ? pipeline::off_air_recording_name() : recording_name;
  pc.recording_segment_minutes = config_.recording_segment_minutes;
  pc.restream_urls = config_.restream_urls;
  pc.slate_title = config_.default_title_ar + "\n" + config_.default_title_en;
  pc.slate_message = "نعود إليكم بعد قليل\nWe'll be right back";
  return pc;
}

Status Broadcast::start(const std::string& recording_name) {
  const pipeline::ProgramConfig pc = program_config(recording_name);
  std::error_code ec;
  std::filesystem::create_directories(pc.hls_dir, ec);
  if (!pc.recording_dir.empty()) std::filesystem::create_directories(pc.recording_dir, ec);
  render_worker_ = std::make_unique<Worker>(4);
  auto started = pipeline::Program::start(pc, this);
  if (!started) return Status::error("video", "video pipeline: " + started.error);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    program_ = std::move(started.program);
    recording_name_ = recording_name;
    stopping_ = false;
  }
  supervisor_ = std::thread([this] { supervise(); });
  const std::string source = pc.source.find("://") == std::string::npos ? pc.source : pipeline::redact_url(pc.source);
  spdlog::info("video: {} at {}x{}@{} -> HLS {}", source, pc.width, pc.height, pc.fps, pc.hls_dir);
  return Status::ok();
}

void Broadcast::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  render_worker_.reset();  // finishes a render in progress before the program goes
  std::shared_ptr<pipeline::Program> program;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    program.swap(program_);
  }
  if (program) program->stop();
}

bool Broadcast::running() const { return program() != nullptr; }

std::shared_ptr<pipeline::Program> Broadcast::program() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return program_;
}

// Supervisor thread. A pipeline error (an output that cannot write, an
// element that failed) leaves the main pipeline stopped; rather than restart
// the server, the program is rebuilt: 1 s after the error, doubling to 30 s
// while rebuilds keep failing soon after.
void Broadcast::supervise() {
  int backoff_ms = 1000;
  auto last_rebuild = std::chrono::steady_clock::now() - std::chrono::hours(1);
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || rebuild_requested_; });
    if (stopping_) return;
    if (std::chrono::steady_clock::now() - last_rebuild > std::chrono::seconds(60)) backoff_ms = 1000;
    if (wake_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [this] { return stopping_; })) return;
    rebuild_requested_ = false;
    std::shared_ptr<pipeline::Program> old;
    old.swap(program_);
    const pipeline::ProgramConfig pc = program_config(recording_name_);
    lock.unlock();

    spdlog::warn("video: rebuilding the pipeline after an error");
    if (old) old->stop();
    old.reset();
    std::error_code ec;
    std::filesystem::create_directories(pc.hls_dir, ec);  // an output folder may have gone
    if (!pc.recording_dir.empty()) std::filesystem::create_directories(pc.recording_dir, ec);
    // Before the new program can report its first recording file.
    net_.post([this] {
      if (events_.restarted) events_.restarted();
    });
    auto started = pipeline::Program::start(pc, this);
    last_rebuild = std::chrono::steady_clock::now();
    backoff_ms = std::min(backoff_ms * 2, 30000);

    lock.lock();
    restarts_++;
    if (!started) {
      last_error_ = "rebuild failed: " + started.error;
      spdlog::error("video: {}", last_error_);
      rebuild_requested_ = true;  // try again after the backoff
      continue;
    }
    program_ = std::move(started.program);
    // The new program starts without an overlay: render the current one.
    if (last_state_ && render_worker_ && !render_queued_) {
      pending_ = last_state_;
      render_queued_ = render_worker_->post([this] { render_pending(); });
    }
    spdlog::info("video: pipeline rebuilt ({} restarts)", restarts_);
  }
}

void Broadcast::overlay_changed(const overlay::State& state) {
  if (!render_worker_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  pending_ = state;
  last_state_ = state;
  if (render_queued_) return;  // the queued job will pick up this newer state
  render_queued_ = render_worker_->post([this] { render_pending(); });
}

void Broadcast::record_as(const std::string& name) {
  std::shared_ptr<pipeline::Program> program;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    recording_name_ = name;
    program = program_;
  }
  if (program && config_.recording && !program->split_recording(name.empty() ? pipeline::off_air_recording_name() : name))
    spdlog::warn("video: could not start a recording file for {}", name.empty() ? "off air" : name);
}

int64_t Broadcast::running_time_ms() const {
  auto p = program();
  return p ? p->running_time_ms() : -1;
}

void Broadcast::render_pending() {
  std::optional<overlay::State> state;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    state.swap(pending_);
    render_queued_ = false;
  }
  auto program = this->program();
  if (!state || !program) return;
  try {
    if (!renderer_) renderer_ = std::make_unique<overlay::Renderer>(config_.video_width, config_.video_height);
    program->set_overlay(renderer_->render(*state));
  } catch (const std::exception& e) {
    spdlog::error("overlay render failed: {}", e.what());
  }
}

json Broadcast::status() const {
  auto program = this->program();
  std::string error;
  int restarts;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error = last_error_;
    restarts = restarts_;
  }
  if (!program) return json{{"state", "off"}, {"error", error}, {"restarts", restarts}};
  pipeline::ProgramStats s = program->stats();
  json restreams = json::array();
  // "index" (place in restream_urls) tells apart destinations that share a
  // host and app: the redacted url is the same for both.
  for (size_t i = 0; i < s.restreams.size(); ++i) {
    const auto& r = s.restreams[i];
    restreams.push_back(json{{"index", i}, {"url", r.url}, {"state", pipeline::to_string(r.state)},
                             {"reconnects", r.reconnects}, {"error", r.last_error}});
  }
  return json{{"state", pipeline::to_string(s.state)},
              {"source_live", s.source_live},
              {"source_losses", s.source_losses},
              {"fps", s.output_fps},
              {"frames", s.frames_out},
              {"dropped", s.dropped_frames},
              {"kbps", s.video_kbps},
              {"hls_segments", s.hls_segments},
              {"hls_latency_ms", s.hls_latency_ms},
              {"recording", s.recording_file},
              {"restreams", restreams},
              {"running_time_ms", s.running_time_ms},
              {"restarts", restarts},
              {"error", error}};
}

void Broadcast::on_state(pipeline::ProgramState state) {
  spdlog::info("video: {}", pipeline::to_string(state));
  if (state != pipeline::ProgramState::error) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    rebuild_requested_ = true;
  }
  wake_.notify_all();
}

void Broadcast::on_error(const std::string& message) {
  spdlog::error("video: {}", message);
  std::lock_guard<std::mutex> lock(mutex_);
  last_error_ = message;
}

void Broadcast::on_source(bool live) {
  spdlog::info("video: source {}", live ? "live" : "lost, showing the slate");
  net_.post([this, live] {
    if (events_.source_changed) events_.source_changed(live);
  });
}

void Broadcast::on_recording_file(const std::string& path, int64_t start_running_ms) {
  spdlog::info("video: recording {}", path);
  net_.post([this, path, start_running_ms] {
    if (events_.recording_opened) events_.recording_opened(path, start_running_ms);
  });
}

}  // namespace sabla::net
