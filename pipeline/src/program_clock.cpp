#include "sabla/pipeline/program_clock.h"

namespace sabla::pipeline {

std::optional<int64_t> ProgramClock::offset_ms(int64_t now_ms) const {
  if (!live_at_ms_) return std::nullopt;
  return now_ms > *live_at_ms_ ? now_ms - *live_at_ms_ : 0;
}

}  // namespace sabla::pipeline
