#include "sabla/overlay/on_air.h"

#include <algorithm>

namespace sabla::overlay {

using nlohmann::json;

bool OnAir::on_screen(int64_t comment_id) const {
  return std::any_of(state_.comments.begin(), state_.comments.end(),
                     [&](const AiredComment& c) { return c.id == comment_id; });
}

void OnAir::leave_all(const char* kind, int64_t now_ms, std::vector<OnAirEvent>* events) {
  for (const auto& c : state_.comments) events->push_back(OnAirEvent{kind, c.id, now_ms, json::object()});
  state_.comments.clear();
}

std::vector<OnAirEvent> OnAir::air(AiredComment comment, int64_t now_ms, bool add) {
  std::vector<OnAirEvent> events;
  comment.aired_at_ms = now_ms;
  rotation_.clear();
  until_ms_.reset();
  if (add) {
    auto same = std::find_if(state_.comments.begin(), state_.comments.end(),
                             [&](const AiredComment& c) { return c.id == comment.id; });
    if (same != state_.comments.end()) return events;  // already on screen
    if (state_.comments.size() >= kMaxOnScreen) {
      events.push_back(OnAirEvent{"replaced", state_.comments.front().id, now_ms, {{"by", comment.id}}});
      state_.comments.erase(state_.comments.begin());
    }
  } else {
    if (state_.comments.size() == 1 && state_.comments[0].id == comment.id) return events;
    for (const auto& c : state_.comments) events.push_back(OnAirEvent{"replaced", c.id, now_ms, {{"by", comment.id}}});
    state_.comments.clear();
  }
  events.push_back(OnAirEvent{"aired", comment.id, now_ms, {{"mode", add ? "add" : "air"}}});
  state_.comments.push_back(std::move(comment));
  changed();
  return events;
}

void OnAir::show_next_from_rotation(int64_t now_ms, std::vector<OnAirEvent>* events) {
  RotationItem next = std::move(rotation_.front());
  rotation_.pop_front();
  next.comment.aired_at_ms = now_ms;
  for (const auto& c : state_.comments) events->push_back(OnAirEvent{"replaced", c.id, now_ms, {{"by", next.comment.id}}});
  state_.comments.clear();
  events->push_back(OnAirEvent{"aired", next.comment.id, now_ms, {{"mode", "rotation"}, {"hold_ms", next.hold_ms}}});
  until_ms_ = now_ms + next.hold_ms;
  state_.comments.push_back(std::move(next.comment));
}

bool OnAir::queue_air(AiredComment comment, int64_t hold_ms, int64_t now_ms, std::vector<OnAirEvent>* events) {
  if (rotation_.size() >= kMaxRotation) return false;
  rotation_.push_back(RotationItem{std::move(comment), hold_ms});
  if (!until_ms_) show_next_from_rotation(now_ms, events);
  changed();
  return true;
}

std::vector<OnAirEvent> OnAir::clear(int64_t now_ms) {
  std::vector<OnAirEvent> events;
  if (state_.comments.empty() && rotation_.empty()) return events;
  leave_all("cleared", now_ms, &events);
  rotation_.clear();
  until_ms_.reset();
  changed();
  return events;
}

std::vector<OnAirEvent> OnAir::set_lower_third(std::optional<LowerThird> lower_third, int64_t now_ms) {
  if (lower_third && lower_third->empty()) lower_third.reset();
  if (state_.lower_third == lower_third) return {};
  state_.lower_third = lower_third;
  changed();
  if (!lower_third) return {OnAirEvent{"lower_third_cleared", std::nullopt, now_ms, json::object()}};
  json detail = to_json(state_)["lower_third"];
  return {OnAirEvent{"lower_third", std::nullopt, now_ms, detail}};
}

std::vector<OnAirEvent> OnAir::set_ticker(std::optional<std::string> ticker, int64_t now_ms) {
  if (ticker && ticker->empty()) ticker.reset();
  if (state_.ticker == ticker) return {};
  state_.ticker = ticker;
  changed();
  if (!ticker) return {OnAirEvent{"ticker_cleared", std::nullopt, now_ms, json::object()}};
  return {OnAirEvent{"ticker", std::nullopt, now_ms, {{"text", *ticker}}}};
}

std::vector<OnAirEvent> OnAir::set_theme(const Theme& theme, int64_t now_ms) {
  if (state_.theme == theme) return {};
  state_.theme = theme;
  changed();
  return {OnAirEvent{"theme", std::nullopt, now_ms, to_json(theme)}};
}

std::vector<OnAirEvent> OnAir::air_poll(AiredPoll poll, int64_t now_ms) {
  std::vector<OnAirEvent> events;
  if (state_.poll && state_.poll->id == poll.id) {
    update_poll(poll);
    return events;
  }
  if (state_.poll) events.push_back(OnAirEvent{"poll_cleared", std::nullopt, now_ms, {{"poll", state_.poll->id}}});
  events.push_back(OnAirEvent{"poll_aired", std::nullopt, now_ms, {{"poll", poll.id}}});
  state_.poll = std::move(poll);
  changed();
  return events;
}

std::vector<OnAirEvent> OnAir::clear_poll(int64_t now_ms) {
  if (!state_.poll) return {};
  const int64_t id = state_.poll->id;
  state_.poll.reset();
  changed();
  return {OnAirEvent{"poll_cleared", std::nullopt, now_ms, {{"poll", id}}}};
}

bool OnAir::update_poll(const AiredPoll& poll) {
  if (!state_.poll || state_.poll->id != poll.id || *state_.poll == poll) return false;
  state_.poll = poll;
  changed();
  return true;
}

std::vector<OnAirEvent> OnAir::remove_comment(int64_t comment_id, int64_t now_ms) {
  std::vector<OnAirEvent> events;
  size_t before = rotation_.size();
  rotation_.erase(std::remove_if(rotation_.begin(), rotation_.end(),
                                 [&](const RotationItem& r) { return r.comment.id == comment_id; }),
                  rotation_.end());
  bool changed_rotation = rotation_.size() != before;
  auto it = std::find_if(state_.comments.begin(), state_.comments.end(),
                         [&](const AiredComment& c) { return c.id == comment_id; });
  if (it != state_.comments.end()) {
    events.push_back(OnAirEvent{"cleared", comment_id, now_ms, {{"reason", "removed"}}});
    state_.comments.erase(it);
    // The rotation's slot is free: the next item comes now.
    if (until_ms_) {
      until_ms_.reset();
      if (!rotation_.empty()) show_next_from_rotation(now_ms, &events);
    }
  }
  if (!events.empty() || changed_rotation) changed();
  return events;
}

std::vector<OnAirEvent> OnAir::update_text(int64_t comment_id, const std::string& text, int64_t now_ms) {
  bool any = false;
  for (auto& c : state_.comments)
    if (c.id == comment_id && c.text != text) c.text = text, any = true;
  for (auto& r : rotation_)
    if (r.comment.id == comment_id) r.comment.text = text;
  if (!any) return {};
  changed();
  return {OnAirEvent{"edited", comment_id, now_ms, {{"text", text}}}};
}

std::vector<OnAirEvent> OnAir::tick(int64_t now_ms) {
  std::vector<OnAirEvent> events;
  // Catch up whole items if ticks were missed (e.g. after a pause).
  while (until_ms_ && now_ms >= *until_ms_) {
    const int64_t at = *until_ms_;
    until_ms_.reset();
    if (rotation_.empty()) {
      leave_all("cleared", at, &events);
    } else {
      show_next_from_rotation(at, &events);
    }
  }
  if (!events.empty()) changed();
  return events;
}

json OnAir::save() const {
  json rotation = json::array();
  for (const auto& r : rotation_) {
    State one;
    one.comments.push_back(r.comment);
    json c = to_json(one)["comments"][0];
    rotation.push_back(json{{"comment", c}, {"hold_ms", r.hold_ms}});
  }
  return json{{"state", to_json(state_)},
              {"rotation", rotation},
              {"until", until_ms_ ? json(*until_ms_) : json()},
              {"version", version_}};
}

bool OnAir::restore(const json& saved, std::string* error) {
  if (!saved.is_object()) {
    *error = "saved on-air state must be an object";
    return false;
  }
  State state;
  if (!from_json(saved.value("state", json::object()), &state, error)) return false;
  std::deque<RotationItem> rotation;
  if (auto it = saved.find("rotation"); it != saved.end() && it->is_array()) {
    for (const auto& r : *it) {
      State one;
      if (!r.is_object() || !from_json(json{{"comments", json::array({r.value("comment", json())})}}, &one, error))
        return false;
      rotation.push_back(RotationItem{one.comments.at(0), r.value("hold_ms", int64_t{0})});
    }
  }
  state_ = std::move(state);
  rotation_ = std::move(rotation);
  until_ms_.reset();
  if (auto it = saved.find("until"); it != saved.end() && it->is_number_integer()) until_ms_ = it->get<int64_t>();
  version_ = saved.value("version", int64_t{0});
  return true;
}

}  // namespace sabla::overlay
