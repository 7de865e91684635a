// A real redis-server for cluster tests, on an ephemeral 127.0.0.1 port, with
// no persistence (unless asked), in its own temp dir; SIGKILLed on
// destruction and if the test process dies.
//
//   sabla::test::RedisProcess redis;
//   if (!sabla::test::RedisProcess::available()) SKIP...;
//   REQUIRE(redis.start(&err));
//   ServerProcess main({"--redis", redis.url()});
//   redis.kill9(); REQUIRE(redis.restart(&err));   // same port, data gone
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>

#include "support/server_process.h"

namespace sabla::test {

class RedisProcess {
 public:
  RedisProcess();
  ~RedisProcess();
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  // Whether /usr/bin/redis-server (or redis-server on PATH) exists.
  static bool available();
  // Starts and waits (5 s) until it answers PING.
  bool start(std::string* error);
  // Starts again on the same port (after kill9), with an empty data set.
  bool restart(std::string* error);
  void kill9();
  bool running();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  // One command over a fresh connection (RESP, inline arguments without
  // spaces); the raw reply, "" on failure.
  std::string command(const std::string& inline_command, int timeout_ms = 2000) const;

 private:
  bool spawn(std::string* error);
  TempDir dir_{"sabla-redis"};
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace sabla::test
