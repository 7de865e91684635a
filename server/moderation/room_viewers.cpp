// The Room: viewer connections and identities (tokens, names, the
// impersonation check), the welcome and feed, viewer messages and votes.
#include "moderation/room.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "moderation/room_internal.h"

namespace sabla::moderation {

using namespace room_internal;

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

void Room::viewer_joined(ConnId conn, const std::string& ip, const std::string& token) {
  ViewerConn vc{0, ip};  // no identity yet: take_identity gives the token's
  if (!crypto::verify_viewer_token(token_secret_, token) || !take_identity(vc, token)) {
    spdlog::warn("a viewer joined on an edge with a token that does not verify: given an identity of its own");
    viewer_connected(conn, ip);
    return;
  }
  viewers_.at(vc.viewer_id).last_ip = ip;
  viewer_conns_[conn] = std::move(vc);
  metrics_.viewers_connected++;
}

bool Room::take_identity(ViewerConn& vc, const std::string& token) {
  if (token.empty() || token.size() > 128) return false;
  const std::string hash = crypto::sha256_hex(token);
  int64_t id = 0;
  if (auto found = viewer_by_token_.find(hash); found != viewer_by_token_.end()) {
    id = found->second;
  } else if (auto signed_id = crypto::verify_viewer_token(token_secret_, token)) {
    id = *signed_id;
    auto v = viewers_.find(id);
    if (v == viewers_.end()) {
      // An edge's viewer this node has not met (or forgot: it never wrote).
      Viewer& fresh = new_viewer(id);
      fresh.created_at_ms = clock_.now_ms();
      fresh.token_hash = hash;
      viewer_by_token_[hash] = id;
    } else if (v->second.token_hash != hash) {
      // Known under a token this node issued since: both name it.
      viewer_by_token_[hash] = id;
    }
  } else {
    return false;
  }
  if (id != vc.viewer_id) {
    const int64_t old = vc.viewer_id;
    vc.viewer_id = id;
    viewers_.at(id).connections++;
    release_viewer(old);
  }
  return true;
}

void Room::viewer_disconnected(ConnId conn) {
  auto it = viewer_conns_.find(conn);
  if (it == viewer_conns_.end()) return;
  int64_t viewer_id = it->second.viewer_id;
  viewer_conns_.erase(it);
  metrics_.viewers_connected--;
  release_viewer(viewer_id);
}

bool Room::ip_banned(const std::string& ip, int64_t now_ms, int64_t* until) const {
  auto it = ip_bans_.find(ip);
  if (it == ip_bans_.end() || it->second <= now_ms) return false;
  *until = it->second;
  return true;
}

json Room::viewer_settings_json() const {
  return json{{"max_length", settings_.max_length}, {"slow_mode_seconds", settings_.slow_mode_seconds}};
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

// The welcome for `v`, or (null) the part every brand-new viewer shares.
json Room::welcome_json(const Viewer* v) const {
  json j = {{"type", "welcome"},
            {"session", protocol::session_json(current_session_row())},
            {"feed", feed_json()},
            {"overlay", overlay_message()},
            {"polls", viewer_polls_json(v ? v->id : 0)},
            {"outcomes", viewer_outcomes_json(v ? v->id : 0)},
            {"settings", viewer_settings_json()},
            {"stream", video_.status ? json{{"hls", "/hls/live.m3u8"}, {"live", source_live_}}
                                     : json{{"hls", nullptr}, {"live", false}}}};
  if (v) {
    j["viewer"] = v->id;
    j["name"] = v->name;
    j["viewers"] = metrics_.viewers_connected;
  }
  return j;
}

std::string Room::welcome_template() const { return dump(welcome_json(nullptr)); }

void Room::send_welcome(ConnId conn, const Viewer& v, const std::string& token) {
  json j = welcome_json(&v);
  j["token"] = token;
  out_.send(conn, dump(j));
}

Verdict Room::viewer_message(ConnId conn, std::string_view frame) {
  auto vc_it = viewer_conns_.find(conn);
  if (vc_it == viewer_conns_.end()) return Verdict::handled;
  // The ingest hot path: a well-formed comment frame goes into fixed fields
  // without a json tree; everything else (and every malformed frame) takes
  // the general parse below, with its errors.
  if (protocol::parse_comment_frame(frame, &comment_scratch_)) return handle_comment(conn, vc_it->second, comment_scratch_);
  std::string why;
  auto in = protocol::parse_incoming(frame, &why);
  if (!in) {
    out_.send(conn, protocol::error_frame(code::kInvalid, why));
    return Verdict::handled;
  }
  if (in->type == "comment") {
    // A comment with a nested value somewhere, or a client_id of another
    // kind: the same checks, from the tree.
    protocol::CommentFrame& f = comment_scratch_;
    f.clear();
    if (auto it = in->body.find("client_id"); it != in->body.end()) {
      if (it->is_string()) {
        f.id = protocol::CommentFrame::Id::string;
        f.client_id = it->get<std::string>();
      } else if (it->is_number_integer()) {
        f.id = protocol::CommentFrame::Id::integer;
        f.client_id_int = it->get<int64_t>();
      } else {
        // Echoed back as it came.
        out_.send(conn, protocol::error_frame(code::kInvalid, kBadClientId, &*it));
        return Verdict::handled;
      }
    }
    if (auto it = in->body.find("text"); it != in->body.end() && it->is_string()) {
      f.text_is_string = true;
      f.text = it->get<std::string>();
    }
    return handle_comment(conn, vc_it->second, f);
  }
  if (in->type == "vote") return handle_vote(conn, vc_it->second, in->body);
  if (in->type == "poll_vote") return handle_poll_vote(conn, vc_it->second, in->body);
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
  if (token && take_identity(vc, *token)) presented = *token;
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
    // The stored count is this comment's own; merged comments add theirs.
    c->second.row.votes += r->first - c->second.own_votes;
    c->second.own_votes = r->first;
    feed_cache_.reset();
    std::string frame = dump(json{{"type", "votes"}, {"id", comment_id}, {"votes", c->second.row.votes}});
    out_.publish(Audience::viewers, frame);
    out_.publish(Audience::studios, frame);
  });
  return Verdict::handled;
}

}  // namespace sabla::moderation
