// sabla-load scenarios. Each is one function over the shared connection
// machinery (loop.h) and viewer bookkeeping (viewer.h); each prints one JSON
// line on stdout and a short table on stderr, and returns the exit code.
#pragma once

#include <string>
#include <vector>

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
  std::vector<int> viewer_ports;  // viewers connect to these in turn (cluster edges); empty: the target's
};

struct IngestOptions {
  CommonOptions common;
  double rate = 0;   // comments per second over all clients; 0 = as fast as the window allows
  int window = 8;    // unacked comments per client when rate is 0
  double drain_s = 5;  // wait for outstanding acks after sending stops
  std::string db;    // optional: the server's sabla.db, checked read-only afterwards
  bool timeline = false;  // add per-second ack latency (by send second) to the JSON line
};

struct HoldOptions {
  CommonOptions common;  // clients = connections to hold; seconds = how long to hold them
  int server_pid = 0;    // read its RSS from /proc/<pid>/status before and after (optional)
  double settle_s = 2;   // wait after the last welcome before sampling the RSS
};

struct FanoutOptions {
  CommonOptions common;       // clients = viewers; seconds = how long approvals go on
  double rate = 5;            // approvals per second
  double vote_rate = 0;       // votes per second by random viewers on approved comments (vote-count updates)
  std::string token;          // studio bearer token (producer or moderator)
  int server_pid = 0;         // server CPU per delivery from /proc/<pid>/stat (optional)
  double drain_s = 5;         // wait for the last deliveries after approvals stop
  double floor_us = 10;       // the measured floor of server CPU per delivered frame
  std::vector<int> node_pids;  // a cluster's processes (main, edges, Redis): CPU of each, and of all per delivery
};

// Exit codes shared by the scenarios.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // a connection failed, or a comment was not acked
inline constexpr int kExitUsage = 2;

int run_ingest(const IngestOptions& options);
int run_hold(const HoldOptions& options);
int run_fanout(const FanoutOptions& options);

}  // namespace sabla::load
