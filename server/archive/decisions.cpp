// The public decisions register (decisions.h): a few grouped queries on a
// read-only connection. Runs on the HTTP reader worker or the CLI thread.
#include "archive/decisions.h"

#include <sqlite3.h>

#include <unordered_map>

#include "moderation/text.h"
#include "store/archive_reader.h"

namespace sabla::archive {

using nlohmann::json;

namespace {

constexpr int64_t kBudgetMs = 5000;
constexpr int64_t kMaxDecisions = 5000;

// Stored bytes that are not UTF-8 (a hand-edited file) become U+FFFD.
std::string utf8(std::string_view s) {
  if (moderation::is_valid_utf8(s)) return std::string(s);
  const std::string quoted = json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
  return json::parse(quoted).get<std::string>();
}

std::string column(sqlite3_stmt* st, int c) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
  return p ? utf8(std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(st, c)))) : std::string();
}

json opt(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

class Query {
 public:
  Query(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK) {
      status_ = Status::error("io", sqlite3_errmsg(db));
      st_ = nullptr;
    }
  }
  ~Query() { sqlite3_finalize(st_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  const Status& status() const { return status_; }
  sqlite3_stmt* get() const { return st_; }
  void bind(int i, int64_t v) {
    if (st_) sqlite3_bind_int64(st_, i, v);
  }
  bool step() {
    if (!st_ || !status_) return false;
    const int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) status_ = Status::error(rc == SQLITE_INTERRUPT ? "timeout" : "io", sqlite3_errmsg(db_));
    return false;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  Status status_;
};

bool has_outcomes(sqlite3* db, Status* status) {
  Query q(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outcomes'");
  const bool found = q.step();
  *status = q.status();
  return found;
}

json session_head(const store::SessionRow& s) {
  return json{{"id", s.id},
              {"title_ar", utf8(s.title_ar)},
              {"title_en", utf8(s.title_en)},
              {"status", utf8(s.status)},
              {"live_at_ms", opt(s.live_at_ms)},
              {"ended_at_ms", opt(s.ended_at_ms)}};
}

template <class F>
Result<json> guarded(F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return Status::error("internal", std::string("decisions query failed: ") + e.what());
  } catch (...) {
    return Status::error("internal", "decisions query failed");
  }
}

}  // namespace

Result<std::vector<DecisionRow>> decision_rows(sqlite3* db, int64_t session_id) {
  std::vector<DecisionRow> out;
  Status status;
  if (!has_outcomes(db, &status)) {
    if (!status) return status;
    return out;
  }
  std::unordered_map<int64_t, size_t> index;
  {
    // The newest outcome of each approved comment, with the comments merged into it.
    Query q(db,
            "SELECT c.id, c.text, c.display_name, c.direction, c.lang, c.votes, c.stream_offset_ms, "
            "o.status, o.note_ar, o.note_en, o.owner, o.due, o.at_ms, "
            "(SELECT count(*) FROM comments m WHERE m.merged_into = c.id AND m.status = 'merged'), "
            "(SELECT coalesce(sum(m.votes), 0) FROM comments m WHERE m.merged_into = c.id AND m.status = 'merged') "
            "FROM comments c JOIN outcomes o ON o.id = (SELECT max(x.id) FROM outcomes x WHERE x.comment_id = c.id) "
            "WHERE c.session_id = ?1 AND c.status = 'approved' ORDER BY c.id LIMIT ?2");
    q.bind(1, session_id);
    q.bind(2, kMaxDecisions);
    while (q.step()) {
      sqlite3_stmt* st = q.get();
      DecisionRow d;
      d.comment_id = sqlite3_column_int64(st, 0);
      d.text = column(st, 1);
      d.author = column(st, 2);
      d.direction = column(st, 3) == "rtl" ? "rtl" : "ltr";
      d.lang = column(st, 4);
      if (sqlite3_column_type(st, 6) != SQLITE_NULL) d.stream_offset_ms = sqlite3_column_int64(st, 6);
      d.status = column(st, 7);
      d.note_ar = column(st, 8);
      d.note_en = column(st, 9);
      d.owner = column(st, 10);
      d.due = column(st, 11);
      d.updated_at_ms = sqlite3_column_int64(st, 12);
      d.askers = 1 + sqlite3_column_int64(st, 13);
      d.votes = sqlite3_column_int64(st, 5) + sqlite3_column_int64(st, 14);
      index[d.comment_id] = out.size();
      out.push_back(std::move(d));
    }
    if (!q.status()) return q.status();
  }
  Query h(db,
          "SELECT o.comment_id, o.status, o.at_ms FROM outcomes o JOIN comments c ON c.id = o.comment_id "
          "WHERE o.session_id = ?1 AND c.status = 'approved' ORDER BY o.id");
  h.bind(1, session_id);
  while (h.step()) {
    auto it = index.find(sqlite3_column_int64(h.get(), 0));
    if (it != index.end()) out[it->second].history.emplace_back(column(h.get(), 1), sqlite3_column_int64(h.get(), 2));
  }
  if (!h.status()) return h.status();
  return out;
}

json decision_json(const DecisionRow& d) {
  json history = json::array();
  for (const auto& [status, at] : d.history) history.push_back(json{{"status", status}, {"at_ms", at}});
  return json{{"id", d.comment_id},
              {"text", d.text},
              {"author", d.author},
              {"dir", d.direction},
              {"lang", d.lang},
              {"askers", d.askers},
              {"votes", d.votes},
              {"status", d.status},
              {"note_ar", d.note_ar},
              {"note_en", d.note_en},
              {"owner", d.owner},
              {"due", d.due},
              {"updated_at_ms", d.updated_at_ms},
              {"history", std::move(history)}};
}

Result<json> public_sessions(const std::string& db_path) {
  return guarded([&]() -> Result<json> {
    auto reader = store::ArchiveReader::open(db_path);
    if (!reader) return reader.status();
    (*reader)->set_time_budget(kBudgetMs);
    sqlite3* db = (*reader)->handle();
    Status status;
    const bool outcomes = has_outcomes(db, &status);
    if (!status) return status;
    Query q(db, outcomes ? "SELECT s.id, s.title_ar, s.title_en, s.status, s.live_at_ms, s.ended_at_ms, "
                           "(SELECT count(DISTINCT o.comment_id) FROM outcomes o JOIN comments c ON c.id = o.comment_id "
                           " WHERE o.session_id = s.id AND c.status = 'approved') "
                           "FROM sessions s WHERE s.live_at_ms IS NOT NULL ORDER BY s.id LIMIT 10000"
                         : "SELECT id, title_ar, title_en, status, live_at_ms, ended_at_ms, 0 FROM sessions "
                           "WHERE live_at_ms IS NOT NULL ORDER BY id LIMIT 10000");
    json sessions = json::array();
    while (q.step()) {
      sqlite3_stmt* st = q.get();
      auto o = [st](int c) -> json {
        return sqlite3_column_type(st, c) == SQLITE_NULL ? json(nullptr) : json(sqlite3_column_int64(st, c));
      };
      sessions.push_back(json{{"id", sqlite3_column_int64(st, 0)},
                              {"title_ar", column(st, 1)},
                              {"title_en", column(st, 2)},
                              {"status", column(st, 3)},
                              {"live_at_ms", o(4)},
                              {"ended_at_ms", o(5)},
                              {"decisions", sqlite3_column_int64(st, 6)}});
    }
    if (!q.status()) return q.status();
    return json{{"sessions", std::move(sessions)}};
  });
}

Result<json> public_decisions(const std::string& db_path, int64_t session_id) {
  return guarded([&]() -> Result<json> {
    auto reader = store::ArchiveReader::open(db_path);
    if (!reader) return reader.status();
    (*reader)->set_time_budget(kBudgetMs);
    auto session = (*reader)->session(session_id);
    if (!session) return session.status();
    // A session never live is nobody's business yet.
    if (!*session || !(*session)->live_at_ms) return Status::error("not_found", "no such session");
    auto rows = decision_rows((*reader)->handle(), session_id);
    if (!rows) return rows.status();
    json decisions = json::array();
    for (const auto& d : *rows) decisions.push_back(decision_json(d));
    return json{{"session", session_head(**session)}, {"decisions", std::move(decisions)}};
  });
}

}  // namespace sabla::archive
