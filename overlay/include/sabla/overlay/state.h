// The on-air state: what the overlay shows. Owned by the net thread; copied
// to renderers. Filled out by the overlay issue; for now it carries the aired
// comment and the theme so every client already receives a well-formed state.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace sabla::overlay {

struct OnAirComment {
  int64_t id = 0;
  std::string name;
  std::string text;
  std::string dir = "rtl";
};

struct State {
  std::optional<OnAirComment> comment;
  std::string theme = "default";
};

// {"comment":{...}|null,"theme":"default"}; strings must be valid UTF-8.
nlohmann::json to_json(const State& state);

}  // namespace sabla::overlay
