#include "sabla/overlay/state.h"

namespace sabla::overlay {

nlohmann::json to_json(const State& state) {
  nlohmann::json j = nlohmann::json::object();
  if (state.comment) {
    j["comment"] = {{"id", state.comment->id},
                    {"name", state.comment->name},
                    {"text", state.comment->text},
                    {"dir", state.comment->dir}};
  } else {
    j["comment"] = nullptr;
  }
  j["theme"] = state.theme;
  return j;
}

}  // namespace sabla::overlay
