// Facebook Live (bridge thread): Graph API GET /{live-video-id}/comments
// with a page access token, oldest first (order=chronological), following
// the cursor-based pagination: {"data":[{"id","message","from":{"name"}}],
// "paging":{"cursors":{"before","after"},"next"}}. The after cursor of the
// last page is kept, so each poll asks only for comments after it; "next"
// present means another page is ready now. Errors are {"error":{"message",
// "type","code","error_subcode"}}: code 190/102 (or an OAuthException) is an
// expired or invalid token, 10 and 200-299 a missing permission, 4/17/32/
// 341/613 throttling, 1/2 a temporary failure (the Graph API error guide).
#include <algorithm>

#include "bridges/platform.h"

namespace sabla::bridges {
namespace {

using nlohmann::json;

class Facebook final : public Platform {
 public:
  explicit Facebook(const BridgeConfig& c) : config_(c) {
    base_ = c.api_base.empty() ? "https://graph.facebook.com/v19.0" : c.api_base;
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }

  int64_t default_interval_ms() const override { return 5000; }

  Request next_request() override {
    Request r;
    r.what = "GET {live-video-id}/comments";
    r.url = base_ + "/" + url_encode(config_.live_video_id) +
            "/comments?order=chronological&filter=stream&limit=100&fields=id,message,from%7Bname%7D,created_time"
            "&access_token=" +
            url_encode(config_.token);
    if (!after_.empty()) r.url += "&after=" + url_encode(after_);
    return r;
  }

  Outcome on_response(const Response& r) override {
    json body = parse_json(r.body);
    const json& error = member(body, "error");
    if (error.is_object()) return graph_error(r, error);
    if (auto o = classify_status(r, "live video comments")) return std::move(*o);
    if (body.is_discarded() || !body.is_object()) return malformed("live video comments", "not a JSON object");
    const json& data = member(body, "data");
    if (!data.is_array()) return malformed("live video comments", "no data array");
    Outcome o;
    for (const json& c : data) {
      const std::string id = str(c, "id");
      const std::string text = str(c, "message");
      if (id.empty() || text.empty()) continue;  // a sticker or photo alone has no message
      IncomingComment in;
      in.source = config_.name;
      in.external_id = id;
      in.text = text;
      in.author = str(member(c, "from"), "name");  // absent without the page's permission to see it
      o.comments.push_back(std::move(in));
    }
    const json& paging = member(body, "paging");
    pending_after_ = str(member(paging, "cursors"), "after");
    if (pending_after_.empty()) pending_after_ = after_;  // an empty page may carry no cursors
    o.more = !data.empty() && !str(paging, "next").empty();
    return o;
  }

  void commit() override { after_ = pending_after_; }

 private:
  Outcome graph_error(const Response& r, const json& error) {
    Outcome o;
    const json& code_node = member(error, "code");
    const int64_t code = code_node.is_number_integer() ? code_node.get<int64_t>() : 0;
    const std::string type = str(error, "type");
    const std::string label = "live video comments: Graph error " + std::to_string(code) +
                              (type.empty() ? "" : " " + type.substr(0, 40)) + " (HTTP " + std::to_string(r.status) + ")";
    if (code == 4 || code == 17 || code == 32 || code == 341 || code == 613 || r.status == 429) {
      o.kind = Outcome::rate_limited;
      o.retry_after_ms = retry_after_ms(r);
      o.error = label + ": throttled";
    } else if (code == 1 || code == 2 || r.status >= 500) {
      o.kind = Outcome::transient;
      o.error = label + ": temporary";
    } else if (code == 190 || code == 102 || code == 10 || (code >= 200 && code <= 299) || type == "OAuthException") {
      o.kind = Outcome::permanent;
      o.error = label + ": the access token expired, was revoked or lacks a permission: renew it and restart";
    } else {
      o.kind = Outcome::permanent;
      o.error = label + ": refused";
    }
    return o;
  }

  const BridgeConfig config_;
  std::string base_;
  std::string after_;
  std::string pending_after_;
};

}  // namespace

std::unique_ptr<Platform> make_facebook(const BridgeConfig& config) { return std::make_unique<Facebook>(config); }

}  // namespace sabla::bridges
