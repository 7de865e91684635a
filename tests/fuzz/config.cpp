// Fuzz target: the TOML config loader (server/config/config.h) on any file
// contents. load_config_file reads a path, so each input is written to one
// file in a temporary directory first.
//
// Properties: load_config_file returns a status and never throws; a failed
// load leaves the Config untouched and says why (a non-empty message that
// starts with the file name); validate() of whatever loaded never throws.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"
#include "fuzz_check.h"

using namespace sabla;

namespace {

namespace fs = std::filesystem;

fs::path temp_dir;
std::string config_path;

void remove_temp_dir() {
  std::error_code ec;
  fs::remove_all(temp_dir, ec);
}

// Field-by-field equality for the parts a file can set.
bool same(const Config& a, const Config& b) {
  return a.bind == b.bind && a.port == b.port && a.data_dir == b.data_dir && a.static_dir == b.static_dir &&
         a.allowed_origins == b.allowed_origins && a.tls_cert == b.tls_cert && a.tls_key == b.tls_key &&
         a.metrics_public == b.metrics_public && a.log_level == b.log_level && a.log_json == b.log_json &&
         a.synchronous_full == b.synchronous_full && a.batch_max == b.batch_max &&
         a.batch_delay_ms == b.batch_delay_ms && a.writer_queue == b.writer_queue &&
         a.max_frame_bytes == b.max_frame_bytes && a.max_comment_chars == b.max_comment_chars &&
         a.max_name_chars == b.max_name_chars && a.max_connections_per_ip == b.max_connections_per_ip &&
         a.comment_burst == b.comment_burst && a.comments_per_second == b.comments_per_second &&
         a.votes_per_second == b.votes_per_second && a.feed_size == b.feed_size &&
         a.fanout_tick_ms == b.fanout_tick_ms && a.viewer_backlog == b.viewer_backlog &&
         a.login_attempts_per_minute == b.login_attempts_per_minute && a.video_source == b.video_source &&
         a.srt_passphrase == b.srt_passphrase && a.srt_pbkeylen == b.srt_pbkeylen && a.srt_streamid == b.srt_streamid &&
         a.video_width == b.video_width && a.video_height == b.video_height && a.video_fps == b.video_fps &&
         a.video_bitrate_kbps == b.video_bitrate_kbps && a.video_preset == b.video_preset &&
         a.recording == b.recording && a.recording_segment_minutes == b.recording_segment_minutes &&
         a.restream_urls == b.restream_urls && a.default_title_ar == b.default_title_ar &&
         a.default_title_en == b.default_title_en && a.auth_session_hours == b.auth_session_hours;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/sabla-fuzz-config-XXXXXX";
  FUZZ_CHECK(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
  temp_dir = pattern;
  config_path = (temp_dir / "sabla.toml").string();
  std::atexit(remove_temp_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream file(config_path, std::ios::binary | std::ios::trunc);
    file.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    FUZZ_CHECK(file.good(), "could not write the config file");
  }
  const Config defaults;
  Config config;
  const Status loaded = load_config_file(config_path, config);
  if (!loaded) {
    FUZZ_CHECK(same(config, defaults), "a failed load changed the config");
    FUZZ_CHECK(loaded.message().rfind(config_path, 0) == 0, "the error does not name the file: " + loaded.message());
    return 0;
  }
  (void)validate(config);
  return 0;
}
