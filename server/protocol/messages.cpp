#include "protocol/messages.h"

namespace sabla::protocol {

namespace {

// Deep nesting costs recursion in consumers; a chat frame never needs it.
bool nesting_within(std::string_view s, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

}  // namespace

std::optional<Incoming> parse_incoming(std::string_view frame, std::string* why, int max_depth) {
  if (!nesting_within(frame, max_depth)) {
    *why = "JSON nested too deeply";
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(frame.begin(), frame.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *why = "malformed JSON";
    return std::nullopt;
  }
  if (!j.is_object()) {
    *why = "a message must be a JSON object";
    return std::nullopt;
  }
  auto it = j.find("type");
  if (it == j.end() || !it->is_string()) {
    *why = "a message needs a string \"type\"";
    return std::nullopt;
  }
  Incoming in;
  in.type = it->get<std::string>();
  in.body = std::move(j);
  return in;
}

std::string dump(const nlohmann::json& message) {
  return message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json comment_json(const store::CommentRow& row, bool for_studio, const std::string& reason) {
  nlohmann::json j = {{"id", row.id},
                      {"session", row.session_id},
                      {"name", row.display_name},
                      {"text", row.text},
                      {"dir", row.direction},
                      {"lang", row.lang},
                      {"source", row.source},
                      {"at", row.received_at_ms},
                      {"offset", row.stream_offset_ms ? nlohmann::json(*row.stream_offset_ms) : nlohmann::json()},
                      {"votes", row.votes},
                      {"status", std::string(store::to_string(row.status))}};
  if (for_studio) {
    if (row.viewer_id) j["viewer"] = *row.viewer_id;
    if (!reason.empty()) j["reason"] = reason;
  }
  return j;
}

nlohmann::json session_json(const store::SessionRow* s) {
  if (!s) return nullptr;
  return {{"id", s->id},
          {"title_ar", s->title_ar},
          {"title_en", s->title_en},
          {"status", s->status},
          {"live_at", s->live_at_ms ? nlohmann::json(*s->live_at_ms) : nlohmann::json()},
          {"ended_at", s->ended_at_ms ? nlohmann::json(*s->ended_at_ms) : nlohmann::json()}};
}

std::string error_frame(std::string_view code, std::string_view message, const nlohmann::json* client_id,
                        std::optional<int64_t> retry_after_ms, const nlohmann::json* op) {
  nlohmann::json j = {{"type", "error"}, {"code", code}, {"message", message}};
  if (client_id) j["client_id"] = *client_id;
  if (op) j["op"] = *op;
  if (retry_after_ms) j["retry_after_ms"] = *retry_after_ms;
  return dump(j);
}

}  // namespace sabla::protocol
