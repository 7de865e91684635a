// WHEP output: the encoded program to WebRTC viewers (a sub-second monitor
// for producers and the remote speaker), private to sabla_pipeline.
//
//   video tee (H.264 byte-stream, the program's one encode)
//     -> per peer: queue (leaky, ~0.5 s: one slow peer never stalls the tee,
//        HLS or the recording) -> rtph264pay -> caps (payload type from the
//        offer) -> webrtcbin (sendonly, max-bundle)
//
// Debian 12 has webrtcbin 1.22.0 but not the GstWebRTC headers (they come
// with libgstreamer-plugins-bad1.0-dev, which pulls in OpenCV): webrtcbin is
// driven through its signals and properties only, and the two boxed types
// it takes are made with g_boxed_copy from their public layout (whep.cpp).
//
// Threads: every method runs on the program thread (the GLib main context
// passed in); webrtcbin's own threads only post to it.
#pragma once
#include <gst/gst.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sabla/pipeline/program.h"

namespace sabla::pipeline::detail {

struct WhepSettings {
  int max_peers = 10;
  // Local addresses ICE may use (empty: every interface libnice finds).
  std::vector<std::string> ice_addresses;
  int queue_ms = 500;  // per-peer leaky queue
  // A peer that is not connected this long after its answer is dropped.
  int connect_timeout_ms = 15000;
};

class Whep {
 public:
  using Log = std::function<void(int level, const std::string&)>;
  Whep(GstElement* pipeline, GstElement* video_tee, GMainContext* ctx, WhepSettings settings, Log log);
  ~Whep();  // removes every peer
  Whep(const Whep&) = delete;
  Whep& operator=(const Whep&) = delete;

  // Program thread. `done` runs later on the program thread, exactly once.
  void offer(const std::string& sdp, std::function<void(WhepAnswer)> done);
  bool close(const std::string& id);
  void close_all();
  // Any thread.
  int peers() const { return count_.load(); }
  uint64_t connected_total() const { return connected_total_.load(); }

  struct Peer;

 private:
  void post(std::function<void()> fn);
  void remove(const std::string& id, const char* why);
  void answer_ready(Peer& p);
  void finish(Peer& p, WhepAnswer a);
  void schedule_answer(Peer& p);
  static void on_ice_candidate(GstElement*, guint mline, gchar* candidate, gpointer ref);
  static void on_state_notify(GObject* webrtc, GParamSpec* spec, gpointer ref);
  static void on_remote_set(GstPromise* promise, gpointer ref);
  static void on_answer_created(GstPromise* promise, gpointer ref);
  static gboolean on_answer_deadline(gpointer ref);

  GstElement* pipeline_;
  GstElement* tee_;
  GMainContext* ctx_;
  WhepSettings settings_;
  Log log_;
  std::map<std::string, std::unique_ptr<Peer>> peers_;  // program thread
  std::atomic<int> count_{0};
  std::atomic<uint64_t> connected_total_{0};
  // Outstanding callbacks hold this; it goes false when the Whep is destroyed.
  std::shared_ptr<std::atomic<bool>> alive_;
};

// The payload type of the offer's first H.264 (packetization-mode=1) video
// format, or -1. Also tells whether the offer's video can receive.
int h264_payload_type(const std::string& offer_sdp, std::string* why);
// a=candidate lines of an SDP ("candidate:..." without "a="), with their m-line index.
std::vector<std::pair<unsigned, std::string>> sdp_candidates(const std::string& sdp);
// `answer` with the candidates added to its first media section and a=end-of-candidates.
std::string sdp_with_candidates(const std::string& answer, const std::vector<std::string>& candidates);

}  // namespace sabla::pipeline::detail
