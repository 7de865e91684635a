// The broadcast: the program pipeline and the overlay renderer, wired to the
// Room. Owned by sabla::Server.
//
// Threads:
//  - overlay_changed() is called on the net thread; rendering happens on the
//    render worker (one frame per state change, only the newest pending
//    state), which hands the frame to the pipeline (Program::set_overlay is
//    thread-safe).
//  - Listener callbacks come from the pipeline's own GLib thread; they only
//    post to the net thread.
//  - status() may be called from any thread (Program::stats is thread-safe).
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>

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
  // `source_changed` runs on the net thread when the input goes live or to the slate.
  Broadcast(const Config& config, NetServer& net, std::function<void(bool live)> source_changed);
  ~Broadcast() override;

  Status start();
  void stop();
  bool running() const { return program_ != nullptr; }

  void overlay_changed(const overlay::State& state);  // net thread
  nlohmann::json status() const;                      // any thread

  // pipeline::Listener (pipeline thread)
  void on_state(pipeline::ProgramState state) override;
  void on_error(const std::string& message) override;
  void on_source(bool live) override;

 private:
  void render_pending();  // render worker

  const Config& config_;
  NetServer& net_;
  std::function<void(bool)> source_changed_;
  std::unique_ptr<pipeline::Program> program_;
  std::unique_ptr<Worker> render_worker_;
  std::unique_ptr<overlay::Renderer> renderer_;  // render worker only

  mutable std::mutex mutex_;
  std::optional<overlay::State> pending_;  // GUARDED_BY(mutex_): newest state not rendered yet
  bool render_queued_ = false;             // GUARDED_BY(mutex_)
  std::string last_error_;                 // GUARDED_BY(mutex_)
};

}  // namespace sabla::net
