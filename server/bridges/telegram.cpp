// Telegram (bridge thread): Bot API getUpdates long polling,
// GET {base}/bot<token>/getUpdates?offset=&timeout=&allowed_updates=. The
// answer is {"ok":true,"result":[Update]}; an Update has update_id and a
// message or channel_post with message_id, chat {id, username, title}, from
// {first_name, last_name, username} and text (or a caption). The offset moves
// to the last update_id + 1 only once the page was fed: that is what
// confirms the updates to Telegram, so a restart gets them again (and the
// dedup stores nothing twice). Errors are {"ok":false,"error_code",
// "description","parameters":{"retry_after"}}; 409 means another getUpdates
// or a webhook holds the bot.
#include <algorithm>

#include "bridges/platform.h"

namespace sabla::bridges {
namespace {

using nlohmann::json;

class Telegram final : public Platform {
 public:
  explicit Telegram(const BridgeConfig& c) : config_(c) {
    base_ = c.api_base.empty() ? "https://api.telegram.org" : c.api_base;
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
    // poll_interval_ms is the long poll's timeout (whole seconds); below a
    // second the bridge polls short and waits that long in between.
    const int64_t interval = c.poll_interval_ms > 0 ? c.poll_interval_ms : 25'000;
    timeout_s_ = interval / 1000;
    interval_ms_ = timeout_s_ > 0 ? 0 : interval;
  }

  int64_t default_interval_ms() const override { return interval_ms_; }

  Request next_request() override {
    Request r;
    r.what = "GET getUpdates";
    r.url = base_ + "/bot" + config_.token + "/getUpdates?timeout=" + std::to_string(timeout_s_) +
            "&limit=100&allowed_updates=" + url_encode(R"(["message","channel_post"])");
    if (offset_ > 0) r.url += "&offset=" + std::to_string(offset_);
    r.timeout_ms = timeout_s_ * 1000 + 15'000;
    return r;
  }

  Outcome on_response(const Response& r) override {
    json body = parse_json(r.body);
    if (body.is_object() && member(body, "ok").is_boolean() && !body["ok"].get<bool>()) return bot_error(r, body);
    if (auto o = classify_status(r, "getUpdates")) return std::move(*o);
    if (body.is_discarded() || !body.is_object()) return malformed("getUpdates", "not a JSON object");
    const json& result = member(body, "result");
    if (member(body, "ok") != true || !result.is_array()) return malformed("getUpdates", "no ok/result");
    Outcome o;
    pending_offset_ = offset_;
    for (const json& update : result) {
      const json& id = member(update, "update_id");
      if (!id.is_number_integer()) continue;
      pending_offset_ = std::max(pending_offset_, id.get<int64_t>() + 1);
      const json* message = &member(update, "message");
      if (!message->is_object()) message = &member(update, "channel_post");
      if (!message->is_object()) continue;
      std::string text = str(*message, "text");
      if (text.empty()) text = str(*message, "caption");
      const json& chat = member(*message, "chat");
      const json& chat_id = member(chat, "id");
      const json& message_id = member(*message, "message_id");
      if (text.empty() || !chat_id.is_number_integer() || !message_id.is_number_integer()) continue;
      const std::string chat_text = std::to_string(chat_id.get<int64_t>());
      if (!config_.chat_id.empty() && config_.chat_id != chat_text && config_.chat_id != "@" + str(chat, "username"))
        continue;  // another chat the bot is in
      IncomingComment c;
      c.source = config_.name;
      c.external_id = chat_text + ":" + std::to_string(message_id.get<int64_t>());
      c.text = std::move(text);
      const json& from = member(*message, "from");
      std::string author = str(from, "first_name");
      if (const std::string last = str(from, "last_name"); !last.empty()) author += (author.empty() ? "" : " ") + last;
      if (author.empty()) author = str(from, "username");
      if (author.empty()) author = str(*message, "author_signature");  // channel posts
      if (author.empty()) author = str(chat, "title");
      c.author = std::move(author);
      o.comments.push_back(std::move(c));
    }
    o.more = result.size() >= 100;
    return o;
  }

  void commit() override { offset_ = pending_offset_; }

 private:
  Outcome bot_error(const Response& r, const json& body) {
    Outcome o;
    const json& code_node = member(body, "error_code");
    const int64_t code = code_node.is_number_integer() ? code_node.get<int64_t>() : r.status;
    const std::string label = "getUpdates: Bot API error " + std::to_string(code) + " (" +
                              str(body, "description").substr(0, 80) + ")";
    if (code == 429) {
      o.kind = Outcome::rate_limited;
      const json& after = member(member(body, "parameters"), "retry_after");
      o.retry_after_ms = after.is_number_integer() ? std::min<int64_t>(after.get<int64_t>(), 3600) * 1000 : retry_after_ms(r);
      o.error = label;
    } else if (code >= 500 || code == 409) {
      // 409: another instance polls the same bot, or a webhook is set; it
      // may go away, so it is retried with backoff and shown.
      o.kind = Outcome::transient;
      o.error = label;
    } else if (code == 401 || code == 403 || code == 404) {
      // Telegram answers 404 for a token it does not know.
      o.kind = Outcome::permanent;
      o.error = label + ": the bot token is invalid or revoked: renew it and restart";
    } else {
      o.kind = Outcome::permanent;
      o.error = label;
    }
    return o;
  }

  const BridgeConfig config_;
  std::string base_;
  int64_t timeout_s_ = 25;
  int64_t interval_ms_ = 0;
  int64_t offset_ = 0;
  int64_t pending_offset_ = 0;
};

}  // namespace

std::unique_ptr<Platform> make_telegram(const BridgeConfig& config) { return std::make_unique<Telegram>(config); }

}  // namespace sabla::bridges
