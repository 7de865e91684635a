// The Room: similar comments side by side, and merging them. Each comment
// that arrives is looked up in the session's SimilarityIndex (earlier
// comments that say nearly the same) and indexed; studios get the ids as
// "similar". A moderator merges N into M: N leaves the queue (status
// merged), M counts N's author and votes; unmerge undoes it. All of it runs
// on the net thread; the store commits first (store/merges.cpp).
#include "moderation/room.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "moderation/room_internal.h"

namespace sabla::moderation {

using namespace room_internal;

namespace {

bool open_status(CommentStatus s) { return s == CommentStatus::pending || s == CommentStatus::approved; }

constexpr size_t kSimilarIndexedAtLoad = 5000;

}  // namespace

void Room::index_similar(Comment& c) {
  if (!open_status(c.row.status)) return;
  c.similar = similar_.add(c.row.id, c.row.text);
}

json Room::studio_comment(const Comment& c) const {
  json j = protocol::comment_json(c.row, true, c.reason);
  json similar = json::array();
  for (int64_t id : c.similar) {
    auto it = comments_.find(id);
    if (it != comments_.end() && open_status(it->second.row.status)) similar.push_back(id);
  }
  j["similar"] = std::move(similar);
  j["merged"] = c.merged;
  j["askers"] = 1 + c.merged.size();
  j["own_votes"] = c.own_votes;
  return j;
}

void Room::load_merges() {
  for (auto& [id, c] : comments_) c.own_votes = c.row.votes;
  for (auto& [id, c] : comments_) {
    if (c.row.status != CommentStatus::merged || !c.row.merged_into) continue;
    auto head = comments_.find(*c.row.merged_into);
    if (head == comments_.end()) continue;
    head->second.merged.push_back(id);
    head->second.row.votes += c.own_votes;
  }
  // Only the newest open comments: MinHash costs ~50 us a comment, and
  // indexing a whole session at start made each restart grow with it (the
  // durability test's restart reached 2.7 s at 40k comments, budget 2 s). A
  // new comment is still compared with these, which is where duplicates are.
  size_t indexed = 0;
  for (auto it = comments_.rbegin(); it != comments_.rend() && indexed < kSimilarIndexedAtLoad; ++it) {
    if (!open_status(it->second.row.status)) continue;
    index_similar(it->second);
    ++indexed;
  }
}

void Room::publish_head(const Comment& head) {
  out_.publish(Audience::studios, dump(json{{"type", "updated"}, {"action", "merged"}, {"by", "system"},
                                            {"comment", studio_comment(head)}}));
  if (head.row.status == CommentStatus::approved) {
    feed_cache_.reset();
    out_.publish(Audience::viewers, dump(json{{"type", "votes"}, {"id", head.row.id}, {"votes", head.row.votes}}));
  }
}

Verdict Room::handle_merge(ConnId conn, const StudioConn& sc, const std::string& type, const json& msg) {
  Comment* found = comment_for_action(conn, type, msg);
  if (!found) return Verdict::handled;
  Comment& n = *found;
  const int64_t id = n.row.id;
  const int64_t now = clock_.now_ms();
  store::MergeChange change;
  change.comment_id = id;
  change.event = store::ModerationEvent{0, n.row.session_id, id, n.row.viewer_id, type, sc.actor.name, "", "", "", now};

  int64_t head_id = 0;
  const CommentStatus before = n.row.status;
  const std::string before_from = n.row.merged_from;
  if (type == "merge") {
    auto into = int_field(msg, "into");
    if (!into) {
      reply_error(conn, msg, code::kInvalid, "merge needs an integer into");
      return Verdict::handled;
    }
    auto m = comments_.find(*into);
    if (m == comments_.end()) {
      reply_error(conn, msg, code::kNotFound, "no such comment in the current session");
      return Verdict::handled;
    }
    if (*into == id) {
      reply_error(conn, msg, code::kInvalid, "a comment cannot be merged into itself");
      return Verdict::handled;
    }
    if (!open_status(before) || !open_status(m->second.row.status)) {
      reply_error(conn, msg, code::kConflict, "only pending or approved comments can be merged");
      return Verdict::handled;
    }
    if (!n.merged.empty()) {
      reply_error(conn, msg, code::kConflict, "other comments were merged into this one; unmerge them first");
      return Verdict::handled;
    }
    if (!store_.can_accept()) return Verdict::busy;
    head_id = *into;
    change.into = head_id;
    // In memory now, so a second moderator sees the merge; undone on failure.
    n.row.status = CommentStatus::merged;
    n.row.merged_into = head_id;
    n.row.merged_from = std::string(store::to_string(before));
    m->second.merged.push_back(id);
    m->second.row.votes += n.own_votes;
    similar_.remove(id);
  } else {  // unmerge
    if (before != CommentStatus::merged || !n.row.merged_into) {
      reply_error(conn, msg, code::kConflict, "the comment is not merged");
      return Verdict::handled;
    }
    if (!store_.can_accept()) return Verdict::busy;
    head_id = *n.row.merged_into;
    n.row.status = store::parse_comment_status(n.row.merged_from).value_or(CommentStatus::pending);
    n.row.merged_into.reset();
    n.row.merged_from.clear();
    if (auto m = comments_.find(head_id); m != comments_.end()) {
      auto& list = m->second.merged;
      list.erase(std::remove(list.begin(), list.end(), id), list.end());
      m->second.row.votes -= n.own_votes;
    }
  }
  json msg_copy = msg;
  const std::string actor = sc.actor.name;
  store_.merge_comment(std::move(change), [this, conn, msg_copy, type, id, head_id, before, before_from, actor](
                                              Result<CommentStatus> r) {
    auto nit = comments_.find(id);
    auto mit = comments_.find(head_id);
    if (!r) {
      // Put the in-memory state back as it was.
      if (nit != comments_.end()) {
        Comment& n = nit->second;
        if (type == "merge") {
          n.row.status = before;
          n.row.merged_into.reset();
          n.row.merged_from.clear();
          if (mit != comments_.end()) {
            auto& list = mit->second.merged;
            list.erase(std::remove(list.begin(), list.end(), id), list.end());
            mit->second.row.votes -= n.own_votes;
          }
        } else {
          n.row.status = CommentStatus::merged;
          n.row.merged_into = head_id;
          n.row.merged_from = before_from;
          if (mit != comments_.end()) {
            mit->second.merged.push_back(id);
            mit->second.row.votes += n.own_votes;
          }
        }
      }
      reply_error(conn, msg_copy, r.status().code() == code::kConflict ? code::kConflict : code::kInternal,
                  "could not save: " + r.status().message());
      return;
    }
    reply_ok(conn, msg_copy, type, id);
    if (nit == comments_.end()) return;
    Comment& n = nit->second;
    if (type == "unmerge") n.row.status = *r;  // the store's merged_from is the truth
    broadcast_comment_change(n, type, actor, type == "merge" && before == CommentStatus::approved);
    if (mit != comments_.end()) publish_head(mit->second);
    if (type == "merge") {
      // A merged comment leaves the screen like a hidden one.
      auto events = on_air_.remove_comment(id, clock_.now_ms());
      if (!events.empty()) commit_on_air(std::move(events), actor, 0, json::object(), type, true);
    } else {
      index_similar(n);
    }
  });
  return Verdict::handled;
}

}  // namespace sabla::moderation
