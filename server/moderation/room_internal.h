// Internal to the Room's sources (room*.cpp): the helpers and limits more
// than one of them needs. Not part of the moderation module's interface.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "moderation/room.h"
#include "protocol/messages.h"

namespace sabla::moderation {

using nlohmann::json;
using protocol::dump;
using store::CommentStatus;
namespace code = protocol::code;

namespace room_internal {

// Approved comment ids the Room remembers for the feed and the snapshot.
constexpr size_t kFeedMemory = 500;

inline constexpr const char* kBadClientId = "client_id must be a string of 1-64 characters or an integer";

inline std::optional<int64_t> int_field(const json& msg, const char* name) {
  auto it = msg.find(name);
  if (it == msg.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

inline std::optional<std::string> string_field(const json& msg, const char* name) {
  auto it = msg.find(name);
  if (it == msg.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

inline ApiReply api_error(int status, const char* code, std::string message) {
  return ApiReply{status, json{{"error", {{"code", code}, {"message", std::move(message)}}}}};
}

}  // namespace room_internal
}  // namespace sabla::moderation
