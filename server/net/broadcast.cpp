#include "net/broadcast.h"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "net/net_server.h"

namespace sabla::net {

using nlohmann::json;

Broadcast::Broadcast(const Config& config, NetServer& net, std::function<void(bool)> source_changed)
    : config_(config), net_(net), source_changed_(std::move(source_changed)) {}

Broadcast::~Broadcast() { stop(); }

Status Broadcast::start() {
  pipeline::ProgramConfig pc;
  pc.source = config_.video_source;
  pc.width = config_.video_width;
  pc.height = config_.video_height;
  pc.fps = config_.video_fps;
  pc.video_bitrate_kbps = config_.video_bitrate_kbps;
  pc.x264_preset = config_.video_preset;
  pc.hls_dir = config_.data_dir + "/hls";
  if (config_.recording) pc.recording_dir = config_.data_dir + "/recordings";
  pc.recording_segment_minutes = config_.recording_segment_minutes;
  pc.restream_urls = config_.restream_urls;
  pc.slate_title = config_.default_title_ar + "\n" + config_.default_title_en;
  pc.slate_message = "نعود إليكم بعد قليل\nWe'll be right back";
  std::error_code ec;
  std::filesystem::create_directories(pc.hls_dir, ec);
  if (!pc.recording_dir.empty()) std::filesystem::create_directories(pc.recording_dir, ec);
  render_worker_ = std::make_unique<Worker>(4);
  auto started = pipeline::Program::start(pc, this);
  if (!started) return Status::error("video", "video pipeline: " + started.error);
  program_ = std::move(started.program);
  const std::string source = pc.source.find("://") == std::string::npos ? pc.source : pipeline::redact_url(pc.source);
  spdlog::info("video: {} at {}x{}@{} -> HLS {}", source, pc.width, pc.height, pc.fps,
               pc.hls_dir);
  return Status::ok();
}

void Broadcast::stop() {
  render_worker_.reset();  // finishes a render in progress before the program goes
  if (program_) {
    program_->stop();
    program_.reset();
  }
}

void Broadcast::overlay_changed(const overlay::State& state) {
  if (!program_ || !render_worker_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  pending_ = state;
  if (render_queued_) return;  // the queued job will pick up this newer state
  render_queued_ = render_worker_->post([this] { render_pending(); });
}

void Broadcast::render_pending() {
  std::optional<overlay::State> state;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    state.swap(pending_);
    render_queued_ = false;
  }
  if (!state || !program_) return;
  try {
    if (!renderer_) renderer_ = std::make_unique<overlay::Renderer>(config_.video_width, config_.video_height);
    program_->set_overlay(renderer_->render(*state));
  } catch (const std::exception& e) {
    spdlog::error("overlay render failed: {}", e.what());
  }
}

json Broadcast::status() const {
  if (!program_) return json{{"state", "off"}};
  pipeline::ProgramStats s = program_->stats();
  json restreams = json::array();
  for (const auto& r : s.restreams)
    restreams.push_back(json{{"url", r.url}, {"state", pipeline::to_string(r.state)}, {"reconnects", r.reconnects},
                             {"error", r.last_error}});
  std::string error;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error = last_error_;
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
              {"error", error}};
}

void Broadcast::on_state(pipeline::ProgramState state) {
  spdlog::info("video: {}", pipeline::to_string(state));
}

void Broadcast::on_error(const std::string& message) {
  spdlog::error("video: {}", message);
  std::lock_guard<std::mutex> lock(mutex_);
  last_error_ = message;
}

void Broadcast::on_source(bool live) {
  spdlog::info("video: source {}", live ? "live" : "lost, showing the slate");
  net_.post([this, live] { source_changed_(live); });
}

}  // namespace sabla::net
