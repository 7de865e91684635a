// `sabla-load ingest`: N viewers post comments at a total target rate (or as
// fast as a per-client window of unacked comments allows) and the time from
// lws_write to the matching `ack` is measured per comment.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "db.h"
#include "scenarios.h"
#include "stats.h"
#include "viewer.h"

namespace sabla::load {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Arabic phrases; a counter and the client number make every text distinct.
constexpr const char* kPhrases[] = {
    "سؤال عن الطرق الجديدة في المدينة",
    "شكرا على هذا البث الجميل",
    "متى تبدأ الجلسة القادمة؟",
    "ما رأيكم في الاقتراح الأخير",
    "تحية من مسقط إلى جميع المشاهدين",
    "هل يمكن إعادة شرح النقطة الثانية؟",
};

std::string make_run_prefix() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof(buf), "ld%08x", static_cast<unsigned>(rd()));
  return buf;
}

std::chrono::steady_clock::duration seconds_to_duration(double s) {
  return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(s));
}

class Ingest final : public ViewerHandler {
 public:
  Ingest(const IngestOptions& options, std::string prefix) : options_(options), prefix_(std::move(prefix)) {
    clients_.resize(static_cast<size_t>(options.common.clients));
  }

  void attach(Loop* loop) { loop_ = loop; }

  // ---- sending ----

  void start_sending(TimePoint start) {
    sending_ = true;
    send_start_ = start;
    if (options_.rate > 0) {
      loop_->start_ticker(std::chrono::microseconds(1000), [this] { pace(); });
    } else {
      for (auto& c : loop_->conns())
        if (ready(*c)) top_up(*c);
    }
  }

  void stop_sending(TimePoint at) {
    sending_ = false;
    send_stop_ = at;
    loop_->stop_ticker();
    // Frames still queued were never sent: they are not part of the run.
    for (auto& c : loop_->conns()) {
      for (const auto& out : loop_->take_queue(*c)) {
        if (clients_[c->index].inflight.erase(out.tag)) ++dropped_unsent_;
      }
    }
  }

  uint64_t outstanding() const { return outstanding_; }

  // ---- Handler ----

  void on_sent(Conn& conn, uint64_t tag, TimePoint at) override {
    auto& client = clients_[conn.index];
    auto it = client.inflight.find(tag);
    if (it == client.inflight.end()) return;
    it->second.sent = at;
    it->second.written = true;
    ++sent_;
    ++outstanding_;
    send_lag_.add(at - it->second.queued);
  }

  void on_viewer_message(Conn& conn, const std::string& type, const json& msg) override {
    if (type == "ack") {
      on_ack(conn, msg);
    } else if (type == "error") {
      on_error(conn, msg);
    } else {
      ++other_messages_;
    }
  }

  void on_closed(Conn& conn) override {
    // Comments sent on a connection that is gone will never be acked.
    auto& client = clients_[conn.index];
    for (const auto& [seq, p] : client.inflight) {
      if (p.written) {
        ++lost_;
        --outstanding_;
      } else {
        ++dropped_unsent_;
      }
    }
    client.inflight.clear();
  }

  // ---- report ----

  int report(const ConnectResult& connected, const LoopCounters& counters) {
    const double sending_s = seconds_between(send_start_, send_stop_);
    const uint64_t unacked = lost_ + outstanding_;
    ordered_json out;
    out["scenario"] = "ingest";
    out["host"] = options_.common.target.host;
    out["port"] = options_.common.target.port;
    out["clients"] = options_.common.clients;
    out["connected"] = connected.welcomed;
    out["connect_failures"] = connected.failed;
    out["connect_s"] = round_to(connected.seconds, 3);
    out["disconnects"] = counters.unexpected_closes;
    out["rate"] = options_.rate;
    out["window"] = options_.rate > 0 ? json() : json(options_.window);
    out["seconds"] = options_.common.seconds;
    out["sending_s"] = round_to(sending_s, 3);
    out["sent"] = sent_;
    out["acked"] = acked_;
    out["unacked"] = unacked;
    out["errored"] = errored_;
    ordered_json errors = ordered_json::object();
    for (const auto& [code, n] : errors_) errors[code] = n;
    if (uncorrelated_errors_) errors["(no client_id)"] = uncorrelated_errors_;
    out["errors"] = errors;
    out["sent_per_s"] = round_to(sending_s > 0 ? sent_ / sending_s : 0, 1);
    out["acked_per_s"] = round_to(sending_s > 0 ? acked_in_window_ / sending_s : 0, 1);
    out["ack_p50_ms"] = round_to(ack_.percentile_ms(50), 3);
    out["ack_p90_ms"] = round_to(ack_.percentile_ms(90), 3);
    out["ack_p99_ms"] = round_to(ack_.percentile_ms(99), 3);
    out["ack_max_ms"] = round_to(ack_.max_ms(), 3);
    out["ack_mean_ms"] = round_to(ack_.mean_ms(), 3);
    out["send_lag_p99_ms"] = round_to(send_lag_.percentile_ms(99), 3);
    out["drain_ms"] = round_to(last_ack_ > send_stop_ ? seconds_between(send_stop_, last_ack_) * 1000 : 0, 1);
    out["unexpected_acks"] = unexpected_acks_;
    out["frames_in"] = counters.frames_in;
    out["bad_frames"] = counters.bad_frames;
    out["client_id_prefix"] = prefix_;
    if (options_.timeline) {
      ordered_json seconds = ordered_json::array();
      for (size_t i = 0; i < timeline_.size(); ++i) {
        Latencies& l = timeline_[i];
        seconds.push_back(ordered_json{{"s", i},
                                       {"acked", l.size()},
                                       {"p50_ms", round_to(l.percentile_ms(50), 3)},
                                       {"p99_ms", round_to(l.percentile_ms(99), 3)},
                                       {"max_ms", round_to(l.max_ms(), 3)}});
      }
      out["timeline"] = seconds;
    }

    bool db_ok = true;
    std::string db_line;
    if (!options_.db.empty()) {
      std::string error;
      auto count = count_comments(options_.db, prefix_ + "-", &error);
      ordered_json db;
      db["path"] = options_.db;
      if (count) {
        db_ok = count->total >= static_cast<int64_t>(acked_) && count->with_prefix >= static_cast<int64_t>(acked_);
        db["rows"] = count->total;
        db["run_rows"] = count->with_prefix;
        db["ok"] = db_ok;
        db_line = std::to_string(count->with_prefix) + " rows from this run, " + std::to_string(count->total) +
                  " in all: " + (db_ok ? "every acked comment is stored" : "FEWER ROWS THAN ACKS");
      } else {
        db_ok = false;
        db["error"] = error;
        db["ok"] = false;
        db_line = "cannot read: " + error;
      }
      out["db"] = db;
    }

    const bool ok = connected.failed == 0 && counters.unexpected_closes == 0 && unacked == 0 && errored_ == 0 &&
                    uncorrelated_errors_ == 0 && sent_ > 0 && db_ok;
    out["ok"] = ok;
    std::cout << out.dump() << std::endl;

    // The human-readable table.
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
    std::cerr << "ingest: " << options_.common.clients << " clients, "
              << (options_.rate > 0 ? num(options_.rate, "%.0f comments/s") : "unpaced (window " + std::to_string(options_.window) + ")")
              << ", " << num(sending_s, "%.1f") << " s\n";
    row("connected", std::to_string(connected.welcomed) + "/" + std::to_string(options_.common.clients) + " in " +
                         num(connected.seconds, "%.2f s"));
    for (const auto& [why, n] : connected.failure_reasons) row("  failed", std::to_string(n) + " x " + why);
    row("sent", std::to_string(sent_) + "  (" + num(sending_s > 0 ? sent_ / sending_s : 0, "%.1f/s") + ")");
    row("acked", std::to_string(acked_) + "  (" + num(sending_s > 0 ? acked_in_window_ / sending_s : 0, "%.1f/s") +
                     " within the sending window)");
    std::string errs = std::to_string(errored_ + uncorrelated_errors_);
    for (const auto& [code, n] : errors_) errs += "  " + code + "=" + std::to_string(n);
    row("errors", errs);
    row("unacked", std::to_string(unacked));
    if (counters.unexpected_closes) row("disconnects", std::to_string(counters.unexpected_closes));
    row("ack latency", "p50 " + num(ack_.percentile_ms(50), "%.2f") + "  p90 " + num(ack_.percentile_ms(90), "%.2f") +
                           "  p99 " + num(ack_.percentile_ms(99), "%.2f") + "  max " + num(ack_.max_ms(), "%.2f") +
                           " ms");
    if (!options_.db.empty()) row("db", db_line);
    row("result", ok ? "ok" : "FAILED");
    return ok ? kExitOk : kExitFailed;
  }

 private:
  struct Pending {
    TimePoint queued{};
    TimePoint sent{};
    bool written = false;
  };
  struct Client {
    std::unordered_map<uint64_t, Pending> inflight;  // by sequence number
    uint64_t next_seq = 0;
  };

  bool ready(const Conn& c) const { return c.state == Conn::State::open && welcomed(c); }

  void queue_comment(Conn& conn) {
    Client& client = clients_[conn.index];
    const uint64_t seq = client.next_seq++;
    const uint64_t n = ++text_counter_;
    std::string client_id = prefix_ + "-" + std::to_string(conn.index) + "-" + std::to_string(seq);
    std::string text = std::string(kPhrases[n % std::size(kPhrases)]) + " رقم " + std::to_string(n) +
                       " من المشاهد " + std::to_string(conn.index);
    json msg = {{"type", "comment"}, {"client_id", std::move(client_id)}, {"text", std::move(text)}};
    client.inflight.emplace(seq, Pending{SteadyClock::now(), {}, false});
    loop_->send(conn, msg.dump(), seq);
  }

  void top_up(Conn& conn) {
    Client& client = clients_[conn.index];
    while (sending_ && ready(conn) && client.inflight.size() < static_cast<size_t>(options_.window))
      queue_comment(conn);
  }

  // Rate mode: every millisecond, queue what is due since the start,
  // round-robin over the connections.
  void pace() {
    if (!sending_) return;
    const double elapsed = seconds_between(send_start_, SteadyClock::now());
    const auto due = static_cast<uint64_t>(options_.rate * elapsed);
    auto& conns = loop_->conns();
    while (scheduled_ < due) {
      Conn* next = nullptr;
      for (size_t tries = 0; tries < conns.size() && !next; ++tries) {
        Conn& c = *conns[rr_++ % conns.size()];
        if (ready(c)) next = &c;
      }
      if (!next) return;
      queue_comment(*next);
      ++scheduled_;
    }
  }

  // "<prefix>-<conn>-<seq>" -> seq, when it belongs to `conn`.
  std::optional<uint64_t> parse_client_id(const Conn& conn, const json& msg) const {
    auto it = msg.find("client_id");
    if (it == msg.end() || !it->is_string()) return std::nullopt;
    std::string_view id = it->get_ref<const std::string&>();
    if (id.size() <= prefix_.size() + 1 || id.substr(0, prefix_.size()) != prefix_ || id[prefix_.size()] != '-')
      return std::nullopt;
    id.remove_prefix(prefix_.size() + 1);
    const size_t dash = id.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    int index = -1;
    uint64_t seq = 0;
    auto r1 = std::from_chars(id.data(), id.data() + dash, index);
    auto r2 = std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
    if (r1.ec != std::errc() || r1.ptr != id.data() + dash || r2.ec != std::errc() ||
        r2.ptr != id.data() + id.size() || index != conn.index)
      return std::nullopt;
    return seq;
  }

  // Removes a written comment from the in-flight set; false if unknown.
  bool resolve(Conn& conn, const json& msg, Pending* out) {
    auto seq = parse_client_id(conn, msg);
    if (!seq) return false;
    auto& client = clients_[conn.index];
    auto it = client.inflight.find(*seq);
    if (it == client.inflight.end() || !it->second.written) return false;
    *out = it->second;
    client.inflight.erase(it);
    --outstanding_;
    return true;
  }

  void on_ack(Conn& conn, const json& msg) {
    const TimePoint now = SteadyClock::now();
    Pending p;
    if (!resolve(conn, msg, &p)) {
      ++unexpected_acks_;
      return;
    }
    ++acked_;
    if (sending_) ++acked_in_window_;
    last_ack_ = now;
    ack_.add(now - p.sent);
    if (options_.timeline) {
      const auto second = static_cast<size_t>(std::max(0.0, seconds_between(send_start_, p.sent)));
      if (timeline_.size() <= second) timeline_.resize(second + 1);
      timeline_[second].add(now - p.sent);
    }
    if (options_.rate <= 0) top_up(conn);
  }

  void on_error(Conn& conn, const json& msg) {
    std::string code = "unknown";
    if (auto c = msg.find("code"); c != msg.end() && c->is_string()) code = c->get<std::string>();
    Pending p;
    if (!resolve(conn, msg, &p)) {
      ++uncorrelated_errors_;
      if (uncorrelated_errors_ <= 3) std::cerr << "sabla-load: error frame: " << msg.dump() << "\n";
      return;
    }
    ++errored_;
    errors_[code]++;
    if (errored_ <= 3) std::cerr << "sabla-load: comment refused: " << msg.dump() << "\n";
    if (options_.rate <= 0) top_up(conn);
  }

  const IngestOptions& options_;
  const std::string prefix_;
  Loop* loop_ = nullptr;
  std::vector<Client> clients_;

  bool sending_ = false;
  TimePoint send_start_{};
  TimePoint send_stop_{};
  TimePoint last_ack_{};
  uint64_t scheduled_ = 0;
  size_t rr_ = 0;
  uint64_t text_counter_ = 0;

  uint64_t sent_ = 0;
  uint64_t outstanding_ = 0;  // written, neither acked nor refused yet
  uint64_t acked_ = 0;
  uint64_t acked_in_window_ = 0;
  uint64_t errored_ = 0;
  uint64_t lost_ = 0;  // written on a connection that closed before the reply
  uint64_t dropped_unsent_ = 0;
  uint64_t unexpected_acks_ = 0;
  uint64_t uncorrelated_errors_ = 0;
  uint64_t other_messages_ = 0;
  std::map<std::string, uint64_t> errors_;
  Latencies ack_;
  Latencies send_lag_;
  std::vector<Latencies> timeline_;  // ack latency by the second the comment was sent in
};

}  // namespace

int run_ingest(const IngestOptions& options) {
  Ingest ingest(options, make_run_prefix());
  Loop loop(options.common.target, ingest);
  std::string error;
  if (!loop.init(&error, options.common.verbose)) {
    std::cerr << "sabla-load: " << error << "\n";
    return kExitFailed;
  }
  ingest.attach(&loop);

  ConnectResult connected = connect_viewers(loop, ingest, options.common);
  if (connected.welcomed == 0) {
    std::cerr << "sabla-load: no client could connect to " << options.common.target.host << ":"
              << options.common.target.port << "\n";
    for (const auto& [why, n] : connected.failure_reasons) std::cerr << "  " << n << " x " << why << "\n";
    return kExitFailed;
  }

  const TimePoint start = SteadyClock::now();
  ingest.start_sending(start);
  loop.run_until([] { return false; }, start + seconds_to_duration(options.common.seconds));
  const TimePoint stop = SteadyClock::now();
  ingest.stop_sending(stop);
  loop.run_until([&] { return ingest.outstanding() == 0; }, stop + seconds_to_duration(options.drain_s));

  // A clean close, so the server does not log the clients as lost.
  loop.close_all();
  loop.run_until(
      [&] {
        for (const auto& c : loop.conns())
          if (c->state == Conn::State::closing || c->state == Conn::State::connecting) return false;
        return true;
      },
      SteadyClock::now() + std::chrono::seconds(3));

  return ingest.report(connected, loop.counters());
}

}  // namespace sabla::load
