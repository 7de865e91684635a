// The on-air state: what the overlay shows, drawn identically by the
// renderer (burned into the video) and by the /overlay page. Plain data with
// a JSON form; no GStreamer, sockets or SQLite here.
//
// Geometry is given for a 1920x1080 canvas and scales with the output height
// (scale = height / 1080), so 1280x720 is the same layout at 2/3 size.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sabla::overlay {

// A comment on screen. Text is already sanitized plain text (never markup).
struct AiredComment {
  int64_t id = 0;
  std::string author;
  std::string text;
  std::string dir = "rtl";     // "rtl" | "ltr": the paragraph direction of text
  std::string source = "web";  // "web" or a bridge name, shown as a badge when not "web"
  int64_t aired_at_ms = 0;
};

// Speaker name and title, and the session title; Arabic and/or English.
struct LowerThird {
  std::string name_ar, name_en;
  std::string title_ar, title_en;
  std::string session_ar, session_en;
  bool empty() const;
};

// A poll on screen. `results` false: the question and the options only (the
// poll's results are not public yet); then votes and total are 0.
struct PollOption {
  std::string ar, en;  // labels; either may be empty
  int64_t votes = 0;
};
struct AiredPoll {
  int64_t id = 0;
  std::string status = "open";  // "open" | "closed"
  std::string question_ar, question_en;
  std::vector<PollOption> options;  // 2..6
  bool results = true;              // votes and total may be shown
  int64_t total = 0;                // ballots cast (percentages are votes / total)
  // The poll is drawn in Arabic (rtl) when question_ar is set, else in English.
  bool rtl() const { return !question_ar.empty(); }
};

struct Theme {
  std::string name = "default";          // preset this theme started from
  std::string position = "bottom";       // bottom | top | side
  std::string font_family = "Noto Naskh Arabic, Noto Sans, Noto Color Emoji";
  int font_size = 40;                    // px at 1080p (comment text)
  std::string text_color = "#ffffff";    // #rrggbb
  std::string background = "#14314dE6";  // #rrggbbaa: comment and lower-third box
  std::string accent = "#c9a227";        // #rrggbb: author name, badges, ticker band
  int margin_x = 96;                     // safe area at 1080p, px from the left/right edges
  int margin_y = 54;                     // safe area at 1080p, px from the top/bottom edges
  int max_lines = 3;                     // comment text lines before ellipsis
  std::string logo_path;                 // optional PNG drawn in the top corner (renderer only)
  int fade_ms = 300;                     // browser page fade; the renderer cuts

  // Presets: "default", "light", "dark". Unknown names -> nullopt.
  static std::optional<Theme> preset(const std::string& name);
};

struct State {
  std::vector<AiredComment> comments;  // on screen now, first = top of the stack; at most 3
  std::optional<LowerThird> lower_third;
  std::optional<std::string> ticker;
  std::optional<AiredPoll> poll;
  Theme theme;
  bool operator==(const State&) const = default;
};
bool operator==(const AiredComment&, const AiredComment&);
bool operator==(const LowerThird&, const LowerThird&);
bool operator==(const Theme&, const Theme&);
bool operator==(const PollOption&, const PollOption&);
bool operator==(const AiredPoll&, const AiredPoll&);

// {"comments":[{"id","author","text","dir","source","aired_at"}],
//  "lower_third":{...}|null, "ticker":"..."|null,
//  "poll":{"id","status","question_ar","question_en","options":[{"ar","en","votes"}],"total"}|null,
//  "theme":{...}}
// A poll without results carries no "votes" and no "total".
// Strings must be valid UTF-8 (the server sanitizes first).
nlohmann::json to_json(const State& state);
nlohmann::json to_json(const Theme& theme);
nlohmann::json to_json(const AiredPoll& poll);
// Parses what to_json wrote (used to restore after a restart). False + *error on bad input.
bool from_json(const nlohmann::json& j, State* state, std::string* error);
// Applies the fields present in `j` to `theme` ("preset":"dark" first resets to that
// preset). Validates every field; on error nothing changes. Keys as in to_json(Theme).
bool apply_theme(const nlohmann::json& j, Theme* theme, std::string* error);
// Parses #rrggbb or #rrggbbaa into 0..1 components (alpha 1 when absent).
bool parse_color(const std::string& s, double* r, double* g, double* b, double* a);

// What the renderer and the /overlay page write on a poll (docs/overlay-layout.md).
// Rounded percentage of `votes` out of `total` ballots (0 when total is 0).
int poll_percent(int64_t votes, int64_t total);
// The footer line: "عدد الأصوات: N" / "Votes: N", with "النتيجة النهائية · " /
// "Final result · " first when the poll is closed.
std::string poll_footer(const AiredPoll& poll);
// An option's label in the poll's language, else in the other one.
const std::string& poll_label(const AiredPoll& poll, const PollOption& option);

}  // namespace sabla::overlay
