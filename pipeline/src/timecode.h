// A machine-readable timecode the test card carries (private to
// sabla_pipeline): the UTC time in ms at which the frame entered the
// program, as a strip of black/white blocks in the top-left corner, so a
// browser can read it back from the decoded picture (canvas) and measure
// glass-to-glass delay (WHEP, HLS) and check what the player shows against
// program time ("pt": utc - epoch). tests/e2e/timecode.mjs decodes it.
//
// Layout, B = block size (even, max(6, height / 30)), strip 2B high:
//   block 0 white, block 1 black (levels for the threshold), blocks 2..49
//   48 bits MSB first: 44 bits of the UTC ms, then a 4-bit check (the sum
//   of the 11 nibbles of those 44 bits, mod 16). Chroma in the strip is 128.
#pragma once
#include <cstdint>
#include <optional>

#include <gst/video/video.h>

namespace sabla::pipeline::detail {

constexpr int kTimecodeBlocks = 50;
int timecode_block(int height);
uint64_t timecode_word(int64_t utc_ms);  // the 48 bits
// Burns `utc_ms` into an I420 frame (mapped for writing). False if too narrow.
bool burn_timecode(GstVideoFrame* frame, int64_t utc_ms);
// Reads it back from a luma plane (tests); none when the check fails.
std::optional<int64_t> read_timecode(const uint8_t* luma, int stride, int width, int height);

}  // namespace sabla::pipeline::detail
