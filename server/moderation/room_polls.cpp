// The Room: live polls. Producers create, open, close, reopen, delete (drafts)
// and air them from the studio; viewers vote (the last ballot counts). Every
// change commits first; replies and pushes follow in the store's callbacks.
// Pushes are coalesced to at most two per second per poll: a vote marks the
// poll dirty, and the fan-out tick pushes it when its half second is up.
// All of it runs on the net thread.
#include "moderation/room.h"

#include <spdlog/spdlog.h>

#include "moderation/room_internal.h"

namespace sabla::moderation {

using namespace room_internal;

namespace {

// At most two pushes a second per poll (issue 13).
constexpr int64_t kPollPushIntervalMs = 500;

Poll poll_from_row(const store::PollRow& r) {
  Poll p;
  p.id = r.id;
  p.session_id = r.session_id;
  p.spec.question_ar = r.question_ar;
  p.spec.question_en = r.question_en;
  if (!options_from_text(r.options, &p.spec.options))
    spdlog::warn("poll {}: stored options are not a JSON list", r.id);
  p.spec.multiple = r.multiple;
  p.spec.max_choices = static_cast<int>(r.max_choices);
  p.spec.results = r.results;
  p.spec.session_id = r.session_id;
  p.status = r.status;
  p.created_by = r.created_by;
  p.created_at_ms = r.created_at_ms;
  p.opened_at_ms = r.opened_at_ms;
  p.opened_offset_ms = r.opened_offset_ms;
  p.closed_at_ms = r.closed_at_ms;
  p.closed_offset_ms = r.closed_offset_ms;
  p.counts.assign(p.spec.options.size(), 0);
  return p;
}

store::PollRow row_from_poll(const Poll& p) {
  store::PollRow r;
  r.id = p.id;
  r.session_id = p.session_id;
  r.question_ar = p.spec.question_ar;
  r.question_en = p.spec.question_en;
  r.options = options_to_text(p.spec.options);
  r.multiple = p.spec.multiple;
  r.max_choices = p.spec.max_choices;
  r.results = p.spec.results;
  r.status = p.status;
  r.created_by = p.created_by;
  r.created_at_ms = p.created_at_ms;
  r.opened_at_ms = p.opened_at_ms;
  r.opened_offset_ms = p.opened_offset_ms;
  r.closed_at_ms = p.closed_at_ms;
  r.closed_offset_ms = p.closed_offset_ms;
  return r;
}

std::string ballot_text(const std::vector<int>& options) {
  json a = json::array();
  for (int i : options) a.push_back(i);
  return dump(a);
}

}  // namespace

void Room::load_polls(const store::LoadedState& st) {
  for (const auto& row : st.polls) polls_.emplace(row.id, poll_from_row(row));
  for (const auto& b : st.poll_ballots) {
    auto it = polls_.find(b.poll_id);
    if (it == polls_.end()) continue;
    json options = json::parse(b.options, nullptr, false);
    std::vector<int> chosen;
    std::string why;
    // A stored ballot that no longer fits the poll (it cannot happen through
    // the server) is skipped rather than counted wrongly.
    if (options.is_discarded() || check_ballot(it->second, options, &chosen, &why)) {
      spdlog::warn("poll {}: stored ballot of viewer {} ignored", b.poll_id, b.viewer_id);
      continue;
    }
    it->second.cast(b.viewer_id, Poll::Ballot{std::move(chosen), b.ip});
  }
  // The saved on-air state may hold counts older than the ballots.
  if (auto aired = on_air_.poll_on_screen()) {
    auto it = polls_.find(*aired);
    if (it != polls_.end()) on_air_.update_poll(it->second.aired());
  }
}

bool Room::poll_visible_to_viewers(const Poll& p) const {
  if (p.status == "draft") return false;
  return p.status == "open" || (current_session_ && p.session_id == *current_session_);
}

json Room::viewer_polls_json(int64_t viewer_id) const {
  json out = json::array();
  const auto aired = on_air_.poll_on_screen();
  for (const auto& [id, p] : polls_) {
    if (!poll_visible_to_viewers(p)) continue;
    json j = p.to_json(false, aired == id);
    if (const auto* b = p.ballot_of(viewer_id)) j["mine"] = b->options;
    out.push_back(std::move(j));
  }
  return out;
}

json Room::studio_polls_json() const {
  json out = json::array();
  const auto aired = on_air_.poll_on_screen();
  for (const auto& [id, p] : polls_) out.push_back(p.to_json(true, aired == id));
  return out;
}

void Room::poll_changed(int64_t poll_id, bool now) {
  if (now) poll_pushed_steady_ms_.erase(poll_id);
  polls_dirty_.insert(poll_id);
  push_due_polls();
}

void Room::push_due_polls() {
  if (polls_dirty_.empty()) return;
  const int64_t now = clock_.steady_ms();
  for (auto it = polls_dirty_.begin(); it != polls_dirty_.end();) {
    auto last = poll_pushed_steady_ms_.find(*it);
    if (last != poll_pushed_steady_ms_.end() && now - last->second < kPollPushIntervalMs) {
      ++it;
      continue;
    }
    poll_pushed_steady_ms_[*it] = now;
    auto p = polls_.find(*it);
    if (p != polls_.end()) push_poll(p->second);
    it = polls_dirty_.erase(it);
  }
}

void Room::push_poll(const Poll& p) {
  const bool aired = on_air_.poll_on_screen() == p.id;
  out_.publish(Audience::studios, dump(json{{"type", "poll"}, {"poll", p.to_json(true, aired)}}));
  if (poll_visible_to_viewers(p))
    out_.publish(Audience::viewers, dump(json{{"type", "poll"}, {"poll", p.to_json(false, aired)}}));
  if (aired && on_air_.update_poll(p.aired())) {
    // Counts on screen are not on-air events (nothing to persist per vote);
    // the state is saved with the next on-air change.
    std::string frame = dump(overlay_message());
    out_.publish(Audience::overlays, frame);
    out_.publish(Audience::viewers, frame);
    out_.publish(Audience::studios, frame);
    if (video_.overlay_changed) video_.overlay_changed(on_air_.state());
  }
}

Verdict Room::handle_poll_command(ConnId conn, const StudioConn& sc, const std::string& type, const json& msg) {
  if (!sc.actor.can_produce()) {
    reply_error(conn, msg, code::kForbidden, "only producers run polls");
    return Verdict::handled;
  }
  const int64_t now = clock_.now_ms();
  auto ok_with_poll = [this](ConnId c, const json& m, const std::string& action, const Poll& p) {
    json j = {{"type", "ok"}, {"action", action}, {"id", p.id},
              {"poll", p.to_json(true, on_air_.poll_on_screen() == p.id)}};
    if (auto op = m.find("op"); op != m.end()) j["op"] = *op;
    out_.send(c, dump(j));
  };

  if (type == "poll_create") {
    auto spec = parse_poll_spec(msg);
    if (!spec) {
      reply_error(conn, msg, spec.status().code().c_str(), spec.status().message());
      return Verdict::handled;
    }
    const std::optional<int64_t> sid = spec->session_id ? spec->session_id : current_session_;
    auto session = sid ? sessions_.find(*sid) : sessions_.end();
    if (session == sessions_.end()) {
      reply_error(conn, msg, sid ? code::kNotFound : code::kNoSession,
                  sid ? "no such session" : "no live session: name one with \"session\"");
      return Verdict::handled;
    }
    if (session->second.status == "ended") {
      reply_error(conn, msg, code::kConflict, "the session has ended");
      return Verdict::handled;
    }
    if (!store_.can_accept()) return Verdict::busy;
    Poll p;
    p.session_id = *sid;
    p.spec = *spec;
    p.spec.session_id = *sid;
    p.created_by = sc.actor.name;
    p.created_at_ms = now;
    store::ModerationEvent ev{0, *sid, std::nullopt, std::nullopt, "poll_create", sc.actor.name, "", "",
                              p.spec.question_ar.empty() ? p.spec.question_en : p.spec.question_ar, now};
    json msg_copy = msg;
    store_.create_poll(row_from_poll(p), ev, [this, conn, msg_copy, ok_with_poll](Result<store::PollRow> r) {
      if (!r) {
        reply_error(conn, msg_copy, code::kInternal, "could not save: " + r.status().message());
        return;
      }
      Poll& stored = polls_.insert_or_assign(r->id, poll_from_row(*r)).first->second;
      ok_with_poll(conn, msg_copy, "poll_create", stored);
      poll_changed(stored.id, true);
    });
    return Verdict::handled;
  }

  auto id = int_field(msg, "id");
  if (!id) {
    reply_error(conn, msg, code::kInvalid, type + " needs an integer id");
    return Verdict::handled;
  }
  auto it = polls_.find(*id);
  if (it == polls_.end()) {
    reply_error(conn, msg, code::kNotFound, "no such poll");
    return Verdict::handled;
  }
  Poll& p = it->second;

  if (type == "poll_air") {
    auto on = msg.find("on");
    if (on == msg.end() || !on->is_boolean()) {
      reply_error(conn, msg, code::kInvalid, "poll_air needs \"on\": true or false");
      return Verdict::handled;
    }
    std::vector<overlay::OnAirEvent> events;
    if (on->get<bool>()) {
      if (p.status == "draft") {
        reply_error(conn, msg, code::kConflict, "open the poll before putting it on air");
        return Verdict::handled;
      }
      if (!store_.can_accept()) return Verdict::busy;
      events = on_air_.air_poll(p.aired(), now);
    } else if (on_air_.poll_on_screen() == p.id) {
      if (!store_.can_accept()) return Verdict::busy;
      events = on_air_.clear_poll(now);
    }
    if (events.empty()) {
      reply_ok(conn, msg, type, p.id);
      return Verdict::handled;
    }
    commit_on_air(std::move(events), sc.actor.name, conn, msg, type, false);
    // Studios see the poll's on_air flag change.
    poll_changed(p.id, true);
    return Verdict::handled;
  }

  if (type == "poll_delete") {
    if (p.status != "draft") {
      reply_error(conn, msg, code::kConflict, "only draft polls can be deleted");
      return Verdict::handled;
    }
    if (!store_.can_accept()) return Verdict::busy;
    const int64_t poll_id = p.id;
    store::ModerationEvent ev{0, p.session_id, std::nullopt, std::nullopt, "poll_delete", sc.actor.name, "", "",
                              "", now};
    json msg_copy = msg;
    store_.delete_poll(poll_id, ev, [this, conn, msg_copy, poll_id](Status s) {
      if (!s) {
        reply_error(conn, msg_copy, s.code() == code::kConflict ? code::kConflict : code::kInternal,
                    "could not delete: " + s.message());
        return;
      }
      polls_.erase(poll_id);
      polls_dirty_.erase(poll_id);
      poll_pushed_steady_ms_.erase(poll_id);
      reply_ok(conn, msg_copy, "poll_delete", poll_id);
      out_.publish(Audience::studios, dump(json{{"type", "poll_deleted"}, {"id", poll_id}}));
    });
    return Verdict::handled;
  }

  // poll_open, poll_close, poll_reopen: a status change.
  const char* from = type == "poll_open" ? "draft" : type == "poll_close" ? "open" : "closed";
  const char* to = type == "poll_close" ? "closed" : "open";
  if (type != "poll_open" && type != "poll_close" && type != "poll_reopen") {
    reply_error(conn, msg, code::kInvalid, "unknown poll command");
    return Verdict::handled;
  }
  if (p.status != from) {
    reply_error(conn, msg, code::kConflict, "the poll is " + p.status);
    return Verdict::handled;
  }
  if (auto s = sessions_.find(p.session_id); s != sessions_.end() && s->second.status == "ended" && *to == 'o') {
    reply_error(conn, msg, code::kConflict, "the poll's session has ended");
    return Verdict::handled;
  }
  if (!store_.can_accept()) return Verdict::busy;
  // Offsets only for the session on air: another session has no stream yet.
  const std::optional<int64_t> offset =
      current_session_ && *current_session_ == p.session_id ? stream_offset(now) : std::nullopt;
  // Changed now so a second command before the commit sees it; undone on
  // failure. Only the fields that change are kept (not the ballots).
  struct Before {
    std::string status;
    std::optional<int64_t> opened_at_ms, opened_offset_ms, closed_at_ms, closed_offset_ms;
  };
  const Before before{p.status, p.opened_at_ms, p.opened_offset_ms, p.closed_at_ms, p.closed_offset_ms};
  p.status = to;
  if (type == "poll_close") {
    p.closed_at_ms = now;
    p.closed_offset_ms = offset;
  } else {
    if (!p.opened_at_ms) {
      p.opened_at_ms = now;
      p.opened_offset_ms = offset;
    }
    p.closed_at_ms.reset();
    p.closed_offset_ms.reset();
  }
  store::ModerationEvent ev{0, p.session_id, std::nullopt, std::nullopt, type, sc.actor.name, "", before.status, p.status,
                            now};
  json msg_copy = msg;
  const int64_t poll_id = p.id;
  store_.update_poll(row_from_poll(p), ev, [this, conn, msg_copy, type, poll_id, before, ok_with_poll](Status s) {
    auto it = polls_.find(poll_id);
    if (!s) {
      if (it != polls_.end()) {
        it->second.status = before.status;
        it->second.opened_at_ms = before.opened_at_ms;
        it->second.opened_offset_ms = before.opened_offset_ms;
        it->second.closed_at_ms = before.closed_at_ms;
        it->second.closed_offset_ms = before.closed_offset_ms;
      }
      reply_error(conn, msg_copy, code::kInternal, "could not save: " + s.message());
      return;
    }
    if (it == polls_.end()) return;
    ok_with_poll(conn, msg_copy, type, it->second);
    // A producer's change is pushed at once; only votes are coalesced.
    poll_changed(poll_id, true);
  });
  return Verdict::handled;
}

Verdict Room::handle_poll_vote(ConnId conn, ViewerConn& vc, const json& msg) {
  auto poll_id = int_field(msg, "poll");
  if (!poll_id) {
    out_.send(conn, protocol::error_frame(code::kInvalid, "poll_vote needs an integer poll"));
    return Verdict::handled;
  }
  auto it = polls_.find(*poll_id);
  if (it == polls_.end() || it->second.status == "draft") {
    out_.send(conn, protocol::error_frame(code::kNotFound, "no such poll"));
    return Verdict::handled;
  }
  Poll& p = it->second;
  if (p.status != "open") {
    out_.send(conn, protocol::error_frame(code::kClosed, "the poll is closed"));
    return Verdict::handled;
  }
  std::vector<int> chosen;
  std::string why;
  auto options = msg.find("options");
  if (auto bad = check_ballot(p, options == msg.end() ? json() : *options, &chosen, &why)) {
    out_.send(conn, protocol::error_frame(*bad, why));
    return Verdict::handled;
  }
  Viewer& v = viewers_.at(vc.viewer_id);
  int64_t banned_until = 0;
  if (v.banned_until_ms > clock_.now_ms() || ip_banned(vc.ip, clock_.now_ms(), &banned_until)) {
    out_.send(conn, protocol::error_frame(code::kBanned, "you cannot vote now"));
    return Verdict::handled;
  }
  if (!store_.can_accept(2)) return Verdict::busy;
  int64_t retry = 0;
  if (!v.vote_bucket.try_take(clock_.steady_ms(), &retry)) {
    out_.send(conn, protocol::error_frame(code::kRateLimited, "too many votes", nullptr, retry));
    return Verdict::handled;
  }
  // The per-address cap counts ballots, so a viewer changing their vote from
  // the same address is not counted twice.
  const Poll::Ballot* earlier = p.ballot_of(v.id);
  if (config_.poll_votes_per_ip > 0 && (!earlier || earlier->ip != vc.ip)) {
    auto n = p.ballots_per_ip.find(vc.ip);
    if (n != p.ballots_per_ip.end() && n->second >= config_.poll_votes_per_ip) {
      out_.send(conn, protocol::error_frame(code::kRateLimited, "too many votes from this address in this poll"));
      return Verdict::handled;
    }
  }
  if (!v.persisted) persist_viewer(v);
  const int64_t viewer_id = v.id;
  const int64_t pid = p.id;
  auto previous = p.cast(viewer_id, Poll::Ballot{chosen, vc.ip});
  store::PollBallotRow row{pid, viewer_id, ballot_text(chosen), vc.ip, clock_.now_ms()};
  store_.save_poll_ballot(std::move(row), [this, conn, pid, viewer_id, chosen, previous](Status s) {
    auto it = polls_.find(pid);
    if (!s) {
      if (it != polls_.end()) it->second.restore(viewer_id, previous);
      out_.send(conn, protocol::error_frame(code::kInternal, "could not save the vote"));
      return;
    }
    metrics_.votes++;
    out_.send(conn, dump(json{{"type", "voted"}, {"poll", pid}, {"options", chosen}}));
    if (it != polls_.end()) poll_changed(pid);
  });
  return Verdict::handled;
}

}  // namespace sabla::moderation
