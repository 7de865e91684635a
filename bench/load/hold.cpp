// `sabla-load hold`: open N viewer connections, keep them open, and report
// what they cost the server in resident memory (VmRSS of --server-pid,
// sampled before the first connection and after the last welcome).
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "proc.h"
#include "scenarios.h"
#include "stats.h"
#include "viewer.h"

namespace sabla::load {
namespace {

using nlohmann::ordered_json;

// The target: server RSS growth per idle viewer connection.
constexpr double kTargetKibPerConn = 4.0;

class Hold final : public ViewerHandler {
 public:
  void on_viewer_message(Conn&, const std::string&, const nlohmann::json&) override { ++pushed_; }
  uint64_t pushed() const { return pushed_; }

 private:
  uint64_t pushed_ = 0;  // frames after the welcome (viewer counts, session changes)
};

std::chrono::steady_clock::duration seconds_to_duration(double s) {
  return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(s));
}

void close_cleanly(Loop& loop, double seconds) {
  loop.close_all();
  loop.run_until(
      [&] {
        for (const auto& c : loop.conns())
          if (c->state == Conn::State::closing || c->state == Conn::State::connecting) return false;
        return true;
      },
      SteadyClock::now() + seconds_to_duration(seconds));
}

}  // namespace

int run_hold(const HoldOptions& options) {
  Hold hold;
  Loop loop(options.common.target, hold);
  std::string error;
  if (!loop.init(&error, options.common.verbose)) {
    std::cerr << "sabla-load: " << error << "\n";
    return kExitFailed;
  }
  const auto before = sample_process(options.server_pid);
  if (options.server_pid > 0 && !before) {
    std::cerr << "sabla-load: cannot read /proc/" << options.server_pid << "\n";
    return kExitUsage;
  }

  ConnectResult connected = connect_viewers(loop, hold, options.common);
  // Let the server finish whatever the last handshakes left (welcome frames
  // still queued, freed handshake buffers) before the RSS is read.
  loop.run_until([] { return false; }, SteadyClock::now() + seconds_to_duration(options.settle_s));
  const auto at_connected = sample_process(options.server_pid);
  const int open_after_connect = loop.open_count();

  const TimePoint hold_start = SteadyClock::now();
  loop.run_until([] { return false; }, hold_start + seconds_to_duration(options.common.seconds));
  const auto at_end = sample_process(options.server_pid);
  const int still_open = loop.open_count();
  const uint64_t disconnects = loop.counters().unexpected_closes;

  ordered_json out;
  out["scenario"] = "hold";
  out["host"] = options.common.target.host;
  out["port"] = options.common.target.port;
  out["clients"] = options.common.clients;
  out["connected"] = connected.welcomed;
  out["connect_failures"] = connected.failed;
  out["connect_s"] = round_to(connected.seconds, 3);
  out["seconds"] = options.common.seconds;
  out["open_at_end"] = still_open;
  out["disconnects"] = disconnects;
  out["frames_after_welcome"] = hold.pushed();
  double per_conn = 0;
  bool within = true;
  if (before && at_connected && at_end) {
    // Growth to the end of the hold (it includes anything allocated while
    // holding, e.g. keep-alive pings), divided by the connections held.
    const long grown = at_end->rss_kib - before->rss_kib;
    per_conn = open_after_connect > 0 ? static_cast<double>(grown) / open_after_connect : 0;
    within = per_conn <= kTargetKibPerConn;
    out["server_pid"] = options.server_pid;
    out["rss_before_kib"] = before->rss_kib;
    out["rss_connected_kib"] = at_connected->rss_kib;
    out["rss_end_kib"] = at_end->rss_kib;
    out["rss_peak_kib"] = at_end->rss_peak_kib;
    out["rss_per_conn_kib"] = round_to(per_conn, 3);
    out["target_kib_per_conn"] = kTargetKibPerConn;
    out["within_target"] = within;
    out["server_cpu_connect_s"] = round_to(at_connected->cpu_s - before->cpu_s, 2);
    out["server_cpu_hold_s"] = round_to(at_end->cpu_s - at_connected->cpu_s, 2);
  }
  const bool ok = connected.failed == 0 && disconnects == 0 && still_open == options.common.clients;
  out["ok"] = ok;
  std::cout << out.dump() << std::endl;

  char line[256];
  auto row = [&](const char* name, const std::string& value) {
    std::snprintf(line, sizeof(line), "  %-14s %s\n", name, value.c_str());
    std::cerr << line;
  };
  auto num = [](double v, const char* fmt) {
    char b[64];
    std::snprintf(b, sizeof(b), fmt, v);
    return std::string(b);
  };
  std::cerr << "hold: " << options.common.clients << " viewers for " << num(options.common.seconds, "%.0f s") << "\n";
  row("connected", std::to_string(connected.welcomed) + "/" + std::to_string(options.common.clients) + " in " +
                       num(connected.seconds, "%.2f s"));
  for (const auto& [why, n] : connected.failure_reasons) row("  failed", std::to_string(n) + " x " + why);
  row("open at end", std::to_string(still_open) + "  (" + std::to_string(disconnects) + " closed by the server)");
  if (before && at_connected && at_end) {
    row("server RSS", num(before->rss_kib / 1024.0, "%.1f") + " -> " + num(at_connected->rss_kib / 1024.0, "%.1f") +
                          " -> " + num(at_end->rss_kib / 1024.0, "%.1f MiB") + "  (before, connected, end)");
    row("per conn", num(per_conn, "%.2f KiB") + "  (target <= " + num(kTargetKibPerConn, "%.0f KiB") + ": " +
                        (within ? "met" : "MISSED") + ")");
  }
  row("result", ok ? "ok" : "FAILED");
  close_cleanly(loop, 15);  // after the report: closing thousands takes a while
  return ok ? kExitOk : kExitFailed;
}

}  // namespace sabla::load
