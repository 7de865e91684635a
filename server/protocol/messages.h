// Every message type of the /ws protocol (docs/protocol.md) in one place:
// subprotocol names, type names, error codes, and the builders that turn
// domain rows into frames. Builders take only valid UTF-8 (the sanitizer
// runs first), so dump() cannot throw; they still use the replace error
// handler as a last guard.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "store/store.h"

namespace sabla::protocol {

inline constexpr const char* kViewerProtocol = "sabla.viewer.v1";
inline constexpr const char* kStudioProtocol = "sabla.studio.v1";
inline constexpr const char* kOverlayProtocol = "sabla.overlay.v1";

namespace code {
inline constexpr const char* kRateLimited = "rate_limited";
inline constexpr const char* kTooLong = "too_long";
inline constexpr const char* kEmpty = "empty";
inline constexpr const char* kBanned = "banned";
inline constexpr const char* kSlowMode = "slow_mode";
inline constexpr const char* kInvalid = "invalid";
inline constexpr const char* kNoSession = "no_session";
inline constexpr const char* kConflict = "conflict";
inline constexpr const char* kNotFound = "not_found";
inline constexpr const char* kForbidden = "forbidden";
inline constexpr const char* kBusy = "busy";
inline constexpr const char* kInternal = "internal";
// A display name that imitates a studio user, the speaker or a staff word.
inline constexpr const char* kImpersonation = "impersonation";
}  // namespace code

// A parsed client frame: an object with a string "type".
struct Incoming {
  std::string type;
  nlohmann::json body;
};
// Parses a text frame without exceptions. Rejects non-objects, a missing or
// non-string type and nesting deeper than `max_depth`. On failure returns
// nullopt and sets *why.
std::optional<Incoming> parse_incoming(std::string_view frame, std::string* why, int max_depth = 16);

// Serialises a message; invalid UTF-8 (which should never get here) is
// replaced rather than thrown on.
std::string dump(const nlohmann::json& message);

nlohmann::json comment_json(const store::CommentRow& row, bool for_studio,
                            const std::string& reason = {});
nlohmann::json session_json(const store::SessionRow* session);  // null when none

std::string error_frame(std::string_view code, std::string_view message,
                        const nlohmann::json* client_id = nullptr,
                        std::optional<int64_t> retry_after_ms = std::nullopt,
                        const nlohmann::json* op = nullptr);

}  // namespace sabla::protocol
