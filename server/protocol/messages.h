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
// A vote for a poll that is closed.
inline constexpr const char* kClosed = "closed";
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

// A viewer's comment frame in fixed fields: the ingest hot path parses into
// this with nlohmann's SAX interface, without building a json tree.
struct CommentFrame {
  enum class Id { missing, string, integer };
  Id id = Id::missing;
  std::string client_id;      // Id::string
  int64_t client_id_int = 0;  // Id::integer
  bool text_is_string = false;  // false: "text" missing or not a string
  std::string text;
  void clear() {
    id = Id::missing;
    client_id.clear();
    client_id_int = 0;
    text_is_string = false;
    text.clear();
  }
};
// Fills *out and returns true when `frame` is a flat JSON object (no nested
// object or array) whose "type" is "comment" and whose "client_id" is a
// string, an integer or absent. Duplicate keys: the last one counts, as in
// parse_incoming(). Everything else (another type, nesting, a client_id of
// another kind, any syntax error) returns false and the caller falls back to
// parse_incoming(), so malformed frames get exactly the errors they always
// got. Never throws. Net thread (any thread: no state).
bool parse_comment_frame(std::string_view frame, CommentFrame* out);

// The JSON form of a CommentFrame's client_id (for error frames).
nlohmann::json client_id_json(const CommentFrame& frame);

// Appends `s` (valid UTF-8) as a JSON string literal, escaped exactly as
// dump() escapes it, so frames built by hand on the hot path are
// byte-identical to the json ones.
void append_json_string(std::string& out, std::string_view s);

// {"client_id":…,"id":N,"status":S,"type":"ack"} (dump()'s key order) built
// without a json tree. `client_id` is the JSON text of the id
// (append_json_string or an integer).
std::string ack_frame(std::string_view client_id_json_text, int64_t id, std::string_view status);

// Serialises a message; invalid UTF-8 (which should never get here) is
// replaced rather than thrown on.
std::string dump(const nlohmann::json& message);

nlohmann::json comment_json(const store::CommentRow& row, bool for_studio,
                            const std::string& reason = {});
// {"comment":comment_json(row, for_studio, reason),"type":type} as dump()
// writes it, without a json tree (the per-comment frames: pending, comment).
std::string comment_frame(std::string_view type, const store::CommentRow& row, bool for_studio,
                          const std::string& reason = {});
nlohmann::json session_json(const store::SessionRow* session);  // null when none

std::string error_frame(std::string_view code, std::string_view message,
                        const nlohmann::json* client_id = nullptr,
                        std::optional<int64_t> retry_after_ms = std::nullopt,
                        const nlohmann::json* op = nullptr);

}  // namespace sabla::protocol
