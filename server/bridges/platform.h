// What the bridge thread asks of each platform (bridges/ only, bridge thread
// only): the next request to make, and what an answer means. One file a
// platform: youtube.cpp, x.cpp, facebook.cpp, telegram.cpp. The engine
// (bridges.cpp) does the HTTP, the waiting and the feeding.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bridges/bridges.h"

namespace sabla::bridges {

struct Request {
  std::string url;                   // holds credentials for some platforms: never logged
  std::vector<std::string> headers;  // "Name: value"; likewise
  std::string what;                  // for errors and logs: "GET liveChat/messages"
  int64_t timeout_ms = 30'000;
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  int64_t now_ms = 0;                          // wall clock, for x-rate-limit-reset
};

struct Outcome {
  enum Kind {
    page,          // comments (maybe none) and a cursor to commit once they are fed
    again,         // nothing to feed, ask the next request now (e.g. YouTube's chat id was found)
    rate_limited,  // wait retry_after_ms (or the backoff when -1)
    transient,     // 5xx, malformed answer: exponential backoff with jitter
    permanent,     // expired or refused credentials, unknown chat: reported, not retried
    ended,         // the live chat is over: reported, not retried
  } kind = page;
  std::vector<IncomingComment> comments;
  int64_t next_delay_ms = -1;  // the platform's own hint (YouTube's pollingIntervalMillis)
  bool more = false;           // another page is ready now: no wait after this one
  int64_t retry_after_ms = -1;
  std::string error;
};

class Platform {
 public:
  virtual ~Platform() = default;
  virtual Request next_request() = 0;
  virtual Outcome on_response(const Response& response) = 0;
  // Every comment of the last page was answered: move the cursor past it.
  virtual void commit() = 0;
  virtual int64_t default_interval_ms() const = 0;
};

std::unique_ptr<Platform> make_youtube(const BridgeConfig& config);
std::unique_ptr<Platform> make_x(const BridgeConfig& config);
std::unique_ptr<Platform> make_facebook(const BridgeConfig& config);
std::unique_ptr<Platform> make_telegram(const BridgeConfig& config);

// ---- Helpers the platforms share (platform.cpp) ----

// Parses a platform's JSON answer without exceptions; a discarded value on
// malformed input. Invalid UTF-8 is malformed too.
nlohmann::json parse_json(const std::string& body);
// The common HTTP outcomes: 429 (Retry-After honoured), 5xx, 401/403; null
// when the status is 2xx and the platform should read the body.
std::unique_ptr<Outcome> classify_status(const Response& r, const std::string& what);
// Retry-After as ms (delta seconds or an HTTP date), -1 when absent or bad.
int64_t retry_after_ms(const Response& r);
Outcome malformed(const std::string& what, const std::string& why);
// Percent-encodes a query value.
std::string url_encode(const std::string& s);
// A member, or null when `object` is not an object or has no such key
// (never throws, unlike json::value and json::at).
const nlohmann::json& member(const nlohmann::json& object, const char* key);
// A string member, "" when missing or not a string.
std::string str(const nlohmann::json& object, const char* key);
// Decimal ids compared as numbers (X's ids overflow int64 only in theory,
// but they differ in length).
bool id_greater(const std::string& a, const std::string& b);

// Items per page asked of a platform, and the most a bridge takes from one
// answer (the rest waits for the next page).
constexpr int kMaxItemsPerPage = 500;

}  // namespace sabla::bridges
