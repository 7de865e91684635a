// Minimal blocking HTTP/1.1 client for integration tests (one request per connection,
// "Connection: close"). Handles Content-Length, chunked and read-to-EOF bodies, plain
// or TLS (no certificate verification). Never throws; every step has a deadline.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/net_stream.h"

namespace sabla::test {

// Header list in arrival order; in responses the names are lower-cased.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string method = "GET";
  std::string path = "/";
  std::string body;
  // Sent verbatim. Host, Content-Length (when there is a body or the method is
  // POST/PUT/PATCH), Connection: close, and Content-Type: application/json (when there
  // is a body and json_content_type) are added unless given here (case-insensitive).
  Headers headers;
  bool json_content_type = true;
  bool tls = false;
  int timeout_ms = 5000;  // whole exchange
};

struct HttpResponse {
  int status = 0;  // 0: no valid response (see error)
  std::string reason;
  Headers headers;  // names lower-cased, arrival order (Set-Cookie may repeat)
  std::string body;  // de-chunked
  std::string error;
};

HttpResponse http_request(const HttpRequest& req);

// Convenience wrappers around http_request.
HttpResponse http_get(int port, const std::string& path, const Headers& headers = {});
HttpResponse http_post_json(int port, const std::string& path, const nlohmann::json& body,
                            const Headers& headers = {});

// First value of header `name` (case-insensitive), "" if absent.
std::string header(const HttpResponse& r, std::string_view name);
std::string header(const Headers& h, std::string_view name);
// All values of header `name`, in order.
std::vector<std::string> header_values(const HttpResponse& r, std::string_view name);
// "NAME=VALUE" for cookie NAME from the Set-Cookie headers (ready to use as a Cookie
// header value), "" if not set.
std::string cookie_from(const HttpResponse& r, std::string_view name);
// Body parsed as JSON, nullopt if it is not valid JSON.
std::optional<nlohmann::json> json_body(const HttpResponse& r);

// --- Shared with the WebSocket client -------------------------------------------------
std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
// Reads from `s` into *buf until it contains "\r\n\r\n" (at most max_head bytes); sets
// *head_end to the offset just past it. false on timeout/EOF/overflow (see *error).
bool read_http_head(NetStream& s, Clock::time_point deadline, std::string* buf,
                    std::size_t* head_end, std::string* error, std::size_t max_head = 65536);
// Parses "HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\n". false if malformed.
bool parse_http_head(std::string_view head, int* status, std::string* reason, Headers* headers);

}  // namespace sabla::test
