// Viewer bookkeeping shared by scenarios: connect N `sabla.viewer.v1`
// clients and wait until each got its `welcome`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loop.h"
#include "scenarios.h"

namespace sabla::load {

class ViewerHandler : public Handler {
 public:
  void on_message(Conn& conn, const nlohmann::json& msg) final;
  void on_closed(Conn& conn) override;

  // After the `welcome`, every message goes here (type is a string).
  virtual void on_viewer_message(Conn& conn, const std::string& type, const nlohmann::json& msg) = 0;
  virtual void on_welcome(Conn&) {}

  bool welcomed(const Conn& conn) const {
    return conn.index < static_cast<int>(welcomed_.size()) && welcomed_[conn.index];
  }
  int welcomed_count() const { return welcomed_count_; }

 protected:
  std::vector<char> welcomed_;
  int welcomed_count_ = 0;
  uint64_t messages_before_welcome_ = 0;
};

struct ConnectResult {
  int welcomed = 0;
  int failed = 0;       // could not connect, or closed before the welcome
  double seconds = 0;   // until the last welcome (or the timeout)
  std::map<std::string, int> failure_reasons;
};

// Opens options.clients viewer connections on `loop` and services it until
// every one is welcomed or has failed, or until the connect timeout.
ConnectResult connect_viewers(Loop& loop, ViewerHandler& handler, const CommonOptions& options);

}  // namespace sabla::load
