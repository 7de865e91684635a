// `sabla-load fanout`: N viewers listen, a studio client approves comments at
// a fixed rate, and every viewer timestamps each approved comment it receives.
//
// Set-up: one extra viewer (the poster) posts the comments that will be
// approved, as fast as a window of 32 allows, and keeps the ids from the acks
// (they must come back `pending`: review on). Then the studio client
// (`sabla.studio.v1`, `Authorization: Bearer <token>`) sends
// `{"type":"approve","id":…}` at --rate per second. Latency is from the
// instant before the approve's lws_write to the receipt of the comment at a
// viewer (same process, same steady clock). Optionally viewers vote at
// --vote-rate per second on the latest approved comment, so vote-count
// updates share the viewers' frames with the comments.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "proc.h"
#include "scenarios.h"
#include "stats.h"
#include "viewer.h"

namespace sabla::load {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr int kPostWindow = 32;  // comments in flight while the poster prepares the run

std::chrono::steady_clock::duration seconds_to_duration(double s) {
  return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(s));
}

// Finds the comment ids in a viewer frame without a JSON parse: each pushed
// comment is `"comment":{…,"id":N,…}` (alone or as an item of a batch), and
// inside its object the first `"id":` is the comment's own (keys before it —
// at, dir — hold numbers and fixed words, never user text). A `"comment":{`
// cannot occur inside a JSON string: its quotes would be escaped.
template <typename Fn>
void for_each_comment_id(std::string_view frame, Fn&& fn) {
  static constexpr std::string_view kComment = "\"comment\":{";
  static constexpr std::string_view kId = "\"id\":";
  size_t pos = 0;
  while ((pos = frame.find(kComment, pos)) != std::string_view::npos) {
    pos += kComment.size();
    const size_t id_at = frame.find(kId, pos);
    if (id_at == std::string_view::npos) return;
    const char* first = frame.data() + id_at + kId.size();
    int64_t id = 0;
    auto [ptr, ec] = std::from_chars(first, frame.data() + frame.size(), id);
    if (ec == std::errc()) fn(id);
    pos = id_at + kId.size();
  }
}

size_t count_occurrences(std::string_view frame, std::string_view what) {
  size_t n = 0;
  for (size_t pos = frame.find(what); pos != std::string_view::npos; pos = frame.find(what, pos + what.size())) ++n;
  return n;
}

class Fanout final : public ViewerHandler {
 public:
  explicit Fanout(const FanoutOptions& options) : options_(options), viewers_(options.common.clients) {
    planned_ = static_cast<int>(std::ceil(options.rate * options.common.seconds)) + 1;
    approve_at_.assign(static_cast<size_t>(planned_), TimePoint{});
    approve_written_.assign(static_cast<size_t>(planned_), 0);
    receipts_.assign(static_cast<size_t>(planned_), 0);
    approved_ok_at_.assign(static_cast<size_t>(planned_), 0);
    seen_.assign(static_cast<size_t>(viewers_) * static_cast<size_t>(planned_), 0);
  }

  void attach(Loop* loop) { loop_ = loop; }
  int poster() const { return viewers_; }
  int studio() const { return viewers_ + 1; }
  int planned() const { return planned_; }

  // ---- set-up: the poster posts the comments to approve ----
  void start_posting() {
    posting_ = true;
    top_up_posts();
  }
  bool posted_all() const { return static_cast<int>(ids_.size()) >= planned_ || post_failed_; }
  bool snapshot_seen() const { return snapshot_; }
  const std::string& setup_error() const { return setup_error_; }

  // ---- measured phase ----
  void start_approving(TimePoint start) {
    listening_ = 0;
    for (int i = 0; i < viewers_; ++i)
      if (loop_->conns()[i]->state == Conn::State::open && welcomed(*loop_->conns()[i])) ++listening_;
    approve_start_ = start;
    approving_ = true;
    loop_->start_ticker(std::chrono::microseconds(1000), [this] { pace(); });
  }
  void stop_approving() {
    approving_ = false;
    draining_ = true;
    loop_->stop_ticker();
  }
  bool all_delivered() const {
    if (approve_replies_ < approves_written_) return false;
    return deliveries_ >= expected_deliveries();
  }
  // Every viewer welcomed when approvals started must get every approved
  // comment; one that disconnects meanwhile counts its missing ones as lost.
  // A comment counts as approved when the studio got its `ok` or any viewer
  // got it: on a starved box the studio's replies can trail the broadcast.
  uint64_t expected_deliveries() const {
    uint64_t approved = 0;
    for (size_t i = 0; i < receipts_.size(); ++i)
      if (approved_ok_at_[i] || receipts_[i] > 0) ++approved;
    return static_cast<uint64_t>(listening_) * approved;
  }

  // ---- Handler ----
  bool on_raw(Conn& conn, std::string_view frame) override {
    if (conn.index == studio()) {
      on_studio(frame);
      return true;
    }
    if (conn.index >= viewers_ || !welcomed(conn)) return false;  // the poster and welcomes take the JSON path
    const TimePoint now = SteadyClock::now();
    if (approving_ || draining_) ++viewer_frames_;
    for_each_comment_id(frame, [&](int64_t id) { on_comment(conn.index, id, now); });
    votes_received_ += count_occurrences(frame, "\"type\":\"votes\"");
    vote_errors_ += count_occurrences(frame, "\"type\":\"error\"");  // viewers send nothing but votes
    return true;
  }

  void on_viewer_message(Conn& conn, const std::string& type, const json& msg) override {
    if (conn.index != poster()) return;
    if (type == "ack") {
      --posts_in_flight_;
      auto id = msg.find("id");
      auto status = msg.find("status");
      if (id == msg.end() || !id->is_number_integer()) return;
      if (status == msg.end() || *status != "pending") {
        setup_error_ = "comments are not held for review (ack status " + (status == msg.end() ? std::string("?") : status->dump()) +
                       "): turn review on";
        post_failed_ = true;
        return;
      }
      const int64_t comment = id->get<int64_t>();
      if (static_cast<int>(ids_.size()) < planned_) {
        index_of_[comment] = static_cast<int>(ids_.size());
        ids_.push_back(comment);
      }
      top_up_posts();
    } else if (type == "error") {
      --posts_in_flight_;
      setup_error_ = "the poster's comment was refused: " + msg.dump();
      post_failed_ = true;
    }
  }

  void on_sent(Conn& conn, uint64_t tag, TimePoint at) override {
    if (conn.index != studio() || tag == 0) return;
    const size_t index = static_cast<size_t>(tag - 1);
    approve_at_[index] = at;
    approve_written_[index] = 1;
    ++approves_written_;
  }

  // ---- report ----
  int report(const ConnectResult& connected, const LoopCounters& counters, std::optional<ProcSample> cpu0,
             std::optional<ProcSample> cpu1, TimePoint end) {
    const double span_s = seconds_between(approve_start_, last_receipt_ > approve_start_ ? last_receipt_ : end);
    const uint64_t expected = expected_deliveries();
    const uint64_t lost = expected > deliveries_ ? expected - deliveries_ : 0;
    ordered_json out;
    out["scenario"] = "fanout";
    out["host"] = options_.common.target.host;
    out["port"] = options_.common.target.port;
    out["clients"] = viewers_;
    out["connected"] = std::max(0, connected.welcomed - 1);  // without the poster
    out["connect_failures"] = connected.failed;
    out["connect_s"] = round_to(connected.seconds, 3);
    out["disconnects"] = counters.unexpected_closes;
    out["rate"] = options_.rate;
    out["vote_rate"] = options_.vote_rate;
    out["seconds"] = options_.common.seconds;
    out["approves_sent"] = approves_written_;
    out["approved"] = approved_ok_;
    out["approve_errors"] = approve_errors_;
    out["approve_ok_p50_ms"] = round_to(approve_reply_.percentile_ms(50), 3);
    out["approve_ok_p99_ms"] = round_to(approve_reply_.percentile_ms(99), 3);
    out["votes_sent"] = votes_sent_;
    out["vote_errors"] = vote_errors_;
    out["vote_updates_received"] = votes_received_;
    out["expected_deliveries"] = expected;
    out["delivered"] = deliveries_;
    out["lost"] = lost;
    out["duplicates"] = duplicates_;
    out["unknown_comments"] = unknown_comments_;
    out["delivered_per_s"] = round_to(span_s > 0 ? deliveries_ / span_s : 0, 1);
    out["latency_p50_ms"] = round_to(latency_.percentile_ms(50), 3);
    out["latency_p90_ms"] = round_to(latency_.percentile_ms(90), 3);
    out["latency_p99_ms"] = round_to(latency_.percentile_ms(99), 3);
    out["latency_max_ms"] = round_to(latency_.max_ms(), 3);
    out["frames_in"] = counters.frames_in;
    out["bytes_in"] = counters.bytes_in;
    double cpu_us = 0;
    if (cpu0 && cpu1) {
      const double cpu_s = cpu1->cpu_s - cpu0->cpu_s;
      cpu_us = deliveries_ > 0 ? cpu_s * 1e6 / static_cast<double>(deliveries_) : 0;
      out["server_pid"] = options_.server_pid;
      out["server_cpu_s"] = round_to(cpu_s, 2);
      out["server_cpu_user_s"] = round_to(cpu1->cpu_user_s - cpu0->cpu_user_s, 2);
      out["server_cpu_sys_s"] = round_to(cpu1->cpu_sys_s - cpu0->cpu_sys_s, 2);
      out["server_cpu_us_per_delivery"] = round_to(cpu_us, 2);
      // Per frame: with coalescing (or vote updates) a frame may carry
      // several messages; the floor was measured per frame.
      out["viewer_frames"] = viewer_frames_;
      out["server_cpu_us_per_frame"] =
          round_to(viewer_frames_ > 0 ? cpu_s * 1e6 / static_cast<double>(viewer_frames_) : 0, 2);
      out["floor_us_per_delivery"] = options_.floor_us;
      out["cpu_vs_floor"] = round_to(options_.floor_us > 0 ? cpu_us / options_.floor_us : 0, 2);
      out["server_rss_kib"] = cpu1->rss_kib;
    }
    if (!options_.node_pids.empty()) {
      // A cluster: the CPU of every process (main, edges, Redis) per delivery,
      // beside each one's own, to compare with the single process.
      json nodes = json::array();
      double total_s = 0;
      for (size_t i = 0; i < options_.node_pids.size(); ++i) {
        const auto& a = nodes_before[i];
        const auto& b = nodes_after[i];
        const double s = a && b ? b->cpu_s - a->cpu_s : 0;
        total_s += s;
        nodes.push_back(json{{"pid", options_.node_pids[i]}, {"cpu_s", round_to(s, 3)}, {"rss_kib", b ? b->rss_kib : 0}});
      }
      out["nodes"] = nodes;
      out["cluster_cpu_s"] = round_to(total_s, 2);
      out["cluster_cpu_us_per_delivery"] =
          round_to(deliveries_ > 0 ? total_s * 1e6 / static_cast<double>(deliveries_) : 0, 2);
      cluster_cpu_s_ = total_s;
    }
    if (!deliveries_by_port_.empty()) {
      json by_port = json::object();
      for (const auto& [port, n] : deliveries_by_port_) by_port[std::to_string(port)] = n;
      out["delivered_by_port"] = by_port;
    }
    const bool ok = setup_error_.empty() && connected.failed == 0 && counters.unexpected_closes == 0 &&
                    approve_errors_ == 0 && approved_ok_ > 0 && lost == 0 && duplicates_ == 0;
    if (!setup_error_.empty()) out["error"] = setup_error_;
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
    std::cerr << "fanout: " << viewers_ << " viewers, " << num(options_.rate, "%.1f approvals/s")
              << (options_.vote_rate > 0 ? num(options_.vote_rate, " + %.1f votes/s") : std::string()) << ", "
              << num(options_.common.seconds, "%.0f s") << "\n";
    row("connected", std::to_string(std::max(0, connected.welcomed - 1)) + "/" + std::to_string(viewers_) + " in " +
                         num(connected.seconds, "%.2f s"));
    for (const auto& [why, n] : connected.failure_reasons) row("  failed", std::to_string(n) + " x " + why);
    if (!setup_error_.empty()) row("set-up", setup_error_);
    row("approved", std::to_string(approved_ok_) + " of " + std::to_string(approves_written_) + " sent (" +
                        std::to_string(approve_errors_) + " errors)");
    row("delivered", std::to_string(deliveries_) + " of " + std::to_string(expected) + "  (" +
                         num(span_s > 0 ? deliveries_ / span_s : 0, "%.0f/s") + "), lost " + std::to_string(lost) +
                         ", duplicates " + std::to_string(duplicates_));
    row("latency", "p50 " + num(latency_.percentile_ms(50), "%.1f") + "  p90 " + num(latency_.percentile_ms(90), "%.1f") +
                       "  p99 " + num(latency_.percentile_ms(99), "%.1f") + "  max " + num(latency_.max_ms(), "%.1f") +
                       " ms (approve -> viewer)");
    if (options_.vote_rate > 0)
      row("votes", std::to_string(votes_sent_) + " sent, " + std::to_string(vote_errors_) + " refused, " +
                       std::to_string(votes_received_) + " updates received");
    if (cpu0 && cpu1)
      row("server CPU", num(cpu1->cpu_s - cpu0->cpu_s, "%.2f s") + " = " + num(cpu_us, "%.2f us") +
                            " per delivery (floor " + num(options_.floor_us, "%.0f us") + ", " +
                            num(options_.floor_us > 0 ? cpu_us / options_.floor_us : 0, "%.2fx") + "), " +
                            num(viewer_frames_ > 0 ? (cpu1->cpu_s - cpu0->cpu_s) * 1e6 / viewer_frames_ : 0,
                                "%.2f us") +
                            " per frame (" + std::to_string(viewer_frames_) + " frames)");
    if (cluster_cpu_s_ >= 0)
      row("cluster CPU", num(cluster_cpu_s_, "%.2f s") + " over " + std::to_string(options_.node_pids.size()) +
                             " processes = " + num(deliveries_ > 0 ? cluster_cpu_s_ * 1e6 / deliveries_ : 0, "%.2f us") +
                             " per delivery");
    if (counters.unexpected_closes) row("disconnects", std::to_string(counters.unexpected_closes));
    row("result", ok ? "ok" : "FAILED");
    return ok ? kExitOk : kExitFailed;
  }

 private:
  void top_up_posts() {
    Conn& c = *loop_->conns()[poster()];
    while (posting_ && !post_failed_ && c.state == Conn::State::open && posts_in_flight_ < kPostWindow &&
           posts_queued_ < planned_) {
      json msg = {{"type", "comment"},
                  {"client_id", "fanout-" + std::to_string(run_nonce_) + "-" + std::to_string(posts_queued_)},
                  {"text", "تعليق للبث رقم " + std::to_string(posts_queued_)}};
      loop_->send(c, msg.dump());
      ++posts_queued_;
      ++posts_in_flight_;
    }
  }

  void pace() {
    if (!approving_) return;
    const double elapsed = seconds_between(approve_start_, SteadyClock::now());
    Conn& studio_conn = *loop_->conns()[studio()];
    const auto due = std::min<uint64_t>(static_cast<uint64_t>(options_.rate * elapsed) + 1, ids_.size());
    while (approves_queued_ < due && studio_conn.state == Conn::State::open) {
      const int64_t id = ids_[approves_queued_];
      std::string op = "a";  // op "a<index>" finds the approval again in the reply
      op += std::to_string(approves_queued_);
      json msg = {{"type", "approve"}, {"id", id}, {"op", std::move(op)}};
      ++approves_queued_;
      loop_->send(studio_conn, msg.dump(), approves_queued_);  // tag = index + 1
    }
    if (options_.vote_rate > 0 && !approved_ids_.empty()) {
      const auto votes_due = static_cast<uint64_t>(options_.vote_rate * elapsed);
      while (votes_sent_ < votes_due) {
        // Round-robin over the viewers: one viewer never votes twice for the
        // same comment unless more than N votes land while it is the latest.
        Conn& voter = *loop_->conns()[votes_sent_ % static_cast<uint64_t>(viewers_)];
        ++votes_sent_;
        if (voter.state != Conn::State::open) continue;
        loop_->send(voter, json{{"type", "vote"}, {"id", approved_ids_.back()}}.dump());
      }
    }
  }

  void on_comment(int viewer, int64_t id, TimePoint now) {
    auto it = index_of_.find(id);
    if (it == index_of_.end()) {
      ++unknown_comments_;
      return;
    }
    const size_t index = static_cast<size_t>(it->second);
    char& seen = seen_[static_cast<size_t>(viewer) * static_cast<size_t>(planned_) + index];
    if (seen) {
      ++duplicates_;
      return;
    }
    seen = 1;
    ++receipts_[index];
    ++deliveries_;
    if (!options_.common.viewer_ports.empty()) ++deliveries_by_port_[loop_->conns()[viewer]->port];
    last_receipt_ = now;
    if (approve_written_[index]) latency_.add(now - approve_at_[index]);
  }

  void on_studio(std::string_view frame) {
    json msg = json::parse(frame, nullptr, /*allow_exceptions=*/false);
    if (msg.is_discarded() || !msg.is_object()) return;
    if (msg.value("type", "") == "batch" && msg.contains("items") && msg["items"].is_array()) {
      for (const json& item : msg["items"])
        if (item.is_object()) on_studio_message(item);
      return;
    }
    on_studio_message(msg);
  }

  void on_studio_message(const json& msg) {
    const std::string type = msg.value("type", "");
    if (type == "snapshot") {
      snapshot_ = true;
      return;
    }
    auto op = msg.find("op");
    if (op == msg.end() || !op->is_string()) {
      // Vote refusals go to the voter, not here; other studio pushes are ignored.
      return;
    }
    const std::string& op_text = op->get_ref<const std::string&>();
    if (op_text.empty() || op_text[0] != 'a') return;
    size_t index = 0;
    auto [ptr, ec] = std::from_chars(op_text.data() + 1, op_text.data() + op_text.size(), index);
    if (ec != std::errc() || index >= static_cast<size_t>(planned_)) return;
    ++approve_replies_;
    if (type == "ok") {
      ++approved_ok_;
      approved_ok_at_[index] = 1;
      approved_ids_.push_back(ids_[index]);
      if (approve_written_[index]) approve_reply_.add(SteadyClock::now() - approve_at_[index]);
    } else {
      ++approve_errors_;
      if (approve_errors_ <= 3) std::cerr << "sabla-load: approve refused: " << msg.dump() << "\n";
    }
  }

 private:
  const FanoutOptions& options_;
  const int viewers_;
  int planned_ = 0;
  Loop* loop_ = nullptr;
  const unsigned run_nonce_ = static_cast<unsigned>(SteadyClock::now().time_since_epoch().count());

  // set-up
  bool posting_ = false;
  bool post_failed_ = false;
  bool snapshot_ = false;
  int posts_queued_ = 0;
  int posts_in_flight_ = 0;
  std::vector<int64_t> ids_;                    // comment ids to approve, in order
  std::unordered_map<int64_t, int> index_of_;  // comment id -> index in ids_
  std::string setup_error_;

  // approvals
  bool approving_ = false;
  bool draining_ = false;
  int listening_ = 0;  // viewers open and welcomed when approvals started
  uint64_t viewer_frames_ = 0;  // WebSocket frames the viewers received from the first approval on
  TimePoint approve_start_{};
  uint64_t approves_queued_ = 0;
  uint64_t approves_written_ = 0;
  uint64_t approve_replies_ = 0;
  uint64_t approved_ok_ = 0;
  uint64_t approve_errors_ = 0;
  std::vector<TimePoint> approve_at_;
  std::vector<char> approve_written_;
  std::vector<char> approved_ok_at_;  // per comment index: the studio got `ok`
  std::vector<int64_t> approved_ids_;
  Latencies approve_reply_;

  // votes
  uint64_t votes_sent_ = 0;
  uint64_t vote_errors_ = 0;
  uint64_t votes_received_ = 0;

  // deliveries
  std::vector<uint32_t> receipts_;  // per comment index
  std::vector<char> seen_;          // viewer x comment index
  uint64_t deliveries_ = 0;
  std::map<int, uint64_t> deliveries_by_port_;  // with --viewer-ports
  double cluster_cpu_s_ = -1;                   // with --node-pids

 public:
  // --node-pids: each process's CPU over the measured phase, before and after.
  std::vector<std::optional<ProcSample>> nodes_before, nodes_after;

 private:
  uint64_t duplicates_ = 0;
  uint64_t unknown_comments_ = 0;
  TimePoint last_receipt_{};
  Latencies latency_;
};

}  // namespace

int run_fanout(const FanoutOptions& options) {
  if (options.token.empty()) {
    std::cerr << "sabla-load: fanout needs --token (a studio bearer token: sabla token create NAME --role producer)\n";
    return kExitUsage;
  }
  Fanout fanout(options);
  Loop loop(options.common.target, fanout);
  std::string error;
  if (!loop.init(&error, options.common.verbose)) {
    std::cerr << "sabla-load: " << error << "\n";
    return kExitFailed;
  }
  fanout.attach(&loop);

  // Viewers 0..N-1, then the poster (index N): all `sabla.viewer.v1`.
  CommonOptions viewers = options.common;
  viewers.clients = options.common.clients + 1;
  ConnectResult connected = connect_viewers(loop, fanout, viewers);
  // Then the studio (index N+1).
  loop.open(1, "sabla.studio.v1", 1, "Bearer " + options.token);
  loop.run_until(
      [&] {
        const Conn& s = *loop.conns()[fanout.studio()];
        return fanout.snapshot_seen() || s.state == Conn::State::failed || s.state == Conn::State::closed;
      },
      SteadyClock::now() + std::chrono::seconds(10));
  if (!fanout.snapshot_seen()) {
    std::cerr << "sabla-load: the studio client got no snapshot (" << loop.conns()[fanout.studio()]->error
              << "): is the token valid and its role moderator or producer?\n";
    loop.close_all();
    loop.run_until([] { return false; }, SteadyClock::now() + std::chrono::seconds(1));
    return kExitFailed;
  }
  fanout.start_posting();
  loop.run_until([&] { return fanout.posted_all(); }, SteadyClock::now() + std::chrono::seconds(30));
  if (!fanout.setup_error().empty() || !fanout.posted_all()) {
    std::cerr << "sabla-load: could not prepare " << fanout.planned() << " comments: "
              << (fanout.setup_error().empty() ? std::string("timed out") : fanout.setup_error()) << "\n";
  }

  // Let the `pending` pushes to the studio settle before measuring.
  loop.run_until([] { return false; }, SteadyClock::now() + std::chrono::milliseconds(500));
  const auto cpu0 = sample_process(options.server_pid);
  for (int pid : options.node_pids) fanout.nodes_before.push_back(sample_process(pid));
  const TimePoint start = SteadyClock::now();
  if (fanout.setup_error().empty()) {
    fanout.start_approving(start);
    loop.run_until([] { return false; }, start + seconds_to_duration(options.common.seconds));
    fanout.stop_approving();
    loop.run_until([&] { return fanout.all_delivered(); }, SteadyClock::now() + seconds_to_duration(options.drain_s));
  }
  const TimePoint end = SteadyClock::now();
  const auto cpu1 = sample_process(options.server_pid);
  for (int pid : options.node_pids) fanout.nodes_after.push_back(sample_process(pid));

  const int rc = fanout.report(connected, loop.counters(), cpu0, cpu1, end);
  loop.close_all();
  loop.run_until(
      [&] {
        for (const auto& c : loop.conns())
          if (c->state == Conn::State::closing || c->state == Conn::State::connecting) return false;
        return true;
      },
      SteadyClock::now() + std::chrono::seconds(15));
  return rc;
}

}  // namespace sabla::load
