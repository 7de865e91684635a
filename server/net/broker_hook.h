// The broker link as the network front sees it (cluster mode): it sits
// beside the fan-out rings, not inside their delivery loop. NetServer calls
// it once per publish (not per viewer), on each tick, and for frames to
// connections that live on another node. All calls on the net thread.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "moderation/front.h"

namespace sabla::net {

class BrokerHook {
 public:
  virtual ~BrokerHook() = default;
  // A frame went into the local ring of `audience` (viewers or overlays).
  virtual void published(moderation::Audience audience, const std::string& frame) = 0;
  // Outbound::flush(viewers): what was published should leave now.
  virtual void flushed() = 0;
  // Every fan-out tick.
  virtual void tick() = 0;
  // A frame for a connection that is not one of this node's sockets (a
  // viewer on an edge node, as the main node's Room sees it). True when the
  // broker took it.
  virtual bool send_remote(moderation::ConnId conn, std::string& frame) = 0;
  // Outbound::close for such a connection.
  virtual void close_remote(moderation::ConnId conn, int code, const std::string& reason) {
    (void)conn, (void)code, (void)reason;
  }
  // The "cluster" part of /api/v1/health, and whether the node is healthy.
  virtual nlohmann::json health(bool* healthy) const = 0;
  // Prometheus lines for /metrics.
  virtual void append_metrics(std::string& out) const = 0;
};

}  // namespace sabla::net
