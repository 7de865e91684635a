#include "sabla/overlay/state.h"

#include <cctype>
#include <cmath>

namespace sabla::overlay {

using nlohmann::json;

namespace {

constexpr size_t kMaxField = 300;  // bytes per text field in a theme or lower third

bool hex_digits(const std::string& s, size_t from) {
  for (size_t i = from; i < s.size(); ++i)
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

json optional_string(const std::optional<std::string>& s) { return s ? json(*s) : json(); }

bool get_string(const json& j, const char* key, std::string* out, std::string* error, size_t max = kMaxField) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_string() || it->get_ref<const std::string&>().size() > max) {
    *error = std::string(key) + " must be a string of at most " + std::to_string(max) + " bytes";
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

bool get_int(const json& j, const char* key, int lo, int hi, int* out, std::string* error) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi) {
    *error = std::string(key) + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
    return false;
  }
  *out = it->get<int>();
  return true;
}

bool get_count(const json& j, const char* key, int64_t* out, std::string* error) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_number_integer() || it->get<int64_t>() < 0) {
    *error = std::string(key) + " must be a non-negative integer";
    return false;
  }
  *out = it->get<int64_t>();
  return true;
}

// Poll text fields: a question of up to 300 characters, labels of up to 80
// (the server's limits, in bytes with room for Arabic's two bytes per letter).
constexpr size_t kMaxPollQuestion = 1200;
constexpr size_t kMaxPollLabel = 400;

bool poll_from_json(const json& j, AiredPoll* out, std::string* error) {
  if (!j.is_object() || !j.contains("id") || !j["id"].is_number_integer()) {
    *error = "poll needs an integer id";
    return false;
  }
  AiredPoll p;
  p.id = j["id"].get<int64_t>();
  if (!get_string(j, "status", &p.status, error, 10) ||
      !get_string(j, "question_ar", &p.question_ar, error, kMaxPollQuestion) ||
      !get_string(j, "question_en", &p.question_en, error, kMaxPollQuestion))
    return false;
  if (p.status != "open" && p.status != "closed") {
    *error = "poll status must be open or closed";
    return false;
  }
  auto opts = j.find("options");
  if (opts == j.end() || !opts->is_array() || opts->size() < 2 || opts->size() > 6) {
    *error = "poll options must be a list of 2 to 6";
    return false;
  }
  p.results = j.contains("total");
  if (!get_count(j, "total", &p.total, error)) return false;
  for (const auto& o : *opts) {
    if (!o.is_object()) {
      *error = "each poll option must be an object";
      return false;
    }
    PollOption option;
    if (!get_string(o, "ar", &option.ar, error, kMaxPollLabel) || !get_string(o, "en", &option.en, error, kMaxPollLabel))
      return false;
    if (p.results && !get_count(o, "votes", &option.votes, error)) return false;
    p.options.push_back(std::move(option));
  }
  *out = std::move(p);
  return true;
}

}  // namespace

bool LowerThird::empty() const {
  return name_ar.empty() && name_en.empty() && title_ar.empty() && title_en.empty() && session_ar.empty() &&
         session_en.empty();
}

bool operator==(const AiredComment& a, const AiredComment& b) {
  return a.id == b.id && a.author == b.author && a.text == b.text && a.dir == b.dir && a.source == b.source &&
         a.aired_at_ms == b.aired_at_ms;
}
bool operator==(const LowerThird& a, const LowerThird& b) {
  return a.name_ar == b.name_ar && a.name_en == b.name_en && a.title_ar == b.title_ar && a.title_en == b.title_en &&
         a.session_ar == b.session_ar && a.session_en == b.session_en;
}
bool operator==(const Theme& a, const Theme& b) { return to_json(a) == to_json(b); }
bool operator==(const PollOption& a, const PollOption& b) {
  return a.ar == b.ar && a.en == b.en && a.votes == b.votes;
}
bool operator==(const AiredPoll& a, const AiredPoll& b) {
  return a.id == b.id && a.status == b.status && a.question_ar == b.question_ar && a.question_en == b.question_en &&
         a.options == b.options && a.results == b.results && a.total == b.total;
}

int poll_percent(int64_t votes, int64_t total) {
  if (total <= 0 || votes <= 0) return 0;
  // The page computes Math.round(100 * votes / total) on the same doubles.
  return static_cast<int>(std::floor(100.0 * static_cast<double>(votes) / static_cast<double>(total) + 0.5));
}

std::string poll_footer(const AiredPoll& poll) {
  const bool closed = poll.status == "closed";
  const std::string n = std::to_string(poll.total);
  if (poll.rtl()) return std::string(closed ? "النتيجة النهائية · " : "") + "عدد الأصوات: " + n;
  return std::string(closed ? "Final result · " : "") + "Votes: " + n;
}

const std::string& poll_label(const AiredPoll& poll, const PollOption& option) {
  const std::string& first = poll.rtl() ? option.ar : option.en;
  return first.empty() ? (poll.rtl() ? option.en : option.ar) : first;
}

std::optional<Theme> Theme::preset(const std::string& name) {
  Theme t;
  t.name = name;
  if (name == "default") return t;
  if (name == "light") {
    t.text_color = "#14212e";
    t.background = "#f7f4ecF0";
    t.accent = "#8a5a00";
    return t;
  }
  if (name == "dark") {
    t.text_color = "#f2f2f2";
    t.background = "#000000D9";
    t.accent = "#4fc3f7";
    return t;
  }
  return std::nullopt;
}

bool parse_color(const std::string& s, double* r, double* g, double* b, double* a) {
  if ((s.size() != 7 && s.size() != 9) || s[0] != '#' || !hex_digits(s, 1)) return false;
  auto byte = [&](size_t at) { return std::stoi(s.substr(at, 2), nullptr, 16) / 255.0; };
  *r = byte(1);
  *g = byte(3);
  *b = byte(5);
  *a = s.size() == 9 ? byte(7) : 1.0;
  return true;
}

json to_json(const Theme& t) {
  return json{{"name", t.name},           {"position", t.position},   {"font_family", t.font_family},
              {"font_size", t.font_size}, {"text_color", t.text_color}, {"background", t.background},
              {"accent", t.accent},       {"margin_x", t.margin_x},   {"margin_y", t.margin_y},
              {"max_lines", t.max_lines}, {"logo_path", t.logo_path}, {"fade_ms", t.fade_ms}};
}

json to_json(const AiredPoll& p) {
  json options = json::array();
  for (const auto& o : p.options) {
    json j{{"ar", o.ar}, {"en", o.en}};
    if (p.results) j["votes"] = o.votes;
    options.push_back(std::move(j));
  }
  json j{{"id", p.id},
         {"status", p.status},
         {"question_ar", p.question_ar},
         {"question_en", p.question_en},
         {"options", std::move(options)}};
  if (p.results) j["total"] = p.total;
  return j;
}

json to_json(const State& state) {
  json comments = json::array();
  for (const auto& c : state.comments)
    comments.push_back(json{{"id", c.id},
                            {"author", c.author},
                            {"text", c.text},
                            {"dir", c.dir},
                            {"source", c.source},
                            {"aired_at", c.aired_at_ms}});
  json lower = nullptr;
  if (state.lower_third) {
    const auto& l = *state.lower_third;
    lower = json{{"name_ar", l.name_ar},   {"name_en", l.name_en},       {"title_ar", l.title_ar},
                 {"title_en", l.title_en}, {"session_ar", l.session_ar}, {"session_en", l.session_en}};
  }
  return json{{"comments", comments},
              {"lower_third", lower},
              {"ticker", optional_string(state.ticker)},
              {"poll", state.poll ? to_json(*state.poll) : json()},
              {"theme", to_json(state.theme)}};
}

bool apply_theme(const json& j, Theme* theme, std::string* error) {
  if (!j.is_object()) {
    *error = "theme must be an object";
    return false;
  }
  Theme next = *theme;
  if (auto it = j.find("preset"); it != j.end()) {
    auto p = it->is_string() ? Theme::preset(it->get<std::string>()) : std::nullopt;
    if (!p) {
      *error = "preset must be one of default, light, dark";
      return false;
    }
    next = *p;
  }
  static const char* known[] = {"preset",   "name",     "position",  "font_family", "font_size", "text_color",
                                "background", "accent", "margin_x",  "margin_y",    "max_lines", "logo_path",
                                "fade_ms",  "type",     "op"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) {
      *error = "unknown theme field";
      return false;
    }
  }
  if (!get_string(j, "name", &next.name, error, 40) || !get_string(j, "position", &next.position, error, 10) ||
      !get_string(j, "font_family", &next.font_family, error) ||
      !get_string(j, "text_color", &next.text_color, error, 9) ||
      !get_string(j, "background", &next.background, error, 9) || !get_string(j, "accent", &next.accent, error, 9) ||
      !get_string(j, "logo_path", &next.logo_path, error) || !get_int(j, "font_size", 12, 160, &next.font_size, error) ||
      !get_int(j, "margin_x", 0, 600, &next.margin_x, error) || !get_int(j, "margin_y", 0, 400, &next.margin_y, error) ||
      !get_int(j, "max_lines", 1, 10, &next.max_lines, error) || !get_int(j, "fade_ms", 0, 5000, &next.fade_ms, error))
    return false;
  if (next.position != "bottom" && next.position != "top" && next.position != "side") {
    *error = "position must be bottom, top or side";
    return false;
  }
  double r, g, b, a;
  for (const std::string* c : {&next.text_color, &next.background, &next.accent}) {
    if (!parse_color(*c, &r, &g, &b, &a)) {
      *error = "colours must be #rrggbb or #rrggbbaa";
      return false;
    }
  }
  // The font list is handed to CSS and Pango: keep it to names, commas and spaces.
  for (char c : next.font_family) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == ',' || c == '-')) {
      *error = "font_family may hold only letters, digits, spaces, commas and hyphens";
      return false;
    }
  }
  *theme = next;
  return true;
}

bool from_json(const json& j, State* state, std::string* error) {
  if (!j.is_object()) {
    *error = "state must be an object";
    return false;
  }
  State next;
  if (auto it = j.find("comments"); it != j.end()) {
    if (!it->is_array() || it->size() > 3) {
      *error = "comments must be a list of at most 3";
      return false;
    }
    for (const auto& c : *it) {
      if (!c.is_object() || !c.contains("id") || !c["id"].is_number_integer()) {
        *error = "each comment needs an integer id";
        return false;
      }
      AiredComment a;
      a.id = c["id"].get<int64_t>();
      if (!get_string(c, "author", &a.author, error, 400) || !get_string(c, "text", &a.text, error, 20000) ||
          !get_string(c, "dir", &a.dir, error, 3) || !get_string(c, "source", &a.source, error, 32))
        return false;
      if (a.dir != "rtl" && a.dir != "ltr") {
        *error = "dir must be rtl or ltr";
        return false;
      }
      if (auto at = c.find("aired_at"); at != c.end() && at->is_number_integer()) a.aired_at_ms = at->get<int64_t>();
      next.comments.push_back(std::move(a));
    }
  }
  if (auto it = j.find("lower_third"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) {
      *error = "lower_third must be an object or null";
      return false;
    }
    LowerThird l;
    if (!get_string(*it, "name_ar", &l.name_ar, error) || !get_string(*it, "name_en", &l.name_en, error) ||
        !get_string(*it, "title_ar", &l.title_ar, error) || !get_string(*it, "title_en", &l.title_en, error) ||
        !get_string(*it, "session_ar", &l.session_ar, error) || !get_string(*it, "session_en", &l.session_en, error))
      return false;
    if (!l.empty()) next.lower_third = l;
  }
  if (auto it = j.find("ticker"); it != j.end() && !it->is_null()) {
    if (!it->is_string() || it->get_ref<const std::string&>().size() > 2000) {
      *error = "ticker must be a string of at most 2000 bytes or null";
      return false;
    }
    next.ticker = it->get<std::string>();
  }
  if (auto it = j.find("poll"); it != j.end() && !it->is_null()) {
    AiredPoll p;
    if (!poll_from_json(*it, &p, error)) return false;
    next.poll = std::move(p);
  }
  if (auto it = j.find("theme"); it != j.end() && !apply_theme(*it, &next.theme, error)) return false;
  *state = std::move(next);
  return true;
}

}  // namespace sabla::overlay
