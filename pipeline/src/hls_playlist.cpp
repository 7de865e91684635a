#include "hls_playlist.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

namespace sabla::pipeline::detail {

std::string program_date_time(int64_t utc_ms) {
  const time_t secs = time_t(utc_ms / 1000 - (utc_ms % 1000 < 0 ? 1 : 0));
  const int ms = int(((utc_ms % 1000) + 1000) % 1000);
  struct tm tmv;
  gmtime_r(&secs, &tmv);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday,
                tmv.tm_hour, tmv.tm_min, tmv.tm_sec, ms);
  return buf;
}

HlsPlaylist::HlsPlaylist(Options options) : opt_(std::move(options)), target_(std::max(1, opt_.target_seconds)) {}

bool HlsPlaylist::add(const std::string& file, int64_t start_ms, int64_t end_ms, std::string* error) {
  const int64_t duration = std::max<int64_t>(1, end_ms - start_ms);
  segments_.push_back(Segment{file, start_ms, duration});
  // EXTINF rounded to the nearest second must not exceed the target.
  target_ = std::max<int>(target_, int(std::lround(double(duration) / 1000.0)));
  while (int(segments_.size()) > std::max(1, opt_.window)) {
    retired_.push_back(segments_.front().file);
    segments_.pop_front();
    ++sequence_;
  }
  const bool ok = write(error);
  // Delete only after the playlist that no longer lists them is in place.
  while (int(retired_.size()) > std::max(0, opt_.keep_extra)) {
    std::error_code ec;
    std::filesystem::remove(std::filesystem::path(opt_.dir) / retired_.front(), ec);
    retired_.pop_front();
  }
  return ok;
}

bool HlsPlaylist::finish(std::string* error) {
  if (ended_ || segments_.empty()) return true;
  ended_ = true;
  return write(error);
}

std::string HlsPlaylist::text() const {
  std::string t = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:" + std::to_string(target_) +
                  "\n#EXT-X-MEDIA-SEQUENCE:" + std::to_string(sequence_) + "\n";
  char extinf[48];
  for (const auto& s : segments_) {
    t += "#EXT-X-PROGRAM-DATE-TIME:" + program_date_time(opt_.epoch_ms + s.start_ms) + "\n";
    std::snprintf(extinf, sizeof extinf, "#EXTINF:%.3f,\n", double(s.duration_ms) / 1000.0);
    t += extinf;
    t += s.file + "\n";
  }
  if (ended_) t += "#EXT-X-ENDLIST\n";
  return t;
}

bool HlsPlaylist::write(std::string* error) {
  const std::filesystem::path final_path = std::filesystem::path(opt_.dir) / opt_.playlist;
  const std::filesystem::path tmp = std::filesystem::path(opt_.dir) / ("." + opt_.playlist + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    const std::string t = text();
    out.write(t.data(), std::streamsize(t.size()));
    out.close();
    if (!out) {
      if (error) *error = "hls: cannot write " + tmp.string() + ": " + std::strerror(errno);
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, final_path, ec);
  if (ec) {
    if (error) *error = "hls: cannot replace " + final_path.string() + ": " + ec.message();
    return false;
  }
  return true;
}

}  // namespace sabla::pipeline::detail
