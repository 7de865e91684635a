#include "moderation/polls.h"

#include <algorithm>

#include "moderation/text.h"
#include "protocol/messages.h"

namespace sabla::moderation {

using nlohmann::json;
namespace code = protocol::code;

namespace {

// A one-line poll text: sanitized like a display name (no newlines, no
// invisible characters), at most `max` characters. nullopt when the field is
// there but not a valid string.
std::optional<std::string> poll_text(const json& j, const char* key, size_t max) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string() || !is_valid_utf8(it->get_ref<const std::string&>())) return std::nullopt;
  return sanitize_name(it->get_ref<const std::string&>(), max);
}

json optional_int(const std::optional<int64_t>& v) { return v ? json(*v) : json(); }

}  // namespace

Result<PollSpec> parse_poll_spec(const json& msg) {
  auto invalid = [](std::string m) { return Status::error(code::kInvalid, std::move(m)); };
  PollSpec spec;
  auto qa = poll_text(msg, "question_ar", kPollQuestionChars);
  auto qe = poll_text(msg, "question_en", kPollQuestionChars);
  if (!qa || !qe) return invalid("question_ar and question_en must be strings");
  if (qa->empty() && qe->empty()) return invalid("a poll needs question_ar or question_en");
  spec.question_ar = *qa;
  spec.question_en = *qe;
  auto opts = msg.find("options");
  if (opts == msg.end() || !opts->is_array() || opts->size() < kPollMinOptions || opts->size() > kPollMaxOptions)
    return invalid("options must be a list of 2 to 6 {\"ar\",\"en\"} objects");
  for (const json& o : *opts) {
    if (!o.is_object()) return invalid("each option must be an object with ar and/or en");
    auto ar = poll_text(o, "ar", kPollOptionChars);
    auto en = poll_text(o, "en", kPollOptionChars);
    if (!ar || !en) return invalid("option labels must be strings");
    if (ar->empty() && en->empty()) return invalid("every option needs an ar or en label");
    spec.options.push_back(PollChoice{*ar, *en});
  }
  if (auto m = msg.find("multiple"); m != msg.end()) {
    if (!m->is_boolean()) return invalid("multiple must be true or false");
    spec.multiple = m->get<bool>();
  }
  const int n = static_cast<int>(spec.options.size());
  spec.max_choices = spec.multiple ? n : 1;
  if (auto m = msg.find("max_choices"); m != msg.end() && !m->is_null()) {
    if (!m->is_number_integer() || m->get<int64_t>() < 1 || m->get<int64_t>() > (spec.multiple ? n : 1))
      return invalid(spec.multiple ? "max_choices must be from 1 to the number of options"
                                   : "max_choices must be 1 unless multiple is true");
    spec.max_choices = m->get<int>();
  }
  if (auto r = msg.find("results"); r != msg.end() && !r->is_null()) {
    if (!r->is_string() || (*r != "live" && *r != "after_close" && *r != "hidden"))
      return invalid("results must be live, after_close or hidden");
    spec.results = r->get<std::string>();
  }
  if (auto s = msg.find("session"); s != msg.end() && !s->is_null()) {
    if (!s->is_number_integer()) return invalid("session must be a session id");
    spec.session_id = s->get<int64_t>();
  }
  return spec;
}

bool Poll::results_public() const {
  if (spec.results == "live") return status != "draft";
  if (spec.results == "after_close") return status == "closed";
  return false;
}

std::optional<Poll::Ballot> Poll::cast(int64_t viewer, Ballot ballot) {
  if (counts.size() != spec.options.size()) counts.assign(spec.options.size(), 0);
  std::optional<Ballot> previous;
  if (auto it = ballots.find(viewer); it != ballots.end()) {
    previous = it->second;
    for (int i : it->second.options) counts[static_cast<size_t>(i)]--;
    if (--ballots_per_ip[it->second.ip] <= 0) ballots_per_ip.erase(it->second.ip);
    ballots.erase(it);
    --total;
  }
  for (int i : ballot.options) counts[static_cast<size_t>(i)]++;
  ballots_per_ip[ballot.ip]++;
  ++total;
  ballots.emplace(viewer, std::move(ballot));
  return previous;
}

void Poll::restore(int64_t viewer, std::optional<Ballot> previous) {
  if (auto it = ballots.find(viewer); it != ballots.end()) {
    for (int i : it->second.options) counts[static_cast<size_t>(i)]--;
    if (--ballots_per_ip[it->second.ip] <= 0) ballots_per_ip.erase(it->second.ip);
    ballots.erase(it);
    --total;
  }
  if (previous) cast(viewer, std::move(*previous));
}

const Poll::Ballot* Poll::ballot_of(int64_t viewer) const {
  auto it = ballots.find(viewer);
  return it == ballots.end() ? nullptr : &it->second;
}

json Poll::to_json(bool for_studio, bool on_air) const {
  const bool counts_shown = for_studio || results_public();
  json options = json::array();
  for (size_t i = 0; i < spec.options.size(); ++i) {
    json o{{"ar", spec.options[i].ar}, {"en", spec.options[i].en}};
    if (counts_shown) o["votes"] = i < counts.size() ? counts[i] : 0;
    options.push_back(std::move(o));
  }
  json j{{"id", id},
         {"session", session_id},
         {"status", status},
         {"question_ar", spec.question_ar},
         {"question_en", spec.question_en},
         {"multiple", spec.multiple},
         {"max_choices", spec.max_choices},
         {"results", spec.results},
         {"options", std::move(options)},
         {"opened_at", optional_int(opened_at_ms)},
         {"closed_at", optional_int(closed_at_ms)},
         {"on_air", on_air}};
  if (counts_shown) j["total"] = total;
  if (for_studio) {
    j["results_public"] = results_public();
    j["created_by"] = created_by;
    j["created_at"] = created_at_ms;
    j["opened_offset"] = optional_int(opened_offset_ms);
    j["closed_offset"] = optional_int(closed_offset_ms);
  }
  return j;
}

overlay::AiredPoll Poll::aired() const {
  overlay::AiredPoll a;
  a.id = id;
  a.status = status == "closed" ? "closed" : "open";
  a.question_ar = spec.question_ar;
  a.question_en = spec.question_en;
  a.results = results_public();
  for (size_t i = 0; i < spec.options.size(); ++i) {
    overlay::PollOption o;
    o.ar = spec.options[i].ar;
    o.en = spec.options[i].en;
    if (a.results && i < counts.size()) o.votes = counts[i];
    a.options.push_back(std::move(o));
  }
  if (a.results) a.total = total;
  return a;
}

std::optional<const char*> check_ballot(const Poll& poll, const json& options, std::vector<int>* out,
                                        std::string* why) {
  if (!options.is_array() || options.empty()) {
    *why = "options must be a non-empty list of option indexes";
    return code::kInvalid;
  }
  const int limit = poll.spec.multiple ? poll.spec.max_choices : 1;
  if (static_cast<int>(options.size()) > limit) {
    *why = "at most " + std::to_string(limit) + (limit == 1 ? " option" : " options");
    return code::kInvalid;
  }
  std::vector<int> chosen;
  for (const json& o : options) {
    if (!o.is_number_integer() || o.get<int64_t>() < 0 ||
        o.get<int64_t>() >= static_cast<int64_t>(poll.spec.options.size())) {
      *why = "unknown option index";
      return code::kInvalid;
    }
    chosen.push_back(o.get<int>());
  }
  std::sort(chosen.begin(), chosen.end());
  if (std::adjacent_find(chosen.begin(), chosen.end()) != chosen.end()) {
    *why = "an option is named twice";
    return code::kInvalid;
  }
  *out = std::move(chosen);
  return std::nullopt;
}

std::string options_to_text(const std::vector<PollChoice>& options) {
  json a = json::array();
  for (const auto& o : options) a.push_back(json{{"ar", o.ar}, {"en", o.en}});
  return protocol::dump(a);
}

bool options_from_text(const std::string& text, std::vector<PollChoice>* out) {
  json a = json::parse(text, nullptr, false);
  if (a.is_discarded() || !a.is_array()) return false;
  std::vector<PollChoice> options;
  for (const json& o : a) {
    if (!o.is_object()) return false;
    PollChoice c;
    if (auto ar = o.find("ar"); ar != o.end() && ar->is_string()) c.ar = ar->get<std::string>();
    if (auto en = o.find("en"); en != o.end() && en->is_string()) c.en = en->get<std::string>();
    options.push_back(std::move(c));
  }
  *out = std::move(options);
  return true;
}

}  // namespace sabla::moderation
