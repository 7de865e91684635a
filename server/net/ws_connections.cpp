// WebSocket connections: the upgrade checks, each connection's life
// (ESTABLISHED, RECEIVE with reassembly and limits, CLOSED), Outbound for the
// Room, and the write path: direct replies first, then what the client has
// not seen of its role's fan-out ring, coalesced into one frame.
#include <libwebsockets.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>

#include "moderation/text.h"
#include "net/net_internal.h"
#include "protocol/messages.h"

namespace sabla::net {

using moderation::Actor;
using moderation::Audience;
using moderation::ConnId;
using moderation::Verdict;

namespace {

constexpr size_t kMaxDirectFrames = 4096;  // per connection; beyond it the client is culled
constexpr size_t kMaxParkedFrames = 8;
// Frames per message. Browsers never fragment; a flood of tiny or empty
// continuation frames costs a callback each and would never reach the size limit.
constexpr size_t kMaxFragments = 4096;
// The rest of an oversized frame up to this size is read and dropped before the
// 1009 goes out: closing with unread bytes makes the kernel send a reset, which
// can destroy the close frame before the client reads it. Beyond it (a client
// declaring gigabytes) the connection is failed at once.
constexpr size_t kMaxDrainBytes = 1024 * 1024;

}  // namespace

// ------------------------------------------------------------------ Outbound

void NetServer::send(ConnId id, std::string frame) {
  auto it = conns_.find(id);
  if (it == conns_.end()) {
    // A viewer on another node (cluster main), or gone meanwhile: nothing to deliver.
    if (broker_) broker_->send_remote(id, frame);
    return;
  }
  Conn* c = it->second;
  if (c->direct.size() >= kMaxDirectFrames) {
    close(id, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too slow");
    return;
  }
  c->direct.push_back(std::move(frame));
  frames_out_++;
  lws_callback_on_writable(c->wsi);
}

void NetServer::publish(Audience audience, std::string frame) {
  // The broker (cluster mode) carries viewer and overlay frames to the other
  // nodes: once per publish, beside the ring, never per viewer.
  if (broker_ && audience != Audience::studios) broker_->published(audience, frame);
  switch (audience) {
    case Audience::viewers:
      viewer_ring_->push(std::move(frame));
      viewer_ring_dirty_ = true;  // delivered, coalesced, on the next tick
      break;
    case Audience::overlays:
      overlay_ring_->push(std::move(frame));
      wake_all(kOverlay);
      break;
    case Audience::studios:
      for (ConnId id : studio_conns_) send(id, frame);
      break;
  }
}

void NetServer::flush(Audience audience) {
  if (audience != Audience::viewers) return;
  if (broker_) broker_->flushed();
  if (!viewer_ring_dirty_) return;
  viewer_ring_dirty_ = false;
  wake_all(kViewer);
}

void NetServer::send_resync(ConnId id, std::string frame) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  // Everything in the ring so far is in the frame: start the tail after it.
  if (const FanoutRing* ring = ring_of(it->second->role)) it->second->ring_seq = ring->end();
  send(id, std::move(frame));
}

bool NetServer::send_resync_from(ConnId id, std::string frame, uint64_t ring_seq) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second->role != kViewer) return false;
  if (ring_seq < viewer_ring_->begin() || ring_seq > viewer_ring_->end()) return false;
  it->second->ring_seq = ring_seq;
  send(id, std::move(frame));  // write_ws goes on with the ring after it
  return true;
}

uint64_t NetServer::viewer_ring_end() const { return viewer_ring_->end(); }

void NetServer::close(ConnId id, int code, std::string reason) {
  auto it = conns_.find(id);
  if (it == conns_.end()) {
    if (broker_) broker_->close_remote(id, code, reason);
    return;
  }
  it->second->close_code = code;
  it->second->close_reason = std::move(reason);
  lws_callback_on_writable(it->second->wsi);
}

// ------------------------------------------------------------------ WebSocket

int NetServer::on_ws(lws* wsi, int role, int reason, void* user, void* in, size_t len) {
  auto* pss = static_cast<WsPss*>(user);
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
      forget_txn(wsi);
      auto* c = new Conn();
      c->id = next_conn_id_++;
      c->wsi = wsi;
      c->role = role;
      c->ip = peer_ip(wsi);
      pss->conn = c;
      conns_[c->id] = c;
      if (role == kStudio) studio_conns_.insert(c->id);
      conns_by_role_[role]++;
      ws_per_ip_[c->ip]++;
      if (role == kViewer) {
        c->ring_seq = viewer_ring_->end();
        inbound_->viewer_connected(c->id, c->ip);
      } else if (role == kOverlay) {
        c->ring_seq = overlay_ring_->end();
        inbound_->overlay_connected(c->id);
      } else {
        auto a = upgrade_actor_.find(wsi);
        if (a == upgrade_actor_.end()) return -1;  // never authenticated: cannot happen past CONFIRM_UPGRADE
        Actor actor = a->second;
        upgrade_actor_.erase(a);
        inbound_->studio_connected(c->id, actor);
      }
      return 0;
    }
    case LWS_CALLBACK_CLOSED: {
      upgrade_actor_.erase(wsi);
      Conn* c = pss ? pss->conn : nullptr;
      if (!c) return 0;
      pss->conn = nullptr;
      if (role == kViewer) inbound_->viewer_disconnected(c->id);
      else if (role == kStudio) inbound_->studio_disconnected(c->id);
      else inbound_->overlay_disconnected(c->id);
      conns_by_role_[c->role]--;
      if (--ws_per_ip_[c->ip] <= 0) ws_per_ip_.erase(c->ip);
      conns_.erase(c->id);
      studio_conns_.erase(c->id);
      parked_.erase(std::remove(parked_.begin(), parked_.end(), c->id), parked_.end());
      delete c;
      return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
      Conn* c = pss ? pss->conn : nullptr;
      if (!c) return -1;
      if (lws_frame_is_binary(wsi)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, (unsigned char*)"text frames only", 16);
        return -1;
      }
      const size_t remaining = lws_remaining_packet_payload(wsi);
      auto too_large = [&] {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char*)"frame too large", 15);
        return -1;
      };
      if (c->draining) return remaining > 0 ? 0 : too_large();
      if (c->rx.size() + len + remaining > static_cast<size_t>(config_.max_frame_bytes)) {
        c->rx.clear();
        if (remaining == 0 || remaining > kMaxDrainBytes) return too_large();
        c->draining = true;
        return 0;
      }
      c->rx.append(static_cast<const char*>(in), len);
      if (lws_remaining_packet_payload(wsi) == 0 && ++c->rx_frames > kMaxFragments) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char*)"too many fragments", 18);
        return -1;
      }
      if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return 0;
      c->rx_frames = 0;
      std::string frame;
      frame.swap(c->rx);
      frames_in_++;
      // lws validates UTF-8 per frame too; this also covers whole messages.
      if (!moderation::is_valid_utf8(frame)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD, (unsigned char*)"invalid UTF-8", 13);
        return -1;
      }
      if (role == kOverlay) {
        send(c->id, protocol::error_frame(protocol::code::kInvalid, "the overlay protocol is read-only"));
        return 0;
      }
      if (!c->parked.empty()) {
        if (c->parked.size() >= kMaxParkedFrames) {
          lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char*)"flooding", 8);
          return -1;
        }
        c->parked.push_back(std::move(frame));
        return 0;
      }
      Verdict v = role == kViewer ? inbound_->viewer_message(c->id, frame) : inbound_->studio_message(c->id, frame);
      if (v == Verdict::busy) {
        c->parked.push_back(std::move(frame));
        parked_.push_back(c->id);
        lws_rx_flow_control(wsi, 0);  // the store is behind: stop reading this socket
      }
      return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
      Conn* c = pss ? pss->conn : nullptr;
      if (!c) return -1;
      // A close reason is set once the connection is being failed (by lws, e.g. for
      // RSV bits, or by us): its close frame is out or going out, and RFC 6455
      // 5.5.1 forbids data frames after it. lws 4.1 would still send what we write.
      if (lws_get_close_length(wsi) > 0) return 0;
      return write_ws(wsi, c);
    }
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      // lws 4.1 echoes the peer's close payload. It turns the reserved codes below
      // 3000 into 1002 in place; codes above 4999 (none is defined, RFC 6455 7.4)
      // get the same treatment here. A 1-byte payload is no valid close frame at
      // all (5.5.1) and would be echoed as one: fail with our own 1002 instead.
      auto* payload = static_cast<unsigned char*>(in);
      if (len >= 2 && ((payload[0] << 8) | payload[1]) >= 5000) {
        payload[0] = LWS_CLOSE_STATUS_PROTOCOL_ERR >> 8;
        payload[1] = LWS_CLOSE_STATUS_PROTOCOL_ERR & 0xFF;
      } else if (len == 1) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char*)"invalid close frame", 19);
        return -1;
      }
      return 0;
    }
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      return 0;  // handled once, by the http protocol
    default:
      return 0;
  }
}

void NetServer::retry_parked() {
  size_t rounds = parked_.size();
  while (rounds-- > 0 && !parked_.empty()) {
    if (!inbound_->can_accept()) return;
    ConnId id = parked_.front();
    parked_.pop_front();
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn* c = it->second;
    while (!c->parked.empty()) {
      std::string frame = c->parked.front();
      Verdict v = c->role == kViewer ? inbound_->viewer_message(c->id, frame) : inbound_->studio_message(c->id, frame);
      if (v == Verdict::busy) break;
      c->parked.pop_front();
    }
    if (c->parked.empty()) lws_rx_flow_control(c->wsi, 1);
    else parked_.push_back(id);
  }
}

const FanoutRing* NetServer::ring_of(int role) const {
  return role == kViewer ? viewer_ring_.get() : role == kOverlay ? overlay_ring_.get() : nullptr;
}

int NetServer::write_ws(lws* wsi, Conn* c) {
  if (c->close_code) {
    lws_close_reason(wsi, static_cast<lws_close_status>(c->close_code), (unsigned char*)c->close_reason.data(),
                     c->close_reason.size());
    return -1;
  }
  // Performance (bench/README.md, fanout): a ring frame is written straight
  // from the ring, and a batch is built once per tick for every viewer that
  // is at the same place (all of them, normally), not once per viewer.
  std::string direct;
  const std::string* out = &direct;
  if (!c->direct.empty()) {
    direct = std::move(c->direct.front());
    c->direct.pop_front();
  } else {
    const FanoutRing* ring = ring_of(c->role);
    if (!ring || c->ring_seq >= ring->end()) return 0;
    if (c->ring_seq < ring->begin()) {
      culled_++;
      lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char*)"too slow", 8);
      return -1;
    }
    out = &batch_.next(*ring, c->ring_seq, &c->ring_seq);
  }
  // One buffer for every write, not an allocation per delivered frame
  // (lws_write copies what it cannot send at once).
  auto write_text = [&](const std::string& text) {
    if (write_buf_.size() < LWS_PRE + text.size()) write_buf_.resize(LWS_PRE + text.size());
    std::memcpy(write_buf_.data() + LWS_PRE, text.data(), text.size());
    return lws_write(wsi, write_buf_.data() + LWS_PRE, text.size(), LWS_WRITE_TEXT) >= static_cast<int>(text.size());
  };
  if (!write_text(*out)) return -1;
  // Replies queued for this client (a studio's acks and snapshots) go out
  // together while the socket takes them: one writable callback per frame
  // would cost a whole poll() pass over every connection per reply, which
  // left studio replies seconds behind with 10,000 viewers connected.
  for (int more = 0; more < 16 && out == &direct && !c->direct.empty() && !lws_send_pipe_choked(wsi); ++more) {
    const std::string next = std::move(c->direct.front());
    c->direct.pop_front();
    if (!write_text(next)) return -1;
  }
  const FanoutRing* ring = ring_of(c->role);
  if (!c->direct.empty() || (ring && c->ring_seq < ring->end())) lws_callback_on_writable(wsi);
  return 0;
}

namespace {
// An answer written by hand, for what lws_return_http_status() cannot do: 426
// Upgrade Required with the Sec-WebSocket-Version we speak (RFC 6455 4.4),
// and JSON bodies. Returns -1: the connection ends after this answer.
int refuse_with(lws* wsi, unsigned int status, const std::string& content_type, const std::string& body,
                bool version_header) {
  std::vector<unsigned char> buf(LWS_PRE + 1024 + body.size());
  unsigned char* start = buf.data() + LWS_PRE;
  unsigned char* p = start;
  unsigned char* end = buf.data() + buf.size() - 1;
  if (lws_add_http_header_status(wsi, status, &p, end) ||
      (version_header && lws_add_http_header_by_token(wsi, WSI_TOKEN_VERSION, (const unsigned char*)"13", 2, &p, end)) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char*)content_type.data(),
                                   static_cast<int>(content_type.size()), &p, end) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char*)"close", 5, &p, end) ||
      lws_add_http_header_content_length(wsi, body.size(), &p, end) || lws_finalize_http_header(wsi, &p, end))
    return -1;
  std::memcpy(p, body.data(), body.size());
  p += body.size();
  lws_write(wsi, start, static_cast<size_t>(p - start), LWS_WRITE_HTTP_HEADERS);
  return -1;
}
}  // namespace

int NetServer::confirm_upgrade(lws* wsi) {
  auto refuse = [&](unsigned int status, const char* why) {
    spdlog::debug("upgrade refused ({}): {}", status, why);
    if (lws_return_http_status(wsi, status, why)) return -1;
    return 1;
  };
  if (header(wsi, WSI_TOKEN_GET_URI) != "/ws") return refuse(HTTP_STATUS_NOT_FOUND, "WebSockets live at /ws");
  // lws 4.1 would also upgrade the pre-RFC drafts (versions 7 and 8); RFC 6455
  // 4.2.2 wants 426 with the version we speak. A missing or malformed key would
  // make lws drop the connection without any answer; RFC 6455 4.2.1 wants a 400.
  if (header(wsi, WSI_TOKEN_VERSION) != "13")
    return refuse_with(wsi, 426, "text/plain", "only WebSocket version 13 (RFC 6455) is supported\n", true);
  if (header(wsi, WSI_TOKEN_KEY).size() != 24)
    return refuse(HTTP_STATUS_BAD_REQUEST, "Sec-WebSocket-Key missing or malformed");
  std::string wanted = header(wsi, WSI_TOKEN_PROTOCOL);
  int role = 0;
  std::stringstream list(wanted);
  for (std::string item; std::getline(list, item, ',');) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item == protocol::kViewerProtocol) role = kViewer;
    else if (item == protocol::kStudioProtocol) role = kStudio;
    else if (item == protocol::kOverlayProtocol) role = kOverlay;
    if (role) break;
  }
  if (!role) return refuse(HTTP_STATUS_BAD_REQUEST, "choose a subprotocol: sabla.viewer.v1, sabla.studio.v1 or sabla.overlay.v1");
  std::string ip = peer_ip(wsi);
  if (auto it = ws_per_ip_.find(ip); it != ws_per_ip_.end() && it->second >= config_.max_connections_per_ip)
    return refuse(429, "too many connections from your address");
  if (role == kStudio && !room_) {
    // An edge node: the studio lives on the main node only.
    return refuse_with(wsi, kMainNodeOnlyStatus, "application/json",
                       protocol::dump(main_node_only_body(config_, "the studio")) + "\n", false);
  }
  if (role == kStudio) {
    bool via_cookie = false;
    auto actor = authenticate(wsi, &via_cookie);
    if (!actor) return refuse(HTTP_STATUS_UNAUTHORIZED, "log in first");
    if (!origin_allowed(wsi, via_cookie)) return refuse(HTTP_STATUS_FORBIDDEN, "origin not allowed");
    if (!actor->can_moderate()) return refuse(HTTP_STATUS_FORBIDDEN, "your role cannot use the studio");
    upgrade_actor_[wsi] = *actor;
  } else if (!origin_allowed(wsi, false)) {
    return refuse(HTTP_STATUS_FORBIDDEN, "origin not allowed");
  }
  return 0;
}

}  // namespace sabla::net
