// What the network front and the node behind it say to each other.
//
// Down: Outbound, implemented by the network front (net/NetServer; a
// recorder in tests). Up: Inbound, what the front reports about WebSocket
// connections, implemented by the Room on a main (or the one embedded) node
// and by the EdgeNode on an edge node (cluster/). All calls happen on the net
// thread.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace sabla::moderation {

using ConnId = uint64_t;
enum class Audience { viewers, studios, overlays };

// Viewer ids: the main node numbers its own viewers 1, 2, ... below this; an
// edge node (cluster) numbers the viewers it welcomes itself
// edge_number << 32 | k, so ids never collide and stay exact in JavaScript
// (edge numbers below 2^21).
inline constexpr int64_t kEdgeViewerIdBase = int64_t{1} << 32;

// Frames going down to the network.
class Outbound {
 public:
  virtual ~Outbound() = default;
  virtual void send(ConnId conn, std::string frame) = 0;
  // The one fan-out interface: every viewer- and overlay-bound message goes
  // through it (and so reaches the edge nodes too, in cluster mode).
  virtual void publish(Audience audience, std::string frame) = 0;
  virtual void close(ConnId conn, int code, std::string reason) = 0;
  // Deliver what was published to `audience` now instead of on the next
  // coalescing tick (on-air changes must show within one loop turn).
  virtual void flush(Audience audience) = 0;
};

// Who acts: a logged-in account or an API token.
struct Actor {
  std::string name;  // account name, or "token:<name>"
  std::string role;  // moderator | producer | archivist
  bool can_moderate() const { return role == "moderator" || role == "producer"; }
  bool can_produce() const { return role == "producer"; }
};

// What the caller must do with a frame it handed in.
enum class Verdict {
  handled,
  busy,  // no room downstream (store or broker queue): park the frame, pause the socket, retry later
};

// WebSocket connections as the network front sees them.
class Inbound {
 public:
  virtual ~Inbound() = default;
  virtual void viewer_connected(ConnId conn, const std::string& ip) = 0;
  virtual Verdict viewer_message(ConnId conn, std::string_view frame) = 0;
  virtual void viewer_disconnected(ConnId conn) = 0;
  // The actor is already authenticated (never called on an edge node: the
  // front refuses studio upgrades there).
  virtual void studio_connected(ConnId conn, const Actor& actor) = 0;
  virtual Verdict studio_message(ConnId conn, std::string_view frame) = 0;
  virtual void studio_disconnected(ConnId conn) = 0;
  virtual void overlay_connected(ConnId conn) = 0;
  virtual void overlay_disconnected(ConnId conn) = 0;
  // Whether frames parked after a busy verdict may be retried now.
  virtual bool can_accept() const = 0;
  // Periodic work, on every fan-out tick.
  virtual void tick() = 0;
};

}  // namespace sabla::moderation
