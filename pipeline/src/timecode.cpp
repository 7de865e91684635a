#include "timecode.h"

#include <algorithm>
#include <cstring>

namespace sabla::pipeline::detail {

int timecode_block(int height) { return std::max(6, height / 30) & ~1; }

uint64_t timecode_word(int64_t utc_ms) {
  const uint64_t v = uint64_t(utc_ms) & ((uint64_t(1) << 44) - 1);
  unsigned sum = 0;
  for (int i = 0; i < 11; ++i) sum += unsigned(v >> (4 * i)) & 0xf;
  return (v << 4) | (sum & 0xf);
}

bool burn_timecode(GstVideoFrame* frame, int64_t utc_ms) {
  const int w = GST_VIDEO_FRAME_WIDTH(frame), h = GST_VIDEO_FRAME_HEIGHT(frame);
  const int b = timecode_block(h);
  if (GST_VIDEO_FRAME_FORMAT(frame) != GST_VIDEO_FORMAT_I420 || b * kTimecodeBlocks > w || 2 * b > h) return false;
  const uint64_t word = timecode_word(utc_ms);
  auto* y = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, 0));
  const int ys = GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0);
  for (int k = 0; k < kTimecodeBlocks; ++k) {
    bool white = k == 0 || (k >= 2 && ((word >> (47 - (k - 2))) & 1));
    const uint8_t level = white ? 235 : 16;
    for (int row = 0; row < 2 * b; ++row) std::memset(y + size_t(row) * ys + size_t(k) * b, level, size_t(b));
  }
  for (int plane = 1; plane <= 2; ++plane) {
    auto* c = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, plane));
    const int cs = GST_VIDEO_FRAME_PLANE_STRIDE(frame, plane);
    for (int row = 0; row < b; ++row) std::memset(c + size_t(row) * cs, 128, size_t(b * kTimecodeBlocks / 2));
  }
  return true;
}

std::optional<int64_t> read_timecode(const uint8_t* luma, int stride, int width, int height) {
  const int b = timecode_block(height);
  if (b * kTimecodeBlocks > width) return std::nullopt;
  auto level = [&](int k) {
    int sum = 0, n = 0;
    for (int row = b / 2; row < b + b / 2; ++row)
      for (int x = k * b + b / 4; x < k * b + b - b / 4; ++x, ++n) sum += luma[size_t(row) * stride + size_t(x)];
    return n ? sum / n : 0;
  };
  const int white = level(0), black = level(1);
  if (white - black < 64) return std::nullopt;
  const int threshold = (white + black) / 2;
  uint64_t word = 0;
  for (int k = 2; k < kTimecodeBlocks; ++k) word = (word << 1) | (level(k) > threshold ? 1 : 0);
  const int64_t value = int64_t(word >> 4);
  if (timecode_word(value) != word) return std::nullopt;
  return value;
}

}  // namespace sabla::pipeline::detail
