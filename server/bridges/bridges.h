// Bridges: the audience's comments from the platforms where they watch
// (YouTube Live chat, X, Facebook Live, Telegram) and from a signed generic
// webhook, into the moderation queue (issue 14; README "Bridges").
//
// One thread (the bridge thread) runs one libcurl multi handle for every
// polling bridge; it never touches the Room. Each comment it parses goes out
// through a Sink, which the server wires to the ingest API's path
// (Room::bridge_comment on the net thread: the same validation, sanitiser,
// blocked words and dedup by (source, external_id)). A platform's cursor
// advances only once every comment of a page was answered by that path, so a
// retry or a restart sees the page again and stores nothing twice.
//
// Webhook bridges have no thread work: the HTTP route checks the signature
// (verify_signature) on the net thread and reports each post here for the
// bridge's state.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/config.h"

namespace sabla::bridges {

// One comment as a bridge found it. Author names are text only: no avatar
// or profile URL is ever carried.
struct IncomingComment {
  std::string source;       // the bridge's name
  std::string external_id;  // the platform's id of the comment
  std::string author;
  std::string text;
};

// What the ingest path answered for one comment.
struct FeedResult {
  enum Kind {
    stored,    // stored, or a duplicate of a stored one (see duplicate)
    refused,   // refused for good (empty, too long, invalid): skipped
    retry,     // not now (no live session, store busy, internal): the page is fed again later
  } kind = stored;
  bool duplicate = false;
  std::string error;
};
using FeedDone = std::function<void(FeedResult)>;  // any thread, exactly once
// The ingest API's answer as a FeedResult: 2xx stored, 400 refused (the
// comment itself is bad), anything else (409 no live session, 503 busy,
// 500) retried.
FeedResult feed_result(int http_status, bool duplicate, std::string error);
// Called on the bridge thread; must not block; completes `done` later.
using Sink = std::function<void(IncomingComment, FeedDone done)>;

// A bridge as the studio and /metrics show it.
struct BridgeState {
  std::string name;
  std::string kind;
  // starting | connected | backoff | error (credentials or a permanent
  // refusal: not retried) | ended (the live chat is over) | listening (webhook)
  std::string state = "starting";
  int64_t poll_interval_ms = 0;  // the current wait between polls
  uint64_t comments_in = 0;      // stored (new comments)
  uint64_t duplicates = 0;       // already stored (same source and external id)
  uint64_t refused = 0;          // refused by the ingest path, or a bad webhook signature
  uint64_t requests = 0;         // platform requests answered (any status)
  uint64_t failures = 0;         // transport errors, 429, 5xx, malformed answers
  std::string last_error;        // never holds a credential
  int64_t last_ok_ms = 0;        // wall clock of the last good answer or post
};

class Bridges {
 public:
  // `now_ms`: the wall clock for last_ok_ms.
  Bridges(std::vector<BridgeConfig> configs, Sink sink, std::function<int64_t()> now_ms);
  ~Bridges();  // stop()
  Bridges(const Bridges&) = delete;
  Bridges& operator=(const Bridges&) = delete;

  // Starts the bridge thread when a polling bridge is configured.
  Status start();
  // Joins the thread; idempotent. Sink completions arriving later are ignored.
  void stop();

  // Any thread.
  std::vector<BridgeState> states() const;
  // A webhook post's outcome (net thread): fed through the ingest path, or
  // refused before it (bad signature, malformed body).
  void webhook_fed(const std::string& name, const FeedResult& result);
  void webhook_refused(const std::string& name, const std::string& why);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// For `sabla bridge` (bridges run apart from the main node): a Sink that
// posts each comment to the main node's ingest API, POST {main_url}/api/v1/
// sessions/{the current session}/comments with an API token, on a thread of
// its own (a queue of 256; a full queue answers retry). The session is found
// with GET /api/v1/sessions and looked up again after a 409.
class RemoteSink {
 public:
  RemoteSink(std::string main_url, std::string token);
  ~RemoteSink();  // stops; queued comments are answered retry
  RemoteSink(const RemoteSink&) = delete;
  RemoteSink& operator=(const RemoteSink&) = delete;
  Sink sink();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The webhook's signature check: `header` is "sha256=<hex HMAC-SHA256 of
// body under secret>" (X-Sabla-Signature); compared in constant time.
bool verify_signature(std::string_view secret, std::string_view body, std::string_view header);
// The header a sender computes (tests and `sabla` tooling).
std::string sign(std::string_view secret, std::string_view body);

}  // namespace sabla::bridges
