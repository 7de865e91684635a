// The Room: studio connections and their moderation actions (decisions,
// bans, settings), the snapshot, and how a decided comment is broadcast.
#include "moderation/room.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "moderation/room_internal.h"

namespace sabla::moderation {

using namespace room_internal;

namespace {

constexpr size_t kSnapshotPending = 2000;
constexpr size_t kSnapshotApproved = 100;
constexpr int64_t kMaxBanSeconds = 10LL * 365 * 24 * 3600;

}  // namespace

json Room::snapshot_json(const Actor& actor) const {
  json pending = json::array();
  json approved = json::array();
  std::vector<const Comment*> recent;
  uint64_t counts[5] = {0, 0, 0, 0, 0};
  for (const auto& [id, c] : comments_) {
    counts[static_cast<int>(c.row.status)]++;
    if (c.row.status == CommentStatus::pending && pending.size() < kSnapshotPending)
      pending.push_back(studio_comment(c));
  }
  for (auto it = feed_.rbegin(); it != feed_.rend() && recent.size() < kSnapshotApproved; ++it) {
    auto c = comments_.find(*it);
    if (c != comments_.end() && c->second.row.status == CommentStatus::approved) recent.push_back(&c->second);
  }
  for (const Comment* c : recent) approved.push_back(studio_comment(*c));
  return json{{"type", "snapshot"},
              {"me", {{"name", actor.name}, {"role", actor.role}}},
              {"session", protocol::session_json(current_session_row())},
              {"pending", pending},
              {"approved", approved},
              {"settings", settings_.to_json()},
              {"overlay", overlay_message()},
              {"rotation", rotation_json()},
              {"polls", studio_polls_json()},
              {"pipeline", video_.status ? video_.status() : json{{"state", "off"}}},
              {"counters",
               {{"pending", counts[0]},
                {"approved", counts[1]},
                {"rejected", counts[2]},
                {"hidden", counts[3]},
                {"merged", counts[4]},
                {"viewers", metrics_.viewers_connected}}}};
}

void Room::studio_connected(ConnId conn, const Actor& actor) {
  studio_conns_[conn] = StudioConn{actor};
  // API tokens ("token:…") are machines, not people viewers could pose as.
  if (actor.name.rfind("token:", 0) != 0) names_.add_protected_name(actor.name);
  metrics_.studios_connected++;
  out_.send(conn, dump(snapshot_json(actor)));
}

void Room::studio_disconnected(ConnId conn) {
  if (studio_conns_.erase(conn)) metrics_.studios_connected--;
}

void Room::reply_ok(ConnId conn, const json& msg, const std::string& action, std::optional<int64_t> id) {
  json j = {{"type", "ok"}, {"action", action}};
  if (auto op = msg.find("op"); op != msg.end()) j["op"] = *op;
  if (id) j["id"] = *id;
  out_.send(conn, dump(j));
}

void Room::reply_error(ConnId conn, const json& msg, const char* c, const std::string& message) {
  const json* op = nullptr;
  if (auto it = msg.find("op"); it != msg.end()) op = &*it;
  out_.send(conn, protocol::error_frame(c, message, nullptr, std::nullopt, op));
}

Verdict Room::studio_message(ConnId conn, std::string_view frame) {
  auto sc_it = studio_conns_.find(conn);
  if (sc_it == studio_conns_.end()) return Verdict::handled;
  std::string why;
  auto in = protocol::parse_incoming(frame, &why);
  if (!in) {
    out_.send(conn, protocol::error_frame(code::kInvalid, why));
    return Verdict::handled;
  }
  const StudioConn& sc = sc_it->second;
  if (auto op = in->body.find("op"); op != in->body.end() && !(op->is_string() || op->is_number_integer())) {
    out_.send(conn, protocol::error_frame(code::kInvalid, "op must be a string or an integer"));
    return Verdict::handled;
  }
  if (!sc.actor.can_moderate()) {
    reply_error(conn, in->body, code::kForbidden, "your role cannot moderate");
    return Verdict::handled;
  }
  const std::string& t = in->type;
  if (t == "approve" || t == "reject" || t == "hide" || t == "edit") return handle_decision(conn, sc, t, in->body);
  if (t == "ban") return handle_ban(conn, sc, true, in->body);
  if (t == "unban") return handle_ban(conn, sc, false, in->body);
  if (t == "settings") return handle_settings(conn, sc, in->body);
  if (t == "air" || t == "queue_air" || t == "clear" || t == "unair" || t == "lower_third" || t == "ticker" ||
      t == "theme")
    return handle_on_air(conn, sc, t, in->body);
  if (t == "outcome") return handle_outcome(conn, sc, in->body);
  if (t == "merge" || t == "unmerge") return handle_merge(conn, sc, t, in->body);
  if (t.rfind("poll_", 0) == 0) return handle_poll_command(conn, sc, t, in->body);
  reply_error(conn, in->body, code::kInvalid, "unknown message type for the studio");
  return Verdict::handled;
}

Room::Comment* Room::comment_for_action(ConnId conn, const std::string& type, const json& msg) {
  auto id = int_field(msg, "id");
  if (!id) {
    reply_error(conn, msg, code::kInvalid, type + " needs an integer id");
    return nullptr;
  }
  auto it = comments_.find(*id);
  if (it == comments_.end()) {
    reply_error(conn, msg, code::kNotFound, "no such comment in the current session");
    return nullptr;
  }
  return &it->second;
}

Verdict Room::handle_decision(ConnId conn, const StudioConn& sc, const std::string& type, const json& msg) {
  Comment* found = comment_for_action(conn, type, msg);
  if (!found) return Verdict::handled;
  Comment& c = *found;
  const std::optional<int64_t> id = c.row.id;
  const CommentStatus before = c.row.status;
  CommentStatus after = before;
  std::optional<std::string> new_text;
  std::string reason;
  if (type == "approve" || type == "reject") {
    if (before != CommentStatus::pending) {
      reply_error(conn, msg, code::kConflict,
                  "the comment is already " + std::string(store::to_string(before)));
      return Verdict::handled;
    }
    after = type == "approve" ? CommentStatus::approved : CommentStatus::rejected;
    if (type == "reject") {
      auto r = string_field(msg, "reason");
      if (r && is_valid_utf8(*r)) reason = sanitize_name(*r, 200);
    }
  } else if (type == "hide") {
    if (before != CommentStatus::pending && before != CommentStatus::approved) {
      reply_error(conn, msg, code::kConflict, "the comment is already " + std::string(store::to_string(before)));
      return Verdict::handled;
    }
    after = CommentStatus::hidden;
  } else {  // edit
    if (before != CommentStatus::pending && before != CommentStatus::approved) {
      reply_error(conn, msg, code::kConflict, "only pending or approved comments can be edited");
      return Verdict::handled;
    }
    auto text = string_field(msg, "text");
    if (!text || !is_valid_utf8(*text)) {
      reply_error(conn, msg, code::kInvalid, "edit needs a text string");
      return Verdict::handled;
    }
    std::string clean = sanitize_text(*text);
    if (normalize_for_match(clean).empty() || count_code_points(clean) > static_cast<size_t>(settings_.max_length)) {
      reply_error(conn, msg, code::kInvalid, "the edited text is empty or too long");
      return Verdict::handled;
    }
    new_text = clean;
  }
  if (!store_.can_accept()) return Verdict::busy;

  // Change the in-memory state now so a second moderator acting before the
  // commit sees the decided state and gets `conflict`; broadcast only after
  // the commit, and undo if it failed.
  const std::string before_text = c.row.text;
  const std::string before_reason = c.reason;
  c.row.status = after;
  if (new_text) c.row.text = *new_text;
  if (type == "reject") c.reason = reason;

  store::Decision d;
  d.comment_id = *id;
  d.new_status = after;
  d.new_text = new_text;
  d.event = store::ModerationEvent{0, c.row.session_id, *id, c.row.viewer_id, type, sc.actor.name, reason,
                                   before_text, c.row.text, clock_.now_ms()};
  json msg_copy = msg;
  const int64_t comment_id = *id;
  const std::string actor = sc.actor.name;
  store_.apply_decision(std::move(d), [this, conn, msg_copy, type, comment_id, actor, before, before_text,
                                       before_reason](Status s) {
    auto cit = comments_.find(comment_id);
    if (!s) {
      if (cit != comments_.end()) {
        cit->second.row.status = before;
        cit->second.row.text = before_text;
        cit->second.reason = before_reason;
      }
      reply_error(conn, msg_copy, code::kInternal, "could not save: " + s.message());
      return;
    }
    reply_ok(conn, msg_copy, type, comment_id);
    if (cit == comments_.end()) return;
    const CommentStatus now = cit->second.row.status;
    if (now == CommentStatus::approved && before != CommentStatus::approved) metrics_.comments_approved++;
    if (now == CommentStatus::rejected && before != CommentStatus::rejected) metrics_.comments_rejected++;
    if (now == CommentStatus::hidden && before != CommentStatus::hidden) metrics_.comments_hidden++;
    broadcast_comment_change(cit->second, type, actor, before == CommentStatus::approved);
    // What is on screen follows moderation: hidden comments leave, edits show.
    const int64_t t = clock_.now_ms();
    std::vector<overlay::OnAirEvent> events;
    if (now == CommentStatus::hidden) events = on_air_.remove_comment(comment_id, t);
    else if (type == "edit") events = on_air_.update_text(comment_id, cit->second.row.text, t);
    if (!events.empty()) commit_on_air(std::move(events), actor, 0, json::object(), type, true);
  });
  return Verdict::handled;
}

void Room::broadcast_comment_change(const Comment& c, const std::string& action, const std::string& by,
                                    bool was_visible) {
  feed_cache_.reset();
  const bool visible = c.row.status == CommentStatus::approved;
  if (visible && action != "edit" && (feed_.empty() || feed_.back() != c.row.id)) {
    feed_.push_back(c.row.id);
    if (feed_.size() > kFeedMemory) feed_.pop_front();
  }
  if (visible) {
    out_.publish(Audience::viewers, protocol::comment_frame("comment", c.row, false));
  } else if (was_visible) {
    out_.publish(Audience::viewers, dump(json{{"type", "retract"}, {"id", c.row.id}}));
  }
  out_.publish(Audience::studios, dump(json{{"type", "updated"}, {"action", action}, {"by", by},
                                            {"comment", studio_comment(c)}}));
}

Verdict Room::handle_ban(ConnId conn, const StudioConn& sc, bool ban, const json& msg) {
  auto viewer_id = int_field(msg, "viewer");
  if (!viewer_id) {
    reply_error(conn, msg, code::kInvalid, "needs an integer viewer");
    return Verdict::handled;
  }
  auto it = viewers_.find(*viewer_id);
  if (it == viewers_.end()) {
    reply_error(conn, msg, code::kNotFound, "no such viewer");
    return Verdict::handled;
  }
  int64_t seconds = 600;
  if (ban && msg.contains("seconds")) {
    auto s = int_field(msg, "seconds");
    if (!s || *s < 1 || *s > kMaxBanSeconds) {
      reply_error(conn, msg, code::kInvalid, "seconds must be an integer from 1 to 315360000");
      return Verdict::handled;
    }
    seconds = *s;
  }
  bool with_ip = false;
  if (auto ip = msg.find("ip"); ip != msg.end()) {
    if (!ip->is_boolean()) {
      reply_error(conn, msg, code::kInvalid, "ip must be true or false");
      return Verdict::handled;
    }
    with_ip = ip->get<bool>();
  }
  if (!store_.can_accept(3)) return Verdict::busy;
  Viewer& v = it->second;
  const int64_t now = clock_.now_ms();
  v.banned_until_ms = ban ? now + seconds * 1000 : 0;
  persist_viewer(v);
  if (with_ip || !ban) {
    if (!v.last_ip.empty() && (with_ip || ip_bans_.count(v.last_ip))) {
      store::IpBan b{v.last_ip, ban ? v.banned_until_ms : 0};
      if (ban) ip_bans_[b.ip] = b.until_ms;
      else ip_bans_.erase(b.ip);
      store_.set_ip_ban(b, [](Status s) {
        if (!s) spdlog::error("could not save an IP ban: {}", s.message());
      });
    }
  }
  store::ModerationEvent ev{0, current_session_, std::nullopt, v.id, ban ? "ban" : "unban", sc.actor.name,
                            ban ? ("seconds=" + std::to_string(seconds) + (with_ip ? " ip" : "")) : "", "", "", now};
  json msg_copy = msg;
  json viewer = {{"id", v.id}, {"name", v.name}, {"banned_until", v.banned_until_ms}};
  store_.record_event(ev, [this, conn, msg_copy, ban, viewer](Status s) {
    if (!s) {
      reply_error(conn, msg_copy, code::kInternal, "could not save: " + s.message());
      return;
    }
    reply_ok(conn, msg_copy, ban ? "ban" : "unban", viewer["id"].get<int64_t>());
    out_.publish(Audience::studios, dump(json{{"type", "viewer"}, {"viewer", viewer}}));
  });
  return Verdict::handled;
}

Verdict Room::handle_settings(ConnId conn, const StudioConn& sc, const json& msg) {
  ModerationSettings next = settings_;
  Status s = next.apply(msg);
  if (!s) {
    reply_error(conn, msg, code::kInvalid, s.message());
    return Verdict::handled;
  }
  if (!store_.can_accept()) return Verdict::busy;
  json doc = next.to_json();
  store::ModerationEvent ev{0, current_session_, std::nullopt, std::nullopt, "settings", sc.actor.name, "",
                            dump(settings_.to_json()), dump(doc), clock_.now_ms()};
  // Applied now so later frames are judged by the new rules; announced after commit.
  settings_ = next;
  blocked_ = BlockedWords(settings_.blocked_words);
  json msg_copy = msg;
  const std::string actor = sc.actor.name;
  store_.save_settings(doc, ev, [this, conn, msg_copy, actor](Status st) {
    if (!st) {
      reply_error(conn, msg_copy, code::kInternal, "could not save: " + st.message());
      return;
    }
    reply_ok(conn, msg_copy, "settings", std::nullopt);
    out_.publish(Audience::studios, dump(json{{"type", "settings"}, {"settings", settings_.to_json()}, {"by", actor}}));
    out_.publish(Audience::viewers, dump(json{{"type", "settings"}, {"settings", viewer_settings_json()}}));
  });
  return Verdict::handled;
}

}  // namespace sabla::moderation
