// The playlist Sabla writes for HLS (pipeline/src/hls_playlist.h): program
// date-times, the sliding window, deletion of old segments, atomic writes.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "hls_playlist.h"

using sabla::pipeline::detail::HlsPlaylist;
using sabla::pipeline::detail::program_date_time;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/sabla-hls-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
}  // namespace

TEST_CASE("program date-time is UTC with milliseconds", "[pipeline][hls]") {
  CHECK(program_date_time(1764400000123) == "2025-11-29T07:06:40.123Z");
  CHECK(program_date_time(0) == "1970-01-01T00:00:00.000Z");
  CHECK(program_date_time(1764400000999) == "2025-11-29T07:06:40.999Z");
}

SCENARIO("the live playlist lists a sliding window with a program date-time per segment", "[pipeline][hls]") {
  TempDir dir;
  const int64_t epoch = 1764400000000;  // UTC ms of running time 0
  HlsPlaylist::Options o;
  o.dir = dir.path.string();
  o.window = 3;
  o.keep_extra = 2;
  o.target_seconds = 2;
  o.epoch_ms = epoch;
  HlsPlaylist pl(o);
  std::string err;
  for (int i = 0; i < 8; ++i) {
    const std::string name = "seg_" + std::to_string(i) + ".ts";
    std::ofstream(dir.path / name) << "x";
    // The first segment starts at the first keyframe (40 ms), then every 2 s.
    REQUIRE(pl.add(name, i == 0 ? 40 : i * 2000, (i + 1) * 2000, &err));
  }
  const std::string text = slurp(dir.path / "live.m3u8");
  CHECK(text == pl.text());
  CHECK(text.rfind("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n", 0) == 0);
  // Segment 5 starts at running time 10 s: the program date-time is epoch + 10 s.
  CHECK(text.find("#EXT-X-PROGRAM-DATE-TIME:2025-11-29T07:06:50.000Z\n#EXTINF:2.000,\nseg_5.ts\n") != std::string::npos);
  CHECK(text.find("#EXT-X-PROGRAM-DATE-TIME:2025-11-29T07:06:54.000Z\n#EXTINF:2.000,\nseg_7.ts\n") != std::string::npos);
  CHECK(text.find("seg_4.ts") == std::string::npos);
  CHECK(pl.segments_listed() == 3);
  // Two segments beyond the window stay for players still fetching them; older ones are gone.
  CHECK(fs::exists(dir.path / "seg_3.ts"));
  CHECK(fs::exists(dir.path / "seg_4.ts"));
  CHECK_FALSE(fs::exists(dir.path / "seg_2.ts"));
  CHECK_FALSE(fs::exists(dir.path / "seg_0.ts"));
  CHECK_FALSE(fs::exists(dir.path / ".live.m3u8.tmp"));

  REQUIRE(pl.finish(&err));
  CHECK(slurp(dir.path / "live.m3u8").find("#EXT-X-ENDLIST\n") != std::string::npos);
}

TEST_CASE("a long segment raises the target duration; durations keep milliseconds", "[pipeline][hls]") {
  TempDir dir;
  HlsPlaylist::Options o;
  o.dir = dir.path.string();
  o.epoch_ms = 1000;
  HlsPlaylist pl(o);
  std::string err;
  REQUIRE(pl.add("a.ts", 0, 1966, &err));
  CHECK(pl.text().find("#EXTINF:1.966,\na.ts\n") != std::string::npos);
  CHECK(pl.text().find("#EXT-X-TARGETDURATION:2\n") != std::string::npos);
  REQUIRE(pl.add("b.ts", 1966, 5600, &err));
  CHECK(pl.text().find("#EXT-X-TARGETDURATION:4\n") != std::string::npos);
  CHECK(pl.text().find("#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:02.966Z\n#EXTINF:3.634,\nb.ts\n") != std::string::npos);
}

TEST_CASE("an unwritable playlist is an error, not a crash", "[pipeline][hls]") {
  HlsPlaylist::Options o;
  o.dir = "/nonexistent/sabla-hls";
  HlsPlaylist pl(o);
  std::string err;
  CHECK_FALSE(pl.add("a.ts", 0, 2000, &err));
  CHECK(err.find("cannot write") != std::string::npos);
}
