// The Room's core: construction, loading the stored state, the periodic
// tick and the metrics. The rest lives beside it by concern (see room.h).
#include "moderation/room.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "moderation/room_internal.h"

namespace sabla::moderation {

using namespace room_internal;

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
    if (v.id < kEdgeViewerIdBase) next_viewer_id_ = std::max(next_viewer_id_, v.id + 1);
    else highest_edge_number_ = std::max(highest_edge_number_, v.id >> 32);
    viewer_by_token_[v.token_hash] = v.id;
  }
  for (auto& b : st.ip_bans) ip_bans_[b.ip] = b.until_ms;
  switch_session(st.current_session_id, false);
  for (auto& row : st.comments) {
    Comment c;
    c.row = row;
    if (row.status == CommentStatus::approved) feed_.push_back(row.id);
    comments_.emplace(row.id, std::move(c));
  }
  while (feed_.size() > kFeedMemory) feed_.pop_front();
  for (auto& [comment_id, viewer_id] : st.votes) {
    auto it = comments_.find(comment_id);
    if (it != comments_.end()) it->second.voters.insert(viewer_id);
  }
  load_merges();
  feed_cache_.reset();
  load_polls(st);
  load_outcomes(st);

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

const store::SessionRow* Room::current_session_row() const {
  if (!current_session_) return nullptr;
  auto it = sessions_.find(*current_session_);
  return it == sessions_.end() ? nullptr : &it->second;
}

bool Room::can_accept() const { return store_.can_accept(4); }

void Room::tick() {
  const bool rotating = on_air_.rotation_until_ms().has_value();
  auto events = on_air_.tick(clock_.now_ms());
  if (!events.empty()) commit_on_air(std::move(events), "rotation", 0, json::object(), "rotation", rotating);
  push_due_polls();

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

RoomMetrics Room::metrics() const {
  RoomMetrics m = metrics_;
  m.pending = 0;
  for (const auto& [id, c] : comments_)
    if (c.row.status == CommentStatus::pending) m.pending++;
  return m;
}

}  // namespace sabla::moderation
