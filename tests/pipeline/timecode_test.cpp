// The test card's machine-readable timecode (pipeline/src/timecode.h).
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "timecode.h"

using namespace sabla::pipeline::detail;

namespace {
struct GstInit {
  GstInit() {
    if (!gst_is_initialized()) gst_init(nullptr, nullptr);
  }
} gst_init_once;
}  // namespace

TEST_CASE("the timecode burnt into an I420 frame reads back, and a damaged one does not", "[pipeline][timecode]") {
  for (auto [w, h] : {std::pair{320, 180}, std::pair{640, 360}, std::pair{1280, 720}}) {
    GstVideoInfo info;
    gst_video_info_set_format(&info, GST_VIDEO_FORMAT_I420, guint(w), guint(h));
    std::vector<uint8_t> pixels(GST_VIDEO_INFO_SIZE(&info), 90);
    GstBuffer* buf = gst_buffer_new_wrapped_full(GstMemoryFlags(0), pixels.data(), pixels.size(), 0, pixels.size(), nullptr, nullptr);
    GstVideoFrame f;
    REQUIRE(gst_video_frame_map(&f, &info, buf, GST_MAP_WRITE));
    const int64_t t = 1764400000123;
    REQUIRE(burn_timecode(&f, t));
    gst_video_frame_unmap(&f);
    gst_buffer_unref(buf);
    const int stride = GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
    CHECK(read_timecode(pixels.data(), stride, w, h) == t);
    // One flipped bit block: the check rejects it.
    const int b = timecode_block(h);
    for (int row = 0; row < 2 * b; ++row)
      for (int x = 20 * b; x < 21 * b; ++x) pixels[size_t(row) * stride + size_t(x)] ^= 0xff;
    CHECK_FALSE(read_timecode(pixels.data(), stride, w, h).has_value());
  }
}

TEST_CASE("a frame too narrow for the strip is left alone", "[pipeline][timecode]") {
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_I420, 160, 90);
  std::vector<uint8_t> pixels(GST_VIDEO_INFO_SIZE(&info), 90);
  GstBuffer* buf = gst_buffer_new_wrapped_full(GstMemoryFlags(0), pixels.data(), pixels.size(), 0, pixels.size(), nullptr, nullptr);
  GstVideoFrame f;
  REQUIRE(gst_video_frame_map(&f, &info, buf, GST_MAP_WRITE));
  CHECK_FALSE(burn_timecode(&f, 1));
  gst_video_frame_unmap(&f);
  gst_buffer_unref(buf);
  CHECK(std::all_of(pixels.begin(), pixels.end(), [](uint8_t p) { return p == 90; }));
}
