#include "whep.h"

#include <gst/sdp/sdp.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "gst_ptr.h"

namespace sabla::pipeline::detail {

namespace {

// Public layouts of webrtcbin's types (gst/webrtc/webrtc_fwd.h, rtctransceiver
// enums), stable across 1.x; the headers are not installed (see whep.h).
struct SessionDescriptionLayout {
  int type;  // GstWebRTCSDPType
  GstSDPMessage* sdp;
};
constexpr int kSdpOffer = 1;
constexpr int kPeerNew = 0, kPeerConnected = 2, kPeerDisconnected = 3, kPeerFailed = 4, kPeerClosed = 5;
constexpr int kIceFailed = 4;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(g_ascii_tolower(char(c))); });
  return s;
}

}  // namespace

int h264_payload_type(const std::string& offer_sdp, std::string* why) {
  GstSDPMessage* msg = nullptr;
  gst_sdp_message_new_from_text(offer_sdp.c_str(), &msg);
  if (!msg) {
    *why = "the offer is not SDP";
    return -1;
  }
  int found = -1;
  bool video = false;
  for (guint i = 0; i < gst_sdp_message_medias_len(msg) && found < 0; ++i) {
    const GstSDPMedia* m = gst_sdp_message_get_media(msg, i);
    if (g_strcmp0(gst_sdp_media_get_media(m), "video") != 0) continue;
    video = true;
    if (gst_sdp_media_get_attribute_val(m, "sendonly") || gst_sdp_media_get_attribute_val(m, "inactive")) continue;
    int loose = -1;
    for (guint a = 0; a < gst_sdp_media_attributes_len(m); ++a) {
      const GstSDPAttribute* attr = gst_sdp_media_get_attribute(m, a);
      if (g_strcmp0(attr->key, "rtpmap") != 0 || !attr->value) continue;
      int pt = -1;
      char codec[32] = {0};
      if (sscanf(attr->value, "%d %31[^/]", &pt, codec) != 2 || lower(codec) != "h264") continue;
      // packetization-mode=1 (non-interleaved) is what rtph264pay sends.
      std::string prefix = std::to_string(pt) + " ";
      bool mode1 = false;
      for (guint f = 0; f < gst_sdp_media_attributes_len(m); ++f) {
        const GstSDPAttribute* fa = gst_sdp_media_get_attribute(m, f);
        if (g_strcmp0(fa->key, "fmtp") == 0 && fa->value && std::string(fa->value).rfind(prefix, 0) == 0 &&
            std::string(fa->value).find("packetization-mode=1") != std::string::npos)
          mode1 = true;
      }
      if (mode1) {
        found = pt;
        break;
      }
      if (loose < 0) loose = pt;
    }
    if (found < 0 && loose >= 0) *why = "the offer's H.264 needs packetization-mode=1";
  }
  gst_sdp_message_free(msg);
  if (found < 0 && why->empty()) *why = video ? "the offer has no receivable H.264 video" : "the offer has no video";
  return found;
}

std::vector<std::pair<unsigned, std::string>> sdp_candidates(const std::string& sdp) {
  std::vector<std::pair<unsigned, std::string>> out;
  std::istringstream in(sdp);
  std::string line;
  int mline = -1;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("m=", 0) == 0) ++mline;
    else if (line.rfind("a=candidate:", 0) == 0 && mline >= 0) out.emplace_back(unsigned(mline), line.substr(2));
  }
  return out;
}

std::string sdp_with_candidates(const std::string& answer, const std::vector<std::string>& candidates) {
  std::istringstream in(answer);
  std::string line, out;
  int mline = -1;
  bool added = false;
  auto add = [&] {
    for (const auto& c : candidates) out += "a=" + c + "\r\n";
    out += "a=end-of-candidates\r\n";
    added = true;
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line.rfind("m=", 0) == 0) {
      if (mline == 0 && !added) add();
      ++mline;
    }
    if (line.rfind("a=candidate:", 0) == 0 || line == "a=end-of-candidates") continue;  // ours replace them
    out += line + "\r\n";
  }
  if (mline >= 0 && !added) add();
  return out;
}

struct Whep::Peer {
  Whep* owner = nullptr;
  std::string id;
  GstElement* bin = nullptr;     // owned by the pipeline once added
  GstElement* webrtc = nullptr;  // borrowed from bin
  GstPad* tee_pad = nullptr;     // request pad of the tee (ours to release)
  std::function<void(WhepAnswer)> done;  // until answered
  std::string answer_sdp;
  std::vector<std::string> candidates;
  bool have_answer = false;
  bool gathered = false;
  bool removing = false;
  bool connected = false;
  SourcePtr answer_timer;   // answers with what was gathered so far
  SourcePtr connect_timer;  // not connected in time: dropped
  SourcePtr lost_timer;     // disconnected this long: dropped
  gulong handlers[4] = {0, 0, 0, 0};
  int64_t last_key_request_us = 0;  // rate limit for the peer's keyframe requests
};

// Names a peer across threads: callbacks look it up on the program thread,
// so a peer removed meanwhile is simply not found.
struct PeerRef {
  Whep* whep;
  std::string id;
  static void free(gpointer d) { delete static_cast<PeerRef*>(d); }
  static void free_closure(gpointer d, GClosure*) { delete static_cast<PeerRef*>(d); }
};

void Whep::schedule_answer(Peer& p) {
  if (p.answer_timer || !p.have_answer) return;
  // Host candidates come at once; once one UDP candidate is there, answer
  // 50 ms later without waiting for gathering to end (seconds on a box with
  // many interfaces).
  if (std::none_of(p.candidates.begin(), p.candidates.end(),
                   [](const std::string& c) { return c.find(" UDP ") != std::string::npos; }))
    return;
  p.answer_timer.reset(g_timeout_source_new(50));
  g_source_set_callback(
      p.answer_timer.get(),
      [](gpointer d) -> gboolean {
        auto* peer = static_cast<Peer*>(d);
        peer->owner->answer_ready(*peer);
        return G_SOURCE_REMOVE;
      },
      &p, nullptr);
  g_source_attach(p.answer_timer.get(), ctx_);
}

void Whep::on_ice_candidate(GstElement*, guint, gchar* candidate, gpointer data) {
  auto* ref = static_cast<PeerRef*>(data);
  Whep* whep = ref->whep;
  std::string c = candidate ? candidate : "";
  whep->post([whep, id = ref->id, c] {
    auto it = whep->peers_.find(id);
    if (it == whep->peers_.end()) return;
    it->second->candidates.push_back(c);
    whep->schedule_answer(*it->second);
  });
}

void Whep::on_state_notify(GObject* obj, GParamSpec* spec, gpointer data) {
  auto* ref = static_cast<PeerRef*>(data);
  int state = 0;
  g_object_get(obj, spec->name, &state, nullptr);
  const bool ice = std::strcmp(spec->name, "ice-connection-state") == 0;
  Whep* whep = ref->whep;
  whep->post([whep, id = ref->id, state, ice] {
    auto it = whep->peers_.find(id);
    if (it == whep->peers_.end()) return;
    Peer& peer = *it->second;
    if (ice) {
      if (state == kIceFailed) whep->remove(id, "ICE failed");
      return;
    }
    if (state == kPeerConnected) {
      if (!peer.connected) whep->connected_total_.fetch_add(1);
      peer.connected = true;
      peer.connect_timer.reset();
      peer.lost_timer.reset();
      whep->log_(1, "whep " + id.substr(0, 8) + ": connected");
    } else if (state == kPeerFailed || state == kPeerClosed) {
      // Debian's 1.22.0 webrtcbin has known close/ICE bugs: never leave a
      // failed peer attached.
      whep->remove(id, state == kPeerFailed ? "connection failed (ICE/DTLS)" : "connection closed");
    } else if (state == kPeerDisconnected && !peer.lost_timer) {
      peer.lost_timer.reset(g_timeout_source_new(5000));
      g_source_set_callback(
          peer.lost_timer.get(),
          [](gpointer d) -> gboolean {
            auto* p = static_cast<Peer*>(d);
            p->owner->remove(p->id, "disconnected for 5 s");
            return G_SOURCE_REMOVE;
          },
          &peer, nullptr);
      g_source_attach(peer.lost_timer.get(), whep->ctx_);
    }
  });
}

// webrtcbin thread: the offer is set; ask for the answer (program thread).
void Whep::on_remote_set(GstPromise* promise, gpointer data) {
  auto* ref = static_cast<PeerRef*>(data);
  gst_promise_unref(promise);
  Whep* whep = ref->whep;
  whep->post([whep, id = ref->id] {
    auto it = whep->peers_.find(id);
    if (it == whep->peers_.end()) return;
    GstPromise* create = gst_promise_new_with_change_func(on_answer_created, new PeerRef{whep, id}, PeerRef::free);
    g_signal_emit_by_name(it->second->webrtc, "create-answer", nullptr, create);
  });
}

// webrtcbin thread: the answer exists; set it as the local description.
void Whep::on_answer_created(GstPromise* promise, gpointer data) {
  auto* ref = static_cast<PeerRef*>(data);
  const GstStructure* reply = gst_promise_get_reply(promise);
  GType type = g_type_from_name("GstWebRTCSessionDescription");
  gpointer answer = nullptr;
  if (reply && type && gst_structure_has_field(reply, "answer")) gst_structure_get(reply, "answer", type, &answer, nullptr);
  std::string text;
  if (answer) {
    GStr s(gst_sdp_message_as_text(static_cast<SessionDescriptionLayout*>(answer)->sdp));
    text = s ? s.get() : "";
  }
  gst_promise_unref(promise);
  Whep* whep = ref->whep;
  whep->post([whep, id = ref->id, answer, text, type] {
    auto it = whep->peers_.find(id);
    if (it == whep->peers_.end() || !answer) {
      if (answer) g_boxed_free(type, answer);
      if (it == whep->peers_.end()) return;
      WhepAnswer a;
      a.status = 400;
      a.error = "webrtcbin could not answer the offer";
      whep->finish(*it->second, std::move(a));
      whep->remove(id, "no answer");
      return;
    }
    Peer& peer = *it->second;
    g_signal_emit_by_name(peer.webrtc, "set-local-description", answer, nullptr);
    g_boxed_free(type, answer);
    peer.answer_sdp = text;
    peer.have_answer = true;
    whep->schedule_answer(peer);  // candidates may have come before the answer
  });
}

gboolean Whep::on_answer_deadline(gpointer data) {
  auto* ref = static_cast<PeerRef*>(data);
  Whep* whep = ref->whep;
  auto it = whep->peers_.find(ref->id);
  if (it == whep->peers_.end() || !it->second->done) return G_SOURCE_REMOVE;
  if (it->second->have_answer) {
    whep->answer_ready(*it->second);  // without candidates: the client's checks still reach us
  } else {
    WhepAnswer a;
    a.status = 500;
    a.error = "no answer from webrtcbin in 3 s";
    whep->finish(*it->second, std::move(a));
    whep->remove(ref->id, "no answer in time");
  }
  return G_SOURCE_REMOVE;
}

Whep::Whep(GstElement* pipeline, GstElement* video_tee, GMainContext* ctx, WhepSettings settings, Log log)
    : pipeline_(pipeline), tee_(video_tee), ctx_(ctx), settings_(std::move(settings)), log_(std::move(log)),
      alive_(std::make_shared<std::atomic<bool>>(true)) {}

Whep::~Whep() {
  alive_->store(false);
  close_all();
}

void Whep::post(std::function<void()> fn) {
  struct Task {
    std::shared_ptr<std::atomic<bool>> alive;
    std::function<void()> fn;
  };
  auto* task = new Task{alive_, std::move(fn)};
  GSource* s = g_idle_source_new();
  g_source_set_callback(
      s,
      [](gpointer p) -> gboolean {
        auto* t = static_cast<Task*>(p);
        try {
          if (t->alive->load()) t->fn();
        } catch (...) {
        }
        return G_SOURCE_REMOVE;
      },
      task, [](gpointer p) { delete static_cast<Task*>(p); });
  g_source_attach(s, ctx_);
  g_source_unref(s);
}

void Whep::finish(Peer& p, WhepAnswer a) {
  if (!p.done) return;
  auto done = std::move(p.done);
  p.done = nullptr;
  try {
    done(std::move(a));
  } catch (...) {
  }
}

void Whep::offer(const std::string& sdp, std::function<void(WhepAnswer)> done) {
  auto fail = [&](int status, std::string error) {
    WhepAnswer a;
    a.status = status;
    a.error = std::move(error);
    done(std::move(a));
  };
  if (int(peers_.size()) >= settings_.max_peers)
    return fail(503, "the monitor is full (" + std::to_string(settings_.max_peers) + " viewers)");
  std::string why;
  const int pt = h264_payload_type(sdp, &why);
  if (pt < 0) return fail(400, why);
  GstSDPMessage* msg = nullptr;
  if (gst_sdp_message_new_from_text(sdp.c_str(), &msg) != GST_SDP_OK || !msg) return fail(400, "the offer is not SDP");

  auto peer = std::make_unique<Peer>();
  Peer* p = peer.get();
  p->owner = this;
  GStr uuid(g_uuid_string_random());
  p->id = uuid.get();
  p->id.erase(std::remove(p->id.begin(), p->id.end(), '-'), p->id.end());
  p->done = std::move(done);

  const std::string desc =
      "queue name=q leaky=downstream max-size-buffers=0 max-size-bytes=0 max-size-time=" +
      std::to_string(int64_t(settings_.queue_ms) * GST_MSECOND) +
      " ! rtph264pay config-interval=-1 aggregate-mode=zero-latency ! application/x-rtp,media=video,encoding-name=H264,"
      "clock-rate=90000,payload=" + std::to_string(pt) + " ! webrtcbin name=w bundle-policy=max-bundle";
  GError* e = nullptr;
  GstElement* bin = gst_parse_bin_from_description(desc.c_str(), TRUE, &e);
  ErrorPtr err(e);
  if (!bin) {
    gst_sdp_message_free(msg);
    WhepAnswer a;
    a.status = 500;
    a.error = std::string("cannot build the WebRTC branch: ") + (e ? e->message : "?");
    return finish(*p, std::move(a));
  }
  g_object_set(bin, "name", ("whep-" + p->id.substr(0, 8)).c_str(), nullptr);
  p->bin = bin;
  Ref<GstElement> w(gst_bin_get_by_name(GST_BIN(bin), "w"));
  p->webrtc = w.get();

  // Pin ICE to the configured addresses (tests: the veth of their namespace).
  if (!settings_.ice_addresses.empty()) {
    GObject* ice = nullptr;
    g_object_get(p->webrtc, "ice-agent", &ice, nullptr);
    if (ice) {
      for (const auto& ip : settings_.ice_addresses) {
        gboolean ok = FALSE;
        g_signal_emit_by_name(ice, "add-local-ip-address", ip.c_str(), &ok);
      }
      g_object_unref(ice);
    }
  }

  // A peer's keyframe requests (PLI/FIR) reach the shared encoder: at most
  // one a second, so a broken receiver cannot flood every output with IDRs.
  {
    Ref<GstElement> q(gst_bin_get_by_name(GST_BIN(bin), "q"));
    Ref<GstPad> qsink(gst_element_get_static_pad(q.get(), "sink"));
    gst_pad_add_probe(
        qsink.get(), GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
        [](GstPad*, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
          auto* peer = static_cast<Peer*>(data);
          GstEvent* ev = GST_PAD_PROBE_INFO_EVENT(info);
          if (!gst_video_event_is_force_key_unit(ev)) return GST_PAD_PROBE_OK;
          const int64_t now = g_get_monotonic_time();
          if (now - peer->last_key_request_us < 1000000) return GST_PAD_PROBE_DROP;
          peer->last_key_request_us = now;
          return GST_PAD_PROBE_OK;
        },
        p, nullptr);
  }

  const std::string id = p->id;
  // webrtcbin / libnice threads: each handler posts to the program thread.
  p->handlers[0] = g_signal_connect_data(p->webrtc, "on-ice-candidate", G_CALLBACK(on_ice_candidate), new PeerRef{this, id},
                                         PeerRef::free_closure, GConnectFlags(0));
  p->handlers[1] = g_signal_connect_data(p->webrtc, "notify::connection-state", G_CALLBACK(on_state_notify),
                                         new PeerRef{this, id}, PeerRef::free_closure, GConnectFlags(0));
  p->handlers[2] = g_signal_connect_data(p->webrtc, "notify::ice-connection-state", G_CALLBACK(on_state_notify),
                                         new PeerRef{this, id}, PeerRef::free_closure, GConnectFlags(0));

  gst_bin_add(GST_BIN(pipeline_), bin);
  peers_[p->id] = std::move(peer);
  count_.store(int(peers_.size()));

  // sendonly: the monitor only sends (webrtcbin made the transceiver when
  // the bin linked its sink pad).
  {
    GObject* trans = nullptr;
    g_signal_emit_by_name(p->webrtc, "get-transceiver", 0, &trans);
    if (trans) {
      gst_util_set_object_arg(trans, "direction", "sendonly");
      g_object_unref(trans);
    }
  }
  gst_element_sync_state_with_parent(bin);
  p->tee_pad = gst_element_request_pad_simple(tee_, "src_%u");
  Ref<GstPad> sink(gst_element_get_static_pad(bin, "sink"));
  if (!p->tee_pad || gst_pad_link(p->tee_pad, sink.get()) != GST_PAD_LINK_OK) {
    gst_sdp_message_free(msg);
    WhepAnswer a;
    a.status = 500;
    a.error = "cannot link the WebRTC branch";
    finish(*p, std::move(a));
    remove(id, "link failed");
    return;
  }
  // A keyframe now, so the new viewer's picture starts at once.
  gst_pad_push_event(sink.get(), gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));

  // Offer -> remote description -> answer -> local description; each step's
  // promise resolves on a webrtcbin thread and hands over to the program thread.
  SessionDescriptionLayout layout{kSdpOffer, msg};
  GType desc_type = g_type_from_name("GstWebRTCSessionDescription");
  gpointer offer_desc = desc_type ? g_boxed_copy(desc_type, &layout) : nullptr;
  gst_sdp_message_free(msg);
  if (!offer_desc) {
    WhepAnswer a;
    a.status = 500;
    a.error = "webrtcbin's session description type is missing";
    finish(*p, std::move(a));
    remove(id, "no webrtc types");
    return;
  }
  GstPromise* set_remote = gst_promise_new_with_change_func(on_remote_set, new PeerRef{this, id}, PeerRef::free);
  g_signal_emit_by_name(p->webrtc, "set-remote-description", offer_desc, set_remote);
  g_boxed_free(desc_type, offer_desc);
  // The offer's own candidates: webrtcbin 1.22 does not read them from the SDP.
  for (const auto& [mline, cand] : sdp_candidates(sdp))
    g_signal_emit_by_name(p->webrtc, "add-ice-candidate", mline, cand.c_str());

  // Not connected in time (the client went away): dropped. No answer within
  // 3 s: answered with what there is.
  p->connect_timer.reset(g_timeout_source_new(guint(settings_.connect_timeout_ms)));
  g_source_set_callback(
      p->connect_timer.get(),
      [](gpointer d) -> gboolean {
        auto* pp = static_cast<Peer*>(d);
        pp->owner->remove(pp->id, "not connected in time");
        return G_SOURCE_REMOVE;
      },
      p, nullptr);
  g_source_attach(p->connect_timer.get(), ctx_);
  GSource* late = g_timeout_source_new(3000);
  g_source_set_callback(late, on_answer_deadline, new PeerRef{this, id}, PeerRef::free);
  g_source_attach(late, ctx_);
  g_source_unref(late);
}

void Whep::answer_ready(Peer& p) {
  if (!p.done || !p.have_answer) return;
  WhepAnswer a;
  a.status = 201;
  a.id = p.id;
  a.sdp = sdp_with_candidates(p.answer_sdp, p.candidates);
  log_(1, "whep " + p.id.substr(0, 8) + ": answered with " + std::to_string(p.candidates.size()) + " candidates");
  finish(p, std::move(a));
}

bool Whep::close(const std::string& id) {
  if (peers_.find(id) == peers_.end()) return false;
  remove(id, "closed by the client");
  return true;
}

void Whep::close_all() {
  std::vector<std::string> ids;
  for (auto& [id, p] : peers_) ids.push_back(id);
  for (auto& id : ids) remove(id, "stopping");
}

void Whep::remove(const std::string& id, const char* why) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  std::unique_ptr<Peer> peer = std::move(it->second);
  peers_.erase(it);
  count_.store(int(peers_.size()));
  Peer& p = *peer;
  log_(1, "whep " + id.substr(0, 8) + ": removed (" + why + ")");
  WhepAnswer a;
  a.status = 500;
  a.error = why;
  finish(p, std::move(a));
  p.answer_timer.reset();
  p.connect_timer.reset();
  p.lost_timer.reset();
  for (gulong& h : p.handlers)
    if (h) g_signal_handler_disconnect(p.webrtc, h), h = 0;
  // Unlink from the tee first (its other branches keep flowing), then stop
  // and drop the branch. The queue is leaky and unlinking a request pad of
  // a tee from the program thread is safe: the tee takes its pad lock.
  if (p.tee_pad) {
    Ref<GstPad> sink(gst_element_get_static_pad(p.bin, "sink"));
    gst_pad_unlink(p.tee_pad, sink.get());
    gst_element_release_request_pad(tee_, p.tee_pad);
    gst_object_unref(p.tee_pad);
    p.tee_pad = nullptr;
  }
  gst_element_set_locked_state(p.bin, TRUE);
  gst_element_set_state(p.bin, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(pipeline_), p.bin);  // drops the pipeline's reference
}

}  // namespace sabla::pipeline::detail
