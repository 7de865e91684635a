// /metrics: Prometheus text from the Room, the store, the net front and the pipeline.
#include <functional>
#include <initializer_list>
#include <sstream>

#include "bridges/bridges.h"
#include "net/net_internal.h"

namespace sabla::net {

using nlohmann::json;

// The pipeline's gauges, when the server runs one (read from its thread-safe stats).
namespace {
void append_video_metrics(const json& v, std::ostringstream& o,
                          const std::function<void(const char*, const char*, const char*)>& metric) {
  if (!v.is_object()) return;
  auto number = [&](const char* key) {
    auto it = v.find(key);
    return it != v.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  const struct {
    const char* name;
    const char* type;
    const char* help;
    double value;
  } video[] = {
      {"sabla_video_playing", "gauge", "1 while the program pipeline plays.", v.value("state", "") == "playing" ? 1.0 : 0.0},
      {"sabla_video_source_live", "gauge", "1 while the input is on air, 0 while the slate is.",
       v.value("source_live", false) ? 1.0 : 0.0},
      {"sabla_video_source_losses_total", "counter", "Input losses (switches to the slate).", number("source_losses")},
      {"sabla_video_fps", "gauge", "Program frames per second over the last second.", number("fps")},
      {"sabla_video_frames_total", "counter", "Program frames since the pipeline started.", number("frames")},
      {"sabla_video_dropped_frames_total", "counter", "Frames dropped before the encoder.", number("dropped")},
      {"sabla_video_bitrate_kbps", "gauge", "Encoder output over the last second.", number("kbps")},
      {"sabla_video_hls_latency_seconds", "gauge", "Estimated HLS latency for a player 3 segments behind.",
       number("hls_latency_ms") / 1000.0},
      {"sabla_video_restarts_total", "counter", "Pipeline rebuilds after errors.", number("restarts")},
  };
  for (const auto& one : video) {
    metric(one.name, one.type, one.help);
    o << one.name << ' ' << one.value << '\n';
  }
  auto restreams = v.find("restreams");
  if (restreams == v.end() || !restreams->is_array() || restreams->empty()) return;
  // One series per destination, told apart by its place in the configured
  // list (stable while the list is): several destinations may share a host
  // and app (two channels on one platform), and the redacted URL is all the
  // key-free name they have. Identical series would make Prometheus keep one.
  metric("sabla_video_restream_live", "gauge",
         "1 while a restream destination receives the program (index: its place in restream_urls, from 0; url: "
         "redacted, without the key).");
  // The status lists destinations in configured order (Broadcast::status).
  for (size_t index = 0; index < restreams->size(); ++index) {
    const json& r = (*restreams)[index];
    std::string escaped;
    for (char c : r.value("url", "")) {
      if (c == '\\' || c == '"') escaped += '\\';
      if (c != '\n') escaped += c;
    }
    o << "sabla_video_restream_live{index=\"" << index << "\",url=\"" << escaped << "\"} "
      << (r.value("state", "") == "live" ? 1 : 0) << '\n';
  }
}
}  // namespace

std::string NetServer::metrics_text() {
  std::ostringstream o;
  o.precision(15);  // counters stay exact well past a million
  auto metric = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  struct Single {
    const char* name;
    const char* type;
    const char* help;
    double value;
  };
  auto singles = [&](std::initializer_list<Single> list) {
    for (const auto& one : list) {
      metric(one.name, one.type, one.help);
      o << one.name << ' ' << one.value << '\n';
    }
  };
  metric("sabla_connections", "gauge", "Open WebSocket connections by role.");
  if (!room_) {
    // An edge node: its own sockets only (the main node counts the cluster).
    o << "sabla_connections{role=\"viewer\"} " << conns_by_role_[kViewer] << '\n'
      << "sabla_connections{role=\"overlay\"} " << conns_by_role_[kOverlay] << '\n';
  } else {
    const auto m = room_->metrics();
    o << "sabla_connections{role=\"viewer\"} " << m.viewers_connected << '\n'
      << "sabla_connections{role=\"studio\"} " << m.studios_connected << '\n'
      << "sabla_connections{role=\"overlay\"} " << m.overlays_connected << '\n';
    singles({
        {"sabla_comments_received_total", "counter", "Comments received (viewers and bridges).",
         double(m.comments_received)},
        {"sabla_comments_acked_total", "counter", "Comments acknowledged after commit.", double(m.comments_acked)},
        {"sabla_comments_refused_total", "counter", "Comments refused before storing (empty, too long, limits, bans).",
         double(m.comments_rejected_input)},
        {"sabla_comments_approved_total", "counter", "Comments approved (by a moderator or automatically).",
         double(m.comments_approved)},
        {"sabla_comments_rejected_total", "counter", "Comments rejected.", double(m.comments_rejected)},
        {"sabla_votes_total", "counter", "Votes counted.", double(m.votes)},
        {"sabla_pending_comments", "gauge", "Comments waiting for moderation.", double(m.pending)},
    });
  }
  if (store_) {
    const auto s = store_->metrics();
    singles({
        {"sabla_store_queue_length", "gauge", "Operations waiting for the store writer.", double(s.queue_length)},
        {"sabla_store_transactions_total", "counter", "Committed store transactions.", double(s.transactions)},
        {"sabla_store_operations_total", "counter", "Committed store operations.", double(s.operations)},
        {"sabla_store_commit_seconds", "gauge", "Duration of the latest COMMIT.", s.last_commit_ms / 1000.0},
        {"sabla_store_commit_seconds_max", "gauge", "Longest COMMIT since start.", s.max_commit_ms / 1000.0},
    });
  }
  singles({
      {"sabla_ws_frames_in_total", "counter", "WebSocket messages received.", double(frames_in_)},
      {"sabla_ws_culled_total", "counter", "Clients closed for lagging behind.", double(culled_)},
      {"sabla_http_requests_total", "counter", "HTTP requests.", double(http_requests_)},
  });
  if (room_) append_video_metrics(room_->video_status(), o, metric);
  if (bridges_) {
    // One series per bridge, labelled by its name (the comments' source:
    // a-z, 0-9, '.', '-', '_', so no label escaping is needed) and kind.
    const auto states = bridges_->states();
    if (!states.empty()) {
      metric("sabla_bridge_up", "gauge", "1 while a bridge polls its platform fine (or a webhook listens).");
      for (const auto& b : states)
        o << "sabla_bridge_up{bridge=\"" << b.name << "\",kind=\"" << b.kind << "\"} "
          << (b.state == "connected" || b.state == "listening" ? 1 : 0) << '\n';
      metric("sabla_bridge_state", "gauge",
             "A bridge's state: starting, connected, backoff, error (not retried), ended or listening.");
      for (const auto& b : states)
        o << "sabla_bridge_state{bridge=\"" << b.name << "\",state=\"" << b.state << "\"} 1\n";
      const struct {
        const char* name;
        const char* type;
        const char* help;
        double (*value)(const bridges::BridgeState&);
      } series[] = {
          {"sabla_bridge_comments_total", "counter", "New comments a bridge stored.",
           [](const bridges::BridgeState& b) { return double(b.comments_in); }},
          {"sabla_bridge_duplicates_total", "counter", "Comments a bridge fed again that were stored already.",
           [](const bridges::BridgeState& b) { return double(b.duplicates); }},
          {"sabla_bridge_refused_total", "counter", "Comments (or webhook posts) refused: empty, too long, bad signature.",
           [](const bridges::BridgeState& b) { return double(b.refused); }},
          {"sabla_bridge_requests_total", "counter", "Platform answers received.",
           [](const bridges::BridgeState& b) { return double(b.requests); }},
          {"sabla_bridge_failures_total", "counter", "Network errors, 429, 5xx, malformed or refused answers.",
           [](const bridges::BridgeState& b) { return double(b.failures); }},
          {"sabla_bridge_poll_interval_seconds", "gauge", "The current wait between a bridge's polls.",
           [](const bridges::BridgeState& b) { return b.poll_interval_ms / 1000.0; }},
      };
      for (const auto& one : series) {
        metric(one.name, one.type, one.help);
        for (const auto& b : states) o << one.name << "{bridge=\"" << b.name << "\"} " << one.value(b) << '\n';
      }
    }
  }
  std::string out = o.str();
  if (broker_) broker_->append_metrics(out);
  return out;
}

}  // namespace sabla::net
