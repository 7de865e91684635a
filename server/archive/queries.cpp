#include "archive/queries.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "archive/decisions.h"
#include "moderation/text.h"
#include "store/archive_reader.h"

namespace sabla::archive {

namespace {

using nlohmann::json;
using store::ArchiveListComment;
using store::ArchiveReader;
using store::SessionRow;

namespace fs = std::filesystem;

// Time budgets. Aggregates fail past theirs ("timeout"); the search scan
// stops and reports a partial page.
constexpr int64_t kQueryBudgetMs = 10'000;
constexpr int64_t kSearchBudgetMs = 5'000;
constexpr int64_t kBucketMs = 60'000;
constexpr size_t kMaxMinutes = 20'000;     // ~2 weeks of minutes
constexpr size_t kMaxOnAirPeriods = 20'000;
constexpr int64_t kDefaultPeriodMs = 8'000;  // as the caption export
constexpr size_t kMaxRecordingEntries = 100'000;  // directory entries looked at

// Stored text is sanitised on the way in, but a database is a file anyone
// can edit: never let invalid UTF-8 into a JSON value.
std::string utf8(std::string_view s) {
  if (moderation::is_valid_utf8(s)) return std::string(s);
  const std::string quoted = json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
  return json::parse(quoted).get<std::string>();
}

json opt(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

std::optional<int64_t> duration_of(const SessionRow& s) {
  if (s.live_at_ms && s.ended_at_ms && *s.ended_at_ms >= *s.live_at_ms) return *s.ended_at_ms - *s.live_at_ms;
  return std::nullopt;
}

json session_json(const SessionRow& s) {
  return json{{"id", s.id},
              {"title_ar", utf8(s.title_ar)},
              {"title_en", utf8(s.title_en)},
              {"status", utf8(s.status)},
              {"created_at_ms", s.created_at_ms},
              {"live_at_ms", opt(s.live_at_ms)},
              {"ended_at_ms", opt(s.ended_at_ms)},
              {"duration_ms", opt(duration_of(s))}};
}

json comment_json(const ArchiveListComment& c, const SessionRow& session) {
  const store::CommentRow& r = c.row;
  std::optional<int64_t> offset = r.stream_offset_ms;
  if (!offset && session.live_at_ms) offset = r.received_at_ms - *session.live_at_ms;
  return json{{"id", r.id},
              {"received_at_ms", r.received_at_ms},
              {"stream_offset_ms", opt(offset)},
              {"author", utf8(r.display_name)},
              {"source", utf8(r.source)},
              {"text", utf8(r.text)},
              {"status", std::string(store::to_string(r.status))},
              {"votes", r.votes},
              {"aired", c.aired},
              {"dir", r.direction == "rtl" ? "rtl" : "ltr"},
              {"lang", utf8(r.lang)}};
}

Result<std::unique_ptr<ArchiveReader>> open_reader(const std::string& db_path, int64_t budget_ms) {
  auto reader = ArchiveReader::open(db_path);
  if (!reader) return reader.status();
  (*reader)->set_time_budget(budget_ms);
  return reader;
}

Result<SessionRow> find_session(ArchiveReader& reader, int64_t session_id) {
  auto session = reader.session(session_id);
  if (!session) return session.status();
  if (!*session) return Status::error("not_found", "no session " + std::to_string(session_id));
  return std::move(**session);
}

// Parses "session-<id>-..." and returns <id>, or nullopt.
std::optional<int64_t> recording_session(std::string_view name) {
  constexpr std::string_view kPrefix = "session-";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  size_t i = kPrefix.size();
  int64_t id = 0;
  const size_t digits_at = i;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') {
    if (id > 100'000'000'000'000) return std::nullopt;
    id = id * 10 + (name[i] - '0');
    ++i;
  }
  if (i == digits_at || i >= name.size() || name[i] != '-') return std::nullopt;
  return id;
}

// Every recording in the folder, by session (names sorted), bounded.
std::map<int64_t, std::vector<fs::path>> scan_recordings(const std::string& db_path,
                                                         std::optional<int64_t> only_session, size_t max_files) {
  std::map<int64_t, std::vector<fs::path>> out;
  std::error_code ec;
  const fs::path dir = fs::path(db_path).parent_path() / "recordings";
  if (!fs::is_directory(dir, ec)) return out;
  fs::directory_iterator it(dir, ec);
  size_t seen = 0;
  size_t kept = 0;
  for (; !ec && it != fs::directory_iterator() && seen < kMaxRecordingEntries && kept < max_files;
       it.increment(ec)) {
    ++seen;
    const fs::path& p = it->path();
    const auto id = recording_session(p.filename().string());
    if (!id || (only_session && *id != *only_session)) continue;
    // Regular files only: a symlink or folder is not ours to list or delete.
    const fs::file_status st = it->symlink_status(ec);
    if (ec || !fs::is_regular_file(st)) {
      ec.clear();
      continue;
    }
    out[*id].push_back(p);
    ++kept;
  }
  for (auto& [id, files] : out) std::sort(files.begin(), files.end());
  return out;
}

Result<json> summaries_impl(const std::string& db_path) {
  auto reader = open_reader(db_path, kQueryBudgetMs);
  if (!reader) return reader.status();
  auto rows = (*reader)->session_summaries();
  if (!rows) return rows.status();
  auto recordings = scan_recordings(db_path, std::nullopt, 10'000);
  json sessions = json::array();
  for (const store::SessionSummary& r : *rows) {
    json s = session_json(r.session);
    s["viewers_peak"] = r.viewers_peak;
    s["retention_days"] = opt(r.retention_days);
    s["received"] = r.received;
    s["approved"] = r.approved;
    s["rejected"] = r.rejected;
    s["hidden"] = r.hidden;
    s["pending"] = r.pending;
    s["aired"] = r.aired;
    json sources = json::object();
    for (const auto& [source, count] : r.by_source) sources[utf8(source)] = count;
    s["sources"] = std::move(sources);
    json files = json::array();
    if (auto it = recordings.find(r.session.id); it != recordings.end()) {
      for (const fs::path& p : it->second) {
        std::error_code ec;
        const auto bytes = fs::file_size(p, ec);
        files.push_back({{"name", utf8(p.filename().string())}, {"bytes", ec ? json(nullptr) : json(bytes)}});
      }
    }
    s["recordings"] = std::move(files);
    sessions.push_back(std::move(s));
  }
  return json{{"sessions", std::move(sessions)}};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return needle.empty() || haystack.find(needle) != std::string::npos;
}

Result<json> search_impl(const std::string& db_path, int64_t session_id, const std::string& query,
                         const std::string& status, const std::string& source, const std::string& author,
                         int64_t limit, int64_t offset) {
  if (offset < 0) return Status::error("invalid", "offset must not be negative");
  if (limit < 1) limit = 1;
  if (limit > kSearchMaxLimit) limit = kSearchMaxLimit;
  store::ArchiveCommentFilter filter;
  if (!status.empty()) {
    filter.status = store::parse_comment_status(status);
    if (!filter.status) {
      return Status::error("invalid", "unknown status (use pending, approved, rejected or hidden)");
    }
  }
  filter.source = source;
  const std::string q = moderation::normalize_for_match(query);
  const std::string who = moderation::normalize_for_match(author);

  auto reader = open_reader(db_path, kSearchBudgetMs);
  if (!reader) return reader.status();
  auto session = find_session(**reader, session_id);
  if (!session) return session.status();
  auto cursor = (*reader)->list_comments(session_id, filter);
  if (!cursor) return Status::error("internal", "out of memory");

  json comments = json::array();
  bool more = false;
  bool partial = false;
  int64_t skipped = 0;
  size_t scanned = 0;
  while (const ArchiveListComment* c = cursor->next()) {
    // The SQL side stops at the budget too; this catches a long C++ scan.
    if ((++scanned & 255) == 0 && (*reader)->out_of_time()) {
      more = partial = true;
      break;
    }
    if (!q.empty() || !who.empty()) {
      const std::string name = moderation::normalize_for_match(c->row.display_name);
      if (!contains(name, who)) continue;
      if (!q.empty() && !contains(name, q) && !contains(moderation::normalize_for_match(c->row.text), q)) continue;
    }
    if (skipped < offset) {
      ++skipped;
      continue;
    }
    if (static_cast<int64_t>(comments.size()) == limit) {
      more = true;
      break;
    }
    comments.push_back(comment_json(*c, *session));
  }
  if (Status s = cursor->status(); !s) {
    if (s.code() != "timeout") return s;
    more = partial = true;
  }
  json out{{"comments", std::move(comments)}, {"more", more}};
  if (partial) out["partial"] = true;
  return out;
}

Result<json> timeline_impl(const std::string& db_path, int64_t session_id, int64_t now_ms) {
  auto reader = open_reader(db_path, kQueryBudgetMs);
  if (!reader) return reader.status();
  auto session = find_session(**reader, session_id);
  if (!session) return session.status();
  const SessionRow& s = *session;

  auto buckets = (*reader)->comments_per_minute(s, kMaxMinutes + 1);
  if (!buckets) return buckets.status();
  bool truncated = buckets->size() > kMaxMinutes;
  if (truncated) buckets->resize(kMaxMinutes);
  json minutes = json::array();
  for (const store::MinuteCounts& m : *buckets) {
    minutes.push_back({{"minute", m.minute},
                       {"from_ms", m.minute * kBucketMs},
                       {"received", m.received},
                       {"approved", m.approved},
                       {"rejected", m.rejected},
                       {"hidden", m.hidden},
                       {"pending", m.pending}});
  }

  // On-air periods: 'aired' opens one for the comment, its 'replaced' or
  // 'cleared' closes it. Events are in time order, so periods come out in
  // start order.
  const int64_t origin = s.live_at_ms.value_or(s.created_at_ms);
  struct Period {
    int64_t comment_id = 0;
    int64_t from = 0;
    std::optional<int64_t> to;
    std::string author;
    std::string text;
    std::string dir;
  };
  std::vector<Period> periods;
  std::unordered_map<int64_t, size_t> open;
  std::optional<int64_t> last_offset;
  auto on_air = (*reader)->on_air_events(session_id);
  if (!on_air) return Status::error("internal", "out of memory");
  while (const store::ArchiveOnAirEvent* a = on_air->next()) {
    const int64_t at = a->row.stream_offset_ms.value_or(a->row.at_ms - origin);
    if (!last_offset || at > *last_offset) last_offset = at;
    if (!a->row.comment_id) continue;
    const int64_t id = *a->row.comment_id;
    if (a->row.kind == "aired") {
      if (open.count(id)) continue;
      if (periods.size() >= kMaxOnAirPeriods) {
        truncated = true;
        continue;
      }
      open[id] = periods.size();
      periods.push_back(Period{id, at, std::nullopt, a->author, a->text, a->direction});
    } else if (a->row.kind == "replaced" || a->row.kind == "cleared") {
      auto it = open.find(id);
      if (it == open.end()) continue;
      periods[it->second].to = std::max(at, periods[it->second].from);
      open.erase(it);
    }
  }
  if (Status st = on_air->status(); !st) return st;
  // A period never taken off: in a live session the comment is still on
  // screen, so it runs to now (never before its start or the last event:
  // stream offsets may run ahead of the wall clock); in an ended one it ran
  // to the end. Only a session without either falls back to the last
  // event, else start + 8 s.
  const std::optional<int64_t> session_end = duration_of(s);
  const bool live = s.status == "live" && !s.ended_at_ms;
  const int64_t now_offset = now_ms - origin;
  json on_air_json = json::array();
  for (Period& p : periods) {
    const bool still_on_air = !p.to && live;
    if (still_on_air) {
      p.to = std::max({p.from, now_offset, last_offset.value_or(p.from)});
    } else if (!p.to) {
      if (session_end && *session_end > p.from) {
        p.to = session_end;
      } else if (last_offset && *last_offset > p.from) {
        p.to = last_offset;
      } else {
        p.to = p.from + kDefaultPeriodMs;
      }
    }
    on_air_json.push_back({{"comment_id", p.comment_id},
                           {"from_ms", p.from},
                           {"to_ms", *p.to},
                           {"on_air_now", still_on_air},
                           {"author", utf8(p.author)},
                           {"text", utf8(p.text)},
                           {"dir", p.dir == "rtl" ? "rtl" : "ltr"}});
  }
  return json{{"session", session_json(s)},
              {"bucket_ms", kBucketMs},
              {"minutes", std::move(minutes)},
              {"on_air", std::move(on_air_json)},
              {"truncated", truncated}};
}

Result<json> top_impl(const std::string& db_path, int64_t session_id, int64_t limit) {
  if (limit < 1) limit = 1;
  if (limit > kTopMaxLimit) limit = kTopMaxLimit;
  auto reader = open_reader(db_path, kQueryBudgetMs);
  if (!reader) return reader.status();
  auto session = find_session(**reader, session_id);
  if (!session) return session.status();
  auto rows = (*reader)->top_comments(session_id, static_cast<size_t>(limit));
  if (!rows) return rows.status();
  json comments = json::array();
  for (const ArchiveListComment& c : *rows) comments.push_back(comment_json(c, *session));
  return json{{"comments", std::move(comments)}};
}

// Polls and answered questions are a handful of rows per session: each read
// whole, no cursor (decision_rows caps its list; the time budget covers both).
Result<json> outcomes_impl(const std::string& db_path, int64_t session_id) {
  auto reader = open_reader(db_path, kQueryBudgetMs);
  if (!reader) return reader.status();
  auto session = find_session(**reader, session_id);
  if (!session) return session.status();
  auto polls = (*reader)->polls(session_id);
  if (!polls) return polls.status();
  auto decisions = decision_rows((*reader)->handle(), session_id);
  if (!decisions) return decisions.status();
  json polls_json = json::array();
  for (const store::ArchivePoll& p : *polls) {
    json options = json::array();
    for (size_t i = 0; i < p.options.size(); ++i) {
      const int64_t votes = i < p.counts.size() ? p.counts[i] : 0;
      options.push_back({{"ar", utf8(p.options[i].first)},
                         {"en", utf8(p.options[i].second)},
                         {"votes", votes},
                         {"percent", store::poll_percent(votes, p.total)}});
    }
    polls_json.push_back({{"id", p.row.id},
                          {"question_ar", utf8(p.row.question_ar)},
                          {"question_en", utf8(p.row.question_en)},
                          {"status", utf8(p.row.status)},
                          {"results", utf8(p.row.results)},
                          {"multiple", p.row.multiple},
                          {"options", std::move(options)},
                          {"total", p.total},
                          {"opened_at_ms", opt(p.row.opened_at_ms)},
                          {"closed_at_ms", opt(p.row.closed_at_ms)}});
  }
  json decisions_json = json::array();
  for (const DecisionRow& d : *decisions) decisions_json.push_back(decision_json(d));
  return json{{"polls", std::move(polls_json)}, {"decisions", std::move(decisions_json)}};
}

template <class F>
Result<json> guarded(F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return Status::error("internal", std::string("archive query failed: ") + e.what());
  } catch (...) {
    return Status::error("internal", "archive query failed");
  }
}

}  // namespace

Result<json> session_summaries(const std::string& db_path) {
  return guarded([&] { return summaries_impl(db_path); });
}

Result<json> search_comments(const std::string& db_path, int64_t session_id, const std::string& query,
                             const std::string& status, const std::string& source, const std::string& author,
                             int64_t limit, int64_t offset) {
  return guarded([&] { return search_impl(db_path, session_id, query, status, source, author, limit, offset); });
}

Result<json> timeline(const std::string& db_path, int64_t session_id, int64_t now_ms) {
  return guarded([&] { return timeline_impl(db_path, session_id, now_ms); });
}

Result<json> top_comments(const std::string& db_path, int64_t session_id, int64_t limit) {
  return guarded([&] { return top_impl(db_path, session_id, limit); });
}

Result<json> outcomes(const std::string& db_path, int64_t session_id) {
  return guarded([&] { return outcomes_impl(db_path, session_id); });
}

std::vector<fs::path> recording_files(const std::string& db_path, int64_t session_id, size_t max_files) {
  try {
    auto all = scan_recordings(db_path, session_id, max_files);
    auto it = all.find(session_id);
    if (it == all.end()) return {};
    return std::move(it->second);
  } catch (...) {
    return {};
  }
}

}  // namespace sabla::archive
