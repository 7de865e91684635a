#include "moderation/room.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "protocol/messages.h"

namespace sabla::moderation {

using nlohmann::json;
using protocol::dump;
using store::CommentStatus;
namespace code = protocol::code;

namespace {

constexpr size_t kRecentClientIds = 64;
constexpr size_t kMaxClientIdChars = 64;
constexpr size_t kFeedMemory = 500;
constexpr size_t kSnapshotPending = 2000;
constexpr size_t kSnapshotApproved = 100;
constexpr int64_t kMaxBanSeconds = 10LL * 365 * 24 * 3600;

// A client_id may be a string or an integer; the key is its JSON text.
std::optional<std::string> client_id_key(const json& msg) {
  auto it = msg.find("client_id");
  if (it == msg.end()) return std::nullopt;
  if (it->is_string()) {
    auto s = it->get<std::string>();
    if (s.empty() || count_code_points(s) > kMaxClientIdChars) return std::nullopt;
    return "s:" + s;
  }
  if (it->is_number_integer()) return "i:" + std::to_string(it->get<int64_t>());
  return std::nullopt;
}

std::optional<int64_t> int_field(const json& msg, const char* name) {
  auto it = msg.find(name);
  if (it == msg.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

std::optional<std::string> string_field(const json& msg, const char* name) {
  auto it = msg.find(name);
  if (it == msg.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

bool valid_source_name(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

ApiReply api_error(int status, const char* code, std::string message) {
  return ApiReply{status, json{{"error", {{"code", code}, {"message", std::move(message)}}}}};
}

}  // namespace

// ---------------------------------------------------------------- settings

json ModerationSettings::to_json() const {
  return json{{"hold_for_review", hold_for_review},
              {"slow_mode_seconds", slow_mode_seconds},
              {"max_length", max_length},
              {"blocked_words", blocked_words},
              {"blocked_action", blocked_action}};
}

Status ModerationSettings::apply(const json& j) {
  if (!j.is_object()) return Status::error(code::kInvalid, "settings must be an object");
  ModerationSettings next = *this;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "type" || key == "op") continue;
    if (key == "hold_for_review") {
      if (!v.is_boolean()) return Status::error(code::kInvalid, "hold_for_review must be true or false");
      next.hold_for_review = v.get<bool>();
    } else if (key == "slow_mode_seconds") {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 3600)
        return Status::error(code::kInvalid, "slow_mode_seconds must be an integer from 0 to 3600");
      next.slow_mode_seconds = v.get<int>();
    } else if (key == "max_length") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 5000)
        return Status::error(code::kInvalid, "max_length must be an integer from 1 to 5000");
      next.max_length = v.get<int>();
    } else if (key == "blocked_words") {
      if (!v.is_array() || v.size() > 2000)
        return Status::error(code::kInvalid, "blocked_words must be a list of at most 2000 words");
      std::vector<std::string> words;
      for (const auto& w : v) {
        if (!w.is_string()) return Status::error(code::kInvalid, "blocked_words must hold strings");
        auto s = w.get<std::string>();
        if (!is_valid_utf8(s)) return Status::error(code::kInvalid, "blocked word is not valid UTF-8");
        s = sanitize_name(s, 100);
        if (!s.empty() && std::find(words.begin(), words.end(), s) == words.end()) words.push_back(s);
      }
      next.blocked_words = std::move(words);
    } else if (key == "blocked_action") {
      if (!v.is_string() || (v != "hold" && v != "reject"))
        return Status::error(code::kInvalid, "blocked_action must be \"hold\" or \"reject\"");
      next.blocked_action = v.get<std::string>();
    } else {
      return Status::error(code::kInvalid, "unknown setting \"" + sanitize_name(key, 40) + "\"");
    }
  }
  *this = std::move(next);
  return Status::ok();
}

// ---------------------------------------------------------------- room

Room::Room(const Config& config, store::Store& store, const Clock& clock, Outbound& out)
    : config_(config), store_(store), clock_(clock), out_(out) {
  settings_.max_length = config.max_comment_chars;
}

Status Room::load() {
  auto loaded = store_.load_state();
  if (!loaded) return loaded.status();
  auto& st = *loaded;
  for (auto& s : st.sessions) sessions_[s.id] = s;
  if (!st.settings.empty()) {
    ModerationSettings stored = settings_;
    auto s = stored.apply(st.settings);
    if (s) settings_ = stored;
    else spdlog::warn("stored moderation settings ignored: {}", s.message());
  }
  blocked_ = BlockedWords(settings_.blocked_words);
  load_protected_names();
  if (!st.on_air.is_null()) {
    std::string why;
    if (!on_air_.restore(st.on_air, &why)) spdlog::warn("stored on-air state ignored: {}", why);
  }
  for (auto& v : st.viewers) {
    Viewer& viewer = new_viewer(v.id);
    viewer.token_hash = v.token_hash;
    viewer.name = v.display_name;
    viewer.banned_until_ms = v.banned_until_ms;
    viewer.last_ip = v.last_ip;
    viewer.created_at_ms = v.created_at_ms;
    viewer.persisted = true;
    next_viewer_id_ = std::max(next_viewer_id_, v.id + 1);
    viewer_by_token_[v.token_hash] = v.id;
  }
  for (auto& b : st.ip_bans) ip_bans_[b.ip] = b.until_ms;
  switch_session(st.current_session_id, false);
  for (auto& row : st.comments) {
    Comment c{row, {}, {}};
    if (row.status == CommentStatus::approved) feed_.push_back(row.id);
    comments_.emplace(row.id, std::move(c));
  }
  while (feed_.size() > kFeedMemory) feed_.pop_front();
  for (auto& [comment_id, viewer_id] : st.votes) {
    auto it = comments_.find(comment_id);
    if (it != comments_.end()) it->second.voters.insert(viewer_id);
  }
  feed_cache_.reset();

  if (sessions_.empty()) {
    store::SessionRow def;
    def.title_ar = config_.default_title_ar;
    def.title_en = config_.default_title_en;
    def.status = "live";
    def.created_at_ms = clock_.now_ms();
    def.live_at_ms = def.created_at_ms;
    store_.create_session(def, [this](Result<store::SessionRow> r) {
      if (!r) {
        spdlog::error("could not create the default session: {}", r.status().message());
        return;
      }
      sessions_[r->id] = *r;
      switch_session(r->id, true);
      spdlog::info("created default session {} (live)", r->id);
    });
  }
  return Status::ok();
}

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

const store::SessionRow* Room::current_session_row() const {
  if (!current_session_) return nullptr;
  auto it = sessions_.find(*current_session_);
  return it == sessions_.end() ? nullptr : &it->second;
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

bool Room::ip_banned(const std::string& ip, int64_t now_ms, int64_t* until) const {
  auto it = ip_bans_.find(ip);
  if (it == ip_bans_.end() || it->second <= now_ms) return false;
  *until = it->second;
  return true;
}

// ---------------------------------------------------------------- viewers

Room::Viewer& Room::new_viewer(int64_t id) {
  Viewer v(id, TokenBucket(config_.comment_burst, config_.comments_per_second, clock_.steady_ms()),
           TokenBucket(config_.votes_per_second * 2, config_.votes_per_second, clock_.steady_ms()));
  return viewers_.insert_or_assign(id, std::move(v)).first->second;
}

void Room::persist_viewer(Viewer& v) {
  store::ViewerRow row{v.id, v.token_hash, v.name, v.banned_until_ms, v.last_ip, v.created_at_ms};
  v.persisted = true;
  // Queued ahead of whatever references the viewer, so FIFO order keeps the
  // row in the same or an earlier transaction.
  store_.save_viewer(row, [id = v.id](Status s) {
    if (!s) spdlog::error("could not save viewer {}: {}", id, s.message());
  });
}

// Viewers that never wrote anything are forgotten when their last connection
// goes, so passers-by and reconnect floods cost no memory or disk.
void Room::release_viewer(int64_t viewer_id) {
  auto it = viewers_.find(viewer_id);
  if (it == viewers_.end()) return;
  if (--it->second.connections > 0 || it->second.persisted) return;
  viewer_by_token_.erase(it->second.token_hash);
  viewers_.erase(it);
}

void Room::viewer_connected(ConnId conn, const std::string& ip) {
  Viewer& v = new_viewer(next_viewer_id_++);
  v.last_ip = ip;
  v.created_at_ms = clock_.now_ms();
  std::string token = crypto::random_secret(24);
  v.token_hash = crypto::sha256_hex(token);
  v.connections = 1;
  viewer_by_token_[v.token_hash] = v.id;
  viewer_conns_[conn] = ViewerConn{v.id, ip};
  metrics_.viewers_connected++;
  send_welcome(conn, v, token);
}

void Room::viewer_disconnected(ConnId conn) {
  auto it = viewer_conns_.find(conn);
  if (it == viewer_conns_.end()) return;
  int64_t viewer_id = it->second.viewer_id;
  viewer_conns_.erase(it);
  metrics_.viewers_connected--;
  release_viewer(viewer_id);
}

json Room::viewer_settings_json() const {
  return json{{"max_length", settings_.max_length}, {"slow_mode_seconds", settings_.slow_mode_seconds}};
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

json Room::feed_json() const {
  if (feed_cache_) return *feed_cache_;
  json feed = json::array();
  std::vector<const Comment*> items;
  for (auto it = feed_.rbegin(); it != feed_.rend() && items.size() < static_cast<size_t>(config_.feed_size); ++it) {
    auto c = comments_.find(*it);
    if (c != comments_.end() && c->second.row.status == CommentStatus::approved) items.push_back(&c->second);
  }
  for (auto it = items.rbegin(); it != items.rend(); ++it) feed.push_back(protocol::comment_json((*it)->row, false));
  feed_cache_ = feed;
  return feed;
}

void Room::send_welcome(ConnId conn, const Viewer& v, const std::string& token) {
  json j = {{"type", "welcome"},
            {"viewer", v.id},
            {"token", token},
            {"name", v.name},
            {"session", protocol::session_json(current_session_row())},
            {"feed", feed_json()},
            {"overlay", overlay_message()},
            {"settings", viewer_settings_json()},
            {"stream", video_.status ? json{{"hls", "/hls/live.m3u8"}, {"live", source_live_}}
                                     : json{{"hls", nullptr}, {"live", false}}},
            {"viewers", metrics_.viewers_connected}};
  out_.send(conn, dump(j));
}

Verdict Room::viewer_message(ConnId conn, std::string_view frame) {
  auto vc_it = viewer_conns_.find(conn);
  if (vc_it == viewer_conns_.end()) return Verdict::handled;
  std::string why;
  auto in = protocol::parse_incoming(frame, &why);
  if (!in) {
    out_.send(conn, protocol::error_frame(code::kInvalid, why));
    return Verdict::handled;
  }
  if (in->type == "comment") return handle_comment(conn, vc_it->second, in->body);
  if (in->type == "vote") return handle_vote(conn, vc_it->second, in->body);
  if (in->type == "hello") {
    handle_hello(conn, vc_it->second, in->body);
    return Verdict::handled;
  }
  // Studio actions and anything else are unknown here: viewers can never
  // reach them, whatever they send.
  out_.send(conn, protocol::error_frame(code::kInvalid, "unknown message type for a viewer"));
  return Verdict::handled;
}

void Room::handle_hello(ConnId conn, ViewerConn& vc, const json& msg) {
  auto token = string_field(msg, "token");
  std::string presented;
  if (token && !token->empty() && token->size() <= 128) {
    auto found = viewer_by_token_.find(crypto::sha256_hex(*token));
    if (found != viewer_by_token_.end() && found->second != vc.viewer_id) {
      int64_t old = vc.viewer_id;
      vc.viewer_id = found->second;
      viewers_.at(vc.viewer_id).connections++;
      release_viewer(old);
      presented = *token;
    } else if (found != viewer_by_token_.end()) {
      presented = *token;
    }
  }
  Viewer& v = viewers_.at(vc.viewer_id);
  v.last_ip = vc.ip;
  if (presented.empty()) {
    // Unknown or missing token: hand out a fresh one for this identity.
    presented = crypto::random_secret(24);
    viewer_by_token_.erase(v.token_hash);
    v.token_hash = crypto::sha256_hex(presented);
    viewer_by_token_[v.token_hash] = v.id;
    if (v.persisted) persist_viewer(v);
  }
  auto name = string_field(msg, "name");
  if (name) {
    std::string clean = is_valid_utf8(*name) ? sanitize_name(*name, config_.max_name_chars) : std::string();
    std::string imitated = clean != v.name ? imitated_name(clean) : std::string();
    if (!imitated.empty()) {
      // The viewer keeps the previous name; the welcome that follows says
      // which. The message never names what was matched: studio account
      // names are login names.
      out_.send(conn, protocol::error_frame(code::kImpersonation,
                                            "this name looks like the name of a moderator, the speaker or Sabla "
                                            "itself; choose another"));
    } else if (clean != v.name) {
      v.name = clean;
      if (v.persisted) persist_viewer(v);
    }
  }
  send_welcome(conn, v, presented);
}

void Room::load_protected_names() {
  std::vector<std::string> names = config_.protected_names;
  auto accounts = store_.account_names();
  if (accounts) names.insert(names.end(), accounts->begin(), accounts->end());
  else spdlog::warn("studio account names not loaded for the impersonation check: {}", accounts.status().message());
  names_.set_protected_names(names);
  names_loaded_steady_ms_ = clock_.steady_ms();
  names_loaded_ = true;
}

std::string Room::imitated_name(const std::string& name) {
  if (name.empty()) return {};
  // Accounts may be added with `sabla user add` while the server runs; a
  // name change is rare enough to re-read them (a few rows) now and then.
  constexpr int64_t kAccountsRefreshMs = 10'000;
  if (!names_loaded_ || clock_.steady_ms() - names_loaded_steady_ms_ >= kAccountsRefreshMs) load_protected_names();
  std::vector<std::string> speakers;
  if (const auto& lt = on_air_.state().lower_third) {
    speakers = {lt->name_ar, lt->name_en};
  }
  return names_.imitated(name, speakers);
}

Verdict Room::handle_comment(ConnId conn, ViewerConn& vc, const json& msg) {
  const json* client_id = nullptr;
  if (auto it = msg.find("client_id"); it != msg.end()) client_id = &*it;
  auto key = client_id_key(msg);
  if (!key) {
    out_.send(conn, protocol::error_frame(code::kInvalid, "client_id must be a string of 1-64 characters or an integer",
                                          client_id));
    return Verdict::handled;
  }
  Viewer& v = viewers_.at(vc.viewer_id);
  // A resend of something already stored or in flight: same ack, nothing new.
  if (auto done = v.recent_client_ids.find(*key); done != v.recent_client_ids.end()) {
    out_.send(conn, dump(json{{"type", "ack"}, {"client_id", *client_id}, {"id", done->second.first},
                              {"status", done->second.second}}));
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
    out_.send(conn, protocol::error_frame(c, message, client_id, retry));
    return Verdict::handled;
  };
  const int64_t now = clock_.now_ms();
  const store::SessionRow* session = current_session_row();
  if (!session) return refuse(code::kNoSession, "no session is live now");
  int64_t until = 0;
  if (v.banned_until_ms > now) return refuse(code::kBanned, "you cannot comment now", v.banned_until_ms - now);
  if (ip_banned(vc.ip, now, &until)) return refuse(code::kBanned, "you cannot comment now", until - now);

  auto text = string_field(msg, "text");
  if (!text) return refuse(code::kInvalid, "text must be a string");
  if (!is_valid_utf8(*text)) return refuse(code::kInvalid, "text is not valid UTF-8");
  std::string clean = sanitize_text(*text);
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
  row.text = clean;
  row.lang = detect_language(clean);
  row.direction = detect_direction(clean);
  row.source = "web";
  row.client_id = key->substr(2);
  if (key->rfind("i:", 0) == 0) row.client_id = *key;  // keep integer ids distinct from string ids
  row.received_at_ms = now;
  row.stream_offset_ms = stream_offset(now);

  if (!v.persisted) persist_viewer(v);
  in_flight_[{v.id, *key}].push_back(conn);
  const int64_t viewer_id = v.id;
  const std::string k = *key;
  json cid = *client_id;
  store_comment(std::move(row), [this, viewer_id, k, cid](Result<store::InsertedComment> r) {
    auto node = in_flight_.extract({viewer_id, k});
    std::vector<ConnId> waiters = node.empty() ? std::vector<ConnId>{} : std::move(node.mapped());
    if (!r) {
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
    std::string ack = dump(json{{"type", "ack"}, {"client_id", cid}, {"id", r->id}, {"status", status}});
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
  Comment c{stored, reason, {}};
  c.row.id = inserted.id;
  c.row.status = inserted.status;
  auto& placed = comments_.insert_or_assign(inserted.id, std::move(c)).first->second;
  switch (placed.row.status) {
    case CommentStatus::pending:
      out_.publish(Audience::studios, dump(json{{"type", "pending"}, {"comment", protocol::comment_json(placed.row, true, reason)}}));
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
      break;
  }
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
    out_.publish(Audience::viewers, dump(json{{"type", "comment"}, {"comment", protocol::comment_json(c.row, false)}}));
  } else if (was_visible) {
    out_.publish(Audience::viewers, dump(json{{"type", "retract"}, {"id", c.row.id}}));
  }
  out_.publish(Audience::studios, dump(json{{"type", "updated"}, {"action", action}, {"by", by},
                                            {"comment", protocol::comment_json(c.row, true, c.reason)}}));
}

Verdict Room::handle_vote(ConnId conn, ViewerConn& vc, const json& msg) {
  auto id = int_field(msg, "id");
  if (!id) {
    out_.send(conn, protocol::error_frame(code::kInvalid, "vote needs an integer id"));
    return Verdict::handled;
  }
  auto it = comments_.find(*id);
  if (it == comments_.end() || it->second.row.status != CommentStatus::approved) {
    out_.send(conn, protocol::error_frame(code::kNotFound, "no such approved comment"));
    return Verdict::handled;
  }
  Viewer& v = viewers_.at(vc.viewer_id);
  if (it->second.voters.count(v.id)) {
    out_.send(conn, protocol::error_frame(code::kConflict, "you already voted for this comment"));
    return Verdict::handled;
  }
  if (!store_.can_accept(2)) return Verdict::busy;
  int64_t retry = 0;
  if (!v.vote_bucket.try_take(clock_.steady_ms(), &retry)) {
    out_.send(conn, protocol::error_frame(code::kRateLimited, "too many votes", nullptr, retry));
    return Verdict::handled;
  }
  if (!v.persisted) persist_viewer(v);
  it->second.voters.insert(v.id);
  const int64_t comment_id = *id;
  const int64_t viewer_id = v.id;
  store_.add_vote(comment_id, viewer_id, [this, comment_id, viewer_id](Result<std::pair<int64_t, bool>> r) {
    auto c = comments_.find(comment_id);
    if (!r) {
      if (c != comments_.end()) c->second.voters.erase(viewer_id);
      return;
    }
    if (c == comments_.end()) return;
    metrics_.votes++;
    c->second.row.votes = r->first;
    feed_cache_.reset();
    std::string frame = dump(json{{"type", "votes"}, {"id", comment_id}, {"votes", r->first}});
    out_.publish(Audience::viewers, frame);
    out_.publish(Audience::studios, frame);
  });
  return Verdict::handled;
}

// ---------------------------------------------------------------- studios

json Room::snapshot_json(const Actor& actor) const {
  json pending = json::array();
  json approved = json::array();
  std::vector<const Comment*> recent;
  uint64_t counts[4] = {0, 0, 0, 0};
  for (const auto& [id, c] : comments_) {
    counts[static_cast<int>(c.row.status)]++;
    if (c.row.status == CommentStatus::pending && pending.size() < kSnapshotPending)
      pending.push_back(protocol::comment_json(c.row, true, c.reason));
  }
  for (auto it = feed_.rbegin(); it != feed_.rend() && recent.size() < kSnapshotApproved; ++it) {
    auto c = comments_.find(*it);
    if (c != comments_.end() && c->second.row.status == CommentStatus::approved) recent.push_back(&c->second);
  }
  for (const Comment* c : recent) approved.push_back(protocol::comment_json(c->row, true, c->reason));
  return json{{"type", "snapshot"},
              {"me", {{"name", actor.name}, {"role", actor.role}}},
              {"session", protocol::session_json(current_session_row())},
              {"pending", pending},
              {"approved", approved},
              {"settings", settings_.to_json()},
              {"overlay", overlay_message()},
              {"rotation", rotation_json()},
              {"pipeline", video_.status ? video_.status() : json{{"state", "off"}}},
              {"counters",
               {{"pending", counts[0]},
                {"approved", counts[1]},
                {"rejected", counts[2]},
                {"hidden", counts[3]},
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
  if (t == "air" || t == "queue_air" || t == "clear" || t == "lower_third" || t == "ticker" || t == "theme")
    return handle_on_air(conn, sc, t, in->body);
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

// ---------------------------------------------------------------- on air

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

bool Room::can_accept() const { return store_.can_accept(4); }

void Room::tick() {
  const bool rotating = on_air_.rotation_until_ms().has_value();
  auto events = on_air_.tick(clock_.now_ms());
  if (!events.empty()) commit_on_air(std::move(events), "rotation", 0, json::object(), "rotation", rotating);

  const int64_t steady = clock_.steady_ms();
  if (video_.running_time_ms && program_clock_.running() && !program_clock_.anchored()) {
    // Not anchored yet: the pipeline was not playing when the session went
    // live, or the recording file has not opened. After 5 s of waiting for a
    // file that does not come (recording failing), follow the running time anyway.
    const int64_t rt = video_.running_time_ms();
    const int64_t waited = clock_.now_ms() - clock_held_since_ms_;
    if (rt >= 0 && !program_clock_.holding()) {
      program_clock_.anchor(rt, program_clock_.offset_ms(clock_.now_ms()).value_or(0));
    } else if (rt >= 0 && waited > 5000) {
      spdlog::warn("no recording file opened for the session in {} ms: stream offsets follow the program", waited);
      program_clock_.anchor(rt, *program_clock_.held_offset() + waited);
    }
  }
  if (video_.status && !studio_conns_.empty() && steady - last_status_push_ms_ >= 1000) {
    last_status_push_ms_ = steady;
    json status = video_.status();
    status["type"] = "pipeline";
    out_.publish(Audience::studios, dump(status));
  }
  viewers_peak_ = std::max<uint64_t>(viewers_peak_, metrics_.viewers_connected);
  if (steady - last_count_push_ms_ >= 5000 && current_session_ && viewers_peak_ > viewers_peak_saved_ &&
      store_.can_accept()) {
    // The archive's "viewers peak"; written at most every 5 s, only when it grew.
    viewers_peak_saved_ = viewers_peak_;
    store_.record_viewers_peak(*current_session_, static_cast<int64_t>(viewers_peak_), [](Status st) {
      if (!st) spdlog::warn("could not save the viewers peak: {}", st.message());
    });
  }
  if (steady - last_count_push_ms_ >= 5000 && metrics_.viewers_connected != last_count_pushed_) {
    last_count_push_ms_ = steady;
    last_count_pushed_ = metrics_.viewers_connected;
    out_.publish(Audience::viewers, dump(json{{"type", "viewers"}, {"count", metrics_.viewers_connected}}));
  }
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

// ---------------------------------------------------------------- overlays

void Room::overlay_connected(ConnId conn) {
  overlay_conns_.insert(conn);
  metrics_.overlays_connected++;
  out_.send(conn, dump(overlay_message()));
}

void Room::overlay_disconnected(ConnId conn) {
  if (overlay_conns_.erase(conn)) metrics_.overlays_connected--;
}

// ---------------------------------------------------------------- HTTP API

ApiReply Room::list_sessions() const {
  json list = json::array();
  for (const auto& [id, s] : sessions_) {
    json j = protocol::session_json(&s);
    j["current"] = current_session_ && *current_session_ == id;
    list.push_back(std::move(j));
  }
  return ApiReply{200, json{{"sessions", list}}};
}

void Room::create_session(const Actor& actor, const json& body, ApiDone done) {
  if (!actor.can_produce()) return done(api_error(403, "forbidden", "only producers create sessions"));
  if (!body.is_object()) return done(api_error(400, "invalid", "body must be a JSON object"));
  std::string titles[2];
  const char* keys[2] = {"title_ar", "title_en"};
  for (int i = 0; i < 2; ++i) {
    auto it = body.find(keys[i]);
    if (it == body.end() || it->is_null()) continue;
    if (!it->is_string() || !is_valid_utf8(it->get<std::string>()))
      return done(api_error(400, "invalid", std::string(keys[i]) + " must be a string"));
    titles[i] = sanitize_name(it->get<std::string>(), 200);
  }
  if (titles[0].empty() && titles[1].empty())
    return done(api_error(400, "invalid", "a session needs title_ar or title_en"));
  store::SessionRow row;
  row.title_ar = titles[0];
  row.title_en = titles[1];
  row.status = "scheduled";
  row.created_at_ms = clock_.now_ms();
  if (!store_.create_session(row, [this, done](Result<store::SessionRow> r) {
        if (!r) return done(api_error(500, "internal", r.status().message()));
        sessions_[r->id] = *r;
        done(ApiReply{201, protocol::session_json(&*r)});
      }))
    done(api_error(503, "busy", "the store is busy, try again"));
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
    sessions_[live.id] = live;
    // Comments of the old session leave the screen, recorded under that session.
    if (auto events = on_air_.clear(now); !events.empty())
      commit_on_air(std::move(events), "system", 0, json::object(), "clear", true);
    switch_session(live.id, true);
    std::string frame = dump(json{{"type", "session"}, {"session", protocol::session_json(&live)}});
    out_.publish(Audience::viewers, frame);
    for (const auto& [conn, sc] : studio_conns_) out_.send(conn, dump(snapshot_json(sc.actor)));
    done(ApiReply{200, protocol::session_json(&live)});
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
    sessions_[ended.id] = ended;
    std::string frame = dump(json{{"type", "session"}, {"session", protocol::session_json(&ended)}});
    if (current_session_ && *current_session_ == ended.id) {
      if (auto events = on_air_.clear(*ended.ended_at_ms); !events.empty())
        commit_on_air(std::move(events), "system", 0, json::object(), "clear", true);
      current_session_.reset();
      program_clock_.stop();
      if (video_.record_as) video_.record_as("");  // the next file is off air
    }
    out_.publish(Audience::viewers, frame);
    out_.publish(Audience::studios, frame);
    done(ApiReply{200, protocol::session_json(&ended)});
  });
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

RoomMetrics Room::metrics() const {
  RoomMetrics m = metrics_;
  m.pending = 0;
  for (const auto& [id, c] : comments_)
    if (c.row.status == CommentStatus::pending) m.pending++;
  return m;
}

}  // namespace sabla::moderation
