// The broadcast: the program pipeline and the overlay renderer, wired to the
// Room. Owned by sabla::Server.
//
// Threads:
//  - overlay_changed() and record_as() are called on the net thread;
//    rendering happens on the render worker (one frame per state change, only
//    the newest pending state), which hands the frame to the pipeline
//    (Program::set_overlay is thread-safe).
//  - Listener callbacks come from the pipeline's own GLib thread; they only
//    post to the net thread (Events) or wake the supervisor.
//  - The supervisor thread rebuilds the pipeline after a pipeline error (a
//    Program must not be stopped from its own callbacks), with backoff.
//  - status() and running_time_ms() may be called from any thread.
// Lock order: mutex_ is a leaf (never held while calling into a Program that
// may call back, nor while posting).
#pragma once
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/worker.h"
#include "config/config.h"
#include "sabla/overlay/renderer.h"
#include "sabla/overlay/state.h"
#include "sabla/pipeline/program.h"

namespace sabla::net {

class NetServer;

class Broadcast final : public pipeline::Listener {
 public:
  // Each runs on the net thread.
  struct Events {
    std::function<void(bool live)> source_changed;  // input on air, or the slate
    std::function<void(const std::string& path, int64_t start_running_ms)> recording_opened;
    std::function<void()> restarted;  // the pipeline was rebuilt: running time restarts
  };

  Broadcast(const Config& config, NetServer& net, Events events);
  ~Broadcast() override;

  // `recording_name`: see Room::recording_name() ("" = off-air files).
  Status start(const std::string& recording_name);
  void stop();
  bool running() const;

  void overlay_changed(const overlay::State& state);  // net thread
  // The recording continues in new files <name>-NNN.mkv ("" = off air) (net thread).
  void record_as(const std::string& name);
  int64_t running_time_ms() const;  // any thread; -1 while not playing
  nlohmann::json status() const;    // any thread

  // pipeline::Listener (pipeline thread)
  void on_state(pipeline::ProgramState state) override;
  void on_error(const std::string& message) override;
  void on_source(bool live) override;
  void on_recording_file(const std::string& path, int64_t start_running_ms) override;

 private:
  pipeline::ProgramConfig program_config(const std::string& recording_name) const;
  std::shared_ptr<pipeline::Program> program() const;
  void render_pending();  // render worker
  void supervise();       // supervisor thread

  const Config& config_;
  NetServer& net_;
  Events events_;
  std::unique_ptr<Worker> render_worker_;
  std::unique_ptr<overlay::Renderer> renderer_;  // render worker only

  mutable std::mutex mutex_;
  std::condition_variable wake_;                  // supervisor: rebuild requested or stopping
  std::shared_ptr<pipeline::Program> program_;    // GUARDED_BY(mutex_)
  std::string recording_name_;                    // GUARDED_BY(mutex_): what a rebuilt program records as
  std::optional<overlay::State> pending_;         // GUARDED_BY(mutex_): newest state not rendered yet
  std::optional<overlay::State> last_state_;      // GUARDED_BY(mutex_): re-rendered into a rebuilt program
  bool render_queued_ = false;                    // GUARDED_BY(mutex_)
  std::string last_error_;                        // GUARDED_BY(mutex_)
  bool rebuild_requested_ = false;                // GUARDED_BY(mutex_)
  bool stopping_ = false;                         // GUARDED_BY(mutex_)
  int restarts_ = 0;                              // GUARDED_BY(mutex_)
  std::thread supervisor_;
};

}  // namespace sabla::net
