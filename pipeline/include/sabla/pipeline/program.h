// The program: Sabla's GStreamer "broadcast truck". It takes one live input
// (or a test card), burns the latest overlay frame into every video frame,
// encodes once (x264 + AAC) and fans the encoded program out to HLS,
// recording and zero or more RTMP(S) destinations. When the input stalls or
// fails it shows a slate (title + message, silence) and keeps every output
// running; it switches back when the input returns. Design and measurements:
// pipeline/README.md.
//
// No GStreamer types in this header (GStreamer is linked privately).
//
// Threads
// - start()/stop() are called by the owner, from one thread at a time.
// - set_overlay(), stats(), running_time_ms(), frames_out(), snapshot() may be
//   called from any thread, concurrently, while the program runs.
// - Every Listener callback is called on the program's own thread (a GLib
//   main loop on a private GMainContext that also carries the bus watches,
//   the source watchdog and the restream reconnect timers), never on a
//   GStreamer streaming thread and never on the caller of start()/stop().
//   A listener must not call stop() from inside a callback (it would wait
//   for its own thread); hand that off to another thread. Exceptions thrown
//   by a listener are caught and dropped.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sabla/overlay/renderer.h"

namespace sabla::pipeline {

struct ProgramConfig {
  // "testcard" (live videotestsrc + audiotestsrc), "srt://:PORT" (listener),
  // "srt://host:port" (caller), "rtsp://…", "rtmp://…", "http(s)://…",
  // "file:///abs/path" (pulled through uridecodebin3; when it ends the slate
  // shows and the file is retried), "loop:/abs/path" or "loop:file:///abs/path"
  // (plays the file in a loop, for rehearsals). A bare absolute path is a file.
  std::string source = "testcard";
  // SRT security, for an srt:// source (pipeline/README.md, "SRT from OBS"):
  // with a passphrase (10-79 characters) the stream is AES-encrypted and a
  // caller without it, or with another, is refused at the handshake; pbkeylen
  // 16, 24 or 32 (0 = libsrt's default, 16). A listener with a stream id
  // accepts only callers that announce it; a caller sends it. The source
  // URL's own passphrase=/pbkeylen=/streamid= win over these. The passphrase
  // is never logged or reported.
  std::string srt_passphrase;
  int srt_pbkeylen = 0;
  std::string srt_streamid;
  int width = 1280;
  int height = 720;
  int fps = 30;
  int video_bitrate_kbps = 2500;
  std::string x264_preset = "veryfast";  // x264 speed-preset name
  std::string x264_tune = "zerolatency"; // "" for none
  int keyframe_seconds = 2;
  int audio_bitrate_kbps = 128;  // AAC, 48 kHz stereo

  // HLS: <hls_dir>/live.m3u8 + <hls_dir>/seg<start>_<n>.ts. Empty = no HLS.
  std::string hls_dir;
  int hls_segment_seconds = 2;
  int hls_playlist_length = 6;

  // Recording: <recording_dir>/<recording_name>-<NNN>.mkv (Matroska:
  // playable even when the process is killed), NNN the first free number from
  // 000, so a restart never overwrites a file. Empty dir = off; empty name =
  // "sabla-<YYYYmmdd-HHMMSS>" (local time of the start). See split_recording().
  std::string recording_dir;
  std::string recording_name;
  int recording_segment_minutes = 10;

  // RTMP(S) destinations "rtmp[s]://host[:port]/app/key". Only
  // scheme://host/app is ever logged or reported; keys never are.
  std::vector<std::string> restream_urls;

  // Slate: shown while the source is lost. Plain text (escaped here).
  std::string slate_title = "Sabla";
  std::string slate_message = "We'll be right back";

  // The slate is on air at most this long after the last source frame.
  int source_timeout_ms = 1500;

  // How the overlay is burned in: "direct" (default: converted once per
  // change into premultiplied Y/U/V planes, one multiply-add per covered byte
  // per frame) or "composition" (the overlaycomposition element with a cached
  // GstVideoOverlayComposition; ~3x the CPU, kept for comparison).
  std::string overlay_method = "direct";

  // Keep the last N program frames for snapshot() (tests; 0 = only frames
  // produced after the call).
  int frame_history = 0;
};

enum class ProgramState { starting, playing, stopping, stopped, error };
enum class RestreamState { connecting, live, reconnecting, failed };

const char* to_string(ProgramState s);
const char* to_string(RestreamState s);

// "sabla-<YYYYmmdd-HHMMSS>" (local time now): the recording name used when
// ProgramConfig::recording_name is empty, and for files recorded off air.
std::string off_air_recording_name();

// "rtmp://a.rtmp.youtube.com/live2/KEY" -> "rtmp://a.rtmp.youtube.com/live2".
// Anything that is not a URL gives "<invalid url>".
std::string redact_url(const std::string& url);

struct RestreamStats {
  std::string url;  // redacted
  RestreamState state = RestreamState::connecting;
  int reconnects = 0;
  std::string last_error;
};

struct ProgramStats {
  ProgramState state = ProgramState::stopped;
  bool source_live = false;        // false = slate on air
  int source_losses = 0;           // live -> slate transitions
  int64_t slate_switch_ms = -1;    // last live -> slate switch: ms from the last source frame (or sender byte, whichever came first)
  double output_fps = 0;           // program frames/s over the last second
  uint64_t frames_out = 0;         // program frames since start
  uint64_t dropped_frames = 0;     // dropped before the encoder (encoder too slow)
  double video_kbps = 0;           // encoder output over the last second
  int hls_segments = 0;            // segments written since start
  int64_t hls_latency_ms = -1;     // estimate for a player 3 segments behind; -1 = none yet
  std::string recording_file;      // file being written; empty = none
  std::vector<RestreamStats> restreams;
  int64_t running_time_ms = -1;
};

struct Snapshot {
  overlay::Frame frame;  // BGRA (ARGB32 on little-endian), opaque
  uint64_t index = 0;    // 1-based program frame number (see frames_out())
  int64_t pts_ms = 0;    // running time of the frame
};

// The answer to a WHEP offer (Program::whep_offer).
struct WhepAnswer {
  int status = 500;   // 201 created, 400 unusable offer, 503 monitor full or off, 500 failed
  std::string sdp;    // 201: the SDP answer, with this side's ICE candidates
  std::string id;     // 201: the session, ended by whep_close(id)
  std::string error;  // otherwise: why
};

class Listener {
 public:
  virtual ~Listener() = default;
  virtual void on_state(ProgramState state) = 0;
  // A pipeline error (the program keeps running when it can: restream
  // errors are handled per destination and also reported here).
  virtual void on_error(const std::string& message) = 0;
  // true: the input is on air; false: the slate is on air.
  virtual void on_source(bool live) = 0;
  virtual void on_restream(size_t /*index*/, const RestreamStats& /*stats*/) {}
  virtual void on_hls_segment(const std::string& /*path*/, int64_t /*duration_ms*/) {}
  // A recording file opened; its first frame is at `start_running_ms` of the
  // program's running time (see running_time_ms()).
  virtual void on_recording_file(const std::string& /*path*/, int64_t /*start_running_ms*/) {}
  // Diagnostics (level: 0 debug, 1 info, 2 warning, 3 error). URLs in these
  // messages are already redacted.
  virtual void on_log(int /*level*/, const std::string& /*message*/) {}
};

class Program;

struct StartResult {
  std::unique_ptr<Program> program;  // null on failure
  std::string error;                 // set on failure
  explicit operator bool() const { return program != nullptr; }
};

class Program {
 public:
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  ~Program();  // stops

  // Builds and starts the program. Fails with a clear message on a bad
  // config (missing plugin, nonexistent source file, unusable directory,
  // malformed restream URL, ...). `listener` may be null and must outlive
  // the program. A source that is valid but not there yet (SRT listener
  // without sender, RTSP server down) is not an error: the slate shows and
  // the source is retried with backoff.
  static StartResult start(const ProgramConfig& config, Listener* listener);

  // Ends the streams (final HLS segment and recording file closed), waits up
  // to ~3 s for that, then tears everything down. Idempotent.
  void stop();

  // Hands over the newest overlay (ARGB32 premultiplied, as the overlay
  // renderer makes it). It is burned into every video frame from the next
  // frame on. A frame of another size is scaled to the program size; an
  // empty frame clears the overlay. False (and nothing changes) when the
  // pixel buffer is smaller than stride*height.
  bool set_overlay(const overlay::Frame& frame);

  // Closes the current recording file at a keyframe forced now (within a
  // frame or two) and continues in <recording_dir>/<name>-<NNN>.mkv, so each
  // session gets its own files. on_recording_file() tells when the new file
  // opened. False (nothing changes) without recording or with a name that is
  // not a plain file name ([A-Za-z0-9._-], not starting with '.').
  bool split_recording(const std::string& name);

  // Running time of the program in ms (the timeline of HLS and recording):
  // use it as the stream offset of comments and on-air events. -1 before
  // the pipeline plays.
  int64_t running_time_ms() const;
  // Program frames produced so far.
  uint64_t frames_out() const;
  ProgramStats stats() const;

  // The program frame (after the overlay, before encoding) numbered
  // >= min_index, from the history or the frames to come; waits up to
  // timeout_ms. Costs nothing unless called.
  std::optional<Snapshot> snapshot(uint64_t min_index, int timeout_ms);

  struct Impl;

 private:
  explicit Program(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sabla::pipeline
