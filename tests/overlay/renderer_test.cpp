// The overlay renderer, checked on pixels: plain text (never markup), the
// layout of docs/overlay-layout.md, direction-aware alignment, max_lines,
// scaling, and golden images per theme preset.
//
// Goldens: tests/overlay/golden/<preset>.png (480x270), poll.png (960x540,
// a poll with a comment and a lower third) and poll-box.png (480x270, the poll
// box alone, compared over the box's area). Rewrite them with
// SABLA_UPDATE_GOLDENS=1 and look at them before committing.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "sabla/overlay/renderer.h"

using namespace sabla::overlay;

namespace {

struct Rect {
  int x0 = 0, y0 = 0, x1 = -1, y1 = -1;  // inclusive; x1 < x0 when empty
  bool empty() const { return x1 < x0 || y1 < y0; }
  int width() const { return x1 - x0 + 1; }
  int height() const { return y1 - y0 + 1; }
};

template <class Pred>
Rect bbox(const Frame& f, Pred pred, Rect within = {0, 0, 1 << 30, 1 << 30}) {
  Rect r{1 << 30, 1 << 30, -1, -1};
  const int xe = std::min(within.x1, f.width - 1), ye = std::min(within.y1, f.height - 1);
  for (int y = std::max(0, within.y0); y <= ye; ++y)
    for (int x = std::max(0, within.x0); x <= xe; ++x)
      if (pred(x, y)) {
        r.x0 = std::min(r.x0, x);
        r.y0 = std::min(r.y0, y);
        r.x1 = std::max(r.x1, x);
        r.y1 = std::max(r.y1, y);
      }
  if (r.x1 < 0) return Rect{};
  return r;
}

// Everything drawn (alpha > 0).
Rect drawn(const Frame& f, Rect within = {0, 0, 1 << 30, 1 << 30}) {
  return bbox(f, [&](int x, int y) { return f.alpha(x, y) > 0; }, within);
}

int channel(uint32_t p, int shift) { return static_cast<int>((p >> shift) & 0xff); }

int max_channel_diff(uint32_t a, uint32_t b) {
  int d = 0;
  for (int shift : {0, 8, 16, 24}) d = std::max(d, std::abs(channel(a, shift) - channel(b, shift)));
  return d;
}

// Pixels where two frames of the same size differ noticeably.
Rect diff_box(const Frame& a, const Frame& b, int threshold = 24) {
  return bbox(a, [&](int x, int y) { return max_channel_diff(a.pixel(x, y), b.pixel(x, y)) > threshold; });
}

int count_diff(const Frame& a, const Frame& b, int threshold = 24) {
  int n = 0;
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x) n += max_channel_diff(a.pixel(x, y), b.pixel(x, y)) > threshold;
  return n;
}

bool all_zero(const Frame& f) {
  return std::all_of(f.pixels.begin(), f.pixels.end(), [](uint8_t b) { return b == 0; });
}

AiredComment comment(std::string text, std::string dir, std::string author = "سالم", std::string source = "web") {
  AiredComment c;
  c.id = 1;
  c.author = std::move(author);
  c.text = std::move(text);
  c.dir = std::move(dir);
  c.source = std::move(source);
  return c;
}

State with(AiredComment c, const std::string& position = "bottom") {
  State s;
  s.comments.push_back(std::move(c));
  s.theme.position = position;
  return s;
}

// The same state with the comment text made invisible: the difference
// between the two renders is exactly the text's pixels.
State text_hidden(State s) {
  s.theme.text_color = "#ffffff00";
  return s;
}

struct Measured {
  Rect box;   // the comment box (everything drawn without the text)
  Rect text;  // the comment text's ink
};

Measured measure(Renderer& r, const State& s) {
  const Frame with_text = r.render(s);
  const Frame without = r.render(text_hidden(s));
  return Measured{drawn(without), diff_box(with_text, without)};
}

const char* kArabicShort = "شكراً على الطرح";  // short enough for the 560 px side column
const char* kEnglishShort = "Thank you all!";
const char* kLong =
    "نأمل أن تُعرض نتائج الاستبيان على المواطنين قبل اتخاذ القرار النهائي في الجلسة القادمة، "
    "ونشكر المجلس على إتاحة الفرصة للمشاركة وطرح الأسئلة مباشرة على الوزراء والمسؤولين، "
    "ونتمنى أن تتكرر هذه التجربة في كل الجلسات العامة القادمة وأن تُنشر المحاضر كاملة على الموقع.";

// A temporary file name private to this process.
std::string temp_png(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("sabla-" + name + "-" + std::to_string(getpid()) + ".png")).string();
}

std::string golden_path(const std::string& name) {
  return std::string(SABLA_SOURCE_DIR) + "/tests/overlay/golden/" + name + ".png";
}

State golden_state(const std::string& preset) {
  State s;
  s.theme = *Theme::preset(preset);
  s.comments.push_back(comment("شكراً على هذا الطرح المهم، متى تُنشر نتائج الاستبيان؟", "rtl", "سالم الهاشمي"));
  s.comments.push_back(comment("Will the budget figures be published online? 👍", "ltr", "Sarah K.", "youtube"));
  LowerThird lt;
  lt.name_ar = "د. فاطمة الزهراء";
  lt.title_ar = "وزيرة التخطيط والتنمية";
  lt.name_en = "Dr. Fatima Al-Zahra";
  lt.title_en = "Minister of Planning and Development";
  s.lower_third = lt;
  s.ticker = "المجلس الوطني يناقش مشروع الموازنة العامة لعام ٢٠٢٥";
  return s;
}

AiredPoll poll(bool arabic = true, bool results = true) {
  AiredPoll p;
  p.id = 9;
  if (arabic) p.question_ar = "ما أولويتك في ميزانية العام القادم؟";
  p.question_en = "Your priority for next year's budget?";
  p.options = {{"الطرق", "Roads", 3}, {"المدارس", "Schools", 1}, {"المستشفيات", "Hospitals", 0}, {"", "Parks", 0}};
  p.results = results;
  p.total = results ? 4 : 0;
  if (!results)
    for (auto& o : p.options) o.votes = 0;
  return p;
}

bool is_accent(uint32_t p) {  // #c9a227, opaque or nearly
  return channel(p, 24) > 230 && std::abs(channel(p, 16) - 0xc9) < 12 && std::abs(channel(p, 8) - 0xa2) < 12 &&
         std::abs(channel(p, 0) - 0x27) < 12;
}

}  // namespace

SCENARIO("comment text is plain text, never Pango markup", "[renderer]") {
  Renderer r(1920, 1080);
  GIVEN("text with an ampersand, tags and a coloured span") {
    State s = with(comment("& <b>x</b> <span foreground=\"red\">red</span> AT&T", "ltr", "x&y <i>"));
    const Frame f = r.render(s);
    const Frame hidden = r.render(text_hidden(s));
    THEN("the text is drawn (an unescaped & would blank a markup layout)") {
      CHECK(count_diff(f, hidden) > 200);
    }
    THEN("no pixel is red: the span is shown as characters, not applied") {
      int red = 0;
      for (int y = 0; y < f.height; ++y)
        for (int x = 0; x < f.width; ++x) {
          const uint32_t p = f.pixel(x, y);
          const int a = channel(p, 24);
          if (a < 128) continue;
          const int R = channel(p, 16) * 255 / a, G = channel(p, 8) * 255 / a, B = channel(p, 0) * 255 / a;
          red += R > 160 && G < 90 && B < 90;
        }
      CHECK(red == 0);
    }
    THEN("the tags take up room as characters") {
      const Rect literal = diff_box(f, hidden);
      State plain = with(comment("& x red AT&T", "ltr", "x&y <i>"));
      const Rect stripped = diff_box(r.render(plain), r.render(text_hidden(plain)));
      REQUIRE_FALSE(literal.empty());
      REQUIRE_FALSE(stripped.empty());
      CHECK(literal.width() > stripped.width() * 3);
    }
  }
}

SCENARIO("an empty state renders fully transparent", "[renderer]") {
  Renderer r(1920, 1080);
  GIVEN("no comments, no lower third, no ticker, no logo") {
    const Frame f = r.render(State{});
    THEN("every byte is zero") {
      CHECK(f.width == 1920);
      CHECK(f.height == 1080);
      CHECK(f.stride >= 1920 * 4);
      CHECK(f.pixels.size() == static_cast<size_t>(f.stride) * 1080);
      CHECK(all_zero(f));
    }
  }
  GIVEN("a logo path that does not exist and an empty lower third") {
    State s;
    s.theme.logo_path = "/nonexistent/sabla-logo.png";
    s.lower_third = LowerThird{};
    THEN("nothing is drawn and nothing crashes") { CHECK(all_zero(r.render(s))); }
  }
}

SCENARIO("text is aligned to the start side of the comment's direction", "[renderer]") {
  Renderer r(1920, 1080);
  const double pad = 24;
  for (const std::string position : {"bottom", "top", "side"}) {
    GIVEN("position " + position) {
      WHEN("an Arabic comment (rtl)") {
        const Measured m = measure(r, with(comment(kArabicShort, "rtl"), position));
        REQUIRE_FALSE(m.text.empty());
        const double inner_left = m.box.x0 + pad, inner_right = m.box.x1 + 1 - pad;
        THEN("its right edge is at the box's right inner edge, its left edge far from the left") {
          CHECK(std::abs(m.text.x1 + 1 - inner_right) <= 4);
          CHECK(m.text.x0 - inner_left > 150);
        }
      }
      WHEN("an English comment (ltr)") {
        const Measured m = measure(r, with(comment(kEnglishShort, "ltr", "Sarah"), position));
        REQUIRE_FALSE(m.text.empty());
        const double inner_left = m.box.x0 + pad, inner_right = m.box.x1 + 1 - pad;
        THEN("its left edge is at the box's left inner edge, its right edge far from the right") {
          CHECK(std::abs(m.text.x0 - inner_left) <= 4);
          CHECK(inner_right - (m.text.x1 + 1) > 150);
        }
      }
    }
  }
  GIVEN("an Arabic author on an English comment and the reverse") {
    // The author line follows the comment's direction too.
    State en = with(comment(kEnglishShort, "ltr", "سالم"));
    State en_hidden = en;
    en_hidden.theme.accent = "#00000000";
    en_hidden.theme.text_color = "#00000000";
    const Frame a = r.render(en), b = r.render(en_hidden);
    const Rect box = drawn(b);
    const Rect author = bbox(a, [&](int x, int y) { return max_channel_diff(a.pixel(x, y), b.pixel(x, y)) > 24; },
                             Rect{0, box.y0 + 24, 1919, box.y0 + 24 + 42 - 1});
    THEN("the author of an ltr comment starts at the left inner edge") {
      REQUIRE_FALSE(author.empty());
      CHECK(std::abs(author.x0 - (box.x0 + pad)) <= 4);
    }
  }
}

SCENARIO("the comment box geometry follows docs/overlay-layout.md at 1920x1080", "[renderer]") {
  Renderer r(1920, 1080);
  GIVEN("one one-line comment") {
    WHEN("at the bottom") {
      const Measured m = measure(r, with(comment(kArabicShort, "rtl"), "bottom"));
      THEN("it spans margin to margin and sits on the bottom safe margin") {
        CHECK(m.box.x0 == 96);
        CHECK(m.box.x1 == 1920 - 96 - 1);
        CHECK(m.box.y1 == 1080 - 54 - 1);
        CHECK(m.box.height() == 24 + 42 + 6 + 60 + 24);
      }
    }
    WHEN("at the top") {
      const Measured m = measure(r, with(comment(kArabicShort, "rtl"), "top"));
      THEN("it hangs from the top safe margin") {
        CHECK(m.box.y0 == 54);
        CHECK(m.box.x0 == 96);
        CHECK(m.box.height() == 156);
      }
    }
    WHEN("at the side") {
      const Measured m = measure(r, with(comment(kArabicShort, "rtl"), "side"));
      THEN("it is a 560 wide column on the right from the top safe margin") {
        CHECK(m.box.y0 == 54);
        CHECK(m.box.x1 == 1920 - 96 - 1);
        CHECK(m.box.width() == 560);
      }
    }
  }
  GIVEN("two comments at the bottom") {
    State s = with(comment(kArabicShort, "rtl"));
    s.comments.push_back(comment(kEnglishShort, "ltr", "Sarah"));
    const Frame f = r.render(s);
    THEN("they stack upward, 16 apart, the last one at the bottom") {
      const Rect all = drawn(f);
      CHECK(all.y1 == 1025);
      CHECK(all.y0 == 1026 - 156 - 16 - 156);
      // The gap row is empty.
      const Rect gap = drawn(f, Rect{0, 1026 - 156 - 16, 1919, 1026 - 156 - 1});
      CHECK(gap.empty());
    }
  }
  GIVEN("a ticker and a lower third with a comment at the bottom") {
    State s = with(comment(kArabicShort, "rtl"));
    s.ticker = "خبر عاجل";
    LowerThird lt;
    lt.name_ar = "د. فاطمة الزهراء";
    lt.title_ar = "وزيرة التخطيط";
    s.lower_third = lt;
    const Frame f = r.render(s);
    THEN("the ticker is a full-width accent band 56 high at the very bottom") {
      const uint32_t accent = 0xffc9a227;  // #c9a227, opaque
      CHECK(f.pixel(0, 1079) == accent);
      CHECK(f.pixel(1919, 1024) == accent);
      CHECK(f.pixel(5, 1023) == 0);
    }
    THEN("the lower third sits 16 above the band on the right, the comment 16 above it") {
      // Lower third: name 1.1*40 = 44 px, line 57.2; title 32 px, line 41.6; + 2*24.
      const double lt_h = 57.2 + 41.6 + 48;
      const double lt_bottom = 1080 - 56 - 16;
      const Rect lt_box = drawn(f, Rect{0, static_cast<int>(lt_bottom - 20), 1919, static_cast<int>(lt_bottom - 20)});
      CHECK(lt_box.x1 == 1920 - 96 - 1);
      CHECK(lt_box.x0 > 960);
      const Rect all = drawn(f, Rect{0, 0, 1919, 1023});
      const double comment_bottom = lt_bottom - lt_h - 16;
      CHECK(std::abs(all.y0 - (comment_bottom - 156)) <= 1);
      // The gap between the comment and the lower third is empty.
      CHECK(drawn(f, Rect{0, static_cast<int>(comment_bottom) + 2, 1919, static_cast<int>(lt_bottom - lt_h) - 2}).empty());
    }
  }
  GIVEN("an English-only lower third") {
    State s;
    LowerThird lt;
    lt.name_en = "Dr. Fatima Al-Zahra";
    s.lower_third = lt;
    THEN("it sits on the left safe margin") {
      const Rect box = drawn(r.render(s));
      CHECK(box.x0 == 96);
      CHECK(box.y1 == 1025);
      CHECK(box.x1 < 960);
    }
  }
}

SCENARIO("wrapping respects max_lines", "[renderer]") {
  Renderer r(1920, 1080);
  GIVEN("a very long Arabic comment") {
    for (int lines : {1, 2, 3}) {
      WHEN("max_lines is " + std::to_string(lines)) {
        State s = with(comment(std::string(kLong) + " " + kLong, "rtl"));
        s.theme.max_lines = lines;
        const Measured m = measure(r, s);
        THEN("the box holds exactly that many 60 px lines and the ink fits them") {
          CHECK(m.box.height() == 24 + 42 + 6 + 60 * lines + 24);
          CHECK(m.text.height() > 60 * (lines - 1) + 20);
          CHECK(m.text.height() <= 60 * lines + 16);
        }
      }
    }
  }
  GIVEN("newlines in the text") {
    State s = with(comment("سطر أول\nسطر ثان\nسطر ثالث\nسطر رابع", "rtl"));
    s.theme.max_lines = 2;
    THEN("they break lines and count toward max_lines") {
      CHECK(measure(r, s).box.height() == 96 + 120);
      s.theme.max_lines = 5;
      CHECK(measure(r, s).box.height() == 96 + 240);
    }
  }
}

SCENARIO("mixed, odd and hostile text renders without trouble", "[renderer]") {
  Renderer r(1280, 720);
  GIVEN("mixed Arabic/English text, emoji, an isolated mixed author and a badge") {
    State s = with(comment("هل تشمل الخطة مدينة Dubai أيضاً؟ نعم 2025 ✅ 👍🏽 👨‍👩‍👧", "rtl", "محمد Ali", "telegram"));
    s.comments.push_back(comment("Budget 2025: مشروع الموازنة is online", "ltr", "Sarah \u202eK", "youtube"));
    const Measured m = measure(r, s);
    THEN("it is drawn") {
      CHECK_FALSE(m.text.empty());
      CHECK(m.box.height() > 100);
    }
  }
  GIVEN("invalid UTF-8, an empty text and an empty author") {
    State s = with(comment(std::string("abc\xff\xfe def \xd8"), "ltr", ""));
    s.comments.push_back(comment("", "rtl", ""));
    THEN("it is drawn without crashing") { CHECK_FALSE(drawn(r.render(s)).empty()); }
  }
  GIVEN("bad colours and an empty font list") {
    State s = with(comment(kArabicShort, "rtl"));
    s.theme.text_color = "red";
    s.theme.background = "#12";
    s.theme.font_family = "";
    THEN("the default theme's colours and fonts are used") {
      const Frame f = r.render(s);
      CHECK_FALSE(drawn(f).empty());
    }
  }
  GIVEN("a badge on an rtl comment") {
    State plain = with(comment(kArabicShort, "rtl", "سالم"));
    State badged = with(comment(kArabicShort, "rtl", "سالم", "telegram"));
    THEN("the badge is drawn on the end side (left) of the author") {
      const Rect a = drawn(r.render(plain));
      const Frame with_badge = r.render(badged);
      const Frame without = r.render(plain);
      const Rect badge = diff_box(with_badge, without);
      REQUIRE_FALSE(badge.empty());
      CHECK(badge.x1 < a.x1 - 16 - 40);  // left of the name, which is at the right inner edge
      CHECK(badge.y1 < a.y0 + (16 + 28) + 2);  // within the author line (720p: pad 16, line 28)
    }
  }
}

SCENARIO("1280x720 is the 1920x1080 layout scaled by 2/3", "[renderer]") {
  Renderer big(1920, 1080), small(1280, 720);
  for (const std::string position : {"bottom", "top", "side"}) {
    GIVEN("position " + position) {
      State s = with(comment(kLong, "rtl"), position);
      s.comments.push_back(comment(kEnglishShort, "ltr", "Sarah"));
      LowerThird lt;
      lt.name_ar = "د. فاطمة الزهراء";
      s.lower_third = lt;
      s.ticker = "خبر عاجل";
      const Rect b = drawn(big.render(text_hidden(s)));
      const Rect m = drawn(small.render(text_hidden(s)));
      THEN("the drawn area's edges scale") {
        CHECK(std::abs(m.x0 - b.x0 * 2.0 / 3) <= 1.5);
        CHECK(std::abs(m.x1 + 1 - (b.x1 + 1) * 2.0 / 3) <= 1.5);
        CHECK(std::abs(m.y0 - b.y0 * 2.0 / 3) <= 1.5);
        CHECK(std::abs(m.y1 + 1 - (b.y1 + 1) * 2.0 / 3) <= 1.5);
      }
    }
  }
}

SCENARIO("the logo is drawn in the top-left corner when it loads", "[renderer]") {
  Renderer r(1920, 1080);
  const std::string path = temp_png("renderer-test-logo");
  Frame logo;
  logo.width = 400;
  logo.height = 300;
  logo.stride = 400 * 4;
  logo.pixels.assign(logo.stride * logo.height, 0);
  for (size_t i = 0; i < logo.pixels.size(); i += 4) {
    logo.pixels[i + 0] = 0x00;  // B
    logo.pixels[i + 1] = 0x80;  // G
    logo.pixels[i + 2] = 0x00;  // R
    logo.pixels[i + 3] = 0xff;  // A
  }
  REQUIRE(write_png(logo, path));
  GIVEN("a 400x300 logo") {
    State s;
    s.theme.logo_path = path;
    const Rect box = drawn(r.render(s));
    THEN("it is at the safe margin, scaled to 120 high, aspect kept") {
      CHECK(box.x0 == 96);
      CHECK(box.y0 == 54);
      CHECK(std::abs(box.height() - 120) <= 1);
      CHECK(std::abs(box.width() - 160) <= 1);
    }
    THEN("a top-position comment stack starts below it") {
      s.theme.position = "top";
      s.comments.push_back(comment(kArabicShort, "rtl"));
      const Frame f = r.render(s);
      const Rect right = drawn(f, Rect{1000, 0, 1919, 1079});
      CHECK(right.y0 == 54 + 120 + 16);
    }
  }
  std::filesystem::remove(path);
}

SCENARIO("a poll box follows docs/overlay-layout.md", "[renderer][poll]") {
  Renderer r(1920, 1080);
  GIVEN("an Arabic poll with results at the bottom position") {
    State s;
    s.poll = poll();
    const Frame f = r.render(s);
    const Rect box = drawn(f);
    THEN("it hangs from the top safe margin on the right, 760 wide, 406.4 high") {
      CHECK(box.x0 == 1920 - 96 - 760);
      CHECK(box.x1 == 1920 - 96 - 1);
      CHECK(box.y0 == 54);
      CHECK(std::abs(box.y1 + 1 - (54 + 406.4)) <= 1);
    }
    THEN("each bar fills votes/total of the track from the right (rtl start)") {
      // First row: question 41.6 + 12, label line 36.4, 6: the bar's centre line.
      const int bar_y = static_cast<int>(54 + 24 + 41.6 + 12 + 36.4 + 6 + 7);
      const Rect fill = bbox(f, [&](int x, int y) { return is_accent(f.pixel(x, y)); },
                             Rect{box.x0 + 24, bar_y, box.x1 - 24, bar_y});
      REQUIRE_FALSE(fill.empty());
      CHECK(std::abs(fill.x1 + 1 - (box.x1 + 1 - 24)) <= 1);
      CHECK(std::abs(fill.width() - 712 * 3 / 4.0) <= 2);
      // Third row (0 votes): no fill at all.
      const int bar3 = bar_y + 2 * static_cast<int>(36.4 + 6 + 14 + 12);
      CHECK(bbox(f, [&](int x, int y) { return is_accent(f.pixel(x, y)); }, Rect{box.x0 + 24, bar3, box.x1 - 24, bar3})
                .empty());
    }
    THEN("the percentage is on the left (the rtl end side) of the first label line") {
      const int line_top = static_cast<int>(54 + 24 + 41.6 + 12);
      const Rect pct = bbox(f, [&](int x, int y) { return is_accent(f.pixel(x, y)); },
                            Rect{box.x0, line_top, box.x1, line_top + 36});
      REQUIRE_FALSE(pct.empty());
      CHECK(pct.x0 - (box.x0 + 24) <= 4);
      CHECK(pct.x1 < box.x0 + 24 + 120);
    }
  }
  GIVEN("the same poll without results") {
    State s;
    s.poll = poll(true, false);
    const Frame f = r.render(s);
    const Rect box = drawn(f);
    THEN("it is 283.2 high and shows no percentage, bar or footer (nothing in the accent colour)") {
      CHECK(std::abs(box.height() - 283.2) <= 1);
      CHECK(bbox(f, [&](int x, int y) { return is_accent(f.pixel(x, y)); }).empty());
    }
  }
  GIVEN("an English poll") {
    State s;
    s.poll = poll(false);
    const Frame f = r.render(s);
    const Rect box = drawn(f);
    THEN("it is on the left and its bars fill from the left") {
      CHECK(box.x0 == 96);
      CHECK(box.x1 == 96 + 760 - 1);
      const int bar_y = static_cast<int>(54 + 24 + 41.6 + 12 + 36.4 + 6 + 7);
      const Rect fill = bbox(f, [&](int x, int y) { return is_accent(f.pixel(x, y)); },
                             Rect{box.x0 + 24, bar_y, box.x1 - 24, bar_y});
      REQUIRE_FALSE(fill.empty());
      CHECK(std::abs(fill.x0 - (96 + 24)) <= 1);
    }
  }
  GIVEN("a poll and a comment") {
    State s = with(comment(kArabicShort, "rtl"));
    s.poll = poll();
    WHEN("at the bottom") {
      const Frame f = r.render(s);
      THEN("the comment stays at the bottom safe margin") {
        CHECK(drawn(f, Rect{0, 500, 1919, 1079}).y1 == 1025);
      }
    }
    WHEN("at the top") {
      s.theme.position = "top";
      const Frame f = r.render(s);
      THEN("the comment hangs from the top and the poll sits on the bottom safe margin") {
        CHECK(drawn(f, Rect{0, 0, 1919, 300}).y0 == 54);
        const Rect poll_box = drawn(f, Rect{0, 400, 1919, 1079});
        CHECK(poll_box.y1 == 1025);
        CHECK(std::abs(poll_box.y0 - (1026 - 406.4)) <= 1);
      }
    }
    WHEN("at the side") {
      s.theme.position = "side";
      const Frame f = r.render(s);
      THEN("the poll is on the left, on the bottom margin; the column on the right") {
        const Rect left = drawn(f, Rect{0, 0, 959, 1079});
        CHECK(left.x0 == 96);
        CHECK(left.y1 == 1025);
        CHECK(drawn(f, Rect{960, 0, 1919, 1079}).y0 == 54);
      }
    }
  }
  GIVEN("three tall comments and a poll at the bottom") {
    State s = with(comment(kLong, "rtl"));
    s.comments.push_back(comment(kLong, "rtl"));
    s.comments.push_back(comment(kLong, "rtl"));
    s.poll = poll();
    const Frame f = r.render(s);
    THEN("only the newest 276-high comment fits under the poll (two need 568 of 549.6)") {
      // Room: 1026 - (54 + 406.4 + 16) = 549.6.
      const Rect below = drawn(f, Rect{0, 480, 1919, 1079});
      CHECK(below.y1 == 1025);
      CHECK(below.y0 == 1026 - 276);
    }
  }
  GIVEN("markup in the question and options") {
    AiredPoll p = poll(false);
    p.question_en = "<span foreground=\"red\">Red</span> & <b>bold</b>?";
    p.options[0].en = "<span foreground=\"red\">x</span>";
    State s;
    s.poll = p;
    THEN("it is drawn as characters (no red, nothing blanked)") {
      const Frame f = r.render(s);
      int red = 0;
      for (int y = 0; y < f.height; ++y)
        for (int x = 0; x < f.width; ++x) {
          const uint32_t px = f.pixel(x, y);
          const int a = channel(px, 24);
          if (a < 128) continue;
          red += channel(px, 16) * 255 / a > 160 && channel(px, 8) * 255 / a < 90 && channel(px, 0) * 255 / a < 90;
        }
      CHECK(red == 0);
      State plain;
      plain.poll = poll(false);
      CHECK(count_diff(f, r.render(plain)) > 500);
    }
  }
}

namespace {

// How far a frame is from a golden: mean absolute difference per channel and
// the share of pixels off by more than 32 in some channel, both over `region`.
struct GoldenDiff {
  double mean = 0;
  double far_share = 0;
};

// The frame as it reads back from a PNG (the round trip un-premultiplies);
// goldens are compared against our own round trip.
Frame png_round_trip(const Frame& f, const std::string& name) {
  const std::string tmp = temp_png("golden-" + name);
  REQUIRE(write_png(f, tmp));
  Frame back = read_png(tmp);
  std::filesystem::remove(tmp);
  return back;
}

GoldenDiff golden_diff(const Frame& got, const Frame& want, Rect region) {
  double sum = 0;
  int far = 0, n = 0;
  for (int y = std::max(0, region.y0); y <= std::min(region.y1, got.height - 1); ++y)
    for (int x = std::max(0, region.x0); x <= std::min(region.x1, got.width - 1); ++x) {
      const uint32_t a = got.pixel(x, y), b = want.pixel(x, y);
      for (int shift : {0, 8, 16, 24}) sum += std::abs(channel(a, shift) - channel(b, shift));
      far += max_channel_diff(a, b) > 32;
      ++n;
    }
  if (n == 0) return {};
  return GoldenDiff{sum / (4.0 * n), double(far) / n};
}

Rect whole(const Frame& f) { return Rect{0, 0, f.width - 1, f.height - 1}; }

// The union of what is drawn in either frame: a box's own area, so that a
// change inside one small box is not diluted by the transparent rest.
Rect drawn_in_either(const Frame& a, const Frame& b) {
  const Rect ra = drawn(a), rb = drawn(b);
  if (ra.empty()) return rb;
  if (rb.empty()) return ra;
  return Rect{std::min(ra.x0, rb.x0), std::min(ra.y0, rb.y0), std::max(ra.x1, rb.x1), std::max(ra.y1, rb.y1)};
}

bool update_goldens() {
  const char* v = std::getenv("SABLA_UPDATE_GOLDENS");
  return v && std::string(v) == "1";
}

// Reads tests/overlay/golden/<name>.png, rewritten first from `f` with
// SABLA_UPDATE_GOLDENS=1.
Frame load_golden(const std::string& name, const Frame& f) {
  const std::string path = golden_path(name);
  if (update_goldens()) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    REQUIRE(write_png(f, path));
    WARN("rewrote " << path);
  }
  return read_png(path);
}

// The golden tolerance: mean abs diff per channel under 2, under 1% of the
// pixels off by more than 32.
bool within_golden_tolerance(const GoldenDiff& d) { return d.mean < 2.0 && d.far_share < 0.01; }

// Compares `f` with tests/overlay/golden/<name>.png over the whole frame, or
// with `box_only` over the area drawn in either image.
void check_golden(const std::string& name, const Frame& f, bool box_only = false) {
  const Frame want = load_golden(name, f);
  const Frame got = png_round_trip(f, name);
  REQUIRE_FALSE(want.empty());
  REQUIRE(want.width == got.width);
  REQUIRE(want.height == got.height);
  const Rect region = box_only ? drawn_in_either(got, want) : whole(got);
  const GoldenDiff d = golden_diff(got, want, region);
  INFO("over [" << region.x0 << "," << region.y0 << " .. " << region.x1 << "," << region.y1 << "]: mean abs diff per channel "
                << d.mean << ", share of pixels off by > 32: " << d.far_share);
  CHECK(d.mean < 2.0);
  CHECK(d.far_share < 0.01);
}

}  // namespace

SCENARIO("golden images per theme preset", "[renderer]") {
  Renderer r(480, 270);
  for (const std::string preset : {"default", "light", "dark"}) {
    GIVEN("the " + preset + " preset") {
      THEN("it matches the golden within tolerance") { check_golden(preset, r.render(golden_state(preset))); }
    }
  }
}

SCENARIO("golden image of a poll on air", "[renderer][poll]") {
  // 960x540 (half size): the poll's smaller text stays legible in the golden.
  Renderer r(960, 540);
  State s;
  s.comments.push_back(comment("هل ستُنشر نتائج الاستبيان قبل الجلسة القادمة؟", "rtl", "سالم الهاشمي"));
  LowerThird lt;
  lt.name_ar = "د. فاطمة الزهراء";
  lt.title_ar = "وزيرة التخطيط والتنمية";
  s.lower_third = lt;
  AiredPoll p = poll();
  p.status = "closed";
  p.options[3].en = "Parks & <b>gardens</b>";
  s.poll = p;
  THEN("it matches tests/overlay/golden/poll.png") { check_golden("poll", r.render(s)); }
}

SCENARIO("golden image of the poll box", "[renderer][poll]") {
  // 480x270 like the theme goldens: the fixed Arabic poll (results, 3:1:0:0
  // of 4, one option with only an English label) alone in the default theme.
  // The share of differing pixels is taken over the box's own area (a whole
  // 480x270 frame would hide a change the size of a bar or a percentage).
  Renderer r(480, 270);
  State s;
  s.theme.font_size = 72;  // the studio allows 12..160; big enough to count at a quarter of 1080p
  s.poll = poll();
  const Frame f = r.render(s);
  THEN("it matches tests/overlay/golden/poll-box.png") { check_golden("poll-box", f, true); }
  THEN("the comparison tells a changed poll drawing from the golden") {
    // Negative controls: each of these is a different poll picture and must
    // be outside the tolerance (not run while rewriting the goldens).
    if (update_goldens()) return;
    const Frame want = read_png(golden_path("poll-box"));
    REQUIRE_FALSE(want.empty());
    auto off = [&](const State& changed, const std::string& what) {
      const Frame got = png_round_trip(r.render(changed), "poll-box-" + what);
      const GoldenDiff d = golden_diff(got, want, drawn_in_either(got, want));
      INFO(what << ": mean " << d.mean << ", far share " << d.far_share);
      CHECK_FALSE(within_golden_tolerance(d));
    };
    State swapped = s;  // votes 1:3 instead of 3:1: bars and percentages change
    std::swap(swapped.poll->options[0].votes, swapped.poll->options[1].votes);
    off(swapped, "votes-swapped");
    State hidden = s;  // no results: no bars, percentages or footer
    hidden.poll = poll(true, false);
    off(hidden, "no-results");
    State shifted = s;  // the box 8 px (at 1080p) further from the right edge
    shifted.theme.margin_x += 8;
    off(shifted, "shifted");
    State accent = s;  // another accent colour for the bars and percentages
    accent.theme.accent = "#2fa4c9";
    off(accent, "accent");
  }
}

SCENARIO("frames round-trip through PNG", "[renderer]") {
  Renderer r(320, 180);
  State s = with(comment(kArabicShort, "rtl"));
  const Frame f = r.render(s);
  const std::string path = temp_png("renderer-roundtrip");
  REQUIRE(write_png(f, path));
  const Frame back = read_png(path);
  std::filesystem::remove(path);
  THEN("size and opaque pixels survive") {
    REQUIRE(back.width == 320);
    REQUIRE(back.height == 180);
    int mismatched = 0;
    for (int y = 0; y < 180; ++y)
      for (int x = 0; x < 320; ++x)
        if (f.alpha(x, y) == 255) mismatched += f.pixel(x, y) != back.pixel(x, y);
    CHECK(mismatched == 0);
  }
  THEN("a missing file reads as an empty frame") { CHECK(read_png("/nonexistent/x.png").empty()); }
}
