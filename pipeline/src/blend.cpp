#include "blend.h"

#include <algorithm>
#include <cstring>

namespace sabla::pipeline::detail {

namespace {
inline uint32_t px(const uint8_t* argb, int stride, int x, int y) {
  uint32_t v;
  std::memcpy(&v, argb + size_t(y) * stride + size_t(x) * 4, 4);
  return v;
}
inline bool row_has_alpha(const uint8_t* argb, int stride, int width, int y) {
  for (int x = 0; x < width; ++x)
    if (px(argb, stride, x, y) >> 24) return true;
  return false;
}
inline uint8_t clamp8(double v) { return uint8_t(std::clamp(v + 0.5, 0.0, 255.0)); }
}  // namespace

std::vector<Box> opaque_boxes(const uint8_t* argb, int stride, int width, int height, int gap, size_t max_boxes,
                              bool even) {
  std::vector<Box> bands;
  for (int y = 0; y < height; ++y) {
    if (!row_has_alpha(argb, stride, width, y)) continue;
    if (!bands.empty() && y - bands.back().y1 <= gap) bands.back().y1 = y + 1;
    else bands.push_back({0, y, 0, y + 1});
  }
  while (bands.size() > max_boxes) {  // merge the closest neighbours
    size_t best = 0;
    for (size_t i = 1; i + 1 < bands.size(); ++i)
      if (bands[i + 1].y0 - bands[i].y1 < bands[best + 1].y0 - bands[best].y1) best = i;
    bands[best].y1 = bands[best + 1].y1;
    bands.erase(bands.begin() + long(best) + 1);
  }
  std::vector<Box> out;
  for (Box b : bands) {
    int x0 = width, x1 = 0;
    for (int y = b.y0; y < b.y1; ++y) {
      for (int x = 0; x < x0; ++x)
        if (px(argb, stride, x, y) >> 24) { x0 = x; break; }
      for (int x = width - 1; x >= x1; --x)
        if (px(argb, stride, x, y) >> 24) { x1 = x + 1; break; }
    }
    if (x1 <= x0) continue;
    b.x0 = x0;
    b.x1 = x1;
    if (even) {
      b.x0 &= ~1;
      b.y0 &= ~1;
      b.x1 = std::min(width, (b.x1 + 1) & ~1);
      b.y1 = std::min(height, (b.y1 + 1) & ~1);
    }
    out.push_back(b);
  }
  return out;
}

std::shared_ptr<const BlendPlanes> make_planes(const uint8_t* argb, int stride, int width, int height,
                                               GstVideoColorMatrix matrix, GstVideoColorRange range) {
  auto planes = std::make_shared<BlendPlanes>();
  planes->matrix = matrix;
  planes->range = range;
  gdouble kr = 0.299, kb = 0.114;
  if (!gst_video_color_matrix_get_Kr_Kb(matrix, &kr, &kb)) {
    kr = 0.299;
    kb = 0.114;
  }
  const double kg = 1.0 - kr - kb;
  const bool full = range == GST_VIDEO_COLOR_RANGE_0_255;
  const double yoff = full ? 0 : 16, yscale = full ? 255.0 / 255 : 219.0 / 255, cscale = full ? 255.0 / 255 : 224.0 / 255;
  for (const Box& b : opaque_boxes(argb, stride, width, height, 16, 8, true)) {
    BlendPlanes::Rect r;
    r.x = b.x0;
    r.y = b.y0;
    r.w = b.x1 - b.x0;
    r.h = b.y1 - b.y0;
    if (r.w < 2 || r.h < 2) continue;
    r.y_c.resize(size_t(r.w) * r.h);
    r.y_ia.resize(size_t(r.w) * r.h);
    const int cw = r.w / 2, ch = r.h / 2;
    r.u_c.resize(size_t(cw) * ch);
    r.v_c.resize(size_t(cw) * ch);
    r.c_ia.resize(size_t(cw) * ch);
    // Premultiplied YUV of one premultiplied RGB pixel with alpha a (0..1 scale = a/255).
    auto yuv = [&](double rp, double gp, double bp, double a, double* y, double* u, double* v) {
      double yl = kr * rp + kg * gp + kb * bp;  // 0..255*a
      *y = yoff * a + yscale * yl;
      *u = 128.0 * a + cscale * (bp - yl) / (2 * (1 - kb));
      *v = 128.0 * a + cscale * (rp - yl) / (2 * (1 - kr));
    };
    for (int j = 0; j < r.h; ++j)
      for (int i = 0; i < r.w; ++i) {
        uint32_t p = px(argb, stride, r.x + i, r.y + j);
        double a = (p >> 24) / 255.0, y, u, v;
        yuv((p >> 16) & 0xff, (p >> 8) & 0xff, p & 0xff, a, &y, &u, &v);
        r.y_c[size_t(j) * r.w + i] = clamp8(y);
        r.y_ia[size_t(j) * r.w + i] = uint8_t(255 - (p >> 24));
      }
    for (int j = 0; j < ch; ++j)
      for (int i = 0; i < cw; ++i) {
        double sr = 0, sg = 0, sb = 0, sa = 0;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) {
            uint32_t p = px(argb, stride, r.x + 2 * i + dx, r.y + 2 * j + dy);
            sr += (p >> 16) & 0xff;
            sg += (p >> 8) & 0xff;
            sb += p & 0xff;
            sa += p >> 24;
          }
        double a = sa / 4 / 255.0, y, u, v;
        yuv(sr / 4, sg / 4, sb / 4, a, &y, &u, &v);
        r.u_c[size_t(j) * cw + i] = clamp8(u);
        r.v_c[size_t(j) * cw + i] = clamp8(v);
        r.c_ia[size_t(j) * cw + i] = clamp8(255 - sa / 4);
      }
    planes->rects.push_back(std::move(r));
  }
  return planes;
}

namespace {
// d*ia/255 + c, rounded; the loop vectorises.
inline void blend_row(uint8_t* __restrict d, const uint8_t* __restrict c, const uint8_t* __restrict ia, int n) {
  for (int i = 0; i < n; ++i) {
    unsigned t = unsigned(d[i]) * ia[i] + 128;
    unsigned v = ((t + (t >> 8)) >> 8) + c[i];
    d[i] = uint8_t(v > 255 ? 255 : v);
  }
}
}  // namespace

void blend_i420(GstVideoFrame* f, const BlendPlanes& planes) {
  const int fw = GST_VIDEO_FRAME_WIDTH(f), fh = GST_VIDEO_FRAME_HEIGHT(f);
  uint8_t* yp = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(f, 0));
  uint8_t* up = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(f, 1));
  uint8_t* vp = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(f, 2));
  const int ys = GST_VIDEO_FRAME_PLANE_STRIDE(f, 0), us = GST_VIDEO_FRAME_PLANE_STRIDE(f, 1),
            vs = GST_VIDEO_FRAME_PLANE_STRIDE(f, 2);
  for (const auto& r : planes.rects) {
    if (r.x + r.w > fw || r.y + r.h > fh) continue;  // planes for another size
    for (int j = 0; j < r.h; ++j)
      blend_row(yp + size_t(r.y + j) * ys + r.x, &r.y_c[size_t(j) * r.w], &r.y_ia[size_t(j) * r.w], r.w);
    const int cw = r.w / 2;
    for (int j = 0; j < r.h / 2; ++j) {
      size_t o = size_t(j) * cw;
      blend_row(up + size_t(r.y / 2 + j) * us + r.x / 2, &r.u_c[o], &r.c_ia[o], cw);
      blend_row(vp + size_t(r.y / 2 + j) * vs + r.x / 2, &r.v_c[o], &r.c_ia[o], cw);
    }
  }
}

}  // namespace sabla::pipeline::detail
