#include "protocol/messages.h"

#include "moderation/text.h"

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

// SAX events of one comment frame (nlohmann's SAX interface): keeps the
// three fields a comment needs, refuses (returns false, which stops the
// parse) anything the fast path does not cover.
class CommentSax {
 public:
  explicit CommentSax(CommentFrame* out) : out_(out) {}

  bool null() { return scalar_other(); }
  bool boolean(bool) { return scalar_other(); }
  bool number_integer(nlohmann::json::number_integer_t v) { return integer(v); }
  // As parse_incoming(): is_number_integer() holds for unsigned values and
  // get<int64_t>() converts them.
  bool number_unsigned(nlohmann::json::number_unsigned_t v) { return integer(static_cast<int64_t>(v)); }
  bool number_float(nlohmann::json::number_float_t, const std::string&) { return scalar_other(); }
  bool binary(nlohmann::json::binary_t&) { return false; }
  bool string(std::string& v) {
    if (depth_ != 1) return false;
    switch (field_) {
      case Field::type:
        type_ok_ = v == "comment";
        break;
      case Field::client_id:
        out_->id = CommentFrame::Id::string;
        out_->client_id.swap(v);
        id_other_ = false;
        break;
      case Field::text:
        out_->text.swap(v);
        out_->text_is_string = true;
        break;
      case Field::other:
        break;
    }
    return true;
  }
  bool start_object(std::size_t) { return depth_++ == 0; }  // nested: not the fast path
  bool end_object() {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) { return false; }
  bool end_array() { return false; }
  bool key(std::string& k) {
    field_ = k == "type" ? Field::type : k == "client_id" ? Field::client_id : k == "text" ? Field::text : Field::other;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

  bool complete() const { return type_ok_ && !id_other_; }

 private:
  enum class Field { type, client_id, text, other };
  bool integer(int64_t v) {
    if (depth_ != 1) return false;
    if (field_ == Field::client_id) {
      out_->id = CommentFrame::Id::integer;
      out_->client_id_int = v;
      id_other_ = false;
      return true;
    }
    return scalar_other();
  }
  bool scalar_other() {
    if (depth_ != 1) return false;
    if (field_ == Field::type) type_ok_ = false;  // a non-string type: parse_incoming's error
    if (field_ == Field::client_id) id_other_ = true;  // echoed back as it came: the json path
    if (field_ == Field::text) {
      out_->text_is_string = false;
      out_->text.clear();
    }
    return true;
  }

  CommentFrame* out_;
  int depth_ = 0;
  Field field_ = Field::other;
  bool type_ok_ = false;
  bool id_other_ = false;
};

}  // namespace

bool parse_comment_frame(std::string_view frame, CommentFrame* out) {
  out->clear();
  try {
    CommentSax sax(out);
    if (!nlohmann::json::sax_parse(frame.begin(), frame.end(), &sax)) return false;
    return sax.complete();
  } catch (...) {
    return false;  // out of memory: let the json path answer
  }
}

nlohmann::json client_id_json(const CommentFrame& frame) {
  switch (frame.id) {
    case CommentFrame::Id::string:
      return frame.client_id;
    case CommentFrame::Id::integer:
      return frame.client_id_int;
    case CommentFrame::Id::missing:
      break;
  }
  return nullptr;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t plain = 0;  // start of the run not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out.push_back('"');
}

std::string ack_frame(std::string_view client_id_json_text, int64_t id, std::string_view status) {
  std::string out;
  out.reserve(48 + client_id_json_text.size());
  out += "{\"client_id\":";
  out += client_id_json_text;
  out += ",\"id\":";
  out += std::to_string(id);
  out += ",\"status\":";
  append_json_string(out, status);
  out += ",\"type\":\"ack\"}";
  return out;
}

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
  if (row.merged_into) j["merged_into"] = *row.merged_into;
  if (for_studio) {
    if (row.viewer_id) j["viewer"] = *row.viewer_id;
    if (!reason.empty()) j["reason"] = reason;
  }
  return j;
}

std::string comment_frame(std::string_view type, const store::CommentRow& row, bool for_studio,
                          const std::string& reason) {
  // The strings come from the sanitizer; should one not be UTF-8 after all,
  // dump()'s replacement is the guard, as for every other frame.
  for (const std::string* s : {&row.display_name, &row.text, &row.direction, &row.lang, &row.source, &reason})
    if (!moderation::is_valid_utf8(*s))
      return dump(nlohmann::json{{"type", type}, {"comment", comment_json(row, for_studio, reason)}});
  std::string out;
  out.reserve(160 + row.text.size() + row.display_name.size() + reason.size());
  auto number = [&](const char* key, int64_t v) {
    out += key;
    out += std::to_string(v);
  };
  auto text = [&](const char* key, const std::string& v) {
    out += key;
    append_json_string(out, v);
  };
  // Keys in dump()'s (sorted) order.
  number("{\"comment\":{\"at\":", row.received_at_ms);
  text(",\"dir\":", row.direction);
  number(",\"id\":", row.id);
  text(",\"lang\":", row.lang);
  text(",\"name\":", row.display_name);
  if (row.stream_offset_ms) number(",\"offset\":", *row.stream_offset_ms);
  else out += ",\"offset\":null";
  if (for_studio && !reason.empty()) text(",\"reason\":", reason);
  number(",\"session\":", row.session_id);
  text(",\"source\":", row.source);
  out += ",\"status\":";
  append_json_string(out, store::to_string(row.status));
  text(",\"text\":", row.text);
  if (for_studio && row.viewer_id) number(",\"viewer\":", *row.viewer_id);
  number(",\"votes\":", row.votes);
  out += "},\"type\":";
  append_json_string(out, type);
  out += '}';
  return out;
}

nlohmann::json session_json(const store::SessionRow* s) {
  if (!s) return nullptr;
  return {{"id", s->id},
          {"title_ar", s->title_ar},
          {"title_en", s->title_en},
          {"status", s->status},
          {"live_at", s->live_at_ms ? nlohmann::json(*s->live_at_ms) : nlohmann::json()},
          {"ended_at", s->ended_at_ms ? nlohmann::json(*s->ended_at_ms) : nlohmann::json()},
          {"scheduled_at", s->scheduled_at_ms ? nlohmann::json(*s->scheduled_at_ms) : nlohmann::json()}};
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
