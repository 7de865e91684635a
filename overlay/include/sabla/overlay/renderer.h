// The overlay renderer: draws a State into a transparent image that the
// pipeline composites over the video (burned in). The /overlay browser page
// draws the same layout; the geometry is written down in docs/overlay-layout.md
// and at the top of overlay/src/renderer.cpp.
//
// Pixel format: Cairo CAIRO_FORMAT_ARGB32, premultiplied alpha, one uint32_t
// per pixel in native endianness. On little-endian machines (x86-64, arm64)
// the bytes in memory are B, G, R, A: GStreamer caps
// "video/x-raw,format=BGRA,width=W,height=H" (premultiplied: attach
// GstVideoOverlayComposition with GST_VIDEO_OVERLAY_FORMAT_FLAG_PREMULTIPLIED_ALPHA,
// or un-premultiply first). Rows are `stride` bytes apart (stride >= 4*width).
//
// Text is always plain text: comment text, author names, the lower third and
// the ticker are handed to Pango with pango_layout_set_text, never as markup.
//
// No Cairo or Pango types in this header (they stay private to sabla_overlay).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sabla/overlay/state.h"

namespace sabla::overlay {

struct Frame {
  int width = 0;
  int height = 0;
  int stride = 0;               // bytes per row
  std::vector<uint8_t> pixels;  // stride * height bytes, ARGB32 premultiplied (BGRA bytes on little-endian)

  bool empty() const { return width <= 0 || height <= 0; }
  // Alpha of pixel (x, y), 0..255 (no bounds check).
  uint8_t alpha(int x, int y) const { return pixel(x, y) >> 24; }
  // The pixel as 0xAARRGGBB, premultiplied (no bounds check).
  uint32_t pixel(int x, int y) const;
};

// Writes `frame` as an 8-bit RGBA PNG (un-premultiplied by Cairo). False on failure.
bool write_png(const Frame& frame, const std::string& path);
// Reads a PNG into an ARGB32 premultiplied frame; an empty frame on failure.
// Meant for tests and golden images.
Frame read_png(const std::string& path);

// Renders on-air states. Keeps its font map and Pango contexts (and the
// decoded logo) between renders; render only when the state changes.
//
// Threads: a Renderer may be used from any thread, but from one thread at a
// time (it is not internally locked). Separate Renderer objects may be used
// concurrently from different threads: each has its own font map.
class Renderer {
 public:
  // width and height in pixels (at least 1 each; smaller values are clamped to 1).
  // The layout scales with s = height / 1080.
  Renderer(int width, int height);
  ~Renderer();
  Renderer(Renderer&&) noexcept;
  Renderer& operator=(Renderer&&) noexcept;
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  int width() const;
  int height() const;

  // Draws `state` into a new transparent frame. An empty state (no comments,
  // no lower third, no ticker, no loadable logo) gives a frame of zero bytes.
  // Invalid colours fall back to the default theme's colours; a logo that
  // cannot be loaded is skipped.
  Frame render(const State& state);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sabla::overlay
