// Text rules for everything a viewer or bridge types: one sanitizer, one
// normalizer for matching, one blocked-word matcher. Pure functions, any thread.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sabla::moderation {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Number of Unicode code points in valid UTF-8 `s`.
size_t count_code_points(std::string_view s);

// Cuts valid UTF-8 to at most `max_code_points` code points, never inside a
// character.
std::string truncate_code_points(std::string_view s, size_t max_code_points);

// Comment bodies. Requires valid UTF-8 (callers reject invalid input first).
//  - normalises line endings to \n; drops other C0/C1 controls except \n and \t
//    (tab becomes a space); at most 2 consecutive newlines;
//  - strips bidi embedding/override/isolate controls U+202A–U+202E, U+2066–U+2069
//    (and U+200E/U+200F marks are kept: they are harmless and used in Arabic);
//  - keeps at most 2 combining marks (general category M*) after a base character;
//  - keeps ZWJ U+200D and ZWNJ U+200C (emoji sequences, Persian/Arabic joining),
//    drops U+FEFF (BOM) and noncharacters;
//  - trims leading/trailing whitespace (including Unicode spaces).
// Idempotent: sanitize_text(sanitize_text(x)) == sanitize_text(x).
std::string sanitize_text(std::string_view text);

// Display names: as sanitize_text, plus every zero-width character
// (U+200B–U+200F, U+2060–U+2064, U+FEFF, ZWJ, ZWNJ) stripped, newlines and
// tabs become single spaces, runs of spaces collapse to one, and the result is
// cut to `max_code_points` (32 by default). Idempotent.
std::string sanitize_name(std::string_view name, size_t max_code_points = 32);

// Matching form for blocked words and search (not for display):
// Arabic diacritics (U+064B–U+065F, U+0670) and tatweel U+0640 removed;
// alef variants (آ أ إ ٱ) -> ا; alef maksura ى -> ي; taa marbuta ة -> ه;
// hamza on waw/yaa (ؤ ئ) -> و ي; Arabic-Indic digits -> ASCII digits;
// ASCII and Latin letters lower-cased; zero-width characters removed;
// whitespace runs collapse to one space.
std::string normalize_for_match(std::string_view text);

// The general (ICU) paths of sanitize_text() and normalize_for_match(),
// which those take for anything beyond printable ASCII and the common Arabic
// characters; for tests that check the fast paths against them.
namespace text_reference {
std::string sanitize_text(std::string_view text);
std::string normalize_for_match(std::string_view text);
}  // namespace text_reference

// "rtl" when the first strong directional character is Arabic/Hebrew
// (or the text has more Arabic than Latin letters), else "ltr".
std::string detect_direction(std::string_view text);
// "ar" when Arabic letters dominate, "en" when Latin letters dominate, else "".
std::string detect_language(std::string_view text);

// Blocked words, matched on normalize_for_match() forms. A word matches when
// it occurs as a whole word (bounded by non-letters or text edges); an entry
// with a space matches as a phrase.
class BlockedWords {
 public:
  BlockedWords() = default;
  explicit BlockedWords(const std::vector<std::string>& words);
  // The first blocked entry (as given) found in `text`, or "" when none.
  std::string first_match(std::string_view text) const;
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    std::string original;
    std::string normalized;
  };
  std::vector<Entry> entries_;
};

}  // namespace sabla::moderation
