// The program clock: maps an event to its offset in the session's program
// timeline, the timeline of the session's recording, so the archive can align
// comments and on-air events with the recorded video.
//
// Three regimes, chosen by the owner (the Room, on the net thread):
//  - wall:     no pipeline (video off): the offset counts from the moment the
//              session went live, on the wall clock.
//  - holding:  the session went live and its recording file is about to open
//              (the pipeline splits at the next keyframe, tens of ms): offsets
//              hold at the value the recording will start at, so they never
//              run backwards.
//  - anchored: the pipeline's running time R0 is session offset O0; an event
//              at running time R has offset O0 + (R - R0). Running time is
//              the clock HLS and the recording are timestamped with.
// Pure logic on explicit times: the caller passes both the wall time and the
// program's running time (-1 when the pipeline is not playing).
#pragma once
#include <cstdint>
#include <optional>

namespace sabla::pipeline {

class ProgramClock {
 public:
  // The session went live at `live_at_ms` (UTC ms): wall regime.
  void start(int64_t live_at_ms);
  void stop();
  bool running() const { return live_at_ms_.has_value(); }

  // Waits for the recording to open; offsets stay at `offset_ms` until then.
  void hold(int64_t offset_ms);
  // Running time `running_ms` of the program is offset `offset_ms` of the session.
  void anchor(int64_t running_ms, int64_t offset_ms);
  bool holding() const { return running() && hold_.has_value(); }
  bool anchored() const { return running() && anchor_.has_value(); }
  std::optional<int64_t> held_offset() const { return hold_; }

  // Offset in ms of an event at wall time `now_ms` and program running time
  // `running_ms` (-1: the pipeline is not playing, e.g. while it is being
  // rebuilt: the wall clock continues from the last anchored offset).
  // None when no session is live. Never below the regime's start.
  std::optional<int64_t> offset_ms(int64_t now_ms, int64_t running_ms = -1) const;

 private:
  struct Anchor {
    int64_t running_ms;
    int64_t offset_ms;
  };
  std::optional<int64_t> live_at_ms_;
  std::optional<int64_t> hold_;
  std::optional<Anchor> anchor_;
};

}  // namespace sabla::pipeline
