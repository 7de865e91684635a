// YouTube Live chat (bridge thread): Data API v3 liveChatMessages.list by
// liveChatId, or first videos.list?part=liveStreamingDetails to find a live
// video's activeLiveChatId. Pages follow nextPageToken, and the next poll
// waits at least pollingIntervalMillis, as the reference asks. Google's
// errors come as {"error":{"code","message","errors":[{"reason"}]}}: quota
// and rate reasons wait, liveChatEnded ends the bridge, other 401/403 are
// credentials.
#include <algorithm>

#include "bridges/platform.h"

namespace sabla::bridges {
namespace {

using nlohmann::json;

class YouTube final : public Platform {
 public:
  explicit YouTube(const BridgeConfig& c) : config_(c), chat_id_(c.live_chat_id) {
    base_ = c.api_base.empty() ? "https://www.googleapis.com/youtube/v3" : c.api_base;
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }

  int64_t default_interval_ms() const override { return 5000; }

  Request next_request() override {
    Request r;
    std::string auth;
    if (!config_.api_key.empty()) auth = "&key=" + url_encode(config_.api_key);
    else r.headers.push_back("Authorization: Bearer " + config_.token);
    if (chat_id_.empty()) {
      r.what = "GET videos (activeLiveChatId of video " + config_.video_id + ")";
      r.url = base_ + "/videos?part=liveStreamingDetails&id=" + url_encode(config_.video_id) + auth;
      return r;
    }
    r.what = "GET liveChat/messages";
    r.url = base_ + "/liveChat/messages?liveChatId=" + url_encode(chat_id_) +
            "&part=snippet,authorDetails&maxResults=" + std::to_string(kMaxItemsPerPage) + auth;
    if (!page_token_.empty()) r.url += "&pageToken=" + url_encode(page_token_);
    return r;
  }

  Outcome on_response(const Response& r) override {
    const std::string what = chat_id_.empty() ? "videos.list" : "liveChatMessages.list";
    if (auto o = classify_status(r, what)) return google_error(r, std::move(*o));
    json body = parse_json(r.body);
    if (body.is_discarded() || !body.is_object()) return malformed(what, "not a JSON object");
    return chat_id_.empty() ? on_video(body) : on_messages(body);
  }

  void commit() override { page_token_ = pending_token_; }

 private:
  // Google's reason says more than the status: quota and rate limits come
  // as 403 too, and must not be taken for expired credentials.
  Outcome google_error(const Response& r, Outcome o) {
    json body = parse_json(r.body);
    std::string reason;
    if (body.is_object() && body.contains("error") && body["error"].is_object()) {
      const json& errors = member(body["error"], "errors");
      if (errors.is_array() && !errors.empty()) reason = str(errors[0], "reason");
    }
    if (reason.empty()) return o;
    if (reason == "quotaExceeded" || reason == "rateLimitExceeded" || reason == "userRateLimitExceeded") {
      o.kind = Outcome::rate_limited;
      o.error = "liveChatMessages.list: " + reason + " (HTTP " + std::to_string(r.status) + ")";
    } else if (reason == "liveChatEnded") {
      o.kind = Outcome::ended;
      o.error = "the live chat has ended";
    } else {
      o.error += " [" + reason.substr(0, 64) + "]";
    }
    return o;
  }

  Outcome on_video(const json& body) {
    const json& items = member(body, "items");
    if (!items.is_array()) return malformed("videos.list", "no items array");
    Outcome o;
    if (items.empty()) {
      o.kind = Outcome::permanent;
      o.error = "video " + config_.video_id + " not found";
      return o;
    }
    const json& details = member(items[0], "liveStreamingDetails");
    std::string chat = str(details, "activeLiveChatId");
    if (chat.empty()) {
      if (!str(details, "actualEndTime").empty()) {
        o.kind = Outcome::ended;
        o.error = "video " + config_.video_id + " is no longer live";
      } else {
        // Not live yet: look again in a while.
        o.kind = Outcome::rate_limited;
        o.retry_after_ms = 30'000;
        o.error = "video " + config_.video_id + " has no active live chat yet";
      }
      return o;
    }
    if (chat.size() > 256) return malformed("videos.list", "activeLiveChatId too long");
    chat_id_ = chat;
    o.kind = Outcome::again;
    return o;
  }

  Outcome on_messages(const json& body) {
    auto items = body.find("items");
    if (items == body.end() || !items->is_array()) return malformed("liveChatMessages.list", "no items array");
    Outcome o;
    for (const json& item : *items) {
      const std::string id = str(item, "id");
      const json& snippet = member(item, "snippet");
      if (id.empty() || !snippet.is_object()) continue;
      const std::string type = str(snippet, "type");
      std::string text;
      if (type == "textMessageEvent") {
        text = str(member(snippet, "textMessageDetails"), "messageText");
        if (text.empty()) text = str(snippet, "displayMessage");
      } else if (type == "superChatEvent") {
        text = str(member(snippet, "superChatDetails"), "userComment");
      }
      if (text.empty()) continue;  // joins, bans, deletions, stickers: not comments
      IncomingComment c;
      c.source = config_.name;
      c.external_id = id;
      c.text = std::move(text);
      c.author = str(member(item, "authorDetails"), "displayName");
      o.comments.push_back(std::move(c));
    }
    pending_token_ = str(body, "nextPageToken");
    if (pending_token_.empty()) pending_token_ = page_token_;
    if (auto p = body.find("pollingIntervalMillis"); p != body.end() && p->is_number_integer())
      o.next_delay_ms = std::clamp<int64_t>(p->get<int64_t>(), 0, 3'600'000);
    if (o.comments.empty() && !str(body, "offlineAt").empty()) {
      o.kind = Outcome::ended;
      o.error = "the live chat has ended (offlineAt)";
    }
    return o;
  }

  const BridgeConfig config_;
  std::string base_;
  std::string chat_id_;
  std::string page_token_;
  std::string pending_token_;
};

}  // namespace

std::unique_ptr<Platform> make_youtube(const BridgeConfig& config) { return std::make_unique<YouTube>(config); }

}  // namespace sabla::bridges
