// X (bridge thread): API v2 recent search (GET /2/tweets/search/recent) for
// the configured query, with the app's bearer token. Answers are newest
// first, {"data":[{"id","text","author_id"}],"includes":{"users":[{"id",
// "name","username"}]},"meta":{"newest_id","result_count","next_token"}};
// an empty result has no "data". A poll follows next_token to the end with
// the same since_id, then the next poll asks since_id = the newest id seen.
// The very first poll takes one page only (the latest 100 posts), not seven
// days. Rate limits: 429 with x-rate-limit-reset (epoch seconds).
#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "bridges/platform.h"

namespace sabla::bridges {
namespace {

using nlohmann::json;

constexpr int kPagesPerPoll = 10;

class X final : public Platform {
 public:
  explicit X(const BridgeConfig& c) : config_(c) {
    base_ = c.api_base.empty() ? "https://api.x.com/2" : c.api_base;
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }

  // The Basic tier allows 60 recent searches per 15 minutes for an app.
  int64_t default_interval_ms() const override { return 15'000; }

  Request next_request() override {
    Request r;
    r.what = "GET tweets/search/recent";
    r.headers.push_back("Authorization: Bearer " + config_.token);
    r.url = base_ + "/tweets/search/recent?query=" + url_encode(config_.query) +
            "&max_results=100&tweet.fields=author_id,created_at&expansions=author_id&user.fields=name,username";
    if (!since_id_.empty()) r.url += "&since_id=" + url_encode(since_id_);
    if (!next_token_.empty()) r.url += "&next_token=" + url_encode(next_token_);
    return r;
  }

  Outcome on_response(const Response& r) override {
    if (auto o = classify_status(r, "recent search")) {
      if (o->kind == Outcome::rate_limited && o->retry_after_ms < 0) {
        // X says when the window resets rather than how long to wait.
        if (auto it = r.headers.find("x-rate-limit-reset"); it != r.headers.end()) {
          int64_t reset = 0;
          const std::string& v = it->second;
          auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), reset);
          if (ec == std::errc() && p == v.data() + v.size())
            o->retry_after_ms = std::max<int64_t>(0, std::min<int64_t>(reset * 1000 - r.now_ms, 900'000));
        }
      }
      return std::move(*o);
    }
    json body = parse_json(r.body);
    if (body.is_discarded() || !body.is_object()) return malformed("recent search", "not a JSON object");
    const json& meta = member(body, "meta");
    if (!meta.is_object()) return malformed("recent search", "no meta object");
    const json& data = member(body, "data");
    if (!data.is_null() && !data.is_array()) return malformed("recent search", "data is not an array");
    std::unordered_map<std::string, std::string> names;
    const json& users = member(member(body, "includes"), "users");
    if (users.is_array()) {
      for (const json& u : users) {
        std::string name = str(u, "name");
        if (name.empty()) name = str(u, "username");
        names[str(u, "id")] = name;
      }
    }
    Outcome o;
    pending_max_ = poll_max_;
    if (data.is_array()) {
      for (const json& t : data) {
        const std::string id = str(t, "id");
        const std::string text = str(t, "text");
        if (id.empty() || id.size() > 32 || text.empty()) continue;
        if (id_greater(id, pending_max_)) pending_max_ = id;
        IncomingComment c;
        c.source = config_.name;
        c.external_id = id;
        c.text = text;
        if (auto n = names.find(str(t, "author_id")); n != names.end()) c.author = n->second;
        o.comments.push_back(std::move(c));
      }
    }
    pending_next_ = str(meta, "next_token");
    // The first poll stops after one page; later ones page to the end (bounded).
    if (since_id_.empty() || pages_ + 1 >= kPagesPerPoll) pending_next_.clear();
    o.more = !pending_next_.empty();
    return o;
  }

  void commit() override {
    poll_max_ = pending_max_;
    next_token_ = pending_next_;
    if (next_token_.empty()) {
      if (!poll_max_.empty()) since_id_ = poll_max_;
      pages_ = 0;
    } else {
      pages_++;
    }
  }

 private:
  const BridgeConfig config_;
  std::string base_;
  std::string since_id_;     // newest id of the polls done
  std::string next_token_;   // within a poll
  std::string poll_max_;     // newest id of this poll's committed pages
  std::string pending_max_;
  std::string pending_next_;
  int pages_ = 0;
};

}  // namespace

std::unique_ptr<Platform> make_x(const BridgeConfig& config) { return std::make_unique<X>(config); }

}  // namespace sabla::bridges
