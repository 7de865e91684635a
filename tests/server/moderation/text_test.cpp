#include "moderation/text.h"
#include "moderation/text_reference.h"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace sabla::moderation;

namespace {

// Encodes by hand, independently of the code under test, so a bug in the
// implementation's encoder cannot hide itself.
std::string cp(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

const std::string kZwj = cp(0x200D);
const std::string kZwnj = cp(0x200C);
const std::string kFamily = cp(0x1F468) + kZwj + cp(0x1F469) + kZwj + cp(0x1F467);  // 👨‍👩‍👧
const std::string kAcute = cp(0x0301);

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

// Longest run of combining marks (general category M), independent of ICU so
// the test checks the rule rather than the implementation's reading of it.
// Covers the blocks the corpus uses.
bool is_test_mark(char32_t c) {
  return (c >= 0x0300 && c <= 0x036F) || (c >= 0x064B && c <= 0x065F) || c == 0x0670 ||
         (c >= 0x0483 && c <= 0x0489) || c == 0x20E3 || (c >= 0xFE00 && c <= 0xFE0F);
}

std::vector<char32_t> decode(std::string_view s) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    int n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    char32_t c = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; k < n && i + k < s.size(); ++k) c = (c << 6) | (s[i + k] & 0x3F);
    out.push_back(c);
    i += n;
  }
  return out;
}

int longest_mark_run(std::string_view s) {
  int best = 0;
  int run = 0;
  for (char32_t c : decode(s)) {
    // ZWJ/ZWNJ do not end a run: they are not base characters.
    if (is_test_mark(c)) best = std::max(best, ++run);
    else if (c != 0x200D && c != 0x200C) run = 0;
  }
  return best;
}

std::vector<std::string> nasty_corpus() {
  return {
      "",
      " ",
      "\t\n\r",
      "hello",
      "  padded  ",
      "مُحَمَّد",
      "يا حِمــار!",
      kFamily,
      "a" + kZwj + "b",
      "ab" + kZwnj + "c",
      "\xE2\x80\xAE" "evil\xE2\x80\xAC",                      // U+202E ... U+202C
      "\xE2\x81\xA6" "iso\xE2\x81\xA9",                       // U+2066 ... U+2069
      "Z" + repeat(kAcute, 40) + "a" + repeat(cp(0x0336), 30),  // Zalgo
      repeat(kAcute, 5) + "start",                            // marks with no base
      "a" + kAcute + kZwj + kAcute + kZwj + kAcute + kZwj + kAcute,
      "a" + kAcute + cp(0x202E) + kAcute + cp(0x202E) + kAcute,
      "\n\n\n\n\nx\n\n\n\ny\n\n\n",
      "\r\n\r\n\r\n\r\nx\r\ry",
      "x\n" + cp(0x202E) + "\n" + cp(0xFEFF) + "\n\ny",
      "x" + cp(0x2028) + cp(0x2029) + cp(0x0085) + "y",
      cp(0x3000) + cp(0x00A0) + "wide" + cp(0x2003) + cp(0x3000),
      cp(0xFEFF) + "bom",
      "non" + cp(0xFFFE) + cp(0xFDD0) + cp(0x10FFFF) + "char",
      std::string("nul\0byte", 8),
      "\x01\x02\x1B[31mred\x7F" + cp(0x0090),
      "tab\there",
      "\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80\xE2\x82",  // all ill-formed
      "ok\xFFok\x80",
      " " + kAcute + kAcute + kAcute + "x",
      cp(0x200B) + cp(0x200E) + cp(0x200F) + cp(0x2060) + cp(0x2064),
      "1" + cp(0xFE0F) + cp(0x20E3),  // keycap 1
      cp(0x1F1F8) + cp(0x1F1E6),     // 🇸🇦
      cp(0x1F44B) + cp(0x1F3FD),     // 👋🏽
      repeat("word ", 20) + "\t\t  end   ",
      "   " + kZwj + "  " + kZwj + "   ",
      "\n" + kAcute + "\n" + kAcute + kAcute + kAcute + "\n",
  };
}

}  // namespace

TEST_CASE("is_valid_utf8 accepts well-formed text", "[text][utf8]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("hello"));
  CHECK(is_valid_utf8("مُحَمَّد"));
  CHECK(is_valid_utf8(kFamily));
  CHECK(is_valid_utf8(std::string_view("a\0b", 3)));
  CHECK(is_valid_utf8("\xED\x9F\xBF"));          // U+D7FF, just below the surrogates
  CHECK(is_valid_utf8("\xEE\x80\x80"));          // U+E000, just above them
  CHECK(is_valid_utf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF, the last code point
  CHECK(is_valid_utf8(cp(0xFFFE)));              // noncharacters are still well-formed
}

TEST_CASE("is_valid_utf8 rejects ill-formed text", "[text][utf8]") {
  SECTION("overlong encodings") {
    CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // '/' in two bytes
    CHECK_FALSE(is_valid_utf8("\xC1\xBF"));
    CHECK_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // '/' in three bytes
    CHECK_FALSE(is_valid_utf8("\xF0\x80\x80\xAF"));  // '/' in four bytes
    CHECK_FALSE(is_valid_utf8("\xC0\x80"));          // "modified UTF-8" NUL
  }
  SECTION("surrogates") {
    CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));                  // U+D800
    CHECK_FALSE(is_valid_utf8("\xED\xBF\xBF"));                  // U+DFFF
    CHECK_FALSE(is_valid_utf8("\xED\xA0\xBD\xED\xB8\x80"));      // CESU-8 pair
  }
  SECTION("truncated sequences") {
    CHECK_FALSE(is_valid_utf8("\xE2\x82"));
    CHECK_FALSE(is_valid_utf8("\xF0\x9F\x98"));
    CHECK_FALSE(is_valid_utf8("abc\xD9"));
    CHECK_FALSE(is_valid_utf8("\xE2\x82z"));
  }
  SECTION("beyond U+10FFFF") {
    CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // U+110000
    CHECK_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
    CHECK_FALSE(is_valid_utf8("\xF8\x88\x80\x80\x80"));
  }
  SECTION("stray bytes") {
    CHECK_FALSE(is_valid_utf8("\x80"));
    CHECK_FALSE(is_valid_utf8("a\xBF" "b"));
    CHECK_FALSE(is_valid_utf8("\xFE"));
    CHECK_FALSE(is_valid_utf8("\xFF"));
  }
}

TEST_CASE("count_code_points counts characters, not bytes", "[text][utf8]") {
  CHECK(count_code_points("") == 0);
  CHECK(count_code_points("abc") == 3);
  CHECK(count_code_points("سلام") == 4);
  CHECK(count_code_points("مُحَمَّد") == 8);  // 4 letters + 4 marks
  CHECK(count_code_points(kFamily) == 5);
  CHECK(count_code_points(cp(0x10FFFF)) == 1);
}

TEST_CASE("truncate_code_points never splits a character", "[text][utf8]") {
  CHECK(truncate_code_points("hello", 3) == "hel");
  CHECK(truncate_code_points("hello", 0) == "");
  CHECK(truncate_code_points("hello", 99) == "hello");
  CHECK(truncate_code_points("", 5) == "");
  CHECK(truncate_code_points("سلام عليكم", 4) == "سلام");
  CHECK(truncate_code_points(kFamily, 1) == cp(0x1F468));
  CHECK(truncate_code_points(kFamily, 3) == cp(0x1F468) + kZwj + cp(0x1F469));

  const std::string mixed = "a" + cp(0xE9) + cp(0x0633) + cp(0x20AC) + cp(0x1F600) + "z";
  for (size_t n = 0; n <= count_code_points(mixed) + 1; ++n) {
    const std::string cut = truncate_code_points(mixed, n);
    INFO("n = " << n);
    CHECK(is_valid_utf8(cut));
    CHECK(count_code_points(cut) == std::min(n, count_code_points(mixed)));
    CHECK(mixed.compare(0, cut.size(), cut) == 0);  // a prefix
  }

  SECTION("ill-formed input still yields valid UTF-8") {
    const std::string cut = truncate_code_points("ab\xE2\x82" "cd\xFF", 10);
    CHECK(is_valid_utf8(cut));
    CHECK(cut == "abcd");
  }
}

SCENARIO("sanitize_text keeps what real people write", "[text][sanitize]") {
  GIVEN("Arabic with full tashkeel") {
    THEN("it survives intact") {
      CHECK(sanitize_text("مُحَمَّد") == "مُحَمَّد");
      CHECK(sanitize_text("بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ") ==
            "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ");
    }
  }
  GIVEN("emoji sequences") {
    THEN("ZWJ sequences, flags, keycaps and skin tones survive") {
      CHECK(sanitize_text(kFamily) == kFamily);
      CHECK(sanitize_text("nice " + kFamily + "!") == "nice " + kFamily + "!");
      const std::string keycap = "1" + cp(0xFE0F) + cp(0x20E3);
      CHECK(sanitize_text(keycap) == keycap);
      const std::string flag = cp(0x1F1F8) + cp(0x1F1E6);
      CHECK(sanitize_text(flag) == flag);
      const std::string wave = cp(0x1F44B) + cp(0x1F3FD);
      CHECK(sanitize_text(wave) == wave);
      const std::string rainbow = cp(0x1F3F3) + cp(0xFE0F) + kZwj + cp(0x1F308);
      CHECK(sanitize_text(rainbow) == rainbow);
    }
  }
  GIVEN("Persian with ZWNJ and Arabic with directional marks") {
    const std::string persian = "می" + kZwnj + "خواهم";
    const std::string marked = "السعر " + cp(0x200F) + "100$" + cp(0x200E);
    THEN("the joiners and marks are kept") {
      CHECK(sanitize_text(persian) == persian);
      CHECK(sanitize_text(marked) == marked);
    }
  }
  GIVEN("multi-line text with a tab") {
    THEN("lines survive and the tab becomes a space") {
      CHECK(sanitize_text("line one\nline two\n\nline three") == "line one\nline two\n\nline three");
      CHECK(sanitize_text("a\tb") == "a b");
    }
  }
}

SCENARIO("sanitize_text removes what attackers write", "[text][sanitize]") {
  WHEN("the text has bidi embeddings, overrides or isolates") {
    THEN("every one of U+202A-U+202E and U+2066-U+2069 is stripped") {
      for (char32_t c : {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069}) {
        INFO("U+" << std::hex << static_cast<uint32_t>(c));
        CHECK(sanitize_text("ab" + cp(c) + "cd") == "abcd");
      }
      CHECK(sanitize_text(cp(0x202E) + "gnp.exe" + cp(0x202C)) == "gnp.exe");
      CHECK(sanitize_text(cp(0x2067) + "عربي" + cp(0x2069) + " text") == "عربي text");
    }
  }
  WHEN("the text is Zalgo") {
    const std::string zalgo = "Z" + repeat(kAcute, 30) + "a" + repeat(cp(0x0336), 12) + "l";
    const std::string clean = sanitize_text(zalgo);
    THEN("at most 2 combining marks stay on each base") {
      CHECK(clean == "Z" + repeat(kAcute, 2) + "a" + repeat(cp(0x0336), 2) + "l");
      CHECK(longest_mark_run(clean) == 2);
    }
    THEN("Arabic marks are capped the same way") {
      CHECK(sanitize_text("ب" + repeat(cp(0x064E), 9)) == "ب" + repeat(cp(0x064E), 2));
    }
    THEN("joiners between marks do not reset the count") {
      const std::string sneaky = "a" + repeat(kAcute + kZwj, 10);
      CHECK(longest_mark_run(sanitize_text(sneaky)) <= 2);
      CHECK(sanitize_text(sneaky) == "a" + kAcute + kZwj + kAcute + repeat(kZwj, 9));
    }
    THEN("stripped characters between marks do not reset the count") {
      CHECK(sanitize_text("a" + repeat(kAcute + cp(0x202E), 6)) == "a" + kAcute + kAcute);
    }
    THEN("marks with no base are capped too") {
      CHECK(sanitize_text(repeat(kAcute, 10) + "x") == kAcute + kAcute + "x");
    }
  }
  WHEN("the text has line-ending tricks") {
    THEN("CR, CRLF, NEL and the Unicode separators become \\n") {
      CHECK(sanitize_text("a\r\nb\rc") == "a\nb\nc");
      CHECK(sanitize_text("a" + cp(0x0085) + "b" + cp(0x2028) + "c" + cp(0x2029) + "d") ==
            "a\nb\nc\nd");
    }
    THEN("no more than 2 newlines in a row") {
      CHECK(sanitize_text("a\n\n\n\n\n\nb") == "a\n\nb");
      CHECK(sanitize_text("a\r\n\r\n\r\n\r\nb") == "a\n\nb");
      CHECK(sanitize_text("a\n" + cp(0x202E) + "\n" + cp(0xFEFF) + "\n\x01\nb") == "a\n\nb");
    }
  }
  WHEN("the text has control characters") {
    THEN("C0 and C1 controls and DEL are dropped") {
      CHECK(sanitize_text("\x1B[31mred\x1B[0m") == "[31mred[0m");
      CHECK(sanitize_text(std::string("a\0b\x07" "c\x7F" "d", 7) + cp(0x009B) + "e") == "abcde");
      CHECK(sanitize_text("a\vb\fc") == "abc");
    }
  }
  WHEN("the text has a BOM or noncharacters") {
    THEN("they are dropped") {
      CHECK(sanitize_text(cp(0xFEFF) + "hi" + cp(0xFEFF)) == "hi");
      CHECK(sanitize_text("a" + cp(0xFFFE) + cp(0xFFFF) + cp(0xFDD0) + cp(0xFDEF) + cp(0x1FFFE) +
                          cp(0x10FFFF) + "b") == "ab");
    }
  }
  WHEN("the text has surrounding whitespace") {
    THEN("ASCII and Unicode spaces are trimmed, inner ones kept") {
      CHECK(sanitize_text("  \t\n hi there \n\t ") == "hi there");
      CHECK(sanitize_text(cp(0x3000) + cp(0x00A0) + cp(0x2003) + "مرحبا" + cp(0x202F) +
                          cp(0x3000)) == "مرحبا");
      CHECK(sanitize_text("a" + cp(0x00A0) + "b") == "a" + cp(0x00A0) + "b");
      CHECK(sanitize_text(" \n\t" + cp(0x3000)) == "");
    }
  }
  WHEN("the input is not valid UTF-8") {
    THEN("ill-formed sequences are dropped without throwing") {
      CHECK(sanitize_text("ok\xFF" "ok\xC0\xAF" "x\xED\xA0\x80" "y\xE2\x82") == "okokxy");
      CHECK(sanitize_name("na\xF4\x90\x80\x80me") == "name");
    }
  }
}

SCENARIO("sanitize_name makes a single-line, visible, short name", "[text][sanitize]") {
  GIVEN("a name padded with zero-width characters") {
    const std::string name = cp(0x200B) + "Ma" + cp(0x200C) + "ry" + cp(0x200D) + cp(0x200E) +
                             cp(0x200F) + cp(0x2060) + cp(0x2061) + cp(0x2064) + cp(0xFEFF) + "am";
    THEN("every zero-width character goes") { CHECK(sanitize_name(name) == "Maryam"); }
  }
  GIVEN("an emoji ZWJ sequence") {
    THEN("the joiners go (names have no ZWJ at all)") {
      CHECK(sanitize_name(kFamily) == cp(0x1F468) + cp(0x1F469) + cp(0x1F467));
    }
  }
  GIVEN("newlines, tabs and space runs") {
    THEN("they become single spaces") {
      CHECK(sanitize_name("Amal\n\nal\tSayed") == "Amal al Sayed");
      CHECK(sanitize_name("a    b" + cp(0x3000) + cp(0x3000) + "c") == "a b c");
      CHECK(sanitize_name("a " + cp(0x200B) + " b") == "a b");
      CHECK(sanitize_name("  \n spaced \t ") == "spaced");
    }
  }
  GIVEN("a long name") {
    const std::string arabic = repeat("ب", 40);
    THEN("it is cut to 32 code points by default") {
      CHECK(sanitize_name(repeat("x", 40)) == repeat("x", 32));
      CHECK(sanitize_name(arabic) == repeat("ب", 32));
      CHECK(count_code_points(sanitize_name(repeat(cp(0x1F600), 50))) == 32);
    }
    THEN("a custom limit is honoured") {
      CHECK(sanitize_name("abcdef", 3) == "abc");
      CHECK(sanitize_name("abcdef", 0) == "");
    }
    THEN("leading whitespace does not use up the limit") {
      CHECK(sanitize_name("     abcdef", 6) == "abcdef");
    }
    THEN("a cut landing on a space leaves no trailing space") {
      CHECK(sanitize_name(repeat("a", 31) + " bcd") == repeat("a", 31));
      CHECK(sanitize_name("ab cd", 3) == "ab");
    }
  }
  GIVEN("bidi tricks and combining marks in a name") {
    THEN("they are handled as in bodies") {
      CHECK(sanitize_name(cp(0x202E) + "nimda" + cp(0x202C)) == "nimda");
      CHECK(sanitize_name("a" + repeat(kAcute, 8)) == "a" + kAcute + kAcute);
      CHECK(sanitize_name("مُحَمَّد") == "مُحَمَّد");
    }
  }
}

TEST_CASE("sanitizers are idempotent and safe over a nasty corpus", "[text][sanitize]") {
  for (const std::string& s : nasty_corpus()) {
    CAPTURE(s);
    const std::string text = sanitize_text(s);
    CHECK(sanitize_text(text) == text);
    CHECK(is_valid_utf8(text));
    CHECK(longest_mark_run(text) <= 2);
    CHECK_FALSE(contains(text, "\n\n\n"));
    CHECK_FALSE(contains(text, cp(0x202E)));
    CHECK_FALSE(contains(text, cp(0x2066)));
    CHECK_FALSE(contains(text, "\r"));
    CHECK_FALSE(contains(text, "\t"));

    const std::string name = sanitize_name(s);
    CHECK(sanitize_name(name) == name);
    CHECK(is_valid_utf8(name));
    CHECK(count_code_points(name) <= 32);
    CHECK_FALSE(contains(name, "\n"));
    CHECK_FALSE(contains(name, "  "));
    CHECK_FALSE(contains(name, kZwj));
    CHECK_FALSE(contains(name, cp(0x200B)));
    for (size_t limit : {0, 1, 2, 5}) {
      const std::string short_name = sanitize_name(s, limit);
      CHECK(sanitize_name(short_name, limit) == short_name);
      CHECK(count_code_points(short_name) <= limit);
    }
  }
}

TEST_CASE("sanitizers are idempotent on random input", "[text][sanitize]") {
  // Random mixes of the characters the rules care about, plus raw bytes that
  // make ill-formed sequences; a fixed seed keeps failures reproducible.
  const std::vector<std::string> pieces = {
      "a",       "ب",       " ",       "\n",      "\r",      "\t",      "\r\n",     kAcute,
      cp(0x064E), kZwj,     kZwnj,     cp(0x200B), cp(0x200E), cp(0x202E), cp(0x2066), cp(0xFEFF),
      cp(0xFFFF), cp(0x3000), cp(0x00A0), cp(0x2028), cp(0x0085), "\x01",  "\x7F",    "\xFF",
      "\xE2\x82", "\xED\xA0\x80", cp(0x1F468), cp(0xFE0F), cp(0x00AD), cp(0x061C)};
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> len(0, 40);
  int failures = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string s;
    for (int n = len(rng); n > 0; --n) s += pieces[pick(rng)];
    const std::string text = sanitize_text(s);
    const std::string name = sanitize_name(s, 8);
    if (sanitize_text(text) != text || !is_valid_utf8(text) || longest_mark_run(text) > 2 ||
        sanitize_name(name, 8) != name || !is_valid_utf8(name) || count_code_points(name) > 8) {
      ++failures;
      UNSCOPED_INFO("failing input: " << s);
    }
  }
  CHECK(failures == 0);
}

TEST_CASE("normalize_for_match folds Arabic and Latin variants", "[text][normalize]") {
  SECTION("alef variants become bare alef") {
    CHECK(normalize_for_match("أحمد") == "احمد");
    CHECK(normalize_for_match("إسلام") == "اسلام");
    CHECK(normalize_for_match("آمال") == "امال");
    CHECK(normalize_for_match("ٱلله") == "الله");
  }
  SECTION("alef maksura, taa marbuta and hamza carriers") {
    CHECK(normalize_for_match("مصطفى") == "مصطفي");
    CHECK(normalize_for_match("مدرسة") == "مدرسه");
    CHECK(normalize_for_match("مؤمن") == "مومن");
    CHECK(normalize_for_match("قائد") == "قايد");
  }
  SECTION("tashkeel, superscript alef and tatweel are removed") {
    CHECK(normalize_for_match("مُحَمَّد") == "محمد");
    CHECK(normalize_for_match("حِمــــار") == "حمار");
    CHECK(normalize_for_match("الرَّحْمَٰنِ") == "الرحمن");
  }
  SECTION("Arabic-Indic digits become ASCII") {
    CHECK(normalize_for_match("٠١٢") == "012");
    CHECK(normalize_for_match("٣٤٥٦٧٨٩") == "3456789");
    CHECK(normalize_for_match("۱۲۳") == "123");  // Persian forms
  }
  SECTION("Latin is lower-cased") {
    CHECK(normalize_for_match("Hello WORLD") == "hello world");
    CHECK(normalize_for_match("ÉCOLE Ünïcode") == "école ünïcode");
  }
  SECTION("zero-width characters go and whitespace collapses") {
    CHECK(normalize_for_match("sp" + cp(0x200B) + "am") == "spam");
    CHECK(normalize_for_match("ح" + kZwj + "م" + kZwnj + "ار") == "حمار");
    CHECK(normalize_for_match("s" + cp(0x202E) + "p" + cp(0x2066) + "am") == "spam");
    CHECK(normalize_for_match("a  \t\n b" + cp(0x3000) + "c") == "a b c");
    CHECK(normalize_for_match("  both ends  ") == "both ends");
  }
  SECTION("compatibility forms fold to plain letters") {
    CHECK(normalize_for_match(cp(0xFF33) + cp(0xFF30) + cp(0xFF21) + cp(0xFF2D)) == "spam");
    // ﺣﻤﺎﺭ in presentation forms
    CHECK(normalize_for_match(cp(0xFEA3) + cp(0xFEE4) + cp(0xFE8E) + cp(0xFEAD)) == "حمار");
  }
  SECTION("ill-formed input does not break it") {
    CHECK(normalize_for_match("SP\xFF" "AM") == "spam");
  }
}

SCENARIO("BlockedWords matches whole words on the matching form", "[text][blocked]") {
  GIVEN("an Arabic entry") {
    const BlockedWords blocked({"حمار"});
    THEN("it matches through tashkeel, tatweel and punctuation") {
      CHECK(blocked.first_match("يا حِمــار!") == "حمار");
      CHECK(blocked.first_match("حمار") == "حمار");
      CHECK(blocked.first_match("أنت حمار.") == "حمار");
    }
    THEN("it does not match inside a longer word") {
      CHECK(blocked.first_match("يا حمارة") == "");
      CHECK(blocked.first_match("الحمار") == "");
      CHECK(blocked.first_match("حماري") == "");
    }
  }
  GIVEN("an entry written with variant letters") {
    const BlockedWords blocked({"أحمق"});
    THEN("it matches the bare spelling and vice versa") {
      CHECK(blocked.first_match("انت احمق") == "أحمق");
      CHECK(BlockedWords({"احمق"}).first_match("إحمق") == "احمق");
    }
  }
  GIVEN("an English entry") {
    const BlockedWords blocked({"Spam"});
    THEN("it matches case-insensitively as a word") {
      CHECK(blocked.first_match("this is SPAM.") == "Spam");
      CHECK(blocked.first_match("spam") == "Spam");
      CHECK(blocked.first_match("(spam)") == "Spam");
      CHECK(blocked.first_match("s" + cp(0x200B) + "pam") == "Spam");
    }
    THEN("it does not match inside other words") {
      CHECK(blocked.first_match("spammer") == "");
      CHECK(blocked.first_match("antispam") == "");
      CHECK(blocked.first_match("nothing here") == "");
      CHECK(blocked.first_match("spa" + cp(0x0301) + "m") == "");
    }
    THEN("a later whole-word occurrence is found after an embedded one") {
      CHECK(blocked.first_match("spammer says spam") == "Spam");
    }
  }
  GIVEN("a phrase entry") {
    const BlockedWords blocked({"buy now", "كلام فارغ"});
    THEN("it matches across any whitespace and case") {
      CHECK(blocked.first_match("BUY   NOW!!") == "buy now");
      CHECK(blocked.first_match("please buy\nnow") == "buy now");
      CHECK(blocked.first_match("هذا كلامٌ فارغ") == "كلام فارغ");
    }
    THEN("the words alone or inside longer words do not match") {
      CHECK(blocked.first_match("buy it now") == "");
      CHECK(blocked.first_match("rebuy nowhere") == "");
    }
  }
  GIVEN("several entries") {
    const BlockedWords blocked({"alpha", "beta"});
    THEN("the first entry in list order that occurs is reported") {
      CHECK(blocked.first_match("beta then alpha") == "alpha");
      CHECK(blocked.first_match("only beta") == "beta");
    }
  }
  GIVEN("entries that normalise to nothing") {
    const BlockedWords blocked({"", "   ", cp(0x064E) + cp(0x0651), cp(0x200B)});
    THEN("they are ignored instead of matching everything") {
      CHECK(blocked.empty());
      CHECK(blocked.first_match("anything") == "");
    }
  }
  GIVEN("no entries") {
    THEN("nothing matches") {
      CHECK(BlockedWords().empty());
      CHECK(BlockedWords().first_match("spam") == "");
      CHECK_FALSE(BlockedWords({"x"}).empty());
    }
  }
  GIVEN("an entry that starts with punctuation") {
    THEN("only its letter edge needs a word boundary") {
      CHECK(BlockedWords({"@spam"}).first_match("x@spam") == "@spam");
      CHECK(BlockedWords({"@spam"}).first_match("x@spammer") == "");
    }
  }
}

TEST_CASE("detect_direction and detect_language", "[text][direction]") {
  SECTION("Arabic") {
    CHECK(detect_direction("مرحبا بكم") == "rtl");
    CHECK(detect_language("مرحبا بكم") == "ar");
    CHECK(detect_language("مُحَمَّد") == "ar");
  }
  SECTION("English") {
    CHECK(detect_direction("Hello there") == "ltr");
    CHECK(detect_language("Hello there") == "en");
  }
  SECTION("Hebrew is right-to-left but not Arabic") {
    CHECK(detect_direction("שלום") == "rtl");
    CHECK(detect_language("שלום") == "");
  }
  SECTION("mixed text") {
    // First strong character decides...
    CHECK(detect_direction("مرحبا hello") == "rtl");
    CHECK(detect_direction("hello world مرحبا") == "ltr");
    // ...unless the Arabic letters outnumber the Latin ones.
    CHECK(detect_direction("OK يا جماعة الخير") == "rtl");
    CHECK(detect_direction("123 مرحبا") == "rtl");
    CHECK(detect_language("OK يا جماعة الخير") == "ar");
    CHECK(detect_language("hello world مرحبا") == "en");
    CHECK(detect_language("abcd ابجد") == "");
  }
  SECTION("digits, punctuation and empty text") {
    CHECK(detect_direction("12345") == "ltr");
    CHECK(detect_direction("١٢٣") == "ltr");
    CHECK(detect_direction("") == "ltr");
    CHECK(detect_direction("!?") == "ltr");
    CHECK(detect_language("12345") == "");
    CHECK(detect_language("١٢٣") == "");
    CHECK(detect_language("") == "");
    CHECK(detect_language(kFamily) == "");
  }
  SECTION("another script dominating gives no language") {
    CHECK(detect_language("你好世界 hi") == "");
    CHECK(detect_direction("你好世界 hi") == "ltr");
  }
}

SCENARIO("the ASCII/Arabic fast paths give what the general paths give", "[text][fast]") {
  // sanitize_text, normalize_for_match, detect_language and detect_direction.
  // Every character of the block U+0600-U+06FF, ASCII, and the neighbours the
  // fast path must hand over (controls, tab, CR, bidi, ZW*, presentation forms,
  // combining marks from other blocks, an emoji, a bare continuation byte).
  std::vector<std::string> alphabet;
  for (char32_t c = 0x20; c < 0x7F; ++c) alphabet.push_back(cp(c));
  for (char32_t c = 0x0600; c <= 0x06FF; ++c) alphabet.push_back(cp(c));
  for (char32_t c : {U'\n', U'\n', U'\n', U' ', U' ', U'\t', U'\r', U'\x01', U'\x7F', U'\x85', U'\u00A0', U'\u0301',
                     U'\u200B', U'\u200C', U'\u200D', U'\u200F', U'\u202E', U'\u2066', U'\u2028', U'\uFEFF',
                     U'\uFE8D', U'\uFEFB', U'\uFDFA', U'\uFF21', U'\U0001F600'})
    alphabet.push_back(cp(c));
  // The common letters and marks again, so runs of marks and compositions
  // (alef + madda, waw/yaa + hamza) come up often.
  for (char32_t c : {U'\u0627', U'\u0648', U'\u064A', U'\u06CC', U'\u0653', U'\u0654', U'\u0655', U'\u064E',
                     U'\u0651', U'\u0670', U'\u0640', U'a', U'Z'})
    for (int k = 0; k < 8; ++k) alphabet.push_back(cp(c));
  std::mt19937 rng(1616);
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> length(0, 24);
  std::uniform_int_distribution<int> common_only(0, 2);
  size_t checked = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    const bool restrict = common_only(rng) != 0;  // two thirds: mostly the fast path's own text
    for (int n = length(rng); n > 0;) {
      const std::string& piece = alphabet[pick(rng)];
      const auto lead = static_cast<unsigned char>(piece[0]);
      if (restrict && !(lead < 0x7F && lead >= 0x20) && piece != "\n" && !(lead >= 0xD8 && lead <= 0xDB)) continue;
      s += piece;
      --n;
    }
    CAPTURE(s);
    REQUIRE(sanitize_text(s) == text_reference::sanitize_text(s));
    REQUIRE(normalize_for_match(s) == text_reference::normalize_for_match(s));
    const std::string clean = sanitize_text(s);
    REQUIRE(normalize_for_match(clean) == text_reference::normalize_for_match(clean));
    REQUIRE(sanitize_text(clean) == clean);
    REQUIRE(detect_language(s) == text_reference::detect_language(s));
    REQUIRE(detect_direction(s) == text_reference::detect_direction(s));
    REQUIRE(detect_language(clean) == text_reference::detect_language(clean));
    REQUIRE(detect_direction(clean) == text_reference::detect_direction(clean));
    ++checked;
  }
  CHECK(checked == 20000);
  // Invalid UTF-8 is the general path's (callers reject it first; it must
  // still not crash or differ).
  for (std::string bad : {std::string("\xD8"), std::string("a\xD9 b"), std::string("\xD8\x41"), std::string("\xC3\x28")}) {
    CHECK(sanitize_text(bad) == text_reference::sanitize_text(bad));
    CHECK(normalize_for_match(bad) == text_reference::normalize_for_match(bad));
  }
}
