// sabla-load: a WebSocket load generator for the Sabla server.
//   sabla-load ingest --port P [--host H] [--clients N] [--rate R] [--seconds S] [--db PATH]
//   sabla-load hold   --port P --clients N [--seconds S] [--server-pid PID]
//   sabla-load fanout --port P --clients N --rate R --token T [--vote-rate V] [--server-pid PID]
// Prints one JSON line on stdout and a short table on stderr. Exit codes:
// 0 ok, 1 the run failed (connections, unacked or refused comments), 2 usage.
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "loop.h"
#include "scenarios.h"

namespace {

void add_common(CLI::App* cmd, sabla::load::CommonOptions& o) {
  cmd->add_option("--port", o.target.port, "Server port")->required()->check(CLI::Range(1, 65535));
  cmd->add_option("--host", o.target.host, "Server address (IPv4/IPv6 literal or name)")->capture_default_str();
  cmd->add_option("--clients", o.clients, "Viewer connections")->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_option("--seconds", o.seconds, "Length of the measured phase")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  cmd->add_option("--connect-concurrency", o.connect_concurrency, "WebSocket handshakes in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--connect-timeout", o.connect_timeout_s, "Seconds for every client to be welcomed")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));
  cmd->add_flag("--verbose", o.verbose, "Let libwebsockets warnings and notices through");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sabla::load;
  CLI::App app{"sabla-load: WebSocket load generator for the Sabla server"};
  app.require_subcommand(1);

  IngestOptions ingest;
  CLI::App* ingest_cmd = app.add_subcommand(
      "ingest", "Viewers post comments; measures send-to-ack latency and acked comments per second");
  add_common(ingest_cmd, ingest.common);
  ingest_cmd->add_option("--rate", ingest.rate, "Comments per second over all clients (0 = as fast as the window allows)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10000000.0));
  ingest_cmd->add_option("--window", ingest.window, "Unacked comments per client when --rate is 0")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  ingest_cmd->add_option("--drain-seconds", ingest.drain_s, "Wait this long for outstanding acks after sending")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  ingest_cmd->add_flag("--timeline", ingest.timeline,
                       "Add per-second ack latency (by the second a comment was sent) to the JSON line");
  ingest_cmd->add_option("--db", ingest.db, "The server's SQLite file: count the stored comments afterwards (read-only)");

  HoldOptions hold;
  CLI::App* hold_cmd = app.add_subcommand("hold", "Open N viewer connections and keep them; server RSS per connection");
  add_common(hold_cmd, hold.common);
  hold_cmd->add_option("--server-pid", hold.server_pid, "The server's pid: read its RSS from /proc/PID/status")
      ->check(CLI::PositiveNumber);
  hold_cmd->add_option("--settle-seconds", hold.settle_s, "Wait after the last welcome before sampling the RSS")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));

  FanoutOptions fanout;
  CLI::App* fanout_cmd = app.add_subcommand(
      "fanout", "N viewers; a studio approves comments at RATE/s; approve-to-receipt latency, losses, CPU per delivery");
  add_common(fanout_cmd, fanout.common);
  fanout_cmd->add_option("--rate", fanout.rate, "Approvals per second")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 100000.0));
  fanout_cmd->add_option("--vote-rate", fanout.vote_rate, "Votes per second (vote-count updates) by the viewers")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100000.0));
  fanout_cmd->add_option("--token", fanout.token, "Studio bearer token (sabla token create NAME --role producer)")
      ->required();
  fanout_cmd->add_option("--server-pid", fanout.server_pid, "The server's pid: CPU per delivery from /proc/PID/stat")
      ->check(CLI::PositiveNumber);
  fanout_cmd->add_option("--drain-seconds", fanout.drain_s, "Wait this long for the last deliveries")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  fanout_cmd->add_option("--floor-us", fanout.floor_us, "Floor of server CPU per delivered frame, for the ratio")
      ->capture_default_str();
  fanout_cmd
      ->add_option("--viewer-ports", fanout.common.viewer_ports,
                   "Viewers connect to these ports in turn (a cluster's edges); the studio uses --port")
      ->delimiter(',')
      ->check(CLI::Range(1, 65535));
  fanout_cmd
      ->add_option("--node-pids", fanout.node_pids,
                   "A cluster's processes (main, edges, Redis): CPU of each, and of all per delivery")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  const long fds = raise_fd_limit();
  auto check_fds = [fds](int clients) {
    if (fds > 0 && clients + 32 > fds) {
      std::cerr << "sabla-load: " << clients << " clients need more file descriptors than the limit (" << fds
                << "); raise the hard limit (ulimit -Hn)\n";
      return false;
    }
    return true;
  };

  if (ingest_cmd->parsed()) {
    if (!check_fds(ingest.common.clients)) return kExitUsage;
    return run_ingest(ingest);
  }
  if (hold_cmd->parsed()) {
    if (!check_fds(hold.common.clients)) return kExitUsage;
    return run_hold(hold);
  }
  if (fanout_cmd->parsed()) {
    if (!check_fds(fanout.common.clients + 2)) return kExitUsage;
    return run_fanout(fanout);
  }
  return kExitUsage;
}
