// Catch2 helpers shared by the integration tests that need logged-in and anonymous
// clients of a running ServerProcess: log in, open a viewer or a studio, read the
// server's resident memory. They REQUIRE success, so call them from a test body.
#pragma once
#include <catch2/catch.hpp>

#include <sys/types.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>

#include "support/http_client.h"
#include "support/ws_client.h"

namespace sabla::test {

inline std::string same_origin(int port) { return "http://127.0.0.1:" + std::to_string(port); }

// POST /api/v1/login from the same origin; returns the "sabla_session=..." cookie.
inline std::string login_cookie(int port, const std::string& name, const std::string& password) {
  auto r = http_post_json(port, "/api/v1/login", nlohmann::json{{"name", name}, {"password", password}},
                          {{"Origin", same_origin(port)}});
  INFO(r.status << " " << r.body << " " << r.error);
  REQUIRE(r.status == 200);
  std::string cookie = cookie_from(r, "sabla_session");
  REQUIRE_FALSE(cookie.empty());
  return cookie;
}

// A viewer past its welcome.
inline std::unique_ptr<WsClient> open_viewer(int port) {
  WsOptions o;
  o.port = port;
  o.subprotocol = "sabla.viewer.v1";
  std::string err;
  auto c = WsClient::connect(o, &err);
  INFO(err);
  REQUIRE(c);
  REQUIRE(c->recv_type("welcome", 5000));
  return c;
}

// A studio client (same origin, cookie) past its snapshot.
inline std::unique_ptr<WsClient> open_studio(int port, const std::string& cookie) {
  WsOptions o;
  o.port = port;
  o.subprotocol = "sabla.studio.v1";
  o.cookie = cookie;
  o.origin = same_origin(port);
  std::string err;
  auto c = WsClient::connect(o, &err);
  INFO(err);
  REQUIRE(c);
  REQUIRE(c->recv_type("snapshot", 5000));
  return c;
}

// VmRSS of a process in KiB (from /proc/<pid>/status), -1 if unreadable.
inline int64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      int64_t kib = -1;
      in >> kib;
      return kib;
    }
    in.ignore(1 << 16, '\n');
  }
  return -1;
}

}  // namespace sabla::test
