#include "moderation/text.h"
#include "moderation/text_reference.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <cstdint>

namespace sabla::moderation {

namespace {

// Every public function decodes through here so that ill-formed bytes are
// skipped the same way everywhere (maximal subpart, as ICU defines it).
// Returns a negative value for an ill-formed sequence.
UChar32 next_code_point(std::string_view s, size_t& i) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t length = s.size();
  UChar32 c;
  U8_NEXT(p, i, length, c);
  return c;
}

// Only well-formed scalar values reach this, but U8_APPEND still refuses
// surrogates and out-of-range values, so the output stays valid UTF-8 even if
// a caller gets that wrong.
void append_code_point(std::string& out, UChar32 c) {
  uint8_t buf[U8_MAX_LENGTH];
  int32_t n = 0;
  UBool error = false;
  U8_APPEND(buf, n, U8_MAX_LENGTH, c, error);
  if (!error) out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

bool is_mark(UChar32 c) { return (U_GET_GC_MASK(c) & U_GC_M_MASK) != 0; }
bool is_letter(UChar32 c) { return (U_GET_GC_MASK(c) & U_GC_L_MASK) != 0; }
bool is_format(UChar32 c) { return u_charType(c) == U_FORMAT_CHAR; }
bool is_control(UChar32 c) { return u_charType(c) == U_CONTROL_CHAR; }
bool is_space(UChar32 c) { return u_isUWhiteSpace(c) != 0; }

bool is_bidi_control(UChar32 c) {
  return (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

bool is_noncharacter(UChar32 c) {
  return (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

// The contract's list, plus the other invisible characters that are just as
// useful for impersonating a name: ARABIC LETTER MARK (the Arabic twin of
// RLM), MONGOLIAN VOWEL SEPARATOR and SOFT HYPHEN.
bool is_zero_width(UChar32 c) {
  return (c >= 0x200B && c <= 0x200F) || (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF ||
         c == 0x061C || c == 0x180E || c == 0x00AD;
}

enum class Mode { kText, kName };

bool is_arabic_mark(uint32_t c) { return (c >= 0x064B && c <= 0x065F) || c == 0x0670; }

// The characters almost every comment consists of: printable ASCII, the
// newline, and the Arabic letters, marks, digits and punctuation of the
// Arabic block that have no compatibility decomposition, are not format
// characters and compose (under NFKC) only into letters normalize_for_match()
// maps back to the base letter. On text of only these, the sanitizer and the
// matching form reduce to simple rules without ICU (the fast paths below,
// checked against the general paths in tests/server/moderation/text_test.cpp).
bool is_common_arabic(uint32_t c) {
  return c == 0x060C || c == 0x061B || c == 0x061F || (c >= 0x0621 && c <= 0x063A) || (c >= 0x0640 && c <= 0x066D) ||
         c == 0x0670 || c == 0x067E || c == 0x0686 || c == 0x0698 || c == 0x06A9 || c == 0x06AF || c == 0x06CC;
}

// Decodes the next character of `s` if it is in the common set (ASCII
// 0x20-0x7E, '\n', is_common_arabic); returns -1 for anything else, which
// sends the caller to the general path.
int32_t next_common(std::string_view s, size_t& i) {
  const auto b = static_cast<uint8_t>(s[i]);
  if (b < 0x80) {
    ++i;
    return (b >= 0x20 && b < 0x7F) || b == '\n' ? b : -1;
  }
  if ((b == 0xD8 || b == 0xD9 || b == 0xDA || b == 0xDB) && i + 1 < s.size()) {
    const auto t = static_cast<uint8_t>(s[i + 1]);
    if ((t & 0xC0) != 0x80) return -1;
    const uint32_t c = ((b & 0x1Fu) << 6) | (t & 0x3Fu);
    if (!is_common_arabic(c)) return -1;
    i += 2;
    return static_cast<int32_t>(c);
  }
  return -1;
}

// sanitize_text() of text made only of common characters: nothing is
// dropped or changed, so it is the text with leading and trailing spaces and
// newlines trimmed, unless a run of 3+ newlines or 3+ combining marks needs
// cutting (then false: the general path does it).
bool sanitize_common(std::string_view in, std::string* out) {
  int marks = 0;
  int newlines = 0;
  size_t first = std::string_view::npos;  // first byte not a space or newline
  size_t end = 0;                         // just past the last one
  size_t i = 0;
  while (i < in.size()) {
    const size_t at = i;
    const int32_t c = next_common(in, i);
    if (c < 0) return false;
    marks = is_arabic_mark(static_cast<uint32_t>(c)) ? marks + 1 : 0;
    newlines = c == '\n' ? newlines + 1 : 0;
    if (marks > 2 || newlines > 2) return false;
    if (c != ' ' && c != '\n') {
      if (first == std::string_view::npos) first = at;
      end = i;
    }
  }
  if (first == std::string_view::npos) out->clear();
  else out->assign(in.substr(first, end - first));
  return true;
}

// One pass whose every decision depends only on what has already been
// emitted, never on what was dropped; that is what makes a second pass a
// no-op (idempotence) even when a dropped character sat between two newlines
// or two combining marks.
std::string sanitize(std::string_view in, Mode mode, size_t max_code_points) {
  std::string out;
  out.reserve(in.size());
  int marks = 0;     // combining marks emitted since the last base character
  int newlines = 0;  // consecutive '\n' at the end of `out`
  bool last_space = false;
  size_t kept = 0;      // code points in `out`
  size_t end_solid = 0;  // byte offset just past the last non-space

  size_t i = 0;
  while (i < in.size()) {
    UChar32 c = next_code_point(in, i);
    if (c < 0) continue;

    if (c == '\r') {
      if (i < in.size() && in[i] == '\n') ++i;
      c = '\n';
    } else if (c == 0x85 || c == 0x2028 || c == 0x2029) {
      // NEL and the Unicode line/paragraph separators are line endings too;
      // left alone they would slip past the newline limit.
      c = '\n';
    } else if (c == '\t') {
      c = ' ';
    }
    if (c != '\n' && is_control(c)) continue;
    if (is_bidi_control(c) || c == 0xFEFF || is_noncharacter(c)) continue;
    if (mode == Mode::kName) {
      if (is_zero_width(c)) continue;
      if (is_space(c)) c = ' ';
    }

    // Leading whitespace is never emitted, so it cannot use up a name's
    // length; skipping it leaves the state as at the start of the text.
    if (out.empty() && is_space(c)) continue;

    const bool mark = is_mark(c);
    // A mark with nothing before it (start of text) is capped the same way,
    // so stacking marks on nothing is no way around the limit.
    if (mark && marks >= 2) continue;
    if (c == '\n' && newlines >= 2) continue;
    if (mode == Mode::kName && c == ' ' && last_space) continue;
    if (kept == max_code_points) break;

    append_code_point(out, c);
    ++kept;
    if (mark) {
      ++marks;
    } else if (!is_format(c)) {
      // Format characters (ZWJ, ZWNJ, LRM...) are no base: interleaving them
      // with marks must not reset the count.
      marks = 0;
    }
    newlines = c == '\n' ? newlines + 1 : 0;
    last_space = c == ' ';
    if (!is_space(c)) end_solid = out.size();
  }
  // Trimming the tail after the cut: a cut that lands on a space must not
  // leave a trailing space that a second pass would remove.
  out.resize(end_solid);
  return out;
}

// Arabic-Indic (U+0660..) and Extended Arabic-Indic (Persian, U+06F0..) digits.
int arabic_digit_value(UChar32 c) {
  if (c >= 0x0660 && c <= 0x0669) return c - 0x0660;
  if (c >= 0x06F0 && c <= 0x06F9) return c - 0x06F0;
  return -1;
}

// NFKC folds full-width Latin and Arabic presentation forms (ﺣﻤﺎﺭ) into the
// plain letters, both classic ways around a word filter. Falls back to the
// unnormalised text if ICU fails: matching on it is still better than nothing.
std::u16string nfkc(std::string_view text) {
  std::u16string utf16;
  utf16.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    UChar32 c = next_code_point(text, i);
    if (c < 0) continue;
    if (U_IS_BMP(c)) {
      utf16.push_back(static_cast<char16_t>(c));
    } else {
      utf16.push_back(static_cast<char16_t>(U16_LEAD(c)));
      utf16.push_back(static_cast<char16_t>(U16_TRAIL(c)));
    }
  }
  // NFKC can grow text 18-fold (U+FDFA); ICU lengths are int32_t.
  if (utf16.size() > static_cast<size_t>(INT32_MAX) / 32) return utf16;

  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* norm = unorm2_getNFKCInstance(&status);
  if (U_FAILURE(status)) return utf16;
  const auto src_len = static_cast<int32_t>(utf16.size());
  int32_t needed = unorm2_normalize(norm, utf16.data(), src_len, nullptr, 0, &status);
  if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status)) return utf16;
  std::u16string result(static_cast<size_t>(needed), u'\0');
  status = U_ZERO_ERROR;
  unorm2_normalize(norm, utf16.data(), src_len, result.data(), needed, &status);
  if (U_FAILURE(status)) return utf16;
  return result;
}

// Marks belong to the word they sit on: an entry followed by a vowel sign or
// accent is the start of a longer word, not a whole word.
bool is_word_char(UChar32 c) { return (U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_M_MASK)) != 0; }

// `pos` is a code point boundary of valid UTF-8 `s`.
UChar32 code_point_before(std::string_view s, size_t pos) {
  if (pos == 0) return -1;
  size_t start = pos - 1;
  while (start > 0 && U8_IS_TRAIL(static_cast<uint8_t>(s[start]))) --start;
  return next_code_point(s, start);
}

UChar32 code_point_at(std::string_view s, size_t pos) {
  if (pos >= s.size()) return -1;
  return next_code_point(s, pos);
}

bool is_rtl_strong(UCharDirection d) { return d == U_RIGHT_TO_LEFT || d == U_RIGHT_TO_LEFT_ARABIC; }

// normalize_for_match() of text made only of common characters: NFKC
// leaves it as it is (the compositions it could make, alef/waw/yaa with
// hamza or madda, are folded back to the base letter and the mark dropped
// below anyway), and none of it is default-ignorable or a control.
bool normalize_common(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  bool pending_space = false;
  size_t i = 0;
  while (i < in.size()) {
    int32_t c = next_common(in, i);
    if (c < 0) return false;
    if (c == ' ' || c == '\n') {
      pending_space = !out->empty();
      continue;
    }
    if (is_arabic_mark(static_cast<uint32_t>(c)) || c == 0x0640) continue;
    switch (c) {
      case 0x0622:
      case 0x0623:
      case 0x0625:
        c = 0x0627;
        break;
      case 0x0649:
      case 0x0626:
        c = 0x064A;
        break;
      case 0x0629:
        c = 0x0647;
        break;
      case 0x0624:
        c = 0x0648;
        break;
      default:
        if (c >= 0x0660 && c <= 0x0669) c = '0' + (c - 0x0660);
        else if (c >= 'A' && c <= 'Z') c = c - 'A' + 'a';
    }
    if (pending_space) {
      out->push_back(' ');
      pending_space = false;
    }
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else {
      out->push_back(static_cast<char>(0xC0 | (c >> 6)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return true;
}

// What detect_language() and detect_direction() need of text made only of
// common characters. Of those, the letters are the ASCII ones (Latin, bidi
// L), the Arabic ones (Arabic script, bidi AL) and tatweel (a letter of the
// Common script, bidi AL); of the rest only ؛ ؟ ٭ are strong (AL).
struct CommonLetters {
  size_t letters = 0;
  size_t arabic = 0;  // Arabic-script letters
  size_t latin = 0;   // Latin letters
  size_t rtl = 0;     // letters that are strong right-to-left
  bool have_strong = false;
  bool first_strong_rtl = false;
};

bool count_common_letters(std::string_view in, CommonLetters* out) {
  size_t i = 0;
  while (i < in.size()) {
    const int32_t c = next_common(in, i);
    if (c < 0) return false;
    const bool latin = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    const bool arabic = (c >= 0x0621 && c <= 0x063A) || (c >= 0x0641 && c <= 0x064A) || c == 0x067E || c == 0x0686 ||
                        c == 0x0698 || c == 0x06A9 || c == 0x06AF || c == 0x06CC;
    const bool tatweel = c == 0x0640;
    const bool rtl_strong = arabic || tatweel || c == 0x061B || c == 0x061F || c == 0x066D;
    if (!out->have_strong && (latin || rtl_strong)) {
      out->have_strong = true;
      out->first_strong_rtl = rtl_strong;
    }
    if (latin || arabic || tatweel) ++out->letters;
    if (latin) ++out->latin;
    if (arabic) ++out->arabic;
    if (arabic || tatweel) ++out->rtl;
  }
  return true;
}

std::string normalize_general(std::string_view text);
std::string detect_direction_general(std::string_view text);
std::string detect_language_general(std::string_view text);

}  // namespace

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (next_code_point(s, i) < 0) return false;
  }
  return true;
}

size_t count_code_points(std::string_view s) {
  size_t n = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (next_code_point(s, i) >= 0) ++n;
  }
  return n;
}

std::string truncate_code_points(std::string_view s, size_t max_code_points) {
  try {
    std::string out;
    size_t n = 0;
    size_t i = 0;
    // Copies well-formed sequences only, so even invalid input cannot make
    // this return a broken string.
    while (i < s.size() && n < max_code_points) {
      const size_t start = i;
      if (next_code_point(s, i) < 0) continue;
      out.append(s.substr(start, i - start));
      ++n;
    }
    return out;
  } catch (...) {
    return {};
  }
}

std::string sanitize_text(std::string_view text) {
  try {
    std::string out;
    if (sanitize_common(text, &out)) return out;
    return sanitize(text, Mode::kText, SIZE_MAX);
  } catch (...) {
    return {};
  }
}

std::string sanitize_name(std::string_view name, size_t max_code_points) {
  try {
    return sanitize(name, Mode::kName, max_code_points);
  } catch (...) {
    return {};
  }
}

std::string normalize_for_match(std::string_view text) {
  try {
    std::string out;
    if (normalize_common(text, &out)) return out;
    return normalize_general(text);
  } catch (...) {
    return {};
  }
}

namespace text_reference {
std::string sanitize_text(std::string_view text) {
  try {
    return sanitize(text, Mode::kText, SIZE_MAX);
  } catch (...) {
    return {};
  }
}
std::string normalize_for_match(std::string_view text) {
  try {
    return normalize_general(text);
  } catch (...) {
    return {};
  }
}
}  // namespace text_reference

namespace {

// normalize_for_match() with ICU: NFKC, then the folding rules.
std::string normalize_general(std::string_view text) {
  {
    const std::u16string folded = nfkc(text);
    std::string out;
    out.reserve(folded.size());
    bool pending_space = false;
    size_t i = 0;
    const size_t length = folded.size();
    while (i < length) {
      UChar32 c;
      U16_NEXT(folded.data(), i, length, c);
      if (U_IS_SURROGATE(c)) continue;
      // Default-ignorables cover the zero-width characters, bidi controls,
      // variation selectors, tag characters and Hangul fillers: all invisible,
      // all usable to split a blocked word.
      if (u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT)) continue;
      if (is_space(c)) {
        pending_space = !out.empty();
        continue;
      }
      if (is_control(c)) continue;
      if ((c >= 0x064B && c <= 0x065F) || c == 0x0670 || c == 0x0640) continue;
      switch (c) {
        case 0x0622:  // آ
        case 0x0623:  // أ
        case 0x0625:  // إ
        case 0x0671:  // ٱ
          c = 0x0627;
          break;
        case 0x0649:  // ى
        case 0x0626:  // ئ
          c = 0x064A;
          break;
        case 0x0629:  // ة
          c = 0x0647;
          break;
        case 0x0624:  // ؤ
          c = 0x0648;
          break;
        default:
          if (int d = arabic_digit_value(c); d >= 0) {
            c = '0' + d;
          } else {
            c = u_tolower(c);
          }
      }
      if (pending_space) {
        out.push_back(' ');
        pending_space = false;
      }
      append_code_point(out, c);
    }
    return out;
  }
}

}  // namespace

std::string detect_direction(std::string_view text) {
  CommonLetters n;
  if (count_common_letters(text, &n)) return n.first_strong_rtl || n.rtl > n.latin ? "rtl" : "ltr";
  return detect_direction_general(text);
}

std::string detect_language(std::string_view text) {
  CommonLetters n;
  if (!count_common_letters(text, &n)) return detect_language_general(text);
  if (n.arabic * 2 > n.letters) return "ar";
  if (n.latin * 2 > n.letters) return "en";
  return "";
}

std::string text_reference::detect_direction(std::string_view text) { return detect_direction_general(text); }
std::string text_reference::detect_language(std::string_view text) { return detect_language_general(text); }

namespace {

std::string detect_direction_general(std::string_view text) {
  bool have_strong = false;
  bool first_strong_rtl = false;
  size_t rtl_letters = 0;
  size_t latin_letters = 0;
  size_t i = 0;
  while (i < text.size()) {
    const UChar32 c = next_code_point(text, i);
    if (c < 0) continue;
    const UCharDirection d = u_charDirection(c);
    if (!have_strong && (d == U_LEFT_TO_RIGHT || is_rtl_strong(d))) {
      have_strong = true;
      first_strong_rtl = is_rtl_strong(d);
    }
    if (!is_letter(c)) continue;
    UErrorCode status = U_ZERO_ERROR;
    if (is_rtl_strong(d)) {
      ++rtl_letters;
    } else if (uscript_getScript(c, &status) == USCRIPT_LATIN && U_SUCCESS(status)) {
      ++latin_letters;
    }
  }
  return first_strong_rtl || rtl_letters > latin_letters ? "rtl" : "ltr";
}

std::string detect_language_general(std::string_view text) {
  size_t arabic = 0;
  size_t latin = 0;
  size_t letters = 0;
  size_t i = 0;
  while (i < text.size()) {
    const UChar32 c = next_code_point(text, i);
    if (c < 0 || !is_letter(c)) continue;
    ++letters;
    UErrorCode status = U_ZERO_ERROR;
    const UScriptCode script = uscript_getScript(c, &status);
    if (U_FAILURE(status)) continue;
    if (script == USCRIPT_ARABIC) ++arabic;
    else if (script == USCRIPT_LATIN) ++latin;
  }
  // "Dominate" is a strict majority of all letters, so text that is mostly
  // another script (or an even mix) gets no language rather than a wrong one.
  if (arabic * 2 > letters) return "ar";
  if (latin * 2 > letters) return "en";
  return "";
}

}  // namespace

BlockedWords::BlockedWords(const std::vector<std::string>& words) {
  try {
    entries_.reserve(words.size());
    for (const std::string& w : words) {
      std::string normalized = normalize_for_match(w);
      // An entry that normalises to nothing (only tashkeel, only spaces)
      // would match everywhere.
      if (normalized.empty()) continue;
      entries_.push_back(Entry{w, std::move(normalized)});
    }
  } catch (...) {
    // Out of memory: keep the entries built so far rather than throw from a
    // settings update.
  }
}

std::string BlockedWords::first_match(std::string_view text) const {
  try {
    if (entries_.empty()) return {};
    const std::string haystack = normalize_for_match(text);
    for (const Entry& e : entries_) {
      const std::string& needle = e.normalized;
      // A boundary is only required where the entry itself starts or ends
      // with a letter, as with regex \b: an entry like "@spam" still matches
      // in "x@spam".
      const bool word_start = is_word_char(code_point_at(needle, 0));
      const bool word_end = is_word_char(code_point_before(needle, needle.size()));
      // Both strings are valid UTF-8 and the needle starts with a lead byte,
      // so every hit lies on code point boundaries.
      for (size_t pos = haystack.find(needle); pos != std::string::npos;
           pos = haystack.find(needle, pos + 1)) {
        if (word_start && is_word_char(code_point_before(haystack, pos))) continue;
        if (word_end && is_word_char(code_point_at(haystack, pos + needle.size()))) continue;
        return e.original;
      }
    }
    return {};
  } catch (...) {
    return {};
  }
}

}  // namespace sabla::moderation
