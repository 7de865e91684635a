// The live HLS playlist, written by Sabla (private to sabla_pipeline).
//
// hlssink2 in GStreamer 1.22 cannot write #EXT-X-PROGRAM-DATE-TIME (a
// property for it arrives in 1.30) and closes a segment only once the next
// GOP is complete, so the program muxes TS itself and cuts a segment at each
// keyframe (pipeline/README.md, "HLS"); this class turns the closed segments
// into the playlist:
//
//   #EXTM3U / #EXT-X-VERSION:3 / #EXT-X-TARGETDURATION / #EXT-X-MEDIA-SEQUENCE
//   per segment: #EXT-X-PROGRAM-DATE-TIME:<epoch + start running time, UTC ms>
//                #EXTINF:<duration>,  <file>
//
// The program date-time of a segment is `epoch_ms + start`, with epoch_ms
// the UTC time of running time 0 (fixed for the program's life): a player's
// date at its playhead minus epoch_ms is the program time ("pt") of the frame
// it shows, the same clock the server stamps pushed items with.
//
// Pure logic plus file writes, no GStreamer: one thread (the program thread)
// calls it. The playlist is replaced atomically (write + rename), so an HTTP
// reader never sees half a file; segments that left the window (plus a few
// for players still fetching them) are deleted.
#pragma once
#include <cstdint>
#include <deque>
#include <string>

namespace sabla::pipeline::detail {

class HlsPlaylist {
 public:
  struct Options {
    std::string dir;                       // segments and playlist live here
    std::string playlist = "live.m3u8";
    int target_seconds = 2;                // #EXT-X-TARGETDURATION (grows if a segment is longer)
    int window = 6;                        // segments listed
    int keep_extra = 4;                    // older segments kept on disk for slow players
    int64_t epoch_ms = 0;                  // UTC ms of running time 0
  };
  explicit HlsPlaylist(Options options);

  // Segment `file` (a name in dir) is complete and covers running time
  // [start_ms, end_ms). Rewrites the playlist. False with `error` when the
  // playlist cannot be written (the segment is still listed next time).
  bool add(const std::string& file, int64_t start_ms, int64_t end_ms, std::string* error);
  // The stream ended: the playlist gets #EXT-X-ENDLIST.
  bool finish(std::string* error);

  std::string text() const;
  int segments_listed() const { return int(segments_.size()); }
  int64_t media_sequence() const { return sequence_; }

 private:
  struct Segment {
    std::string file;
    int64_t start_ms;
    int64_t duration_ms;
  };
  bool write(std::string* error);

  Options opt_;
  std::deque<Segment> segments_;  // listed
  std::deque<std::string> retired_;  // left the window, still on disk
  int64_t sequence_ = 0;  // media sequence of segments_.front()
  int target_ = 2;
  bool ended_ = false;
};

// "2025-11-29T07:06:40.123Z"
std::string program_date_time(int64_t utc_ms);

}  // namespace sabla::pipeline::detail
