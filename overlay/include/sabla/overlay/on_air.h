// Producer operations on the on-air state, with the rotation. Pure logic on
// explicit times (the caller's clock), so rotation is tested without sleeping.
//
// Rules:
//  - air: the comment is on screen now, replacing what was there (or added to
//    the stack with `add`, at most 3, the oldest leaving). It stays until it is
//    cleared or replaced. A manual air stops the rotation.
//  - queue_air: appended to the rotation. If the rotation is not running it
//    starts now. Each item stays its hold time, then the next one comes; after
//    the last one the screen clears.
//  - clear: comments off screen, rotation emptied. Lower third, ticker,
//    poll and theme are separate and stay.
//  - air_poll: a poll's question, options (and results when public) on
//    screen, replacing another poll; update_poll follows its counts without
//    an event (votes are not on-air changes); clear_poll takes it off.
// Every change returns the events that describe it (empty: nothing changed)
// and bumps version(); the caller persists the events and pushes the state.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sabla/overlay/state.h"

namespace sabla::overlay {

struct OnAirEvent {
  // aired, replaced, cleared (one per comment leaving the screen), lower_third,
  // lower_third_cleared, ticker, ticker_cleared, theme, poll_aired, poll_cleared
  // (detail {"poll":id})
  std::string kind;
  std::optional<int64_t> comment_id;
  int64_t at_ms = 0;
  nlohmann::json detail = nlohmann::json::object();
};

struct RotationItem {
  AiredComment comment;
  int64_t hold_ms = 0;
};

class OnAir {
 public:
  static constexpr size_t kMaxOnScreen = 3;
  static constexpr size_t kMaxRotation = 200;

  const State& state() const { return state_; }
  int64_t version() const { return version_; }
  const std::deque<RotationItem>& rotation() const { return rotation_; }
  // When the comment shown by the rotation leaves; none when the rotation is idle.
  std::optional<int64_t> rotation_until_ms() const { return until_ms_; }
  bool on_screen(int64_t comment_id) const;

  std::vector<OnAirEvent> air(AiredComment comment, int64_t now_ms, bool add = false);
  // False (and no change) when the rotation is full.
  bool queue_air(AiredComment comment, int64_t hold_ms, int64_t now_ms, std::vector<OnAirEvent>* events);
  std::vector<OnAirEvent> clear(int64_t now_ms);
  std::vector<OnAirEvent> set_lower_third(std::optional<LowerThird> lower_third, int64_t now_ms);
  std::vector<OnAirEvent> set_ticker(std::optional<std::string> ticker, int64_t now_ms);
  std::vector<OnAirEvent> set_theme(const Theme& theme, int64_t now_ms);
  std::vector<OnAirEvent> air_poll(AiredPoll poll, int64_t now_ms);
  std::vector<OnAirEvent> clear_poll(int64_t now_ms);
  // New counts, status or text of the poll on screen (same id); true when
  // something changed. No events: the caller pushes the state (coalesced).
  bool update_poll(const AiredPoll& poll);
  std::optional<int64_t> poll_on_screen() const {
    return state_.poll ? std::optional<int64_t>(state_.poll->id) : std::nullopt;
  }
  // A comment hidden by a moderator leaves the screen and the rotation.
  std::vector<OnAirEvent> remove_comment(int64_t comment_id, int64_t now_ms);
  // An edited comment shows its new text wherever it is.
  std::vector<OnAirEvent> update_text(int64_t comment_id, const std::string& text, int64_t now_ms);
  // Advances the rotation to `now_ms`.
  std::vector<OnAirEvent> tick(int64_t now_ms);

  // Everything needed to continue after a restart (state, rotation, timer, version).
  nlohmann::json save() const;
  bool restore(const nlohmann::json& saved, std::string* error);

 private:
  void leave_all(const char* kind, int64_t now_ms, std::vector<OnAirEvent>* events);
  void show_next_from_rotation(int64_t now_ms, std::vector<OnAirEvent>* events);
  void changed() { ++version_; }

  State state_;
  std::deque<RotationItem> rotation_;
  std::optional<int64_t> until_ms_;
  int64_t version_ = 0;
};

}  // namespace sabla::overlay
