// The Room: comments coming in (viewers' comment frames and bridge posts):
// checks, idempotency by client_id, the filters, storing, the ack after COMMIT.
#include "moderation/room.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "moderation/room_internal.h"

namespace sabla::moderation {

using namespace room_internal;

namespace {

constexpr size_t kRecentClientIds = 64;
constexpr size_t kMaxClientIdChars = 64;

// A client_id may be a string or an integer; the key tells them apart
// ("s:" or "i:" and the id). Empty when the id is missing or unusable.
std::optional<std::string> client_id_key(const protocol::CommentFrame& msg) {
  using Id = protocol::CommentFrame::Id;
  if (msg.id == Id::string) {
    if (msg.client_id.empty() || count_code_points(msg.client_id) > kMaxClientIdChars) return std::nullopt;
    std::string key;
    key.reserve(2 + msg.client_id.size());
    key += "s:";
    key += msg.client_id;
    return key;
  }
  if (msg.id == Id::integer) return "i:" + std::to_string(msg.client_id_int);
  return std::nullopt;
}

// The client_id's JSON text, for acks written without a json tree.
std::string client_id_text(const std::string& key) {
  if (key.rfind("i:", 0) == 0) return key.substr(2);
  std::string out;
  protocol::append_json_string(out, std::string_view(key).substr(2));
  return out;
}

json client_id_from_key(const std::string& key) {
  if (key.rfind("i:", 0) == 0) return std::stoll(key.substr(2));
  return key.substr(2);
}

bool valid_source_name(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

Verdict Room::handle_comment(ConnId conn, ViewerConn& vc, const protocol::CommentFrame& msg) {
  auto key = client_id_key(msg);
  if (!key) {
    json cid = protocol::client_id_json(msg);
    out_.send(conn, protocol::error_frame(code::kInvalid, kBadClientId, cid.is_null() ? nullptr : &cid));
    return Verdict::handled;
  }
  Viewer& v = viewers_.at(vc.viewer_id);
  // A resend of something already stored or in flight: same ack, nothing new.
  if (auto done = v.recent_client_ids.find(*key); done != v.recent_client_ids.end()) {
    out_.send(conn, protocol::ack_frame(client_id_text(*key), done->second.first, done->second.second));
    return Verdict::handled;
  }
  if (auto waiting = in_flight_.find({v.id, *key}); waiting != in_flight_.end()) {
    waiting->second.push_back(conn);
    return Verdict::handled;
  }
  // Back-pressure before any side effect, so a retry sees the same state.
  if (!store_.can_accept(2)) return Verdict::busy;

  metrics_.comments_received++;
  auto refuse = [&](const char* c, const std::string& message, std::optional<int64_t> retry = std::nullopt) {
    metrics_.comments_rejected_input++;
    json cid = protocol::client_id_json(msg);
    out_.send(conn, protocol::error_frame(c, message, &cid, retry));
    return Verdict::handled;
  };
  const int64_t now = clock_.now_ms();
  const store::SessionRow* session = current_session_row();
  if (!session) return refuse(code::kNoSession, "no session is live now");
  int64_t until = 0;
  if (v.banned_until_ms > now) return refuse(code::kBanned, "you cannot comment now", v.banned_until_ms - now);
  if (ip_banned(vc.ip, now, &until)) return refuse(code::kBanned, "you cannot comment now", until - now);

  if (!msg.text_is_string) return refuse(code::kInvalid, "text must be a string");
  if (!is_valid_utf8(msg.text)) return refuse(code::kInvalid, "text is not valid UTF-8");
  std::string clean = sanitize_text(msg.text);
  if (clean.empty() || normalize_for_match(clean).empty()) return refuse(code::kEmpty, "the comment is empty");
  if (count_code_points(clean) > static_cast<size_t>(settings_.max_length))
    return refuse(code::kTooLong, "the comment is longer than " + std::to_string(settings_.max_length) + " characters");

  const int64_t steady = clock_.steady_ms();
  if (settings_.slow_mode_seconds > 0 && v.has_commented) {
    int64_t next = v.last_comment_steady_ms + settings_.slow_mode_seconds * 1000LL;
    if (steady < next) return refuse(code::kSlowMode, "slow mode is on", next - steady);
  }
  int64_t retry = 0;
  if (!v.comment_bucket.try_take(steady, &retry)) return refuse(code::kRateLimited, "too many comments", retry);
  v.last_comment_steady_ms = steady;
  v.has_commented = true;

  store::CommentRow row;
  row.session_id = session->id;
  row.viewer_id = v.id;
  row.display_name = v.name;
  row.lang = detect_language(clean);
  row.direction = detect_direction(clean);
  row.text = std::move(clean);
  row.source = "web";
  row.client_id = key->substr(2);
  if (key->rfind("i:", 0) == 0) row.client_id = *key;  // keep integer ids distinct from string ids
  row.received_at_ms = now;
  row.stream_offset_ms = stream_offset(now);

  if (!v.persisted) persist_viewer(v);
  in_flight_[{v.id, *key}].push_back(conn);
  const int64_t viewer_id = v.id;
  store_comment(std::move(row), [this, viewer_id, k = std::move(*key)](Result<store::InsertedComment> r) {
    auto node = in_flight_.extract({viewer_id, k});
    std::vector<ConnId> waiters = node.empty() ? std::vector<ConnId>{} : std::move(node.mapped());
    if (!r) {
      json cid = client_id_from_key(k);
      for (ConnId c : waiters) out_.send(c, protocol::error_frame(code::kInternal, "could not store the comment", &cid));
      return;
    }
    std::string status = r->status == CommentStatus::approved ? "approved" : "pending";
    if (auto vit = viewers_.find(viewer_id); vit != viewers_.end()) {
      Viewer& viewer = vit->second;
      viewer.recent_client_ids[k] = {r->id, status};
      viewer.recent_order.push_back(k);
      if (viewer.recent_order.size() > kRecentClientIds) {
        viewer.recent_client_ids.erase(viewer.recent_order.front());
        viewer.recent_order.pop_front();
      }
    }
    std::string ack = protocol::ack_frame(client_id_text(k), r->id, status);
    for (ConnId c : waiters) {
      out_.send(c, ack);
      metrics_.comments_acked++;
    }
  });
  return Verdict::handled;
}

void Room::store_comment(store::CommentRow row, InsertDone done) {
  std::optional<store::ModerationEvent> event;
  std::string reason;
  std::string matched = blocked_.first_match(row.text);
  if (!matched.empty()) {
    reason = "blocked word: " + matched;
    bool reject = settings_.blocked_action == "reject";
    row.status = reject ? CommentStatus::rejected : CommentStatus::pending;
    event = store::ModerationEvent{0, row.session_id, std::nullopt, row.viewer_id,
                                   reject ? "filter_reject" : "filter_hold", "system", reason, row.text, row.text,
                                   row.received_at_ms};
  } else if (!settings_.hold_for_review) {
    row.status = CommentStatus::approved;
    event = store::ModerationEvent{0, row.session_id, std::nullopt, row.viewer_id, "auto_approve", "system",
                                   "hold for review is off", row.text, row.text, row.received_at_ms};
  }
  store::CommentRow copy = row;
  store_.insert_comment(std::move(row), std::move(event),
                        [this, copy = std::move(copy), reason, done = std::move(done)](Result<store::InsertedComment> r) {
                          if (r && !r->existed) on_comment_stored(copy, *r, reason);
                          done(std::move(r));
                        });
}

void Room::on_comment_stored(const store::CommentRow& stored, const store::InsertedComment& inserted,
                             const std::string& reason) {
  if (!current_session_ || stored.session_id != *current_session_) return;  // session switched meanwhile
  Comment c;
  c.row = stored;
  c.reason = reason;
  c.row.id = inserted.id;
  c.row.status = inserted.status;
  auto& placed = comments_.insert_or_assign(inserted.id, std::move(c)).first->second;
  placed.own_votes = placed.row.votes;
  index_similar(placed);
  switch (placed.row.status) {
    case CommentStatus::pending:
      // The hot path's hand-built frame, unless there are similar comments to
      // name (studio_comment adds "similar", "merged", "askers").
      if (placed.similar.empty()) {
        out_.publish(Audience::studios, protocol::comment_frame("pending", placed.row, true, reason));
      } else {
        out_.publish(Audience::studios, dump(json{{"type", "pending"}, {"comment", studio_comment(placed)}}));
      }
      break;
    case CommentStatus::approved:
      metrics_.comments_approved++;
      broadcast_comment_change(placed, "auto_approve", "system", false);
      break;
    case CommentStatus::rejected:
      metrics_.comments_rejected++;
      out_.publish(Audience::studios, dump(json{{"type", "updated"}, {"action", "filter_reject"}, {"by", "system"},
                                                {"comment", protocol::comment_json(placed.row, true, reason)}}));
      break;
    case CommentStatus::hidden:
    case CommentStatus::merged:
      break;
  }
}

void Room::bridge_comment(const Actor& actor, int64_t session_id, const json& body, ApiDone done) {
  if (!body.is_object()) return done(api_error(400, "invalid", "body must be a JSON object"));
  if (!current_session_ || *current_session_ != session_id)
    return done(api_error(409, "no_session", "that session is not live"));
  auto source = string_field(body, "source");
  if (!source || !valid_source_name(*source) || *source == "web")
    return done(api_error(400, "invalid", "source must be 1-32 characters of a-z, 0-9, '.', '-', '_' (not \"web\")"));
  auto text = string_field(body, "text");
  if (!text || !is_valid_utf8(*text)) return done(api_error(400, "invalid", "text must be a UTF-8 string"));
  std::string clean = sanitize_text(*text);
  if (clean.empty() || normalize_for_match(clean).empty()) return done(api_error(400, "empty", "the comment is empty"));
  if (count_code_points(clean) > static_cast<size_t>(settings_.max_length))
    return done(api_error(400, "too_long", "the comment is too long"));
  std::string author;
  if (auto a = string_field(body, "author"); a && is_valid_utf8(*a)) author = sanitize_name(*a, config_.max_name_chars);
  std::string external_id;
  if (auto e = body.find("external_id"); e != body.end() && !e->is_null()) {
    if (!e->is_string() || !is_valid_utf8(e->get<std::string>()) || e->get<std::string>().size() > 200)
      return done(api_error(400, "invalid", "external_id must be a string of at most 200 bytes"));
    external_id = e->get<std::string>();
  }
  if (!store_.can_accept()) return done(api_error(503, "busy", "the store is busy, try again"));
  metrics_.comments_received++;
  store::CommentRow row;
  row.session_id = session_id;
  row.display_name = author;
  row.text = clean;
  row.lang = detect_language(clean);
  row.direction = detect_direction(clean);
  row.source = *source;
  row.external_id = external_id;
  row.received_at_ms = clock_.now_ms();
  row.stream_offset_ms = stream_offset(row.received_at_ms);
  (void)actor;
  store_comment(std::move(row), [this, done](Result<store::InsertedComment> r) {
    if (!r) return done(api_error(500, "internal", r.status().message()));
    metrics_.comments_acked++;
    done(ApiReply{202, json{{"id", r->id},
                            {"status", r->status == CommentStatus::approved ? "approved" : "pending"},
                            {"duplicate", r->existed}}});
  });
}

}  // namespace sabla::moderation
