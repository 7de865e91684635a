// What the pieces of the network front share (net/ only, net thread only):
// the connection and HTTP request records and a few HTTP helpers. See
// net_server.h for which file does what.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <libwebsockets.h>

#include <nlohmann/json.hpp>

#include "archive/export.h"
#include "net/net_server.h"

namespace sabla::net {

// The lws protocol index of each WebSocket role (kProtocols in net_server.cpp).
enum Role : int { kViewer = 1, kStudio = 2, kOverlay = 3 };

// lws per-session memory of a WebSocket: just the link to our own record.
struct WsPss {
  NetServer::Conn* conn;
};

// One WebSocket connection (any role), owned by NetServer::conns_.
struct NetServer::Conn {
  moderation::ConnId id = 0;
  lws* wsi = nullptr;
  int role = 0;
  std::string ip;
  // Performance (bench/README.md, hold): lists, not deques. A libstdc++
  // deque allocates ~600 bytes as soon as it exists; most viewers get only
  // their welcome here and never park a frame, so per idle connection the two
  // deques were ~1.2 KiB of the 4 KiB budget.
  std::list<std::string> direct;
  uint64_t ring_seq = 0;  // this client's tail in its role's FanoutRing
  std::string rx;
  size_t rx_frames = 0;  // frames of the message in rx so far
  bool draining = false;  // reading the rest of an oversized frame, to fail cleanly after it
  std::list<std::string> parked;
  int close_code = 0;
  std::string close_reason;
};

// One HTTP request and its answer (see txn_of_wsi_).
struct NetServer::HttpTxn {
  uint64_t id = 0;
  lws* wsi = nullptr;
  std::string method;
  std::string path;
  std::string body;
  bool body_too_large = false;
  std::string ip;
  bool ready = false;
  bool headers_sent = false;
  int status = 0;
  std::string content_type;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> headers;
  // A streamed download (exports): chunks are pulled one per writable, so a
  // million-row export never sits in memory.
  std::unique_ptr<archive::Exporter> exporter;
};

// A request header's value ("" when absent). In http_server.cpp.
std::string header(lws* wsi, enum lws_token_indexes h);
bool is_loopback(const std::string& ip);
// A positive decimal id, the whole of `s`.
std::optional<int64_t> parse_id(std::string_view s);
// The JSON error every route answers with: {"error":{"code":…,"message":…}}.
nlohmann::json error_body(const char* code, const std::string& message);
// An edge node's answer to what only the main node serves (`what`: "the
// studio", "this route"…): 421 Misdirected Request, code "main_node_only",
// and the main node's URL ([cluster] main_url) in "main_url".
constexpr unsigned int kMainNodeOnlyStatus = 421;
nlohmann::json main_node_only_body(const Config& config, const std::string& what);

}  // namespace sabla::net
