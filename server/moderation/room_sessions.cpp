// The Room: sessions (switching, the HTTP session API) and the video link:
// the program clock that puts stream offsets on the recording's timeline.
#include "moderation/room.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "moderation/room_internal.h"
#include "moderation/text.h"

namespace sabla::moderation {

using namespace room_internal;

void Room::switch_session(std::optional<int64_t> session_id, bool went_live_now) {
  current_session_ = session_id;
  viewers_peak_ = metrics_.viewers_connected;
  viewers_peak_saved_ = 0;
  comments_.clear();
  feed_.clear();
  feed_cache_.reset();
  in_flight_.clear();
  const store::SessionRow* s = current_session_row();
  if (s && s->live_at_ms) program_clock_.start(*s->live_at_ms);
  else program_clock_.stop();
  align_clock_to_video(went_live_now, true);
}

void Room::align_clock_to_video(bool went_live_now, bool split_recording) {
  if (!video_.running_time_ms) return;  // no pipeline: the wall clock it is
  const store::SessionRow* s = current_session_row();
  if (!s || !s->live_at_ms || !program_clock_.running()) {
    if (split_recording && video_.record_as) video_.record_as("");
    return;
  }
  const int64_t now = clock_.now_ms();
  // A session resumed after a restart (or a rebuilt pipeline) continues
  // where the wall clock says; one that goes live now starts at 0.
  const int64_t offset = went_live_now ? 0 : program_clock_.offset_ms(now).value_or(0);
  if (video_.recording) {
    // The offsets wait for the session's next recording file to open (split
    // now, or the first file of a pipeline started with the session's name).
    program_clock_.hold(offset);
    clock_held_since_ms_ = now;
    if (split_recording && video_.record_as) video_.record_as(recording_name());
  } else if (int64_t rt = video_.running_time_ms(); rt >= 0) {
    program_clock_.anchor(rt, offset);
  }
  // else: not playing yet; tick() anchors once it plays.
}

std::string Room::recording_name() const {
  const store::SessionRow* s = current_session_row();
  return s && s->status == "live" ? "session-" + std::to_string(s->id) : "";
}

void Room::recording_opened(const std::string& path, int64_t start_running_ms) {
  if (!current_session_ || !program_clock_.holding()) return;
  const std::string file = path.substr(path.find_last_of('/') + 1);
  const std::string prefix = "session-" + std::to_string(*current_session_) + "-";
  if (file.compare(0, prefix.size(), prefix) != 0) return;  // an earlier session's or off-air file
  if (start_running_ms < 0 && video_.running_time_ms) start_running_ms = video_.running_time_ms();
  program_clock_.anchor(start_running_ms, *program_clock_.held_offset());
  spdlog::info("session {}: recording {} starts at stream offset {} ms", *current_session_, file,
               *program_clock_.held_offset());
}

void Room::video_restarted() {
  if (program_clock_.running()) align_clock_to_video(false, false);
}

std::optional<int64_t> Room::stream_offset(int64_t at_ms) const {
  int64_t running = -1;
  if (video_.running_time_ms) {
    running = video_.running_time_ms();
    // An event from a moment ago: its running time was that much earlier.
    if (running >= 0) running = std::max<int64_t>(0, running - std::max<int64_t>(0, clock_.now_ms() - at_ms));
  }
  return program_clock_.offset_ms(at_ms, running);
}

void Room::attach_video(VideoLink link) {
  video_ = std::move(link);
  if (video_.overlay_changed) video_.overlay_changed(on_air_.state());
  align_clock_to_video(false, false);  // the pipeline started with recording_name()
}

void Room::set_source_live(bool live) {
  if (live == source_live_) return;
  source_live_ = live;
  out_.publish(Audience::viewers, dump(json{{"type", "stream"}, {"live", live}}));
  out_.flush(Audience::viewers);
}

ApiReply Room::list_sessions() const {
  json list = json::array();
  for (const auto& [id, s] : sessions_) {
    json j = protocol::session_json(&s);
    j["current"] = current_session_ && *current_session_ == id;
    list.push_back(std::move(j));
  }
  return ApiReply{200, json{{"sessions", list}}};
}

namespace {

constexpr size_t kMaxTitle = 200;  // code points, after sanitizing

// What a producer sets on a session, from POST /api/v1/sessions and PATCH
// /api/v1/sessions/{id}: a field left out is not set (nullopt); a title is
// sanitized as a name; scheduled_at_ms null clears the planned start.
struct SessionFields {
  std::optional<std::string> title[2];  // ar, en
  bool schedule_given = false;
  std::optional<int64_t> scheduled_at_ms;
};

// nullopt with *error (for a 400) on a field of the wrong shape; too-long and
// invalid UTF-8 titles are refused rather than cut, so nothing is stored that
// the producer did not see.
std::optional<SessionFields> parse_session_fields(const json& body, std::string* error) {
  if (!body.is_object()) {
    *error = "body must be a JSON object";
    return std::nullopt;
  }
  SessionFields f;
  const char* keys[2] = {"title_ar", "title_en"};
  for (int i = 0; i < 2; ++i) {
    auto it = body.find(keys[i]);
    if (it == body.end() || it->is_null()) continue;
    if (!it->is_string() || !is_valid_utf8(it->get_ref<const std::string&>())) {
      *error = std::string(keys[i]) + " must be a string of valid UTF-8";
      return std::nullopt;
    }
    std::string title = sanitize_name(it->get_ref<const std::string&>(), kMaxTitle + 1);
    if (count_code_points(title) > kMaxTitle) {
      *error = std::string(keys[i]) + " is longer than " + std::to_string(kMaxTitle) + " characters";
      return std::nullopt;
    }
    f.title[i] = std::move(title);
  }
  if (auto it = body.find("scheduled_at_ms"); it != body.end()) {
    f.schedule_given = true;
    // Up to 2^53: a time a browser's Date can hold exactly.
    if (it->is_number_integer() && it->get<int64_t>() >= 0 && it->get<int64_t>() <= (int64_t{1} << 53)) {
      f.scheduled_at_ms = it->get<int64_t>();
    } else if (!it->is_null()) {
      *error = "scheduled_at_ms must be a time in milliseconds since 1970, or null";
      return std::nullopt;
    }
  }
  return f;
}

}  // namespace

void Room::create_session(const Actor& actor, const json& body, ApiDone done) {
  if (!actor.can_produce()) return done(api_error(403, "forbidden", "only producers create sessions"));
  std::string error;
  auto fields = parse_session_fields(body, &error);
  if (!fields) return done(api_error(400, "invalid", error));
  store::SessionRow row;
  row.title_ar = fields->title[0].value_or("");
  row.title_en = fields->title[1].value_or("");
  if (row.title_ar.empty() && row.title_en.empty())
    return done(api_error(400, "invalid", "a session needs title_ar or title_en"));
  row.scheduled_at_ms = fields->scheduled_at_ms;
  row.status = "scheduled";
  row.created_at_ms = clock_.now_ms();
  if (!store_.create_session(row, [this, done](Result<store::SessionRow> r) {
        if (!r) return done(api_error(500, "internal", r.status().message()));
        sessions_[r->id] = *r;
        done(ApiReply{201, protocol::session_json(&*r)});
      }))
    done(api_error(503, "busy", "the store is busy, try again"));
}

void Room::rename_session(const Actor& actor, int64_t session_id, const json& body, ApiDone done) {
  if (!actor.can_produce()) return done(api_error(403, "forbidden", "only producers rename sessions"));
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return done(api_error(404, "not_found", "no such session"));
  std::string error;
  auto fields = parse_session_fields(body, &error);
  if (!fields) return done(api_error(400, "invalid", error));
  if (!fields->title[0] && !fields->title[1] && !fields->schedule_given)
    return done(api_error(400, "invalid", "send title_ar, title_en or scheduled_at_ms"));
  std::string ar = fields->title[0].value_or(it->second.title_ar);
  std::string en = fields->title[1].value_or(it->second.title_en);
  if (ar.empty() && en.empty()) return done(api_error(400, "invalid", "a session needs title_ar or title_en"));
  std::optional<int64_t> scheduled = fields->schedule_given ? fields->scheduled_at_ms : it->second.scheduled_at_ms;
  if (!store_.can_accept()) return done(api_error(503, "busy", "the store is busy, try again"));
  store_.rename_session(session_id, ar, en, scheduled, [this, session_id, ar, en, scheduled, done](Status st) {
    if (!st) {
      const bool missing = st.code() == "not_found";
      return done(api_error(missing ? 404 : 500, missing ? "not_found" : "internal", st.message()));
    }
    auto s = sessions_.find(session_id);
    if (s == sessions_.end()) return done(api_error(404, "not_found", "no such session"));
    s->second.title_ar = ar;
    s->second.title_en = en;
    s->second.scheduled_at_ms = scheduled;
    json j = protocol::session_json(&s->second);
    // Only the session on air is on viewers' and studios' screens; a message
    // about another one would replace it there.
    if (current_session_ && *current_session_ == session_id) {
      std::string frame = dump(json{{"type", "session"}, {"session", j}});
      out_.publish(Audience::viewers, frame);
      out_.publish(Audience::studios, frame);
    }
    done(ApiReply{200, std::move(j)});
  });
}

void Room::set_session_live(const Actor& actor, int64_t session_id, ApiDone done) {
  if (!actor.can_produce()) return done(api_error(403, "forbidden", "only producers run sessions"));
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return done(api_error(404, "not_found", "no such session"));
  if (it->second.status == "ended") return done(api_error(409, "conflict", "the session has ended"));
  if (it->second.status == "live") return done(ApiReply{200, protocol::session_json(&it->second)});
  if (!store_.can_accept(sessions_.size() + 1)) return done(api_error(503, "busy", "the store is busy, try again"));
  const int64_t now = clock_.now_ms();
  // One live input per server: whatever was live ends.
  for (auto& [id, s] : sessions_) {
    if (s.status != "live") continue;
    store::SessionRow ended = s;
    ended.status = "ended";
    ended.ended_at_ms = now;
    store_.update_session(ended, [](Status st) {
      if (!st) spdlog::error("could not end a session: {}", st.message());
    });
  }
  store::SessionRow live = it->second;
  live.status = "live";
  live.live_at_ms = now;
  store_.update_session(live, [this, live, done, now](Status st) {
    if (!st) return done(api_error(500, "internal", st.message()));
    for (auto& [id, s] : sessions_) {
      if (s.status == "live") {
        s.status = "ended";
        s.ended_at_ms = now;
      }
    }
    // Only the status fields: a rename that committed meanwhile stays.
    store::SessionRow& row = sessions_[live.id];
    row.status = live.status;
    row.live_at_ms = live.live_at_ms;
    // Comments of the old session leave the screen, recorded under that session.
    if (auto events = on_air_.clear(now); !events.empty())
      commit_on_air(std::move(events), "system", 0, json::object(), "clear", true);
    switch_session(live.id, true);
    std::string frame = dump(json{{"type", "session"}, {"session", protocol::session_json(&row)}});
    out_.publish(Audience::viewers, frame);
    for (const auto& [conn, sc] : studio_conns_) out_.send(conn, dump(snapshot_json(sc.actor)));
    done(ApiReply{200, protocol::session_json(&row)});
  });
}

void Room::end_session(const Actor& actor, int64_t session_id, ApiDone done) {
  if (!actor.can_produce()) return done(api_error(403, "forbidden", "only producers run sessions"));
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return done(api_error(404, "not_found", "no such session"));
  if (it->second.status == "ended") return done(api_error(409, "conflict", "the session has already ended"));
  if (!store_.can_accept()) return done(api_error(503, "busy", "the store is busy, try again"));
  store::SessionRow ended = it->second;
  ended.status = "ended";
  ended.ended_at_ms = clock_.now_ms();
  store_.update_session(ended, [this, ended, done](Status st) {
    if (!st) return done(api_error(500, "internal", st.message()));
    store::SessionRow& row = sessions_[ended.id];  // the status fields only, as above
    row.status = ended.status;
    row.ended_at_ms = ended.ended_at_ms;
    std::string frame = dump(json{{"type", "session"}, {"session", protocol::session_json(&row)}});
    if (current_session_ && *current_session_ == ended.id) {
      if (auto events = on_air_.clear(*ended.ended_at_ms); !events.empty())
        commit_on_air(std::move(events), "system", 0, json::object(), "clear", true);
      current_session_.reset();
      program_clock_.stop();
      if (video_.record_as) video_.record_as("");  // the next file is off air
    }
    out_.publish(Audience::viewers, frame);
    out_.publish(Audience::studios, frame);
    done(ApiReply{200, protocol::session_json(&row)});
  });
}

}  // namespace sabla::moderation
