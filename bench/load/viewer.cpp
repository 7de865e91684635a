#include "viewer.h"

#include "stats.h"

namespace sabla::load {

using nlohmann::json;

void ViewerHandler::on_message(Conn& conn, const json& msg) {
  auto type_it = msg.find("type");
  if (type_it == msg.end() || !type_it->is_string()) return;
  const std::string& type = type_it->get_ref<const std::string&>();
  if (static_cast<int>(welcomed_.size()) <= conn.index) welcomed_.resize(conn.index + 1, 0);
  if (type == "welcome") {
    // A later `welcome` answers a `hello`; only the first one counts here.
    if (!welcomed_[conn.index]) {
      welcomed_[conn.index] = 1;
      ++welcomed_count_;
      on_welcome(conn);
    }
    return;
  }
  if (!welcomed_[conn.index]) {
    ++messages_before_welcome_;
    return;
  }
  on_viewer_message(conn, type, msg);
}

void ViewerHandler::on_closed(Conn&) {}

ConnectResult connect_viewers(Loop& loop, ViewerHandler& handler, const CommonOptions& options) {
  const TimePoint start = SteadyClock::now();
  const int first = static_cast<int>(loop.conns().size());
  loop.open(options.clients, "sabla.viewer.v1", options.connect_concurrency);
  auto& conns = loop.conns();
  if (!options.viewer_ports.empty())
    for (int i = first; i < static_cast<int>(conns.size()); ++i)
      conns[i]->port = options.viewer_ports[static_cast<size_t>(i - first) % options.viewer_ports.size()];
  auto settled = [&] {
    for (int i = first; i < static_cast<int>(conns.size()); ++i) {
      const Conn& c = *conns[i];
      const bool gone = c.state == Conn::State::failed || c.state == Conn::State::closed;
      if (!gone && !handler.welcomed(c)) return false;
    }
    return true;
  };
  const auto timeout = std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::duration<double>(options.connect_timeout_s));
  loop.run_until(settled, start + timeout);
  ConnectResult r;
  r.seconds = seconds_between(start, SteadyClock::now());
  for (int i = first; i < static_cast<int>(conns.size()); ++i) {
    const Conn& c = *conns[i];
    if (handler.welcomed(c) && c.state == Conn::State::open) {
      ++r.welcomed;
      continue;
    }
    ++r.failed;
    std::string why = c.error;
    if (why.empty()) why = handler.welcomed(c) ? "closed after the welcome" : "no welcome before the timeout";
    r.failure_reasons[why]++;
  }
  return r;
}

}  // namespace sabla::load
