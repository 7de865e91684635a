// The Room: what is on air (air, rotation, clear, lower third, ticker,
// theme), persisting on-air changes, and the overlay clients.
#include "moderation/room.h"

#include <spdlog/spdlog.h>

#include "moderation/room_internal.h"

namespace sabla::moderation {

using namespace room_internal;

Verdict Room::handle_on_air(ConnId conn, const StudioConn& sc, const std::string& type, const json& msg) {
  if (!sc.actor.can_produce()) {
    reply_error(conn, msg, code::kForbidden, "only producers control what is on air");
    return Verdict::handled;
  }
  if (!store_.can_accept()) return Verdict::busy;
  const int64_t now = clock_.now_ms();
  std::vector<overlay::OnAirEvent> events;
  bool rotation_changed = false;
  if (type == "air" || type == "queue_air") {
    Comment* found = comment_for_action(conn, type, msg);
    if (!found) return Verdict::handled;
    if (found->row.status != CommentStatus::approved) {
      reply_error(conn, msg, code::kConflict, "only approved comments can be aired");
      return Verdict::handled;
    }
    const auto& row = found->row;
    overlay::AiredComment c{row.id, row.display_name, row.text, row.direction, row.source, now};
    if (type == "air") {
      bool add = false;
      if (auto a = msg.find("add"); a != msg.end()) {
        if (!a->is_boolean()) {
          reply_error(conn, msg, code::kInvalid, "add must be true or false");
          return Verdict::handled;
        }
        add = a->get<bool>();
      }
      rotation_changed = !on_air_.rotation().empty() || on_air_.rotation_until_ms().has_value();
      events = on_air_.air(c, now, add);
    } else {
      int64_t seconds = 15;
      if (msg.contains("seconds")) {
        auto s = int_field(msg, "seconds");
        if (!s || *s < 1 || *s > 3600) {
          reply_error(conn, msg, code::kInvalid, "seconds must be an integer from 1 to 3600");
          return Verdict::handled;
        }
        seconds = *s;
      }
      if (!on_air_.queue_air(c, seconds * 1000, now, &events)) {
        reply_error(conn, msg, code::kConflict, "the rotation is full");
        return Verdict::handled;
      }
      rotation_changed = true;
    }
  } else if (type == "clear") {
    rotation_changed = !on_air_.rotation().empty() || on_air_.rotation_until_ms().has_value();
    events = on_air_.clear(now);
  } else if (type == "unair") {
    // One comment off the screen; it stays approved and in the viewers' feed
    // (hide is what takes it away from viewers too).
    Comment* found = comment_for_action(conn, type, msg);
    if (!found) return Verdict::handled;
    if (!on_air_.on_screen(found->row.id)) {
      reply_error(conn, msg, code::kConflict, "that comment is not on screen");
      return Verdict::handled;
    }
    const size_t queued = on_air_.rotation().size();
    events = on_air_.remove_comment(found->row.id, now);
    rotation_changed = on_air_.rotation().size() != queued;
  } else if (type == "lower_third") {
    std::optional<overlay::LowerThird> lower;
    if (!msg.value("clear", false)) {
      overlay::LowerThird l;
      std::string* fields[] = {&l.name_ar, &l.name_en, &l.title_ar, &l.title_en, &l.session_ar, &l.session_en};
      const char* keys[] = {"name_ar", "name_en", "title_ar", "title_en", "session_ar", "session_en"};
      for (int i = 0; i < 6; ++i) {
        auto it = msg.find(keys[i]);
        if (it == msg.end() || it->is_null()) continue;
        if (!it->is_string() || !is_valid_utf8(it->get<std::string>())) {
          reply_error(conn, msg, code::kInvalid, std::string(keys[i]) + " must be a string");
          return Verdict::handled;
        }
        *fields[i] = sanitize_name(it->get<std::string>(), 120);
      }
      lower = l;
    }
    events = on_air_.set_lower_third(lower, now);
  } else if (type == "ticker") {
    std::optional<std::string> ticker;
    auto it = msg.find("text");
    if (it != msg.end() && !it->is_null()) {
      if (!it->is_string() || !is_valid_utf8(it->get<std::string>())) {
        reply_error(conn, msg, code::kInvalid, "text must be a string or null");
        return Verdict::handled;
      }
      std::string clean = sanitize_name(it->get<std::string>(), 300);
      if (!clean.empty()) ticker = clean;
    }
    events = on_air_.set_ticker(ticker, now);
  } else {  // theme
    overlay::Theme theme = on_air_.state().theme;
    std::string why;
    if (!overlay::apply_theme(msg, &theme, &why)) {
      reply_error(conn, msg, code::kInvalid, why);
      return Verdict::handled;
    }
    events = on_air_.set_theme(theme, now);
  }
  if (events.empty() && !rotation_changed) {
    reply_ok(conn, msg, type, int_field(msg, "id"));  // nothing to change
    return Verdict::handled;
  }
  commit_on_air(std::move(events), sc.actor.name, conn, msg, type, rotation_changed);
  return Verdict::handled;
}

void Room::commit_on_air(std::vector<overlay::OnAirEvent> events, const std::string& actor, ConnId conn,
                         const json& msg, const std::string& action, bool rotation_changed) {
  std::vector<store::OnAirEventRow> rows;
  for (auto& e : events) {
    store::OnAirEventRow r;
    r.session_id = current_session_;
    r.at_ms = e.at_ms;
    r.stream_offset_ms = stream_offset(e.at_ms);
    r.kind = e.kind;
    r.comment_id = e.comment_id;
    r.actor = actor;
    r.detail = dump(e.detail);
    rows.push_back(std::move(r));
  }
  json msg_copy = msg;
  // The in-memory state has moved already (so the next command sees it); the
  // clients hear of it only after the commit.
  bool queued = store_.record_on_air(std::move(rows), on_air_.save(), [this, conn, msg_copy, action, rotation_changed](Status s) {
    if (!s) {
      spdlog::error("could not save an on-air change: {}", s.message());
      if (conn) reply_error(conn, msg_copy, code::kInternal, "could not save: " + s.message());
      return;
    }
    if (conn) reply_ok(conn, msg_copy, action, int_field(msg_copy, "id"));
    std::string frame = dump(overlay_message());
    out_.publish(Audience::overlays, frame);
    out_.publish(Audience::viewers, frame);
    out_.flush(Audience::viewers);
    out_.publish(Audience::studios, frame);
    if (rotation_changed) out_.publish(Audience::studios, dump(rotation_json()));
    if (video_.overlay_changed) video_.overlay_changed(on_air_.state());
  });
  if (!queued) spdlog::error("on-air change not saved: the store queue is full");
}

json Room::overlay_message() const {
  return json{{"type", "overlay"}, {"state", overlay::to_json(on_air_.state())}, {"version", on_air_.version()}};
}

json Room::rotation_json() const {
  json items = json::array();
  for (const auto& r : on_air_.rotation())
    items.push_back(json{{"id", r.comment.id}, {"author", r.comment.author}, {"text", r.comment.text},
                         {"seconds", r.hold_ms / 1000}});
  auto until = on_air_.rotation_until_ms();
  return json{{"type", "rotation"}, {"items", items}, {"until", until ? json(*until) : json()}};
}

void Room::overlay_connected(ConnId conn) {
  overlay_conns_.insert(conn);
  metrics_.overlays_connected++;
  out_.send(conn, dump(overlay_message()));
}

void Room::overlay_disconnected(ConnId conn) {
  if (overlay_conns_.erase(conn)) metrics_.overlays_connected--;
}

}  // namespace sabla::moderation
