// The GStreamer program. Layout (see pipeline/README.md for why):
//
//  source pipeline (rebuilt on EOS/error, own bus):
//    testcard | uridecodebin3 -> convert/scale/rate -> intervideosink  (watchdog probe)
//                             -> convert/resample   -> interaudiosink
//  main pipeline (never rebuilt while running):
//    intervideosrc (probe: slate swap, overlay blend, frame count/snapshots)
//      -> queue(leaky) -> x264enc(byte-stream) -> tee -> queue -> hlssink2
//                                                    -> queue -> h264parse -> splitmuxsink(matroskamux)
//                                                    -> appsink (restream fan-out)
//    interaudiosrc -> volume(mute on slate) -> audioconvert -> AAC -> tee -> (same three)
//  Each queue is a thread and a wake-up per buffer, so there is none that does
//  not decouple something: the AAC encoder feeds its tee directly (each branch
//  has its queue), and the HLS branch has no h264parse (x264enc's byte-stream
//  already repeats SPS/PPS before every IDR, which is what HLS needs).
//  restream pipelines, one per destination (rebuilt with backoff on error, own bus):
//    appsrc(h264) -> h264parse -> flvmux -> rtmp2sink ; appsrc(aac) -> aacparse -> flvmux
#include "sabla/pipeline/program.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video-overlay-composition.h>
#include <gst/video/video.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "blend.h"
#include "gst_ptr.h"

namespace sabla::pipeline {

using namespace detail;

std::string off_air_recording_name() {
  char stamp[32];
  time_t now = time(nullptr);
  struct tm tmv;
  localtime_r(&now, &tmv);
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tmv);
  return std::string("sabla-") + stamp;
}

const char* to_string(ProgramState s) {
  switch (s) {
    case ProgramState::starting: return "starting";
    case ProgramState::playing: return "playing";
    case ProgramState::stopping: return "stopping";
    case ProgramState::stopped: return "stopped";
    case ProgramState::error: return "error";
  }
  return "?";
}

const char* to_string(RestreamState s) {
  switch (s) {
    case RestreamState::connecting: return "connecting";
    case RestreamState::live: return "live";
    case RestreamState::reconnecting: return "reconnecting";
    case RestreamState::failed: return "failed";
  }
  return "?";
}

namespace {

struct ParsedUrl {
  std::string scheme, host, app, key;
  int port = -1;
};

// rtmp[s]://host[:port]/app[/more...]/key  (the key is the last path segment).
bool parse_rtmp_url(const std::string& url, ParsedUrl* out) {
  ErrorPtr err;
  GError* e = nullptr;
  GUri* uri = g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, &e);
  err.reset(e);
  if (!uri) return false;
  ParsedUrl p;
  p.scheme = g_uri_get_scheme(uri) ? g_uri_get_scheme(uri) : "";
  p.host = g_uri_get_host(uri) ? g_uri_get_host(uri) : "";
  p.port = g_uri_get_port(uri);
  std::string path = g_uri_get_path(uri) ? g_uri_get_path(uri) : "";
  std::string q = g_uri_get_query(uri) ? g_uri_get_query(uri) : "";
  g_uri_unref(uri);
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    p.app = path;
  } else {
    p.app = path.substr(0, slash);
    p.key = path.substr(slash + 1);
  }
  if (!q.empty()) p.key += "?" + q;
  *out = p;
  return true;
}

int64_t mono_us() { return g_get_monotonic_time(); }

std::string scrub(std::string text, const std::string& url, const ParsedUrl& p) {
  auto replace_all = [&](const std::string& what, const std::string& with) {
    if (what.size() < 3) return;
    for (size_t pos = 0; (pos = text.find(what, pos)) != std::string::npos; pos += with.size())
      text.replace(pos, what.size(), with);
  };
  replace_all(url, redact_url(url));
  replace_all(p.key, "***");
  return text;
}

bool has_factory(const char* name) {
  GstElementFactory* f = gst_element_factory_find(name);
  if (!f) return false;
  gst_object_unref(f);
  return true;
}

std::string message_text(GstMessage* msg) {
  GError* e = nullptr;
  gchar* dbg = nullptr;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR)
    gst_message_parse_error(msg, &e, &dbg);
  else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_WARNING)
    gst_message_parse_warning(msg, &e, &dbg);
  ErrorPtr err(e);
  GStr d(dbg);
  GStr src(GST_MESSAGE_SRC(msg) ? gst_object_get_name(GST_MESSAGE_SRC(msg)) : nullptr);
  std::string s = std::string(src ? src.get() : "?") + ": " + (e ? e->message : "unknown");
  if (d) s += std::string(" (") + d.get() + ")";
  return s;
}

enum class SourceKind { testcard, uri, loop };

struct SourceSpec {
  SourceKind kind = SourceKind::testcard;
  std::string uri;   // for uri / loop; never carries the SRT passphrase
  bool file = false; // local file
  // A sender pushes to us (SRT, RTMP): its input bytes stop the moment it
  // dies, while the decoder still plays out what the demuxer and the SRT
  // receive buffer hold, so the watchdog watches both.
  bool live_push = false;
  // SRT: taken out of the URL query (or from the config) and set on srtsrc
  // as properties, so the passphrase is in no URI GStreamer may print.
  bool srt = false, srt_listener = false;
  std::string srt_bind;        // localaddress= ("" = every interface)
  std::string srt_passphrase;  // "" = unencrypted
  int srt_pbkeylen = 0;        // 0 = libsrt's default (16)
  std::string srt_streamid;    // listener: the only stream id accepted; caller: the one sent
};

// Splits a URL query into decoded key/value pairs, in order.
std::vector<std::pair<std::string, std::string>> query_pairs(const std::string& query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string part = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string k = part.substr(0, eq), v = eq == std::string::npos ? "" : part.substr(eq + 1);
      GStr dk(g_uri_unescape_string(k.c_str(), nullptr)), dv(g_uri_unescape_string(v.c_str(), nullptr));
      out.emplace_back(dk ? dk.get() : k, dv ? dv.get() : v);
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

bool is_loopback_address(const std::string& a) {
  return a == "localhost" || a == "::1" || a.rfind("127.", 0) == 0;
}

// SRT's own rules (libsrt refuses anything else, with a less clear error).
bool check_srt_security(const SourceSpec& s, std::string* error) {
  if (!s.srt_passphrase.empty() && (s.srt_passphrase.size() < 10 || s.srt_passphrase.size() > 79)) {
    *error = "source: the SRT passphrase must be 10 to 79 characters long";
    return false;
  }
  if (s.srt_pbkeylen != 0 && s.srt_pbkeylen != 16 && s.srt_pbkeylen != 24 && s.srt_pbkeylen != 32) {
    *error = "source: SRT pbkeylen must be 16, 24 or 32";
    return false;
  }
  if (s.srt_pbkeylen != 0 && s.srt_passphrase.empty()) {
    *error = "source: SRT pbkeylen needs a passphrase";
    return false;
  }
  if (s.srt_streamid.size() > 512) {
    *error = "source: the SRT stream id must be at most 512 characters";
    return false;
  }
  return true;
}

// Takes passphrase/pbkeylen/streamid out of an srt:// URI into `spec`, and
// adds mode= when the URI has none: "srt://:PORT" is a listener (what OBS
// pushes to); with a host, a caller.
bool split_srt_uri(const std::string& uri, SourceSpec* spec, std::string* error) {
  size_t q = uri.find('?');
  std::string base = uri.substr(0, q), kept;
  bool has_mode = false;
  std::string mode;
  if (q != std::string::npos) {
    for (auto& [k, v] : query_pairs(uri.substr(q + 1))) {
      if (k == "passphrase") {
        spec->srt_passphrase = v;
        continue;
      }
      if (k == "pbkeylen") {
        char* end = nullptr;
        long n = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end) {
          *error = "source: SRT pbkeylen must be 16, 24 or 32";
          return false;
        }
        spec->srt_pbkeylen = int(n);
        continue;
      }
      if (k == "streamid") {
        spec->srt_streamid = v;
        continue;
      }
      if (k == "mode") {
        has_mode = true;
        mode = v;
      }
      if (k == "localaddress") spec->srt_bind = v;
      GStr ek(g_uri_escape_string(k.c_str(), nullptr, FALSE)), ev(g_uri_escape_string(v.c_str(), nullptr, FALSE));
      kept += (kept.empty() ? "" : "&") + std::string(ek.get()) + "=" + ev.get();
    }
  }
  bool no_host = base.rfind("srt://:", 0) == 0;
  if (!has_mode) {
    mode = no_host ? "listener" : "caller";
    kept += (kept.empty() ? "" : "&") + std::string("mode=") + mode;
  }
  spec->srt_listener = mode == "listener";
  spec->uri = base + "?" + kept;
  return true;
}

bool parse_source(const std::string& s, SourceSpec* out, std::string* error) {
  SourceSpec spec;
  std::string rest = s;
  if (s.empty() || s == "testcard") {
    *out = spec;
    return true;
  }
  if (s.rfind("loop:", 0) == 0) {
    spec.kind = SourceKind::loop;
    rest = s.substr(5);
  } else {
    spec.kind = SourceKind::uri;
  }
  std::string path;
  if (!rest.empty() && rest[0] == '/') {
    path = rest;
  } else if (rest.rfind("file://", 0) == 0) {
    GError* e = nullptr;
    GStr p(g_filename_from_uri(rest.c_str(), nullptr, &e));
    ErrorPtr err(e);
    if (!p) {
      *error = "source: bad file URI '" + rest + "'";
      return false;
    }
    path = p.get();
  } else if (spec.kind == SourceKind::loop) {
    *error = "source: loop: needs an absolute path or a file:// URI";
    return false;
  }
  if (!path.empty()) {
    spec.file = true;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      *error = "source file not found: " + path;
      return false;
    }
    if (access(path.c_str(), R_OK) != 0) {
      *error = "source file not readable: " + path;
      return false;
    }
    GError* e = nullptr;
    GStr u(g_filename_to_uri(path.c_str(), nullptr, &e));
    ErrorPtr err(e);
    if (!u) {
      *error = "source: cannot make a URI of " + path;
      return false;
    }
    spec.uri = u.get();
    *out = spec;
    return true;
  }
  if (!gst_uri_is_valid(rest.c_str())) {
    *error = "source: not a URI or file path: '" + redact_url(rest) + "'";
    return false;
  }
  GStr proto(gst_uri_get_protocol(rest.c_str()));
  if (!proto || !gst_uri_protocol_is_supported(GST_URI_SRC, proto.get())) {
    *error = std::string("source: no GStreamer element reads '") + (proto ? proto.get() : "?") + "://' here";
    return false;
  }
  spec.uri = rest;
  std::string scheme = proto.get();
  spec.live_push = scheme == "srt" || scheme == "rtmp";
  if (scheme == "srt") {
    spec.srt = true;
    if (!split_srt_uri(rest, &spec, error)) return false;
  }
  *out = spec;
  return true;
}

bool ensure_dir(const std::string& dir, const char* what, std::string* error) {
  if (g_mkdir_with_parents(dir.c_str(), 0755) != 0 || access(dir.c_str(), W_OK) != 0) {
    *error = std::string(what) + ": directory not writable: " + dir;
    return false;
  }
  return true;
}

bool valid_word(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return g_ascii_isalnum(c) || c == '-' || c == '_'; });
}

}  // namespace

std::string redact_url(const std::string& url) {
  ParsedUrl p;
  if (!parse_rtmp_url(url, &p) || p.scheme.empty()) return "<invalid url>";
  // "srt://:PORT" (a listener on every interface) has no host.
  if (p.scheme == "srt" && p.host.empty() && p.port > 0) return "srt://:" + std::to_string(p.port);
  if (p.host.empty()) return "<invalid url>";
  std::string s = p.scheme + "://" + p.host;
  if (p.port > 0) s += ":" + std::to_string(p.port);
  if (!p.app.empty()) s += "/" + p.app;
  return s;
}

// ---------------------------------------------------------------------------

struct Program::Impl {
  ProgramConfig cfg;
  SourceSpec source;
  Listener* listener = nullptr;
  std::string channel;
  std::string aac_encoder;

  GMainContext* ctx = nullptr;
  GMainLoop* loop = nullptr;
  std::thread thread;
  std::atomic<bool> stopped{false};  // set by stop()

  PipelinePtr main;
  GstElement* ovl = nullptr;   // borrowed from main
  GstElement* vol = nullptr;   // borrowed
  GstElement* hls = nullptr;   // borrowed
  GstElement* rec = nullptr;   // borrowed
  GstElement* venc = nullptr;  // borrowed: split_recording() forces a keyframe on it

  // Recording file names: splitmuxsink asks for each new file on its
  // streaming thread (format-location-full); split_recording() renames from
  // the caller's thread.
  std::mutex rec_mu;
  std::string rec_name;   // GUARDED_BY(rec_mu): <name> of <name>-NNN.mkv
  int rec_next = 0;       // GUARDED_BY(rec_mu): next NNN to try for rec_name
  bool rec_opened = false;  // GUARDED_BY(rec_mu): the first file has been named
  SourcePtr main_watch, watchdog, stop_timer;
  bool stopping = false;  // loop thread
  bool saw_playing = false;
  int64_t last_hls_end = -1;  // loop thread

  // Source pipeline (loop thread).
  struct SourceCtx {
    Impl* impl = nullptr;
    GstElement* pipe = nullptr;  // borrowed
    std::atomic<bool> video{false}, audio{false};
  };
  PipelinePtr src_pipe;
  std::unique_ptr<SourceCtx> src_ctx;
  SourcePtr src_watch, src_retry;
  bool src_failing = false;  // a teardown is queued for the current source pipeline
  int src_backoff_ms = 1000;
  std::atomic<int64_t> last_src_frame_us{-1};
  std::atomic<int64_t> last_src_input_us{-1};  // live_push sources: last bytes from the sender
  std::atomic<int64_t> src_run_start_us{-1};
  int64_t stall_us = 750000;
  bool source_live = false;  // loop thread
  std::atomic<bool> slate_on{true};
  MiniRef<GstBuffer> slate;

  // Overlay.
  std::mutex ov_mu;
  GstVideoOverlayComposition* ov_comp = nullptr;  // guarded by ov_mu ("composition")
  std::shared_ptr<const BlendPlanes> ov_planes;    // guarded by ov_mu ("direct")
  std::shared_ptr<const overlay::Frame> ov_frame;  // program-sized source of ov_planes
  bool direct = true;
  // Colorimetry of the program frames (known once caps flow).
  std::atomic<int> matrix{GST_VIDEO_COLOR_MATRIX_BT601}, range{GST_VIDEO_COLOR_RANGE_16_235};
  GstVideoInfo prog_info;  // streaming thread of intervideosrc

  // Counters (streaming threads write, anyone reads).
  std::atomic<uint64_t> frames{0}, dropped{0}, video_bytes{0};
  uint64_t last_frames = 0, last_bytes = 0;
  int64_t last_rate_us = 0;

  // Snapshots.
  struct Held {
    MiniRef<GstBuffer> buf;
    uint64_t index;
  };
  std::mutex snap_mu;
  std::condition_variable snap_cv;
  std::deque<Held> history;  // guarded by snap_mu
  std::atomic<int> snap_waiters{0};
  GstVideoInfo vinfo;

  // Stats (written on the loop thread, read anywhere).
  mutable std::mutex st_mu;
  ProgramStats st;

  // Restreams.
  struct Restream {
    Impl* impl = nullptr;
    size_t index = 0;
    std::string url;
    ParsedUrl parsed;
    PipelinePtr pipe;        // loop thread
    GstElement* vsrc = nullptr;  // guarded by impl->rs_mu (borrowed from pipe)
    GstElement* asrc = nullptr;
    GstElement* sink = nullptr;  // loop thread
    bool need_key = true;        // guarded by rs_mu
    int backoff_ms = 1000;
    int64_t live_since_us = -1;
    guint64 last_out_bytes = 0;  // rtmp2sink stats, loop thread
    unsigned gen = 0;  // bumped on every build: stale bus posts are ignored
    SourcePtr watch, retry;
  };
  std::mutex rs_mu;
  std::vector<std::unique_ptr<Restream>> restreams;
  GstElement* rs_vsink = nullptr;  // borrowed
  GstElement* rs_asink = nullptr;

  ~Impl() {
    if (ov_comp) gst_video_overlay_composition_unref(ov_comp);
    if (loop) g_main_loop_unref(loop);
    if (ctx) g_main_context_unref(ctx);
  }

  // --- helpers ------------------------------------------------------------
  template <class F>
  void notify(F&& f) {
    if (!listener) return;
    try {
      f(*listener);
    } catch (...) {
    }
  }
  void log(int level, const std::string& m) {
    notify([&](Listener& l) { l.on_log(level, m); });
  }
  SourcePtr add_timeout(int ms, GSourceFunc fn, gpointer data) {
    GSource* s = g_timeout_source_new(static_cast<guint>(ms));
    g_source_set_callback(s, fn, data, nullptr);
    g_source_attach(s, ctx);
    return SourcePtr(s);
  }
  SourcePtr add_bus_watch(GstElement* pipe, gboolean (*fn)(GstBus*, GstMessage*, gpointer), gpointer data) {
    Ref<GstBus> bus(gst_element_get_bus(pipe));
    GSource* s = gst_bus_create_watch(bus.get());
    g_source_set_callback(s, G_SOURCE_FUNC(fn), data, nullptr);
    g_source_attach(s, ctx);
    return SourcePtr(s);
  }
  void post(std::function<void()> fn) {
    auto* heap = new std::function<void()>(std::move(fn));
    GSource* s = g_idle_source_new();
    g_source_set_callback(
        s,
        [](gpointer p) -> gboolean {
          try {
            (*static_cast<std::function<void()>*>(p))();
          } catch (...) {
          }
          return G_SOURCE_REMOVE;
        },
        heap, [](gpointer p) { delete static_cast<std::function<void()>*>(p); });
    g_source_attach(s, ctx);
    g_source_unref(s);
  }
  void set_state(ProgramState s) {
    {
      std::lock_guard lk(st_mu);
      st.state = s;
    }
    notify([&](Listener& l) { l.on_state(s); });
  }

  // --- building ------------------------------------------------------------
  bool render_slate(std::string* error);
  bool build_main(std::string* error);
  void start_source();
  void stop_source();
  void schedule_source_retry(int ms);
  void build_restream(Restream& r);
  void teardown_restream(Restream& r);
  void restream_failed(Restream& r, const std::string& why);
  void publish_restream(Restream& r, RestreamState s, const std::string& err);
  void begin_stop();
  void finish_stop();
  void tick();

  // --- callbacks -----------------------------------------------------------
  static gboolean on_main_bus(GstBus*, GstMessage* msg, gpointer self);
  static gboolean on_src_bus(GstBus*, GstMessage* msg, gpointer self);
  static gboolean on_rs_bus(GstBus*, GstMessage* msg, gpointer r);
  static GstPadProbeReturn on_src_frame(GstPad*, GstPadProbeInfo*, gpointer self);
  static GstPadProbeReturn on_src_input(GstPad*, GstPadProbeInfo*, gpointer self);
  static void on_source_element(GstBin*, GstBin*, GstElement* element, gpointer self);
  static gboolean on_srt_caller_connecting(GstElement*, gpointer /* GSocketAddress* */, gchar* streamid, gpointer self);
  static GstPadProbeReturn on_slate_swap(GstPad*, GstPadProbeInfo* info, gpointer self);
  static GstPadProbeReturn on_program_frame(GstPad*, GstPadProbeInfo* info, gpointer self);
  void blend_direct(GstPadProbeInfo* info);
  static GstPadProbeReturn on_encoded(GstPad*, GstPadProbeInfo* info, gpointer self);
  static GstVideoOverlayComposition* on_draw(GstElement*, GstSample*, gpointer self);
  static void on_overrun(GstElement*, gpointer self);
  static gchar* on_format_location(GstElement*, guint fragment_id, GstSample* first, gpointer self);
  static void on_decoded_pad(GstElement*, GstPad* pad, gpointer ctx);
  static GstFlowReturn on_rs_sample(GstAppSink* sink, gpointer self);
};

// --- slate ------------------------------------------------------------------

bool Program::Impl::render_slate(std::string* error) {
  const ProgramConfig& c = cfg;
  std::string desc = "videotestsrc num-buffers=1 pattern=solid-color foreground-color=0xff14314d ! "
                     "video/x-raw,format=I420,width=" + std::to_string(c.width) + ",height=" + std::to_string(c.height) +
                     ",framerate=" + std::to_string(c.fps) + "/1,pixel-aspect-ratio=1/1 ! ";
  bool text = has_factory("textoverlay");
  if (text) desc += "textoverlay name=t halignment=center valignment=center line-alignment=center wrap-mode=word auto-resize=false ! ";
  desc += "appsink name=s sync=false";
  GError* e = nullptr;
  PipelinePtr p(gst_parse_launch(desc.c_str(), &e));
  ErrorPtr err(e);
  if (!p || e) {
    *error = std::string("slate: ") + (e ? e->message : "cannot build");
    return false;
  }
  if (text) {
    Ref<GstElement> t(gst_bin_get_by_name(GST_BIN(p.get()), "t"));
    std::string body = c.slate_title.empty() ? c.slate_message : c.slate_title + "\n" + c.slate_message;
    GStr escaped(g_markup_escape_text(body.c_str(), -1));  // textoverlay's text is Pango markup
    // Font size in points; textoverlay renders at 72 dpi-ish scale, ~1/16 of the height reads well.
    std::string font = "Noto Sans, Sans Bold " + std::to_string(std::max(8, c.height / 16));
    g_object_set(t.get(), "text", escaped.get(), "font-desc", font.c_str(), nullptr);
  } else {
    log(2, "slate: textoverlay missing (install gstreamer1.0-x): the slate has no text");
  }
  Ref<GstElement> s(gst_bin_get_by_name(GST_BIN(p.get()), "s"));
  gst_element_set_state(p.get(), GST_STATE_PLAYING);
  MiniRef<GstSample> sample(gst_app_sink_try_pull_sample(GST_APP_SINK(s.get()), 5 * GST_SECOND));
  if (!sample || !gst_sample_get_buffer(sample.get())) {
    *error = "slate: could not render the slate frame";
    return false;
  }
  slate.reset(gst_buffer_ref(gst_sample_get_buffer(sample.get())));
  return true;
}

// --- main pipeline --------------------------------------------------------------

bool Program::Impl::build_main(std::string* error) {
  const ProgramConfig& c = cfg;
  const std::string W = std::to_string(c.width), H = std::to_string(c.height), F = std::to_string(c.fps);
  const std::string vcaps = "video/x-raw,format=I420,width=" + W + ",height=" + H + ",framerate=" + F + "/1,pixel-aspect-ratio=1/1";
  const std::string acaps = "audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=2";
  std::string d;
  d += "intervideosrc name=vsrc channel=" + channel + " timeout=" + std::to_string(int64_t(c.source_timeout_ms) * 1000000) + " ! " + vcaps +
       (direct ? "" : " ! overlaycomposition name=ovl") + " ! queue name=encq leaky=downstream max-size-buffers=8 max-size-bytes=0 max-size-time=0 ! "
       "x264enc name=venc speed-preset=" + c.x264_preset + (c.x264_tune.empty() ? "" : " tune=" + c.x264_tune) +
       " bitrate=" + std::to_string(c.video_bitrate_kbps) + " key-int-max=" + std::to_string(c.fps * c.keyframe_seconds) +
       " ! video/x-h264,profile=high,stream-format=byte-stream ! tee name=vt allow-not-linked=true ";
  d += "interaudiosrc name=asrc channel=" + channel + " ! " + acaps + " ! volume name=vol ! audioconvert ! " + aac_encoder +
       " bitrate=" + std::to_string(c.audio_bitrate_kbps * 1000) + " ! tee name=at allow-not-linked=true ";
  if (!c.hls_dir.empty()) {
    d += "hlssink2 name=hls target-duration=" + std::to_string(c.hls_segment_seconds) + " playlist-length=" +
         std::to_string(c.hls_playlist_length) + " max-files=" + std::to_string(c.hls_playlist_length + 4) + " ";
    d += "vt. ! queue ! hls.video ";
    d += "at. ! queue ! hls.audio ";
  }
  if (!c.recording_dir.empty()) {
    d += "splitmuxsink name=rec muxer-factory=matroskamux max-size-time=" +
         std::to_string(int64_t(c.recording_segment_minutes) * 60 * GST_SECOND) + " ";
    d += "vt. ! queue ! h264parse ! rec.video ";
    d += "at. ! queue ! rec.audio_%u ";
  }
  if (!c.restream_urls.empty()) {
    d += "vt. ! appsink name=rsv sync=false async=false enable-last-sample=false ";
    d += "at. ! appsink name=rsa sync=false async=false enable-last-sample=false ";
  }
  GError* e = nullptr;
  GstElement* p = gst_parse_launch(d.c_str(), &e);
  ErrorPtr err(e);
  if (!p || e) {
    if (p) gst_object_unref(p);
    *error = std::string("pipeline: ") + (e ? e->message : "cannot build");
    return false;
  }
  main.reset(p);
  GstBin* bin = GST_BIN(p);
  auto get = [&](const char* name) { return Ref<GstElement>(gst_bin_get_by_name(bin, name)); };

  // Slate swap on the program input; frame count/snapshots after the overlay;
  // bitrate after the encoder; drops at the encoder queue.
  {
    auto vsrc = get("vsrc");
    Ref<GstPad> pad(gst_element_get_static_pad(vsrc.get(), "src"));
    gst_pad_add_probe(pad.get(), GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                      on_slate_swap, this, nullptr);
  }
  if (!direct) {
    auto o = get("ovl");
    ovl = o.get();
    g_signal_connect(ovl, "draw", G_CALLBACK(on_draw), this);
    Ref<GstPad> pad(gst_element_get_static_pad(ovl, "src"));
    gst_pad_add_probe(pad.get(), GST_PAD_PROBE_TYPE_BUFFER, on_program_frame, this, nullptr);
  }
  {
    auto q = get("encq");
    g_signal_connect(q.get(), "overrun", G_CALLBACK(on_overrun), this);
    auto enc = get("venc");
    Ref<GstPad> pad(gst_element_get_static_pad(enc.get(), "src"));
    gst_pad_add_probe(pad.get(), GST_PAD_PROBE_TYPE_BUFFER, on_encoded, this, nullptr);
  }
  vol = get("vol").get();
  if (!c.hls_dir.empty()) {
    hls = get("hls").get();
    std::string seg = c.hls_dir + "/seg" + std::to_string(time(nullptr)) + "_%05d.ts";
    std::string pl = c.hls_dir + "/live.m3u8";
    g_object_set(hls, "location", seg.c_str(), "playlist-location", pl.c_str(), nullptr);
  }
  if (!c.recording_dir.empty()) {
    rec = get("rec").get();
    venc = get("venc").get();
    {
      std::lock_guard lk(rec_mu);
      rec_name = c.recording_name.empty() ? off_air_recording_name() : c.recording_name;
      rec_next = 0;
    }
    g_signal_connect(rec, "format-location-full", G_CALLBACK(on_format_location), this);
  }
  if (!c.restream_urls.empty()) {
    rs_vsink = get("rsv").get();
    rs_asink = get("rsa").get();
    GstAppSinkCallbacks cb;
    std::memset(&cb, 0, sizeof cb);
    cb.new_sample = on_rs_sample;
    gst_app_sink_set_callbacks(GST_APP_SINK(rs_vsink), &cb, this, nullptr);
    gst_app_sink_set_callbacks(GST_APP_SINK(rs_asink), &cb, this, nullptr);
  }
  return true;
}

static void swap_in_slate(Program::Impl* impl, GstPadProbeInfo* info);

// Streaming thread of intervideosrc: while the slate is on, the frame is
// replaced by the pre-rendered slate (shares its memory: no copy, no blend);
// then ("direct") the overlay is blended and the frame counted.
GstPadProbeReturn Program::Impl::on_slate_swap(GstPad* pad, GstPadProbeInfo* info, gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent* ev = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(ev) == GST_EVENT_CAPS) {
      GstCaps* caps = nullptr;
      gst_event_parse_caps(ev, &caps);
      GstVideoInfo vi;
      if (caps && gst_video_info_from_caps(&vi, caps)) {
        impl->prog_info = vi;
        impl->matrix.store(vi.colorimetry.matrix);
        impl->range.store(vi.colorimetry.range);
        std::lock_guard lk(impl->snap_mu);
        impl->vinfo = vi;
      }
    }
    return GST_PAD_PROBE_OK;
  }
  if (impl->slate_on.load(std::memory_order_relaxed) && impl->slate) swap_in_slate(impl, info);
  if (impl->direct) {
    impl->blend_direct(info);
    return on_program_frame(pad, info, self);
  }
  return GST_PAD_PROBE_OK;
}

void Program::Impl::blend_direct(GstPadProbeInfo* info) {
  std::shared_ptr<const BlendPlanes> planes;
  std::shared_ptr<const overlay::Frame> src;
  {
    std::lock_guard lk(ov_mu);
    planes = ov_planes;
    src = ov_frame;
  }
  if (!planes) return;
  if (planes->matrix != matrix.load() || planes->range != range.load()) {
    // Built before the real colorimetry was known: rebuild once.
    planes = make_planes(src->pixels.data(), src->stride, src->width, src->height, GstVideoColorMatrix(matrix.load()),
                         GstVideoColorRange(range.load()));
    std::lock_guard lk(ov_mu);
    if (ov_frame == src) ov_planes = planes;
  }
  GstBuffer* buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  GstVideoFrame vf;
  if (!gst_video_frame_map(&vf, &prog_info, buf, GST_MAP_WRITE)) return;
  blend_i420(&vf, *planes);
  gst_video_frame_unmap(&vf);
}

static void swap_in_slate(Program::Impl* impl, GstPadProbeInfo* info) {
  GstBuffer* in = GST_PAD_PROBE_INFO_BUFFER(info);
  GstBuffer* out = gst_buffer_copy(impl->slate.get());
  GST_BUFFER_PTS(out) = GST_BUFFER_PTS(in);
  GST_BUFFER_DTS(out) = GST_BUFFER_DTS(in);
  GST_BUFFER_DURATION(out) = GST_BUFFER_DURATION(in);
  GST_BUFFER_OFFSET(out) = GST_BUFFER_OFFSET(in);
  GST_BUFFER_OFFSET_END(out) = GST_BUFFER_OFFSET_END(in);
  GST_BUFFER_FLAGS(out) = GST_BUFFER_FLAGS(in) & ~GST_BUFFER_FLAG_GAP;
  gst_buffer_unref(in);
  GST_PAD_PROBE_INFO_DATA(info) = out;
}

GstVideoOverlayComposition* Program::Impl::on_draw(GstElement*, GstSample*, gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  std::lock_guard lk(impl->ov_mu);
  return impl->ov_comp ? gst_video_overlay_composition_ref(impl->ov_comp) : nullptr;
}

GstPadProbeReturn Program::Impl::on_program_frame(GstPad*, GstPadProbeInfo* info, gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  uint64_t idx = impl->frames.fetch_add(1, std::memory_order_relaxed) + 1;
  size_t keep = static_cast<size_t>(std::max(0, impl->cfg.frame_history));
  if (keep == 0 && impl->snap_waiters.load() == 0) return GST_PAD_PROBE_OK;
  try {
    std::lock_guard lk(impl->snap_mu);
    impl->history.push_back(Held{MiniRef<GstBuffer>(gst_buffer_ref(GST_PAD_PROBE_INFO_BUFFER(info))), idx});
    while (impl->history.size() > std::max<size_t>(keep, 1)) impl->history.pop_front();
  } catch (...) {
  }
  impl->snap_cv.notify_all();
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn Program::Impl::on_encoded(GstPad*, GstPadProbeInfo* info, gpointer self) {
  static_cast<Impl*>(self)->video_bytes.fetch_add(gst_buffer_get_size(GST_PAD_PROBE_INFO_BUFFER(info)),
                                                  std::memory_order_relaxed);
  return GST_PAD_PROBE_OK;
}

void Program::Impl::on_overrun(GstElement*, gpointer self) {
  static_cast<Impl*>(self)->dropped.fetch_add(1, std::memory_order_relaxed);
}

// Streaming thread of splitmuxsink: the name of the next recording file.
// <name>-NNN.mkv with the first NNN not on disk, so a restart or a session
// that goes live twice continues the numbering instead of overwriting.
gchar* Program::Impl::on_format_location(GstElement*, guint, GstSample*, gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  std::lock_guard lk(impl->rec_mu);
  impl->rec_opened = true;
  for (;;) {
    char num[16];
    g_snprintf(num, sizeof num, "%03d", impl->rec_next++);
    std::string path = impl->cfg.recording_dir + "/" + impl->rec_name + "-" + num + ".mkv";
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) || impl->rec_next > 100000) return g_strdup(path.c_str());
  }
}

// --- source ------------------------------------------------------------------

// Streaming or application thread of the source pipeline, while
// uridecodebin3 builds it (elements are still in NULL).
void Program::Impl::on_source_element(GstBin*, GstBin*, GstElement* element, gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  GstElementFactory* f = gst_element_get_factory(element);
  const char* factory = f ? GST_OBJECT_NAME(f) : "";
  if (g_strcmp0(factory, "tsdemux") == 0 && g_object_class_find_property(G_OBJECT_GET_CLASS(element), "latency"))
    g_object_set(element, "latency", 100, nullptr);
  const SourceSpec& src = impl->source;
  if (g_strcmp0(factory, "srtsrc") == 0) {
    if (!src.srt_passphrase.empty()) g_object_set(element, "passphrase", src.srt_passphrase.c_str(), nullptr);
    if (src.srt_pbkeylen != 0) gst_util_set_object_arg(G_OBJECT(element), "pbkeylen", std::to_string(src.srt_pbkeylen).c_str());
    if (!src.srt_streamid.empty()) {
      if (src.srt_listener) {
        // Set explicitly: 1.22.0's srtsrc documents "authentication" as
        // on by default but accepted every caller without asking.
        if (g_object_class_find_property(G_OBJECT_GET_CLASS(element), "authentication"))
          g_object_set(element, "authentication", TRUE, nullptr);
        g_signal_connect(element, "caller-connecting", G_CALLBACK(on_srt_caller_connecting), impl);
      }
      else
        g_object_set(element, "streamid", src.srt_streamid.c_str(), nullptr);
    }
  }
  // The sender's bytes as they arrive: the src pad of the element that
  // receives them (srtsrc, rtmp2src, ...).
  if (src.live_push && GST_OBJECT_FLAG_IS_SET(element, GST_ELEMENT_FLAG_SOURCE)) {
    Ref<GstPad> pad(gst_element_get_static_pad(element, "src"));
    if (pad) gst_pad_add_probe(pad.get(), GST_PAD_PROBE_TYPE_BUFFER, on_src_input, impl, nullptr);
  }
}

// SRT's listener thread, for each caller's handshake: accept only the
// configured stream id. Returns FALSE to refuse the caller.
gboolean Program::Impl::on_srt_caller_connecting(GstElement*, gpointer /* GSocketAddress* */, gchar* streamid, gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  bool ok = streamid && impl->source.srt_streamid == streamid;
  if (!ok) {
    // Log from the loop thread, like every other message; the caller's id is
    // shown only as its length (it may be somebody's key for another server).
    size_t len = streamid ? std::strlen(streamid) : 0;
    impl->post([impl, len] {
      impl->log(2, "source: refused an SRT caller with another stream id (" + std::to_string(len) + " characters)");
    });
  }
  return ok ? TRUE : FALSE;
}

GstPadProbeReturn Program::Impl::on_src_input(GstPad*, GstPadProbeInfo*, gpointer self) {
  static_cast<Impl*>(self)->last_src_input_us.store(mono_us());
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn Program::Impl::on_src_frame(GstPad*, GstPadProbeInfo*, gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  int64_t now = mono_us();
  int64_t prev = impl->last_src_frame_us.exchange(now);
  if (prev < 0 || now - prev > impl->stall_us) impl->src_run_start_us.store(now);
  return GST_PAD_PROBE_OK;
}

void Program::Impl::on_decoded_pad(GstElement*, GstPad* pad, gpointer data) {
  auto* sc = static_cast<SourceCtx*>(data);
  Impl* impl = sc->impl;
  MiniRef<GstCaps> caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  if (!caps || gst_caps_is_empty(caps.get())) return;
  const char* name = gst_structure_get_name(gst_caps_get_structure(caps.get(), 0));
  bool video = g_str_has_prefix(name, "video/");
  bool audio = g_str_has_prefix(name, "audio/");
  std::string desc;
  const ProgramConfig& c = impl->cfg;
  if (video && !sc->video.exchange(true)) {
    desc = "queue max-size-buffers=5 max-size-bytes=0 max-size-time=0 ! videoconvert ! videoscale ! videorate ! "
           "video/x-raw,format=I420,width=" + std::to_string(c.width) + ",height=" + std::to_string(c.height) +
           ",framerate=" + std::to_string(c.fps) + "/1,pixel-aspect-ratio=1/1 ! intervideosink name=vsink channel=" +
           impl->channel;
  } else if (audio && !sc->audio.exchange(true)) {
    desc = "queue ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=2 ! "
           "interaudiosink channel=" + impl->channel;
  } else {
    desc = "fakesink sync=false async=false";  // extra streams
  }
  GError* e = nullptr;
  GstElement* branch = gst_parse_bin_from_description(desc.c_str(), TRUE, &e);
  ErrorPtr err(e);
  if (!branch) return;
  gst_bin_add(GST_BIN(sc->pipe), branch);
  if (video) {
    Ref<GstElement> vsink(gst_bin_get_by_name(GST_BIN(branch), "vsink"));
    if (vsink) {
      Ref<GstPad> sp(gst_element_get_static_pad(vsink.get(), "sink"));
      gst_pad_add_probe(sp.get(), GST_PAD_PROBE_TYPE_BUFFER, on_src_frame, impl, nullptr);
    }
  }
  gst_element_sync_state_with_parent(branch);
  Ref<GstPad> sink(gst_element_get_static_pad(branch, "sink"));
  gst_pad_link(pad, sink.get());
}

void Program::Impl::start_source() {
  const ProgramConfig& c = cfg;
  src_failing = false;
  GstElement* p = nullptr;
  src_ctx = std::make_unique<SourceCtx>();
  src_ctx->impl = this;
  if (source.kind == SourceKind::testcard) {
    std::string d =
        "videotestsrc is-live=true pattern=smpte horizontal-speed=2 ! video/x-raw,format=I420,width=" + std::to_string(c.width) +
        ",height=" + std::to_string(c.height) + ",framerate=" + std::to_string(c.fps) +
        "/1,pixel-aspect-ratio=1/1 ! intervideosink name=vsink channel=" + channel +
        " audiotestsrc is-live=true wave=sine freq=440 volume=0.05 ! audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=2 ! "
        "interaudiosink channel=" + channel;
    GError* e = nullptr;
    p = gst_parse_launch(d.c_str(), &e);
    ErrorPtr err(e);
    if (p) {
      Ref<GstElement> vsink(gst_bin_get_by_name(GST_BIN(p), "vsink"));
      Ref<GstPad> sp(gst_element_get_static_pad(vsink.get(), "sink"));
      gst_pad_add_probe(sp.get(), GST_PAD_PROBE_TYPE_BUFFER, on_src_frame, this, nullptr);
    }
  } else {
    p = gst_pipeline_new("source");
    GstElement* dec = gst_element_factory_make("uridecodebin3", "dec");
    if (dec) {
      g_object_set(dec, "uri", source.uri.c_str(), nullptr);
      gst_bin_add(GST_BIN(p), dec);
      src_ctx->pipe = p;
      g_signal_connect(dec, "pad-added", G_CALLBACK(on_decoded_pad), src_ctx.get());
      // tsdemux (SRT, HTTP-TS) holds 700 ms of live input by default; those
      // frames play out after the sender is gone, before the watchdog sees
      // the loss, and add to the viewers' latency. 100 ms is enough on a LAN
      // or SRT link (SRT has its own receive latency).
      g_signal_connect(p, "deep-element-added", G_CALLBACK(on_source_element), this);
    }
  }
  if (!p) {
    log(3, "source: cannot build the source pipeline");
    schedule_source_retry(src_backoff_ms);
    return;
  }
  src_ctx->pipe = p;
  src_pipe.reset(p);
  src_watch = add_bus_watch(p, on_src_bus, this);
  if (gst_element_set_state(p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    log(2, "source: cannot start " + redact_url(source.uri));
    stop_source();
    schedule_source_retry(src_backoff_ms);
  }
}

void Program::Impl::stop_source() {
  src_watch.reset();
  src_pipe.reset();  // sets NULL: joins the source's streaming threads
  src_ctx.reset();
}

void Program::Impl::schedule_source_retry(int ms) {
  src_retry = add_timeout(
      ms,
      [](gpointer self) -> gboolean {
        auto* impl = static_cast<Impl*>(self);
        if (!impl->stopping) impl->start_source();
        return G_SOURCE_REMOVE;
      },
      this);
}

gboolean Program::Impl::on_src_bus(GstBus*, GstMessage* msg, gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  if (impl->stopping || impl->src_failing) return G_SOURCE_CONTINUE;
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_EOS:
    case GST_MESSAGE_ERROR: {
      bool eos = GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS;
      std::string what = eos ? "source ended" : "source error: " + message_text(msg);
      int delay = (eos && impl->source.kind == SourceKind::loop) ? 0 : impl->src_backoff_ms;
      if (!(eos && impl->source.kind == SourceKind::loop)) impl->src_backoff_ms = std::min(impl->src_backoff_ms * 2, 10000);
      impl->log(eos ? 1 : 2, what + "; restarting in " + std::to_string(delay) + " ms");
      if (!eos) impl->notify([&](Listener& l) { l.on_error(what); });
      impl->src_failing = true;
      // Tear down from an idle callback: we are inside this pipeline's bus watch.
      impl->post([impl, delay] {
        impl->stop_source();
        impl->schedule_source_retry(delay);
      });
      return G_SOURCE_CONTINUE;
    }
    default:
      return G_SOURCE_CONTINUE;
  }
}

// --- restreams -------------------------------------------------------------------

GstFlowReturn Program::Impl::on_rs_sample(GstAppSink* sink, gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  MiniRef<GstSample> sample(gst_app_sink_pull_sample(sink));
  if (!sample) return GST_FLOW_OK;
  bool video = GST_ELEMENT(sink) == impl->rs_vsink;
  GstBuffer* buf = gst_sample_get_buffer(sample.get());
  bool key = buf && !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  std::lock_guard lk(impl->rs_mu);
  for (auto& r : impl->restreams) {
    GstElement* src = video ? r->vsrc : r->asrc;
    if (!src) continue;
    if (video) {
      // A slow destination: drop up to the next keyframe rather than send a broken GOP.
      if (gst_app_src_get_current_level_time(GST_APP_SRC(src)) > 1500 * GST_MSECOND) r->need_key = true;
      if (r->need_key && !key) continue;
      r->need_key = false;
    } else if (r->need_key) {
      continue;
    }
    gst_app_src_push_sample(GST_APP_SRC(src), sample.get());
  }
  return GST_FLOW_OK;
}

void Program::Impl::publish_restream(Restream& r, RestreamState s, const std::string& err) {
  RestreamStats copy;
  {
    std::lock_guard lk(st_mu);
    auto& rs = st.restreams[r.index];
    if (rs.state == s && err.empty()) return;
    rs.state = s;
    if (!err.empty()) rs.last_error = err;
    copy = rs;
  }
  notify([&](Listener& l) { l.on_restream(r.index, copy); });
}

void Program::Impl::build_restream(Restream& r) {
  // handle-segment-change: the samples carry the encoder's segment, whose
  // start is not 0 (x264enc's segment starts at 1000 h so that B-frame DTS
  // stay positive). Without it appsrc keeps its own default segment, flvmux
  // computes running times in the wrong one and, on many starts, clamps every
  // video timestamp to 0: nginx-rtmp then recorded 1 distinct timestamp for
  // a whole start. flvmux's latency lets it wait for audio before it writes
  // a video tag, so tags go out in timestamp order instead of audio being
  // squeezed onto whatever timestamp flvmux had already sent.
  const char* d =
      "appsrc name=v format=time is-live=true handle-segment-change=true max-bytes=0 max-buffers=0 ! h264parse ! "
      "flvmux name=m streamable=true latency=300000000 ! rtmp2sink name=sink sync=false "
      "appsrc name=a format=time is-live=true handle-segment-change=true max-bytes=0 max-buffers=0 ! aacparse ! m.";
  GError* e = nullptr;
  GstElement* p = gst_parse_launch(d, &e);
  ErrorPtr err(e);
  if (!p) {
    restream_failed(r, std::string("cannot build: ") + (e ? e->message : "?"));
    return;
  }
  r.pipe.reset(p);
  r.gen++;
  r.last_out_bytes = 0;
  Ref<GstElement> v(gst_bin_get_by_name(GST_BIN(p), "v"));
  Ref<GstElement> a(gst_bin_get_by_name(GST_BIN(p), "a"));
  Ref<GstElement> sink(gst_bin_get_by_name(GST_BIN(p), "sink"));
  for (GstElement* src : {v.get(), a.get()}) {
    gst_util_set_object_arg(G_OBJECT(src), "leaky-type", "downstream");
    g_object_set(src, "max-time", guint64(2 * GST_SECOND), nullptr);
  }
  g_object_set(sink.get(), "location", r.url.c_str(), nullptr);
  r.sink = sink.get();
  // Same clock and base time as the main pipeline: buffer timestamps are its running time.
  Ref<GstClock> clock(gst_element_get_clock(main.get()));
  if (clock) {
    gst_pipeline_use_clock(GST_PIPELINE(p), clock.get());
    gst_element_set_start_time(p, GST_CLOCK_TIME_NONE);
    gst_element_set_base_time(p, gst_element_get_base_time(main.get()));
  }
  r.watch = add_bus_watch(p, on_rs_bus, &r);
  publish_restream(r, r.live_since_us == -2 ? RestreamState::reconnecting : RestreamState::connecting, "");
  r.live_since_us = -1;
  if (gst_element_set_state(p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    restream_failed(r, "cannot start");
    return;
  }
  std::lock_guard lk(rs_mu);
  r.vsrc = v.get();
  r.asrc = a.get();
  r.need_key = true;
}

void Program::Impl::teardown_restream(Restream& r) {
  {
    std::lock_guard lk(rs_mu);
    r.vsrc = r.asrc = nullptr;
  }
  r.watch.reset();
  r.sink = nullptr;
  r.pipe.reset();
}

void Program::Impl::restream_failed(Restream& r, const std::string& why) {
  std::string msg = scrub(why, r.url, r.parsed);
  teardown_restream(r);
  if (stopping) return;
  log(2, "restream " + redact_url(r.url) + ": " + msg + "; retrying in " + std::to_string(r.backoff_ms) + " ms");
  {
    std::lock_guard lk(st_mu);
    st.restreams[r.index].reconnects++;
  }
  publish_restream(r, RestreamState::reconnecting, msg);
  notify([&](Listener& l) { l.on_error("restream " + redact_url(r.url) + ": " + msg); });
  r.live_since_us = -2;
  r.retry = add_timeout(
      r.backoff_ms,
      [](gpointer p) -> gboolean {
        auto* rr = static_cast<Restream*>(p);
        if (!rr->impl->stopping) rr->impl->build_restream(*rr);
        return G_SOURCE_REMOVE;
      },
      &r);
  r.backoff_ms = std::min(r.backoff_ms * 2, 30000);
}

gboolean Program::Impl::on_rs_bus(GstBus*, GstMessage* msg, gpointer p) {
  auto* r = static_cast<Restream*>(p);
  Impl* impl = r->impl;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR || GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
    std::string why = GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS ? "connection closed" : message_text(msg);
    unsigned gen = r->gen;
    impl->post([r, why, gen] {
      if (r->gen == gen && r->pipe) r->impl->restream_failed(*r, why);
    });
  }
  return G_SOURCE_CONTINUE;
}

// --- main bus, watchdog, stop ---------------------------------------------------

gboolean Program::Impl::on_main_bus(GstBus*, GstMessage* msg, gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR: {
      std::string what = message_text(msg);
      impl->log(3, what);
      impl->notify([&](Listener& l) { l.on_error(what); });
      if (!impl->stopping) impl->set_state(ProgramState::error);
      break;
    }
    case GST_MESSAGE_WARNING:
      impl->log(2, message_text(msg));
      break;
    case GST_MESSAGE_EOS:
      if (impl->stopping) impl->finish_stop();
      break;
    case GST_MESSAGE_STATE_CHANGED:
      if (GST_MESSAGE_SRC(msg) == GST_OBJECT(impl->main.get())) {
        GstState old_s, new_s;
        gst_message_parse_state_changed(msg, &old_s, &new_s, nullptr);
        if (new_s == GST_STATE_PLAYING && !impl->saw_playing && !impl->stopping) {
          impl->saw_playing = true;
          impl->set_state(ProgramState::playing);
          for (auto& r : impl->restreams) impl->build_restream(*r);
        }
      }
      break;
    case GST_MESSAGE_ELEMENT: {
      const GstStructure* s = gst_message_get_structure(msg);
      if (!s) break;
      // hlssink2 (1.22) writes the playlist when its inner splitmuxsink closes
      // a fragment, then forwards that message: running-time = segment end.
      if (impl->hls && GST_MESSAGE_SRC(msg) != GST_OBJECT(impl->hls) &&
          gst_object_has_as_ancestor(GST_MESSAGE_SRC(msg), GST_OBJECT(impl->hls)) &&
          gst_structure_has_name(s, "splitmuxsink-fragment-closed")) {
        GstClockTime end = 0;
        gst_structure_get_clock_time(s, "running-time", &end);
        // While stopping, a fragment may close with an undefined running time
        // (seen as 2^63): there is no segment end to measure from.
        if (!GST_CLOCK_TIME_IS_VALID(end) || end > GstClockTime(INT64_MAX / 2)) break;
        int64_t now = [&] {
          Ref<GstClock> c(gst_element_get_clock(impl->main.get()));
          return c ? int64_t(gst_clock_get_time(c.get()) - gst_element_get_base_time(impl->main.get())) : int64_t(end);
        }();
        // A player holding back 3 target durations from the live edge shows a
        // frame (publish delay of the segment end) + 3 x target after capture.
        int64_t publish_delay_ms = std::max<int64_t>(0, (now - int64_t(end)) / 1000000);
        int64_t est = publish_delay_ms + 3 * int64_t(impl->cfg.hls_segment_seconds) * 1000;
        int64_t dur_ms = impl->last_hls_end >= 0 ? (int64_t(end) - impl->last_hls_end) / 1000000 : -1;
        impl->last_hls_end = int64_t(end);
        int n;
        {
          std::lock_guard lk(impl->st_mu);
          n = impl->st.hls_segments++;
          impl->st.hls_latency_ms = est;
        }
        gchar* pattern = nullptr;
        g_object_get(impl->hls, "location", &pattern, nullptr);
        GStr pat(pattern);
        std::string path;
        if (pat) {
          std::vector<char> b(strlen(pat.get()) + 32);
          g_snprintf(b.data(), b.size(), pat.get(), n);
          path = b.data();
        }
        impl->notify([&](Listener& l) { l.on_hls_segment(path, dur_ms); });
      } else if (impl->rec && GST_MESSAGE_SRC(msg) == GST_OBJECT(impl->rec) &&
                 gst_structure_has_name(s, "splitmuxsink-fragment-opened")) {
        const char* loc = gst_structure_get_string(s, "location");
        std::string path = loc ? loc : "";
        GstClockTime start = GST_CLOCK_TIME_NONE;
        gst_structure_get_clock_time(s, "running-time", &start);
        const int64_t start_ms = GST_CLOCK_TIME_IS_VALID(start) && start < GstClockTime(INT64_MAX / 2)
                                     ? int64_t(start / GST_MSECOND)
                                     : -1;
        {
          std::lock_guard lk(impl->st_mu);
          impl->st.recording_file = path;
        }
        impl->notify([&](Listener& l) { l.on_recording_file(path, start_ms); });
      }
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

void Program::Impl::tick() {
  int64_t now = mono_us();
  int64_t last = last_src_frame_us.load();
  bool fresh = last >= 0 && now - last < stall_us;
  int64_t gone_since = last;  // when the source's last sign of life came
  if (source.live_push) {
    // The decoder plays out what it still holds for up to a second after a
    // sender dies (measured: the slate came 1.7-1.8 s after killing an OBS-
    // like ffmpeg sender at 720p). Its input stops at once.
    int64_t input = last_src_input_us.load();
    fresh = fresh && input >= 0 && now - input < stall_us;
    if (input >= 0 && input < gone_since) gone_since = input;
  }
  bool live = source_live ? fresh : (fresh && now - src_run_start_us.load() >= 200000);
  if (live != source_live) {
    source_live = live;
    slate_on.store(!live);
    if (vol) g_object_set(vol, "mute", live ? FALSE : TRUE, nullptr);
    {
      std::lock_guard lk(st_mu);
      st.source_live = live;
      if (!live) {
        st.source_losses++;
        st.slate_switch_ms = gone_since >= 0 ? (now - gone_since) / 1000 : -1;
      }
    }
    log(1, live ? "source live" : "source lost: slate on air");
    notify([&](Listener& l) { l.on_source(live); });
  }
  if (live && now - src_run_start_us.load() > 5000000) src_backoff_ms = 1000;

  if (now - last_rate_us >= 1000000) {
    double secs = (now - last_rate_us) / 1e6;
    uint64_t f = frames.load(), b = video_bytes.load();
    if (last_rate_us > 0) {
      std::lock_guard lk(st_mu);
      st.output_fps = double(f - last_frames) / secs;
      st.video_kbps = double(b - last_bytes) * 8 / 1000 / secs;
    }
    last_frames = f;
    last_bytes = b;
    last_rate_us = now;
    // Restream liveness: bytes went out on the RTMP connection.
    for (auto& r : restreams) {
      if (!r->sink) continue;
      GstStructure* s = nullptr;
      g_object_get(r->sink, "stats", &s, nullptr);
      guint64 out = 0;
      if (s) {
        gst_structure_get_uint64(s, "out-bytes-total", &out);
        gst_structure_free(s);
      }
      bool moving = out > r->last_out_bytes;
      r->last_out_bytes = out;
      if (moving) {
        if (r->live_since_us < 0) r->live_since_us = now;
        publish_restream(*r, RestreamState::live, "");
        if (now - r->live_since_us > 10000000) r->backoff_ms = 1000;
      }
    }
  }
}

void Program::Impl::begin_stop() {
  if (stopping) return;
  stopping = true;
  set_state(ProgramState::stopping);
  src_retry.reset();
  for (auto& r : restreams) {
    r->retry.reset();
    teardown_restream(*r);
  }
  if (main) gst_element_send_event(main.get(), gst_event_new_eos());
  stop_timer = add_timeout(
      3000,
      [](gpointer self) -> gboolean {
        static_cast<Impl*>(self)->log(2, "stop: EOS did not arrive in 3 s");
        static_cast<Impl*>(self)->finish_stop();
        return G_SOURCE_REMOVE;
      },
      this);
}

void Program::Impl::finish_stop() {
  set_state(ProgramState::stopped);
  g_main_loop_quit(loop);
}

// --- Program ---------------------------------------------------------------------

Program::Program(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Program::~Program() { stop(); }

StartResult Program::start(const ProgramConfig& config, Listener* listener) {
  StartResult res;
  if (!gst_is_initialized()) gst_init(nullptr, nullptr);
  const ProgramConfig& c = config;
  auto fail = [&](std::string e) {
    res.error = std::move(e);
    return std::move(res);
  };
  if (c.width < 16 || c.height < 16 || c.width > 7680 || c.height > 4320 || c.width % 2 || c.height % 2)
    return fail("video size must be even and between 16x16 and 7680x4320");
  if (c.fps < 1 || c.fps > 120) return fail("fps must be 1..120");
  if (c.video_bitrate_kbps < 100 || c.audio_bitrate_kbps < 16) return fail("bitrate too low");
  if (c.keyframe_seconds < 1 || c.hls_segment_seconds < 1 || c.hls_playlist_length < 1 || c.recording_segment_minutes < 1)
    return fail("keyframe/segment settings must be >= 1");
  if (c.source_timeout_ms < 200) return fail("source_timeout_ms must be >= 200");
  static const char* presets[] = {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"};
  if (std::none_of(std::begin(presets), std::end(presets), [&](const char* p) { return c.x264_preset == p; }))
    return fail("unknown x264 preset '" + c.x264_preset + "'");
  if (!c.x264_tune.empty() && !valid_word(c.x264_tune)) return fail("bad x264 tune '" + c.x264_tune + "'");

  auto impl = std::make_unique<Impl>();
  impl->cfg = c;
  impl->listener = listener;
  impl->stall_us = int64_t(c.source_timeout_ms) * 1000 / 2;
  std::string err;
  if (!parse_source(c.source, &impl->source, &err)) return fail(err);
  if (impl->source.srt) {
    SourceSpec& src = impl->source;
    if (src.srt_passphrase.empty()) src.srt_passphrase = c.srt_passphrase;
    if (src.srt_pbkeylen == 0) src.srt_pbkeylen = c.srt_pbkeylen;
    if (src.srt_streamid.empty()) src.srt_streamid = c.srt_streamid;
    if (!check_srt_security(src, &err)) return fail(err);
  } else if (!c.srt_passphrase.empty() || !c.srt_streamid.empty() || c.srt_pbkeylen != 0) {
    return fail("source: an SRT passphrase, pbkeylen or stream id is set but the source is not srt://");
  }

  std::vector<const char*> need = {"intervideosrc", "intervideosink", "interaudiosrc", "interaudiosink",
                                   "x264enc", "h264parse", "audioconvert", "audioresample", "volume", "queue", "tee",
                                   "videoconvert", "videoscale", "videorate", "videotestsrc", "appsink"};
  if (c.overlay_method != "direct" && c.overlay_method != "composition")
    return fail("overlay_method must be \"direct\" or \"composition\"");
  impl->direct = c.overlay_method == "direct";
  if (!impl->direct) need.push_back("overlaycomposition");
  if (impl->source.kind == SourceKind::testcard) need.push_back("audiotestsrc");
  else need.push_back("uridecodebin3");
  if (!c.hls_dir.empty()) { need.push_back("hlssink2"); need.push_back("mpegtsmux"); }
  if (!c.recording_dir.empty()) { need.push_back("splitmuxsink"); need.push_back("matroskamux"); }
  if (!c.restream_urls.empty()) { need.push_back("appsrc"); need.push_back("flvmux"); need.push_back("rtmp2sink"); need.push_back("aacparse"); }
  for (const char* f : need)
    if (!has_factory(f)) return fail(std::string("GStreamer element '") + f + "' is missing (install the GStreamer plugin packages)");
  if (has_factory("avenc_aac")) impl->aac_encoder = "avenc_aac";
  else if (has_factory("voaacenc")) impl->aac_encoder = "voaacenc";
  else return fail("no AAC encoder (avenc_aac from gstreamer1.0-libav, or voaacenc)");

  for (const auto& u : c.restream_urls) {
    ParsedUrl p;
    if (!parse_rtmp_url(u, &p) || (p.scheme != "rtmp" && p.scheme != "rtmps") || p.host.empty() || p.app.empty() || p.key.empty())
      return fail("restream URL must be rtmp[s]://host[:port]/app/key: " + redact_url(u));
  }
  if (!c.hls_dir.empty()) {
    if (!ensure_dir(c.hls_dir, "hls", &err)) return fail(err);
    // Our own leftovers from an earlier run: a stale playlist would look live.
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(c.hls_dir, ec)) {
      std::string n = e.path().filename().string();
      if (n == "live.m3u8" || (n.rfind("seg", 0) == 0 && n.size() > 3 && n.substr(n.size() - 3) == ".ts"))
        std::filesystem::remove(e.path(), ec);
    }
  }
  if (!c.recording_dir.empty() && !ensure_dir(c.recording_dir, "recording", &err)) return fail(err);

  static std::atomic<int> counter{0};
  impl->channel = "sabla" + std::to_string(getpid()) + "x" + std::to_string(counter.fetch_add(1));
  gst_video_info_set_format(&impl->vinfo, GST_VIDEO_FORMAT_I420, guint(c.width), guint(c.height));
  impl->prog_info = impl->vinfo;
  impl->matrix = impl->vinfo.colorimetry.matrix;
  impl->range = impl->vinfo.colorimetry.range;

  if (!impl->render_slate(&err)) return fail(err);
  if (!impl->build_main(&err)) return fail(err);
  for (size_t i = 0; i < c.restream_urls.size(); ++i) {
    auto r = std::make_unique<Impl::Restream>();
    r->impl = impl.get();
    r->index = i;
    r->url = c.restream_urls[i];
    parse_rtmp_url(r->url, &r->parsed);
    impl->st.restreams.push_back(RestreamStats{redact_url(r->url), RestreamState::connecting, 0, ""});
    impl->restreams.push_back(std::move(r));
  }
  impl->st.state = ProgramState::starting;

  impl->ctx = g_main_context_new();
  impl->loop = g_main_loop_new(impl->ctx, FALSE);
  impl->main_watch = impl->add_bus_watch(impl->main.get(), Impl::on_main_bus, impl.get());
  impl->watchdog = impl->add_timeout(
      100,
      [](gpointer self) -> gboolean {
        static_cast<Impl*>(self)->tick();
        return G_SOURCE_CONTINUE;
      },
      impl.get());

  if (gst_element_set_state(impl->main.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    impl->main_watch.reset();
    impl->watchdog.reset();
    return fail("pipeline: cannot start (see GST_DEBUG=3 for details)");
  }
  Impl* raw = impl.get();
  raw->post([raw] {
    const SourceSpec& src = raw->source;
    if (src.srt && src.srt_listener && src.srt_passphrase.empty() && !is_loopback_address(src.srt_bind))
      raw->log(2, "source: the SRT listener " + redact_url(src.uri) +
                      " has no passphrase: anyone who can reach this port can put their video on air; set "
                      "[video] srt_passphrase (or ?passphrase= in the source URL) and the same in the encoder, "
                      "or bind it to 127.0.0.1 with ?localaddress=");
    raw->start_source();
  });
  raw->thread = std::thread([raw] {
    g_main_context_push_thread_default(raw->ctx);
    g_main_loop_run(raw->loop);
    g_main_context_pop_thread_default(raw->ctx);
  });
  res.program.reset(new Program(std::move(impl)));
  return res;
}

void Program::stop() {
  Impl* impl = impl_.get();
  if (!impl || impl->stopped) return;
  impl->stopped = true;
  if (impl->thread.joinable()) {
    impl->post([impl] { impl->begin_stop(); });
    impl->thread.join();
  }
  // The loop has quit: nothing else touches these now.
  impl->watchdog.reset();
  impl->stop_timer.reset();
  impl->src_retry.reset();
  impl->main_watch.reset();
  for (auto& r : impl->restreams) {
    r->retry.reset();
    impl->teardown_restream(*r);
  }
  impl->stop_source();
  impl->main.reset();
  {
    std::lock_guard lk(impl->snap_mu);
    impl->history.clear();
  }
  impl->snap_cv.notify_all();
}

namespace {
// The overlay at the program size (BGRA, premultiplied scales linearly).
overlay::Frame scale_frame(const overlay::Frame& f, int w, int h) {
  GstVideoInfo in, out;
  gst_video_info_set_format(&in, GST_VIDEO_FORMAT_BGRA, guint(f.width), guint(f.height));
  in.stride[0] = f.stride;
  gst_video_info_set_format(&out, GST_VIDEO_FORMAT_BGRA, guint(w), guint(h));
  overlay::Frame o;
  o.width = w;
  o.height = h;
  o.stride = GST_VIDEO_INFO_PLANE_STRIDE(&out, 0);
  o.pixels.assign(size_t(o.stride) * size_t(h), 0);
  GstVideoFrame fi, fo;
  std::memset(&fi, 0, sizeof fi);
  std::memset(&fo, 0, sizeof fo);
  fi.info = in;
  fi.data[0] = const_cast<uint8_t*>(f.pixels.data());
  fo.info = out;
  fo.data[0] = o.pixels.data();
  GstVideoConverter* conv = gst_video_converter_new(&in, &out, nullptr);
  if (!conv) return overlay::Frame{};
  gst_video_converter_frame(conv, &fi, &fo);
  gst_video_converter_free(conv);
  return o;
}
}  // namespace

bool Program::set_overlay(const overlay::Frame& f) {
  Impl* impl = impl_.get();
  const int W = impl->cfg.width, H = impl->cfg.height;
  bool has = !f.empty() && !f.pixels.empty();
  if (has && (f.stride < 4 * f.width || f.pixels.size() < size_t(f.stride) * size_t(f.height))) return false;
  if (impl->direct) {
    std::shared_ptr<const overlay::Frame> src;
    std::shared_ptr<const BlendPlanes> planes;
    if (has) {
      auto scaled = std::make_shared<overlay::Frame>(f.width == W && f.height == H ? f : scale_frame(f, W, H));
      if (scaled->empty()) return false;
      planes = make_planes(scaled->pixels.data(), scaled->stride, W, H, GstVideoColorMatrix(impl->matrix.load()),
                           GstVideoColorRange(impl->range.load()));
      if (planes->rects.empty()) planes.reset();  // fully transparent
      else src = std::move(scaled);
    }
    std::lock_guard lk(impl->ov_mu);
    impl->ov_planes = std::move(planes);
    impl->ov_frame = std::move(src);
    return true;
  }
  GstVideoOverlayComposition* comp = nullptr;
  if (has) {
    const double sx = double(W) / f.width, sy = double(H) / f.height;
    for (const Box& b : opaque_boxes(f.pixels.data(), f.stride, f.width, f.height, 16, 8, false)) {
      int bw = b.x1 - b.x0, bh = b.y1 - b.y0;
      GstBuffer* buf = gst_buffer_new_allocate(nullptr, size_t(bw) * 4 * size_t(bh), nullptr);
      GstMapInfo map;
      gst_buffer_map(buf, &map, GST_MAP_WRITE);
      for (int y = 0; y < bh; ++y)
        std::memcpy(map.data + size_t(y) * bw * 4, f.pixels.data() + size_t(b.y0 + y) * f.stride + size_t(b.x0) * 4,
                    size_t(bw) * 4);
      gst_buffer_unmap(buf, &map);
      gst_buffer_add_video_meta(buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, guint(bw), guint(bh));
      int rx = int(std::lround(b.x0 * sx)), ry = int(std::lround(b.y0 * sy));
      guint rw = guint(std::max(1L, std::lround(bw * sx))), rh = guint(std::max(1L, std::lround(bh * sy)));
      GstVideoOverlayRectangle* rect =
          gst_video_overlay_rectangle_new_raw(buf, rx, ry, rw, rh, GST_VIDEO_OVERLAY_FORMAT_FLAG_PREMULTIPLIED_ALPHA);
      gst_buffer_unref(buf);
      if (!comp) comp = gst_video_overlay_composition_new(rect);
      else gst_video_overlay_composition_add_rectangle(comp, rect);
      gst_video_overlay_rectangle_unref(rect);
    }
  }
  GstVideoOverlayComposition* old;
  {
    std::lock_guard lk(impl->ov_mu);
    old = impl->ov_comp;
    impl->ov_comp = comp;
  }
  if (old) gst_video_overlay_composition_unref(old);
  return true;
}

bool Program::split_recording(const std::string& name) {
  Impl* impl = impl_.get();
  if (!impl->rec || !impl->venc || name.empty() || name.size() > 200 || name[0] == '.') return false;
  for (char ch : name)
    if (!(g_ascii_isalnum(ch) || ch == '.' || ch == '_' || ch == '-')) return false;
  {
    std::lock_guard lk(impl->rec_mu);
    impl->rec_name = name;
    impl->rec_next = 0;
    // No file yet (the program is still starting): the first one takes the
    // new name; a split now would leave a first file of a few frames.
    if (!impl->rec_opened) return true;
  }
  // splitmuxsink splits at the next keyframe: ask the encoder for one now
  // rather than wait up to keyframe_seconds.
  g_signal_emit_by_name(impl->rec, "split-now");
  Ref<GstPad> pad(gst_element_get_static_pad(impl->venc, "src"));
  if (pad) gst_pad_send_event(pad.get(), gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  return true;
}

int64_t Program::running_time_ms() const {
  Impl* impl = impl_.get();
  if (!impl->main) return -1;
  Ref<GstClock> c(gst_element_get_clock(impl->main.get()));
  if (!c) return -1;
  GstClockTime base = gst_element_get_base_time(impl->main.get());
  GstClockTime now = gst_clock_get_time(c.get());
  return now > base ? int64_t((now - base) / GST_MSECOND) : 0;
}

uint64_t Program::frames_out() const { return impl_->frames.load(); }

ProgramStats Program::stats() const {
  ProgramStats s;
  {
    std::lock_guard lk(impl_->st_mu);
    s = impl_->st;
  }
  s.frames_out = impl_->frames.load();
  s.dropped_frames = impl_->dropped.load();
  s.running_time_ms = running_time_ms();
  return s;
}

std::optional<Snapshot> Program::snapshot(uint64_t min_index, int timeout_ms) {
  Impl* impl = impl_.get();
  MiniRef<GstBuffer> buf;
  uint64_t index = 0;
  GstVideoInfo in_info;
  {
    impl->snap_waiters.fetch_add(1);
    std::unique_lock lk(impl->snap_mu);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      auto it = std::find_if(impl->history.begin(), impl->history.end(), [&](const Impl::Held& h) { return h.index >= min_index; });
      if (it != impl->history.end()) {
        buf.reset(gst_buffer_ref(it->buf.get()));
        index = it->index;
        in_info = impl->vinfo;
        break;
      }
      if (impl->snap_cv.wait_until(lk, deadline) == std::cv_status::timeout || impl->stopped) break;
    }
    impl->snap_waiters.fetch_sub(1);
  }
  if (!buf) return std::nullopt;
  GstVideoInfo out_info;
  gst_video_info_set_format(&out_info, GST_VIDEO_FORMAT_BGRA, in_info.width, in_info.height);
  out_info.fps_n = in_info.fps_n;
  out_info.fps_d = in_info.fps_d;
  Snapshot snap;
  snap.index = index;
  snap.pts_ms = GST_BUFFER_PTS_IS_VALID(buf.get()) ? int64_t(GST_BUFFER_PTS(buf.get()) / GST_MSECOND) : -1;
  snap.frame.width = in_info.width;
  snap.frame.height = in_info.height;
  snap.frame.stride = GST_VIDEO_INFO_PLANE_STRIDE(&out_info, 0);
  snap.frame.pixels.resize(GST_VIDEO_INFO_SIZE(&out_info));
  MiniRef<GstBuffer> out(gst_buffer_new_wrapped_full(GstMemoryFlags(0), snap.frame.pixels.data(), snap.frame.pixels.size(), 0,
                                                     snap.frame.pixels.size(), nullptr, nullptr));
  GstVideoFrame in_f, out_f;
  if (!gst_video_frame_map(&in_f, &in_info, buf.get(), GST_MAP_READ)) return std::nullopt;
  if (!gst_video_frame_map(&out_f, &out_info, out.get(), GST_MAP_WRITE)) {
    gst_video_frame_unmap(&in_f);
    return std::nullopt;
  }
  GstVideoConverter* conv = gst_video_converter_new(&in_info, &out_info, nullptr);
  if (conv) {
    gst_video_converter_frame(conv, &in_f, &out_f);
    gst_video_converter_free(conv);
  }
  gst_video_frame_unmap(&out_f);
  gst_video_frame_unmap(&in_f);
  return snap;
}

}  // namespace sabla::pipeline
