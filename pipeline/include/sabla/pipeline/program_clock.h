// The program clock: maps wall-clock time to an offset in the session's
// program timeline. Until the GStreamer pipeline lands, the offset counts from
// the moment the session went live; the pipeline will drive it from its
// running time so comments align with the recording.
#pragma once
#include <cstdint>
#include <optional>

namespace sabla::pipeline {

class ProgramClock {
 public:
  // The program started at `live_at_ms` (UTC ms).
  void start(int64_t live_at_ms) { live_at_ms_ = live_at_ms; }
  void stop() { live_at_ms_.reset(); }
  bool running() const { return live_at_ms_.has_value(); }
  // Offset in ms of `now_ms` in the program, or none when not live.
  // Times before the start clamp to 0.
  std::optional<int64_t> offset_ms(int64_t now_ms) const;

 private:
  std::optional<int64_t> live_at_ms_;
};

}  // namespace sabla::pipeline
