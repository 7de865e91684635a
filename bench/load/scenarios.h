// sabla-load scenarios. Each is one function over the shared connection
// machinery (loop.h) and viewer bookkeeping (viewer.h); each prints one JSON
// line on stdout and a short table on stderr, and returns the exit code.
#pragma once

#include <string>

#include "loop.h"

namespace sabla::load {

// Options every scenario takes.
struct CommonOptions {
  Target target;
  int clients = 200;
  double seconds = 10;
  int connect_concurrency = 64;  // handshakes in flight at once
  double connect_timeout_s = 30;  // for all clients to be welcomed
  bool verbose = false;
};

struct IngestOptions {
  CommonOptions common;
  double rate = 0;   // comments per second over all clients; 0 = as fast as the window allows
  int window = 8;    // unacked comments per client when rate is 0
  double drain_s = 5;  // wait for outstanding acks after sending stops
  std::string db;    // optional: the server's sabla.db, checked read-only afterwards
  bool timeline = false;  // add per-second ack latency (by send second) to the JSON line
};

// Exit codes shared by the scenarios.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // a connection failed, or a comment was not acked
inline constexpr int kExitUsage = 2;

int run_ingest(const IngestOptions& options);

}  // namespace sabla::load
