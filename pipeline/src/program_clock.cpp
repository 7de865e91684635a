#include "sabla/pipeline/program_clock.h"

#include <algorithm>

namespace sabla::pipeline {

void ProgramClock::start(int64_t live_at_ms) {
  live_at_ms_ = live_at_ms;
  hold_.reset();
  anchor_.reset();
}

void ProgramClock::stop() {
  live_at_ms_.reset();
  hold_.reset();
  anchor_.reset();
}

void ProgramClock::hold(int64_t offset_ms) {
  hold_ = std::max<int64_t>(0, offset_ms);
  anchor_.reset();
}

void ProgramClock::anchor(int64_t running_ms, int64_t offset_ms) {
  anchor_ = Anchor{std::max<int64_t>(0, running_ms), std::max<int64_t>(0, offset_ms)};
  hold_.reset();
}

std::optional<int64_t> ProgramClock::offset_ms(int64_t now_ms, int64_t running_ms) const {
  if (!live_at_ms_) return std::nullopt;
  if (anchor_ && running_ms >= 0) return anchor_->offset_ms + std::max<int64_t>(0, running_ms - anchor_->running_ms);
  if (hold_) return *hold_;
  const int64_t wall = std::max<int64_t>(0, now_ms - *live_at_ms_);
  // Anchored but the pipeline is down: do not fall back behind the anchor.
  return anchor_ ? std::max(wall, anchor_->offset_ms) : wall;
}

}  // namespace sabla::pipeline
