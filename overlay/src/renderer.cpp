// The overlay renderer (Cairo + Pango). The /overlay browser page must draw
// the same picture: this block and docs/overlay-layout.md are the contract
// (keep them in step).
//
// ---- Geometry. Numbers are at 1920x1080; every length is multiplied by
// ---- s = height / 1080. Nothing is snapped to whole pixels. ----
//
//   W, H   output size.  F = theme.font_size.  MX = theme.margin_x and
//          MY = theme.margin_y (the safe area).
//   GAP 16 between stacked boxes and between a stack and what it sits on.
//   PAD 24 inner padding of comment and lower-third boxes.
//   RADIUS 12  corners of comment and lower-third boxes.
//
//   Line boxes: every line of text is exactly its line height tall; its
//   baseline is (line height - (A + D)) / 2 + A below the line box's top,
//   where A and D are the ascent and descent of the FIRST family of the list
//   at that size and weight (CSS: a fixed line-height, half-leading around
//   the primary font; Noto Naskh Arabic: A = 1.069 px, D = 0.634 px per px
//   of font size). Glyphs from fallback fonts sit on the same baseline and
//   never change a line's height.
//
//   Ticker (state.ticker set): a band x 0..W, y H-56..H (no margins),
//     filled with theme.accent. Text: theme.text_color, regular,
//     min(0.7*F, 36) px (28 at F=40), one line box 56 tall = the band,
//     between x MX and W-MX, ellipsized at the end with "…"; newlines become
//     spaces. Direction: the first strong character (Arabic -> rtl, Latin
//     -> ltr, none -> rtl), start-aligned (rtl: at W-MX).
//   Content bottom CB = H-MY, or with a ticker min(H-MY, H-56-GAP)
//     (default theme: 1026 without a ticker, 1008 with one).
//
//   Lower third (state.lower_third set and not all empty): one line per
//     non-empty field, each one line (newlines -> spaces, never wrapped,
//     ellipsized at the end), in this order:
//       Arabic group,  dir rtl, right-aligned: name_ar, title_ar, session_ar
//       English group, dir ltr, left-aligned:  name_en, title_en, session_en
//     name: bold 1.1*F px (44), text_color; title: regular 0.8*F (32),
//     text_color; session: regular 0.6*F (24), theme.accent. Line height
//     1.3 x the line's font size (57.2, 41.6, 31.2). 8 between the groups.
//     Box: width = widest line + 2*PAD, at most min(900, W-2*MX) (longer
//     lines are ellipsized to that inner width); height = 2*PAD + line
//     heights (+ 8); bottom at CB; right side (x = W-MX-width) when any
//     Arabic field is set, else left (x = MX); theme.background, RADIUS.
//     Lines align to their own start edge of the content area.
//
//   Logo (theme.logo_path is a PNG that loads): top-left at (MX, MY). Its
//     pixel size counts as its size at 1080p: drawn at
//     s * min(1, 120/h, 480/w) -> at most 120 high and 480 wide, aspect
//     kept. A missing or bad file is skipped.
//
//   Comment stack (state.comments in order; the first is the top box):
//     width:  bottom and top: x MX .. W-MX (1728 wide);
//             side: 560 wide, x W-MX-560 .. W-MX (never wider than W-2*MX).
//     bottom limit BL = CB, or with a lower third (whichever side it is on)
//             its top - GAP.
//     top limit TL = MY, or when theme.logo_path is not empty (loadable
//             or not: the page cannot tell) at position bottom/top
//             MY + 120 + GAP (side: MY).
//     bottom: the last box's bottom at BL, stacked upward, GAP apart.
//     top, side: the first box's top at TL, stacked downward, GAP apart.
//     If the stack (boxes + gaps) is taller than BL-TL, comments are dropped
//     from the front of the list (the oldest) until it fits; the last one is
//     always drawn.
//   Comment box: theme.background, RADIUS corners; content width
//     IW = box width - 2*PAD. Paragraph direction = comment.dir ("ltr" ->
//     ltr, anything else -> rtl); start-aligned (rtl: right edge).
//     Author line at PAD from the top: one line box 1.4*0.75*F tall (42),
//       the author in theme.accent, bold, 0.75*F px (30), wrapped in U+2068
//       FSI .. U+2069 PDI (bidi controls inside the name removed; HTML: a
//       <bdi>), one line, ellipsized.
//       Badge when comment.source is neither "web" nor empty: text
//       "via <source>" (ltr), bold, 0.5*F px (20), family "Noto Sans" then
//       the theme's list, theme.accent, one line box 0.8*F (32) tall; the
//       pill is that high and text width + 2*12 wide, a 2 thick accent
//       outline inside those bounds (CSS border, box-sizing: border-box),
//       radius half its height, no fill; vertically centred on the author
//       line; on the end side of the name, 12 from it (rtl: left of the
//       name). The name is ellipsized to IW - pill width - 12.
//     Text 6 below the author line: theme.text_color, regular, F px, line
//       height 1.5*F (60), wrapped at word boundaries (inside a word when
//       the word alone is too wide), newlines are line breaks, at most
//       theme.max_lines lines in total, the last shown line ellipsized at
//       the end with "…".
//     Box height = 2*PAD + 42 + 6 + lines*60 (1 line: 156, 3 lines: 276).
//
//   Poll (state.poll set): one box PW = min(760, W-2*MX) wide, PAD, RADIUS,
//     theme.background. Language: Arabic (rtl, right-aligned) when
//     question_ar is set, else English (ltr); an option's label in that
//     language, else the other one. Newlines become spaces.
//     Question: text_color, bold 0.8*F (32), line height 1.3x (41.6),
//       wrapped, at most 2 lines, ellipsized.
//     12 below, one row per option, 12 apart: the label line 1.3*0.7*F
//       (36.4) tall, regular 0.7*F (28), text_color, ellipsized; with
//       results the percentage round(100*votes/total) + "%", bold 0.7*F,
//       accent, on the end side, the label ellipsized to IW - its width
//       - 12; then 6 below a bar 14 high, IW wide, radius 7: the track in
//       text_color at 0.25 of its alpha, the share votes/total of it filled
//       with accent from the start side.
//     With results, 12 below the last row a footer line (poll_footer():
//       "عدد الأصوات: N" / "Votes: N", "النتيجة النهائية · " / "Final result
//       · " first when closed), regular 0.6*F (24), line height 31.2, accent.
//     Height = 2*PAD + q*41.6 + 12 + n*36.4 + (n-1)*12
//              [+ n*(6+14) + 12 + 31.2 with results].
//     Place: bottom: top at TL, on the right (rtl) or left; the comment
//       stack's top limit becomes its bottom + GAP. top: bottom at BL, right
//       or left; the stack's bottom limit becomes its top - GAP. side: on
//       the left (x = MX), bottom at BL; the comment column is unchanged.
//
// Fonts: theme.font_family as a family list, minus any family whose name
// contains "emoji" (see pango_families), then fontconfig fallback (which
// still finds Noto Color Emoji for emoji). Sizes are pixel sizes; grey
// antialiasing, no hinting, unrounded glyph positions.
// Paint order: ticker, lower third, logo, poll, comment boxes.
#include "sabla/overlay/renderer.h"

#include <cairo.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string_view>

namespace sabla::overlay {

namespace {

// ---- RAII for the C objects ----

struct CairoDestroy {
  void operator()(cairo_t* p) const { cairo_destroy(p); }
  void operator()(cairo_surface_t* p) const { cairo_surface_destroy(p); }
  void operator()(cairo_font_options_t* p) const { cairo_font_options_destroy(p); }
};
struct GObjectUnref {
  void operator()(gpointer p) const { g_object_unref(p); }
};
struct PangoFree {
  void operator()(PangoFontDescription* p) const { pango_font_description_free(p); }
  void operator()(PangoFontMetrics* p) const { pango_font_metrics_unref(p); }
  void operator()(PangoLayoutIter* p) const { pango_layout_iter_free(p); }
};

using CairoPtr = std::unique_ptr<cairo_t, CairoDestroy>;
using SurfacePtr = std::unique_ptr<cairo_surface_t, CairoDestroy>;
using FontOptionsPtr = std::unique_ptr<cairo_font_options_t, CairoDestroy>;
using FontMapPtr = std::unique_ptr<PangoFontMap, GObjectUnref>;
using ContextPtr = std::unique_ptr<PangoContext, GObjectUnref>;
using LayoutPtr = std::unique_ptr<PangoLayout, GObjectUnref>;
using FontDescPtr = std::unique_ptr<PangoFontDescription, PangoFree>;

// ---- Geometry constants at 1080p ----

constexpr double kGap = 16;
constexpr double kPad = 24;
constexpr double kRadius = 12;
constexpr double kTickerHeight = 56;
constexpr double kTickerMaxFont = 36;
constexpr double kTickerFontFactor = 0.7;
constexpr double kSideWidth = 560;
constexpr double kLowerThirdMaxWidth = 900;
constexpr double kLogoMaxHeight = 120;
constexpr double kLogoMaxWidth = 480;
constexpr double kAuthorFactor = 0.75;
constexpr double kAuthorLineFactor = 1.4;
constexpr double kAuthorTextGap = 6;
constexpr double kTextLineFactor = 1.5;
constexpr double kBadgeFontFactor = 0.5;
constexpr double kBadgeHeightFactor = 0.8;
constexpr double kBadgePadX = 12;
constexpr double kBadgeBorder = 2;
constexpr double kBadgeGap = 12;
constexpr double kLtNameFactor = 1.1;
constexpr double kLtTitleFactor = 0.8;
constexpr double kLtSessionFactor = 0.6;
constexpr double kLtLineFactor = 1.3;
constexpr double kLtGroupGap = 8;
constexpr double kPollWidth = 760;
constexpr double kPollQuestionFactor = 0.8;
constexpr int kPollQuestionLines = 2;
constexpr double kPollLabelFactor = 0.7;
constexpr double kPollFooterFactor = 0.6;
constexpr double kPollLineFactor = 1.3;
constexpr double kPollBlockGap = 12;  // after the question, between rows, before the footer
constexpr double kPollPercentGap = 12;
constexpr double kPollBarGap = 6;
constexpr double kPollBarHeight = 14;
constexpr double kPollTrackAlpha = 0.25;

struct Rgba {
  double r = 1, g = 1, b = 1, a = 1;
};

Rgba color_or(const std::string& text, const std::string& fallback) {
  Rgba c;
  if (parse_color(text, &c.r, &c.g, &c.b, &c.a)) return c;
  parse_color(fallback, &c.r, &c.g, &c.b, &c.a);
  return c;
}

void set_source(cairo_t* cr, const Rgba& c) { cairo_set_source_rgba(cr, c.r, c.g, c.b, c.a); }

void rounded_rect(cairo_t* cr, double x, double y, double w, double h, double r) {
  r = std::max(0.0, std::min({r, w / 2, h / 2}));
  cairo_new_sub_path(cr);
  cairo_arc(cr, x + w - r, y + r, r, -G_PI / 2, 0);
  cairo_arc(cr, x + w - r, y + h - r, r, 0, G_PI / 2);
  cairo_arc(cr, x + r, y + h - r, r, G_PI / 2, G_PI);
  cairo_arc(cr, x + r, y + r, r, G_PI, 3 * G_PI / 2);
  cairo_close_path(cr);
}

// Decodes one UTF-8 code point at s[*i] (the string is valid UTF-8 after
// g_utf8_make_valid); advances *i.
uint32_t next_code_point(std::string_view s, size_t* i) {
  const auto b0 = static_cast<unsigned char>(s[*i]);
  int extra = b0 < 0x80 ? 0 : b0 < 0xE0 ? 1 : b0 < 0xF0 ? 2 : 3;
  uint32_t cp = extra == 0 ? b0 : extra == 1 ? (b0 & 0x1F) : extra == 2 ? (b0 & 0x0F) : (b0 & 0x07);
  size_t j = *i + 1;
  for (int k = 0; k < extra && j < s.size(); ++k, ++j) cp = (cp << 6) | (static_cast<unsigned char>(s[j]) & 0x3F);
  *i = j;
  return cp;
}

// Pango needs valid UTF-8 (it warns and draws nothing otherwise); the server
// validates, this is the second line of defence.
std::string valid_utf8(const std::string& s) {
  if (g_utf8_validate(s.data(), static_cast<gssize>(s.size()), nullptr)) return s;
  gchar* fixed = g_utf8_make_valid(s.data(), static_cast<gssize>(s.size()));
  std::string out(fixed);
  g_free(fixed);
  return out;
}

enum class Breaks { kSpaces, kLineSeparators };

// Text for Pango: valid UTF-8; CR/LF/TAB turned into spaces (one-line
// fields) or into U+2028 LINE SEPARATOR (comment text: a forced line break
// that keeps a single paragraph, so max_lines counts every line).
// `strip_bidi` removes the explicit embedding/override/isolate controls.
std::string clean_text(const std::string& raw, Breaks breaks, bool strip_bidi) {
  const std::string s = valid_utf8(raw);
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    const uint32_t cp = next_code_point(s, &i);
    if (cp == '\r' && i < s.size() && s[i] == '\n') continue;  // CRLF: the LF makes the break
    if (cp == '\r' || cp == '\n' || cp == 0x2029 || cp == 0x2028) {
      out += breaks == Breaks::kSpaces ? " " : "\u2028";
      continue;
    }
    if (cp == '\t') {
      out += ' ';
      continue;
    }
    if (strip_bidi && ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))) continue;
    out.append(s, start, i - start);
  }
  return out;
}

// The direction of the first strongly directional character, as HTML
// dir="auto" decides it: true for a left-to-right letter, false for a
// right-to-left one or when there is none (an RTL-first default).
bool first_strong_is_ltr(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint32_t cp = next_code_point(s, &i);
    const bool rtl = (cp >= 0x0590 && cp <= 0x08FF) || (cp >= 0xFB1D && cp <= 0xFDFF) ||
                     (cp >= 0xFE70 && cp <= 0xFEFF) || (cp >= 0x10800 && cp <= 0x10FFF) ||
                     (cp >= 0x1E800 && cp <= 0x1EFFF);
    if (rtl) {
      // Arabic-Indic digits and a few marks inside the block are weak, not strong.
      const bool weak = (cp >= 0x0660 && cp <= 0x0669) || (cp >= 0x06F0 && cp <= 0x06F9) ||
                        (cp >= 0x064B && cp <= 0x065F) || cp == 0x0670;
      if (!weak) return false;
      continue;
    }
    if (g_unichar_isalpha(cp)) return true;
  }
  return false;
}

// The theme's family list for Pango, without emoji families. Listing a
// colour emoji font explicitly makes Pango + fontconfig draw ASCII digits,
// spaces, '#' and '*' (characters with the Unicode Emoji property) from it:
// wide grey keycap digits. fontconfig's fallback still finds the emoji font
// for real emoji.
std::string pango_families(const std::string& list) {
  std::string out;
  size_t from = 0;
  while (from <= list.size()) {
    size_t comma = list.find(',', from);
    if (comma == std::string::npos) comma = list.size();
    std::string name = list.substr(from, comma - from);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    std::string lower = name;
    for (char& ch : lower) ch = static_cast<char>(g_ascii_tolower(ch));
    if (!name.empty() && lower.find("emoji") == std::string::npos) {
      if (!out.empty()) out += ",";
      out += name;
    }
    from = comma + 1;
  }
  return out;
}

struct TextStyle {
  double px = 40;           // font size in pixels (already scaled)
  double line_height = 60;  // pixels (already scaled)
  bool bold = false;
  bool rtl = true;          // paragraph direction; alignment follows it (start side)
  double width = -1;        // pixels; -1 = unlimited
  int max_lines = 1;        // wrap into at most this many lines; 1 = one line, no wrapping
};

struct Extents {
  double x = 0, y = 0, width = 0, height = 0;  // logical rectangle, pixels, relative to the layout origin
};

Extents logical_extents(PangoLayout* layout) {
  PangoRectangle logical;
  pango_layout_get_extents(layout, nullptr, &logical);
  return Extents{logical.x / double(PANGO_SCALE), logical.y / double(PANGO_SCALE),
                 logical.width / double(PANGO_SCALE), logical.height / double(PANGO_SCALE)};
}

// A laid-out block of text and how its lines are placed.
struct Text {
  LayoutPtr layout;
  Extents ext;               // Pango's logical rectangle (x: the alignment offset; width: the text's)
  int lines = 1;
  double line_height = 0;    // pixels
  double baseline = 0;       // from a line box's top to its baseline, pixels
};

}  // namespace

uint32_t Frame::pixel(int x, int y) const {
  uint32_t v;
  std::memcpy(&v, pixels.data() + static_cast<size_t>(y) * stride + static_cast<size_t>(x) * 4, sizeof v);
  return v;
}

bool write_png(const Frame& frame, const std::string& path) {
  if (frame.empty() || frame.stride < frame.width * 4 ||
      frame.pixels.size() < static_cast<size_t>(frame.stride) * frame.height)
    return false;
  // Cairo only reads the data here; it wants a non-const pointer.
  SurfacePtr surface(cairo_image_surface_create_for_data(const_cast<unsigned char*>(frame.pixels.data()),
                                                         CAIRO_FORMAT_ARGB32, frame.width, frame.height,
                                                         frame.stride));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) return false;
  return cairo_surface_write_to_png(surface.get(), path.c_str()) == CAIRO_STATUS_SUCCESS;
}

Frame read_png(const std::string& path) {
  SurfacePtr loaded(cairo_image_surface_create_from_png(path.c_str()));
  if (cairo_surface_status(loaded.get()) != CAIRO_STATUS_SUCCESS) return {};
  Frame frame;
  frame.width = cairo_image_surface_get_width(loaded.get());
  frame.height = cairo_image_surface_get_height(loaded.get());
  frame.stride = cairo_format_stride_for_width(CAIRO_FORMAT_ARGB32, frame.width);
  frame.pixels.assign(static_cast<size_t>(frame.stride) * frame.height, 0);
  SurfacePtr target(cairo_image_surface_create_for_data(frame.pixels.data(), CAIRO_FORMAT_ARGB32, frame.width,
                                                        frame.height, frame.stride));
  CairoPtr cr(cairo_create(target.get()));
  cairo_set_operator(cr.get(), CAIRO_OPERATOR_SOURCE);
  cairo_set_source_surface(cr.get(), loaded.get(), 0, 0);
  cairo_paint(cr.get());
  cr.reset();
  cairo_surface_flush(target.get());
  if (cairo_surface_status(target.get()) != CAIRO_STATUS_SUCCESS) return {};
  return frame;
}

struct Renderer::Impl {
  int width;
  int height;
  double s;
  FontMapPtr font_map;
  ContextPtr rtl;
  ContextPtr ltr;

  // The decoded logo, reloaded when the path, size or mtime changes.
  struct Logo {
    std::string path;
    std::filesystem::file_time_type mtime{};
    uintmax_t size = 0;
    SurfacePtr surface;  // null: could not be loaded
  };
  std::optional<Logo> logo;
  std::map<std::string, std::pair<double, double>> metrics_cache;  // ascent, descent of a primary font

  Impl(int w, int h)
      : width(std::max(1, w)),
        height(std::max(1, h)),
        s(height / 1080.0),
        font_map(pango_cairo_font_map_new()),
        rtl(make_context(PANGO_DIRECTION_RTL)),
        ltr(make_context(PANGO_DIRECTION_LTR)) {}

  ContextPtr make_context(PangoDirection dir) {
    ContextPtr ctx(pango_font_map_create_context(font_map.get()));
    pango_context_set_base_dir(ctx.get(), dir);
    pango_context_set_round_glyph_positions(ctx.get(), FALSE);
    FontOptionsPtr options(cairo_font_options_create());
    cairo_font_options_set_antialias(options.get(), CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_style(options.get(), CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(options.get(), CAIRO_HINT_METRICS_OFF);
    pango_cairo_context_set_font_options(ctx.get(), options.get());  // copies the options
    return ctx;
  }

  // Ascent and descent of the first family of the list at this size and
  // weight (CSS: the primary font), for placing baselines.
  // Cached: the key is the font description's string form.
  std::pair<double, double> primary_metrics(const PangoFontDescription* font, double px) {
    std::unique_ptr<char, decltype(&g_free)> key(pango_font_description_to_string(font), &g_free);
    if (auto it = metrics_cache.find(key.get()); it != metrics_cache.end()) return it->second;
    std::pair<double, double> result{0.8 * px, 0.2 * px};
    std::unique_ptr<PangoFont, GObjectUnref> loaded(pango_context_load_font(ltr.get(), font));
    if (loaded) {
      std::unique_ptr<PangoFontMetrics, PangoFree> metrics(pango_font_get_metrics(loaded.get(), nullptr));
      if (metrics)
        result = {pango_font_metrics_get_ascent(metrics.get()) / double(PANGO_SCALE),
                  pango_font_metrics_get_descent(metrics.get()) / double(PANGO_SCALE)};
    }
    if (metrics_cache.size() > 256) metrics_cache.clear();  // themes change rarely; keep it bounded
    metrics_cache.emplace(key.get(), result);
    return result;
  }

  // Lays out already-cleaned text. Alignment is the start side of the
  // paragraph direction; auto_dir is off so the direction is the context's,
  // and Pango then does not mirror the alignment.
  Text layout(const std::string& family, const std::string& text, const TextStyle& st) {
    Text out;
    out.layout.reset(pango_layout_new(st.rtl ? rtl.get() : ltr.get()));
    PangoLayout* l = out.layout.get();
    pango_layout_set_auto_dir(l, FALSE);
    FontDescPtr font(pango_font_description_new());
    pango_font_description_set_family(font.get(), family.c_str());
    pango_font_description_set_weight(font.get(), st.bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_font_description_set_absolute_size(font.get(), st.px * PANGO_SCALE);
    pango_layout_set_font_description(l, font.get());
    pango_layout_set_alignment(l, st.rtl ? PANGO_ALIGN_RIGHT : PANGO_ALIGN_LEFT);
    if (st.width > 0) {
      pango_layout_set_width(l, static_cast<int>(std::floor(st.width * PANGO_SCALE)));
      pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
      pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
      pango_layout_set_height(l, -std::max(1, st.max_lines));  // lines per paragraph: the text is one paragraph
    }
    pango_layout_set_text(l, text.c_str(), static_cast<int>(text.size()));  // plain text, never markup
    out.ext = logical_extents(l);
    out.lines = std::max(1, pango_layout_get_line_count(l));
    out.line_height = st.line_height;
    const auto [ascent, descent] = primary_metrics(font.get(), st.px);
    out.baseline = (st.line_height - (ascent + descent)) / 2 + ascent;
    return out;
  }

  // Draws the lines of `text` from `top`, each line box exactly
  // text.line_height tall with its baseline text.baseline below the box top
  // (CSS: a fixed line-height; fallback fonts do not change line heights, as
  // they would with Pango's own line placement). `x` is the layout's origin.
  static void draw(cairo_t* cr, const Text& text, double x, double top, const Rgba& color) {
    set_source(cr, color);
    std::unique_ptr<PangoLayoutIter, PangoFree> it(pango_layout_get_iter(text.layout.get()));
    int i = 0;
    do {
      PangoRectangle logical;
      pango_layout_iter_get_line_extents(it.get(), nullptr, &logical);
      cairo_move_to(cr, x + logical.x / double(PANGO_SCALE), top + i * text.line_height + text.baseline);
      pango_cairo_show_layout_line(cr, pango_layout_iter_get_line_readonly(it.get()));
      ++i;
    } while (pango_layout_iter_next_line(it.get()));
  }

  cairo_surface_t* logo_surface(const std::string& path) {
    if (path.empty()) return nullptr;
    std::error_code ec;
    const auto mtime = std::filesystem::last_write_time(path, ec);
    if (ec) return nullptr;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return nullptr;
    if (!logo || logo->path != path || logo->mtime != mtime || logo->size != size) {
      Logo next;
      next.path = path;
      next.mtime = mtime;
      next.size = size;
      SurfacePtr surface(cairo_image_surface_create_from_png(path.c_str()));
      if (cairo_surface_status(surface.get()) == CAIRO_STATUS_SUCCESS &&
          cairo_image_surface_get_width(surface.get()) > 0 && cairo_image_surface_get_height(surface.get()) > 0)
        next.surface = std::move(surface);
      logo = std::move(next);
    }
    return logo->surface.get();
  }

  // Colours and sizes of one render, already scaled and validated.
  struct Paint {
    std::string family;
    double F = 40, mx = 96, full_w = 1728;
    Rgba text, background, accent;
  };
  // Draws the poll box (see the geometry above) between `top_limit` and
  // `bottom_limit` as the theme's position says; returns its height.
  double draw_poll(cairo_t* cr, const AiredPoll& poll, const std::string& position, const Paint& paint,
                   double top_limit, double bottom_limit);

  Frame render(const State& state);
};

double Renderer::Impl::draw_poll(cairo_t* cr, const AiredPoll& poll, const std::string& position, const Paint& paint,
                                 double top_limit, double bottom_limit) {
  const double W = width, F = paint.F;
  const double pad = kPad * s, radius = kRadius * s, block_gap = kPollBlockGap * s;
  const bool rtl = poll.rtl();
  const double box_w = std::min(kPollWidth * s, paint.full_w);
  const double inner_w = std::max(1.0, box_w - 2 * pad);

  TextStyle qs;
  qs.px = kPollQuestionFactor * F;
  qs.line_height = kPollLineFactor * qs.px;
  qs.bold = true;
  qs.rtl = rtl;
  qs.width = inner_w;
  qs.max_lines = kPollQuestionLines;
  Text question =
      layout(paint.family, clean_text(rtl ? poll.question_ar : poll.question_en, Breaks::kSpaces, false), qs);

  struct Row {
    Text label;
    std::optional<Text> percent;
    double label_w = 0;
    double share = 0;  // votes / total
  };
  std::vector<Row> rows;
  const double label_px = kPollLabelFactor * F;
  const double label_lh = kPollLineFactor * label_px;
  for (const PollOption& option : poll.options) {
    Row row;
    row.label_w = inner_w;
    if (poll.results) {
      TextStyle ps;
      ps.px = label_px;
      ps.line_height = label_lh;
      ps.bold = true;
      ps.rtl = rtl;
      row.percent = layout(paint.family, std::to_string(poll_percent(option.votes, poll.total)) + "%", ps);
      row.label_w = std::max(1.0, inner_w - row.percent->ext.width - kPollPercentGap * s);
      row.share = poll.total > 0 ? std::clamp(double(option.votes) / double(poll.total), 0.0, 1.0) : 0.0;
    }
    TextStyle ls;
    ls.px = label_px;
    ls.line_height = label_lh;
    ls.rtl = rtl;
    ls.width = row.label_w;
    row.label = layout(paint.family, clean_text(poll_label(poll, option), Breaks::kSpaces, false), ls);
    rows.push_back(std::move(row));
  }
  std::optional<Text> footer;
  if (poll.results) {
    TextStyle fs;
    fs.px = kPollFooterFactor * F;
    fs.line_height = kPollLineFactor * fs.px;
    fs.rtl = rtl;
    fs.width = inner_w;
    footer = layout(paint.family, poll_footer(poll), fs);
  }

  const double bar_h = kPollBarHeight * s, bar_gap = kPollBarGap * s;
  const double row_h = label_lh + (poll.results ? bar_gap + bar_h : 0);
  double box_h = 2 * pad + question.lines * question.line_height + block_gap + rows.size() * row_h +
                 (rows.empty() ? 0 : (rows.size() - 1) * block_gap);
  if (footer) box_h += block_gap + footer->line_height;

  const bool side = position == "side";
  const double box_x = side || !rtl ? paint.mx : W - paint.mx - box_w;
  // Any position but top and side is bottom (as for the comment stack).
  const double box_y = !side && position != "top" ? top_limit : bottom_limit - box_h;
  set_source(cr, paint.background);
  rounded_rect(cr, box_x, box_y, box_w, box_h, radius);
  cairo_fill(cr);

  const double inner_x = box_x + pad;
  double y = box_y + pad;
  draw(cr, question, inner_x, y, paint.text);
  y += question.lines * question.line_height + block_gap;
  Rgba track = paint.text;
  track.a *= kPollTrackAlpha;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    // The label layout is label_w wide and start-aligned in it.
    draw(cr, row.label, rtl ? inner_x + inner_w - row.label_w : inner_x, y, paint.text);
    if (row.percent) {
      const Extents& e = row.percent->ext;
      draw(cr, *row.percent, (rtl ? inner_x : inner_x + inner_w - e.width) - e.x, y, paint.accent);
      const double bar_y = y + label_lh + bar_gap;
      set_source(cr, track);
      rounded_rect(cr, inner_x, bar_y, inner_w, bar_h, bar_h / 2);
      cairo_fill(cr);
      const double fill_w = inner_w * row.share;
      if (fill_w > 0) {
        set_source(cr, paint.accent);
        rounded_rect(cr, rtl ? inner_x + inner_w - fill_w : inner_x, bar_y, fill_w, bar_h, bar_h / 2);
        cairo_fill(cr);
      }
    }
    y += row_h + (i + 1 < rows.size() ? block_gap : 0);
  }
  if (footer) draw(cr, *footer, inner_x, y + block_gap, paint.accent);
  return box_h;
}

Frame Renderer::Impl::render(const State& state) {
  const double W = width, H = height;
  const Theme& theme = state.theme;
  const Theme defaults;
  std::string family = pango_families(theme.font_family);
  if (family.empty()) family = pango_families(defaults.font_family);
  const Rgba text_color = color_or(theme.text_color, defaults.text_color);
  const Rgba background = color_or(theme.background, defaults.background);
  const Rgba accent = color_or(theme.accent, defaults.accent);
  const double F = std::max(1, theme.font_size) * s;
  const double mx = std::max(0, theme.margin_x) * s;
  const double my = std::max(0, theme.margin_y) * s;
  const double gap = kGap * s, pad = kPad * s, radius = kRadius * s;
  const double full_w = std::max(1.0, W - 2 * mx);

  Frame frame;
  frame.width = width;
  frame.height = height;
  frame.stride = cairo_format_stride_for_width(CAIRO_FORMAT_ARGB32, width);
  frame.pixels.assign(static_cast<size_t>(frame.stride) * height, 0);
  SurfacePtr surface(
      cairo_image_surface_create_for_data(frame.pixels.data(), CAIRO_FORMAT_ARGB32, width, height, frame.stride));
  CairoPtr cairo(cairo_create(surface.get()));
  cairo_t* cr = cairo.get();

  // ---- Ticker ----
  double content_bottom = H - my;
  if (state.ticker) {
    const double band_h = kTickerHeight * s;
    const double band_y = H - band_h;
    content_bottom = std::min(content_bottom, band_y - gap);
    set_source(cr, accent);
    cairo_rectangle(cr, 0, band_y, W, band_h);
    cairo_fill(cr);
    const std::string text = clean_text(*state.ticker, Breaks::kSpaces, false);
    TextStyle st;
    st.px = std::min(kTickerFontFactor * theme.font_size, kTickerMaxFont) * s;
    st.line_height = band_h;
    st.rtl = !first_strong_is_ltr(text);
    st.width = full_w;
    draw(cr, layout(family, text, st), mx, band_y, text_color);
  }

  // ---- Lower third ----
  double stack_bottom = content_bottom;
  if (state.lower_third && !state.lower_third->empty()) {
    const LowerThird& lt = *state.lower_third;
    const bool arabic = !lt.name_ar.empty() || !lt.title_ar.empty() || !lt.session_ar.empty();
    const double max_box_w = std::min(kLowerThirdMaxWidth * s, full_w);
    const double max_inner = std::max(1.0, max_box_w - 2 * pad);
    struct Line {
      Text text;
      bool rtl;
      bool group_start;
      const Rgba* color;
    };
    std::vector<Line> lines;
    auto add = [&](const std::string& field, double factor, bool bold, bool rtl, const Rgba* color) {
      if (field.empty()) return;
      TextStyle st;
      st.px = factor * F;
      st.line_height = kLtLineFactor * st.px;
      st.bold = bold;
      st.rtl = rtl;
      st.width = max_inner;
      Text t = layout(family, clean_text(field, Breaks::kSpaces, false), st);
      const bool group_start = !lines.empty() && lines.back().rtl != rtl;
      lines.push_back(Line{std::move(t), rtl, group_start, color});
    };
    add(lt.name_ar, kLtNameFactor, true, true, &text_color);
    add(lt.title_ar, kLtTitleFactor, false, true, &text_color);
    add(lt.session_ar, kLtSessionFactor, false, true, &accent);
    add(lt.name_en, kLtNameFactor, true, false, &text_color);
    add(lt.title_en, kLtTitleFactor, false, false, &text_color);
    add(lt.session_en, kLtSessionFactor, false, false, &accent);

    double content_w = 0, content_h = 0;
    for (const Line& line : lines) {
      content_w = std::max(content_w, std::min(line.text.ext.width, max_inner));
      content_h += line.text.line_height + (line.group_start ? kLtGroupGap * s : 0);
    }
    const double box_w = content_w + 2 * pad;
    const double box_h = content_h + 2 * pad;
    const double box_x = arabic ? W - mx - box_w : mx;
    const double box_y = content_bottom - box_h;
    set_source(cr, background);
    rounded_rect(cr, box_x, box_y, box_w, box_h, radius);
    cairo_fill(cr);
    double y = box_y + pad;
    for (const Line& line : lines) {
      if (line.group_start) y += kLtGroupGap * s;
      // Place the line's logical box at the start side of the content area.
      const double left = line.rtl ? box_x + pad + content_w - line.text.ext.width : box_x + pad;
      draw(cr, line.text, left - line.text.ext.x, y, *line.color);
      y += line.text.line_height;
    }
    stack_bottom = box_y - gap;
  }

  // ---- Logo ----
  if (cairo_surface_t* img = logo_surface(theme.logo_path)) {
    const double iw = cairo_image_surface_get_width(img), ih = cairo_image_surface_get_height(img);
    const double k = s * std::min({1.0, kLogoMaxHeight / ih, kLogoMaxWidth / iw});
    cairo_save(cr);
    cairo_translate(cr, mx, my);
    cairo_scale(cr, k, k);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
    cairo_rectangle(cr, 0, 0, iw, ih);
    cairo_fill(cr);
    cairo_restore(cr);
  }

  const bool side = theme.position == "side";
  const bool top = theme.position == "top";
  // Room for the logo follows theme.logo_path alone (not the file), so the
  // browser page, which cannot read the file, computes the same limit.
  double top_limit = (!theme.logo_path.empty() && !side) ? my + kLogoMaxHeight * s + gap : my;

  // ---- Poll ----
  if (state.poll) {
    const Paint paint{family, F, mx, full_w, text_color, background, accent};
    const double poll_h = draw_poll(cr, *state.poll, theme.position, paint, top_limit, stack_bottom);
    if (!side && !top) top_limit += poll_h + gap;
    if (top) stack_bottom -= poll_h + gap;
  }

  // ---- Comments ----
  if (!state.comments.empty()) {
    const double box_w = side ? std::min(kSideWidth * s, full_w) : full_w;
    const double box_x = side ? W - mx - box_w : mx;
    const double inner_w = std::max(1.0, box_w - 2 * pad);
    const double author_px = kAuthorFactor * F;
    const double author_lh = kAuthorLineFactor * author_px;
    const double text_lh = kTextLineFactor * F;
    // The badge is Latin text: with a Latin primary font its baseline centres it in the pill.
    const std::string badge_family = "Noto Sans," + family;

    struct Box {
      Text author;
      std::optional<Text> badge;
      double badge_w = 0;
      Text text;
      double height = 0;
      bool rtl = true;
    };
    std::vector<Box> boxes;
    boxes.reserve(state.comments.size());
    for (const AiredComment& c : state.comments) {
      Box box;
      box.rtl = c.dir != "ltr";
      double name_w = inner_w;
      if (c.source != "web" && !c.source.empty()) {
        TextStyle bs;
        bs.px = kBadgeFontFactor * F;
        bs.line_height = kBadgeHeightFactor * F;
        bs.bold = true;
        bs.rtl = false;
        bs.width = std::max(1.0, inner_w / 2 - 2 * kBadgePadX * s);
        box.badge = layout(badge_family, "via " + clean_text(c.source, Breaks::kSpaces, true), bs);
        box.badge_w = box.badge->ext.width + 2 * kBadgePadX * s;
        name_w = std::max(1.0, inner_w - box.badge_w - kBadgeGap * s);
      }
      TextStyle as;
      as.px = author_px;
      as.line_height = author_lh;
      as.bold = true;
      as.rtl = box.rtl;
      as.width = name_w;
      box.author = layout(family, "\u2068" + clean_text(c.author, Breaks::kSpaces, true) + "\u2069", as);
      TextStyle ts;
      ts.px = F;
      ts.line_height = text_lh;
      ts.rtl = box.rtl;
      ts.width = inner_w;
      ts.max_lines = std::max(1, theme.max_lines);
      box.text = layout(family, clean_text(c.text, Breaks::kLineSeparators, false), ts);
      box.height = 2 * pad + author_lh + kAuthorTextGap * s + box.text.lines * text_lh;
      boxes.push_back(std::move(box));
    }

    // Drop the oldest (front) boxes until the stack fits; keep the last.
    size_t first = 0;
    double total = 0;
    for (const Box& b : boxes) total += b.height;
    total += gap * (boxes.size() - 1);
    while (first + 1 < boxes.size() && total > stack_bottom - top_limit) {
      total -= boxes[first].height + gap;
      ++first;
    }

    double y = top || side ? top_limit : stack_bottom - total;
    for (size_t i = first; i < boxes.size(); ++i) {
      const Box& b = boxes[i];
      set_source(cr, background);
      rounded_rect(cr, box_x, y, box_w, b.height, radius);
      cairo_fill(cr);
      const double inner_x = box_x + pad;
      const double author_y = y + pad;
      // The author layout is name_w wide and start-aligned in it.
      const double name_w = b.badge ? std::max(1.0, inner_w - b.badge_w - kBadgeGap * s) : inner_w;
      const double author_x = b.rtl ? inner_x + inner_w - name_w : inner_x;
      draw(cr, b.author, author_x, author_y, accent);
      if (b.badge) {
        const double bh = kBadgeHeightFactor * F;
        const double by = author_y + (author_lh - bh) / 2;
        const double name_left = author_x + b.author.ext.x;
        const double name_right = name_left + b.author.ext.width;
        const double bx = b.rtl ? name_left - kBadgeGap * s - b.badge_w : name_right + kBadgeGap * s;
        const double border = kBadgeBorder * s;
        set_source(cr, accent);
        cairo_set_line_width(cr, border);
        rounded_rect(cr, bx + border / 2, by + border / 2, b.badge_w - border, bh - border, (bh - border) / 2);
        cairo_stroke(cr);
        draw(cr, *b.badge, bx + kBadgePadX * s - b.badge->ext.x, by, accent);
      }
      draw(cr, b.text, inner_x, author_y + author_lh + kAuthorTextGap * s, text_color);
      y += b.height + gap;
    }
  }

  cairo.reset();
  cairo_surface_flush(surface.get());
  return frame;
}

Renderer::Renderer(int width, int height) : impl_(std::make_unique<Impl>(width, height)) {}
Renderer::~Renderer() = default;
Renderer::Renderer(Renderer&&) noexcept = default;
Renderer& Renderer::operator=(Renderer&&) noexcept = default;
int Renderer::width() const { return impl_->width; }
int Renderer::height() const { return impl_->height; }
Frame Renderer::render(const State& state) { return impl_->render(state); }

}  // namespace sabla::overlay
