#include "moderation/settings.h"

#include <algorithm>

#include "moderation/text.h"
#include "protocol/messages.h"

namespace sabla::moderation {

using nlohmann::json;
namespace code = protocol::code;

json ModerationSettings::to_json() const {
  return json{{"hold_for_review", hold_for_review},
              {"slow_mode_seconds", slow_mode_seconds},
              {"max_length", max_length},
              {"blocked_words", blocked_words},
              {"blocked_action", blocked_action}};
}

Status ModerationSettings::apply(const json& j) {
  if (!j.is_object()) return Status::error(code::kInvalid, "settings must be an object");
  ModerationSettings next = *this;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "type" || key == "op") continue;
    if (key == "hold_for_review") {
      if (!v.is_boolean()) return Status::error(code::kInvalid, "hold_for_review must be true or false");
      next.hold_for_review = v.get<bool>();
    } else if (key == "slow_mode_seconds") {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 3600)
        return Status::error(code::kInvalid, "slow_mode_seconds must be an integer from 0 to 3600");
      next.slow_mode_seconds = v.get<int>();
    } else if (key == "max_length") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 5000)
        return Status::error(code::kInvalid, "max_length must be an integer from 1 to 5000");
      next.max_length = v.get<int>();
    } else if (key == "blocked_words") {
      if (!v.is_array() || v.size() > 2000)
        return Status::error(code::kInvalid, "blocked_words must be a list of at most 2000 words");
      std::vector<std::string> words;
      for (const auto& w : v) {
        if (!w.is_string()) return Status::error(code::kInvalid, "blocked_words must hold strings");
        auto s = w.get<std::string>();
        if (!is_valid_utf8(s)) return Status::error(code::kInvalid, "blocked word is not valid UTF-8");
        s = sanitize_name(s, 100);
        if (!s.empty() && std::find(words.begin(), words.end(), s) == words.end()) words.push_back(s);
      }
      next.blocked_words = std::move(words);
    } else if (key == "blocked_action") {
      if (!v.is_string() || (v != "hold" && v != "reject"))
        return Status::error(code::kInvalid, "blocked_action must be \"hold\" or \"reject\"");
      next.blocked_action = v.get<std::string>();
    } else {
      return Status::error(code::kInvalid, "unknown setting \"" + sanitize_name(key, 40) + "\"");
    }
  }
  *this = std::move(next);
  return Status::ok();
}

}  // namespace sabla::moderation
