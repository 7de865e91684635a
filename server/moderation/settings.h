// The moderation settings of the live session (review, slow mode, length,
// blocked words): what a studio's "settings" message changes and the store
// keeps as one document.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sabla::moderation {

struct ModerationSettings {
  bool hold_for_review = true;
  int slow_mode_seconds = 0;
  int max_length = 500;
  std::vector<std::string> blocked_words;
  std::string blocked_action = "hold";  // hold | reject
  nlohmann::json to_json() const;
  // Applies the fields present in `j` (a settings message or a stored
  // document). Unknown fields and bad values are an error; nothing changes then.
  Status apply(const nlohmann::json& j);
};

}  // namespace sabla::moderation
