// A strict SubRip (SRT) reader for checking caption exports, shared by the
// archive export tests and the export fuzz target. It accepts only what the
// exporter means to write:
//
//   N\nHH:MM:SS,mmm --> HH:MM:SS,mmm\ntext line\n[text line\n...]\n
//
// blocks numbered 1, 2, 3... and every block ending in one blank line. It
// also rejects cue text that some real reader would take for structure or
// markup, because a lenient reader is what a viewer's comment must not fool:
// ffmpeg (and mpv, which lifted its SRT code) starts a new cue at any line
// holding "-->" between timestamps, even without a blank line before it;
// readers differ on digits-only lines before a timing line; ffmpeg turns
// <b>, <i>, <u>, <s>, <font ...> (also with attributes: "<b c>") into
// formatting, drops {\...} and {y:i} (ASS overrides, MicroDVD styles) or
// obeys them ({\an8} moves the caption), and passes \N, \n, \h through to
// ASS as line breaks and hard spaces. No exceptions, no regex: it runs on
// every fuzz input.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sabla::test {

struct SrtCue {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::vector<std::string> lines;  // the text lines as written
};

struct SrtDocument {
  std::vector<SrtCue> cues;
  std::string error;  // empty when the whole document is well-formed
  bool ok() const { return error.empty(); }
};

namespace srt_detail {

inline bool digit(char c) { return c >= '0' && c <= '9'; }

// HH:MM:SS,mmm with two or more hour digits; false when malformed.
inline bool timestamp(std::string_view s, int64_t* ms) {
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon < 2 || colon > 12) return false;
  int64_t hours = 0;
  for (size_t i = 0; i < colon; ++i) {
    if (!digit(s[i])) return false;
    hours = hours * 10 + (s[i] - '0');
  }
  const std::string_view t = s.substr(colon);
  if (t.size() != 10 || t[3] != ':' || t[6] != ',') return false;
  for (size_t i : {1, 2, 4, 5, 7, 8, 9})
    if (!digit(t[i])) return false;
  if (t[1] > '5' || t[4] > '5') return false;
  *ms = hours * 3'600'000 + ((t[1] - '0') * 10 + (t[2] - '0')) * 60'000 +
        ((t[4] - '0') * 10 + (t[5] - '0')) * 1000 + (t[7] - '0') * 100 + (t[8] - '0') * 10 + (t[9] - '0');
  return true;
}

inline bool digits_only(std::string_view line) {
  bool any = false;
  for (char c : line) {
    if (digit(c)) any = true;
    else if (c != ' ' && c != '\t') return false;
  }
  return any;
}

inline bool blank(std::string_view line) { return line.find_first_not_of(" \t") == std::string_view::npos; }

// A '<' before a letter (any script), '/' or '!' may open a tag for some reader.
inline bool opens_tag(char next) {
  return (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') || next == '/' || next == '!' ||
         static_cast<unsigned char>(next) >= 0x80;
}

// Why this text line is not plain text to every reader, or "".
inline std::string text_problem(std::string_view line) {
  if (blank(line)) return "a blank text line (ends the cue for most readers)";
  if (digits_only(line)) return "a digits-only text line (reads as a cue number)";
  if (line.find("-->") != std::string_view::npos) return "\"-->\" in cue text (reads as a timing line)";
  for (std::string_view sep : {"\r", "\v", "\f", "\xC2\x85", "\xE2\x80\xA8", "\xE2\x80\xA9"})
    if (line.find(sep) != std::string_view::npos) return "a line-break character inside a text line";
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    const char next = i + 1 < line.size() ? line[i + 1] : '\0';
    if (c == '<' && opens_tag(next)) return "a markup tag in cue text";
    if (c == '{') return "a '{' in cue text (ASS override or MicroDVD style)";
    if (c == '\\' && (next == 'N' || next == 'n' || next == 'h')) return "an ASS escape (\\N, \\n, \\h) in cue text";
  }
  return "";
}

}  // namespace srt_detail

inline SrtDocument parse_srt_strict(std::string_view doc) {
  SrtDocument out;
  std::vector<std::string_view> lines;
  while (!doc.empty()) {
    const size_t nl = doc.find('\n');
    if (nl == std::string_view::npos) {
      out.error = "the last line has no newline";
      return out;
    }
    lines.push_back(doc.substr(0, nl));
    doc.remove_prefix(nl + 1);
  }
  size_t i = 0;
  const auto fail = [&](size_t line, const std::string& why) {
    out.error = "line " + std::to_string(line + 1) + ": " + why;
    return out;
  };
  while (i < lines.size()) {
    if (lines[i] != std::to_string(out.cues.size() + 1)) {
      return fail(i, "expected cue number " + std::to_string(out.cues.size() + 1) + ", got \"" +
                         std::string(lines[i]) + "\"");
    }
    if (++i >= lines.size()) return fail(i, "no timing line");
    const std::string_view timing = lines[i];
    const size_t arrow = timing.find(" --> ");
    SrtCue cue;
    if (arrow == std::string_view::npos || !srt_detail::timestamp(timing.substr(0, arrow), &cue.start_ms) ||
        !srt_detail::timestamp(timing.substr(arrow + 5), &cue.end_ms)) {
      return fail(i, "not a timing line: \"" + std::string(timing) + "\"");
    }
    if (cue.end_ms <= cue.start_ms) return fail(i, "the cue ends before it starts");
    ++i;
    while (i < lines.size() && !lines[i].empty()) {
      if (std::string why = srt_detail::text_problem(lines[i]); !why.empty()) {
        return fail(i, why + ": \"" + std::string(lines[i]) + "\"");
      }
      cue.lines.emplace_back(lines[i++]);
    }
    if (cue.lines.empty()) return fail(i, "a cue without text");
    if (i >= lines.size()) return fail(i, "the cue does not end with a blank line");
    ++i;  // the blank line
    out.cues.push_back(std::move(cue));
  }
  return out;
}

}  // namespace sabla::test
