// Burning an ARGB32-premultiplied overlay into I420 frames, cheaply: the
// overlay is converted once per change into per-rectangle Y/U/V planes
// premultiplied by alpha plus inverse-alpha planes, so each video frame costs
// one multiply-add per covered byte (d = d*(255-a)/255 + c). Only the
// non-transparent parts of the overlay (bands of rows, cropped to their
// columns) are touched. Private to sabla_pipeline.
#pragma once
#include <gst/video/video.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace sabla::pipeline::detail {

struct Box {
  int x0, y0, x1, y1;  // [x0,x1) x [y0,y1)
};

// Non-transparent regions of an ARGB32 image: bands of rows that carry
// pixels (gaps of up to `gap` rows merged, at most `max_boxes`), each
// cropped to its columns. When `even`, boxes are widened to even bounds.
std::vector<Box> opaque_boxes(const uint8_t* argb, int stride, int width, int height, int gap, size_t max_boxes,
                              bool even);

struct BlendPlanes {
  struct Rect {
    int x = 0, y = 0, w = 0, h = 0;  // even, in frame pixels
    std::vector<uint8_t> y_c, y_ia;   // w*h: premultiplied luma, 255 - alpha
    std::vector<uint8_t> u_c, v_c, c_ia;  // (w/2)*(h/2)
  };
  std::vector<Rect> rects;
  GstVideoColorMatrix matrix = GST_VIDEO_COLOR_MATRIX_BT601;
  GstVideoColorRange range = GST_VIDEO_COLOR_RANGE_16_235;
};

// `argb` must already be frame-sized (width x height, even dimensions).
std::shared_ptr<const BlendPlanes> make_planes(const uint8_t* argb, int stride, int width, int height,
                                               GstVideoColorMatrix matrix, GstVideoColorRange range);

// Blends into a mapped, writable I420 frame of the planes' size.
void blend_i420(GstVideoFrame* frame, const BlendPlanes& planes);

}  // namespace sabla::pipeline::detail
