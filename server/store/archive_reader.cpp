#include "store/archive_reader.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <unordered_map>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace sabla::store {

namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr int64_t kMinKey = std::numeric_limits<int64_t>::min();

Status sql_error(sqlite3* db, int rc, const std::string& what) {
  const int base = rc & 0xff;
  if (base == SQLITE_INTERRUPT) return Status::error("timeout", what + ": the archive query took too long");
  std::string code = (base == SQLITE_BUSY || base == SQLITE_LOCKED) ? "busy" : "io";
  return Status::error(std::move(code), what + ": sqlite: " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// SQLite progress handler: non-zero interrupts the running statement.
int deadline_passed(void* deadline_ns) {
  const int64_t at = *static_cast<const int64_t*>(deadline_ns);
  return at != 0 && steady_now_ns() > at ? 1 : 0;
}

std::string column_text(sqlite3_stmt* st, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
  if (!p) return {};
  // column_bytes after column_text: the length of the UTF-8 form, so text
  // holding NUL bytes comes through whole.
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(st, col)));
}

std::optional<int64_t> column_opt(sqlite3_stmt* st, int col) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(st, col);
}

// A prepared statement owned by one cursor, reset after every page so it
// never keeps a read transaction open between pages.
class Prepared {
 public:
  Prepared(sqlite3* db, const char* sql) : db_(db) {
    const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) {
      status_ = sql_error(db, rc, "prepare");
      stmt_ = nullptr;
    }
  }
  ~Prepared() { sqlite3_finalize(stmt_); }
  Prepared(const Prepared&) = delete;
  Prepared& operator=(const Prepared&) = delete;

  sqlite3_stmt* get() const { return stmt_; }
  const Status& status() const { return status_; }
  Status bind(int index, int64_t value) {
    const int rc = sqlite3_bind_int64(stmt_, index, value);
    return rc == SQLITE_OK ? Status::ok() : sql_error(db_, rc, "bind");
  }
  Status bind_text(int index, const std::string& value) {
    const int rc = sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    return rc == SQLITE_OK ? Status::ok() : sql_error(db_, rc, "bind");
  }
  // Steps; true on a row, false at the end or on error (*error set).
  bool step(Status* error) {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) *error = sql_error(db_, rc, "query");
    return false;
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  Status status_;
};

// Shared page loop: ?1 session, ?2 last id, ?3 limit, ?4 last time (only in
// the by-time statements; unused parameters are left NULL).
template <class Row, class ReadRow, class KeyOf>
Status fetch_page(Prepared& st, int64_t session_id, int64_t* last_id, int64_t* last_time, bool by_time,
                  size_t limit, std::vector<Row>* page, ReadRow read_row, KeyOf key_of) {
  if (!st.status()) return st.status();
  Status s = st.bind(1, session_id);
  if (s) s = st.bind(2, *last_id);
  if (s) s = st.bind(3, static_cast<int64_t>(limit));
  if (s && by_time) s = st.bind(4, *last_time);
  Status error;
  if (s) {
    while (st.step(&error)) {
      page->push_back(read_row(st.get()));
      const auto [time, id] = key_of(page->back());
      *last_time = time;
      *last_id = id;
    }
  }
  st.reset();
  if (!s) return s;
  return error;
}

// ---- comments ----

// The decision is the newest approve/reject/hide (or the automatic
// auto_approve/filter_reject) event of the comment; 'edit' and 'filter_hold'
// change no status. Both derived values are index seeks per row inside the
// one page query (moderation_events_comment, on_air_events_comment), not a
// query per row.
#define ARCHIVE_COMMENT_SELECT                                                                            \
  "SELECT c.id, c.session_id, c.viewer_id, c.display_name, c.text, c.lang, c.direction, c.source, "      \
  "c.client_id, c.external_id, c.received_at_ms, c.stream_offset_ms, c.status, c.votes, "                \
  "d.id, d.actor, d.at_ms, d.action, d.reason, fa.at_ms, fa.stream_offset_ms, "                          \
  "(SELECT e.before_text FROM moderation_events e WHERE e.comment_id = c.id AND e.action = 'edit' "      \
  "  ORDER BY e.id LIMIT 1) "                                                                            \
  "FROM comments c "                                                                                     \
  "LEFT JOIN moderation_events d ON d.id = (SELECT m.id FROM moderation_events m "                       \
  "  WHERE m.comment_id = c.id AND m.action IN ('approve', 'reject', 'hide', 'auto_approve', "           \
  "  'filter_reject') ORDER BY m.id DESC LIMIT 1) "                                                       \
  "LEFT JOIN on_air_events fa ON fa.id = (SELECT o.id FROM on_air_events o "                             \
  "  WHERE o.comment_id = c.id AND o.kind = 'aired' ORDER BY o.at_ms, o.id LIMIT 1) "

// Columns 0-13 of both comment SELECTs below, in the comments table's order.
void read_comment_columns(sqlite3_stmt* st, CommentRow& r) {
  r.id = sqlite3_column_int64(st, 0);
  r.session_id = sqlite3_column_int64(st, 1);
  r.viewer_id = column_opt(st, 2);
  r.display_name = column_text(st, 3);
  r.text = column_text(st, 4);
  r.lang = column_text(st, 5);
  r.direction = column_text(st, 6);
  r.source = column_text(st, 7);
  r.client_id = column_text(st, 8);
  r.external_id = column_text(st, 9);
  r.received_at_ms = sqlite3_column_int64(st, 10);
  r.stream_offset_ms = column_opt(st, 11);
  r.status = parse_comment_status(column_text(st, 12)).value_or(CommentStatus::pending);
  r.votes = sqlite3_column_int64(st, 13);
}

ArchiveComment read_archive_comment(sqlite3_stmt* st) {
  ArchiveComment a;
  read_comment_columns(st, a.row);
  a.decision_event_id = column_opt(st, 14);
  if (a.decision_event_id) {
    a.decided_by = column_text(st, 15);
    a.decided_at_ms = column_opt(st, 16);
    a.decision_action = column_text(st, 17);
    a.reason = column_text(st, 18);
  }
  a.first_aired_at_ms = column_opt(st, 19);
  a.first_aired_offset_ms = column_opt(st, 20);
  if (sqlite3_column_type(st, 21) != SQLITE_NULL) a.original_text = column_text(st, 21);
  return a;
}

class CommentCursor final : public ArchiveCursor<ArchiveComment> {
 public:
  CommentCursor(sqlite3* db, int64_t session_id, ArchiveOrder order, size_t page_rows)
      : ArchiveCursor(page_rows),
        by_time_(order == ArchiveOrder::by_time),
        session_id_(session_id),
        st_(db, by_time_ ? ARCHIVE_COMMENT_SELECT
                    "WHERE c.session_id = ?1 AND (c.received_at_ms, c.id) > (?4, ?2) "
                    "ORDER BY c.received_at_ms, c.id LIMIT ?3"
                         : ARCHIVE_COMMENT_SELECT
                    "WHERE c.session_id = ?1 AND c.id > ?2 ORDER BY c.id LIMIT ?3") {}

 protected:
  Status fetch(std::vector<ArchiveComment>* page) override {
    return fetch_page(st_, session_id_, &last_id_, &last_time_, by_time_, page_size_, page, read_archive_comment,
                      [](const ArchiveComment& a) { return std::pair(a.row.received_at_ms, a.row.id); });
  }

 private:
  bool by_time_;
  int64_t session_id_;
  int64_t last_id_ = kMinKey;
  int64_t last_time_ = kMinKey;
  Prepared st_;
};

// ---- moderation events ----

#define ARCHIVE_EVENT_SELECT \
  "SELECT id, session_id, comment_id, viewer_id, action, actor, reason, before_text, after_text, at_ms " \
  "FROM moderation_events "

ModerationEvent read_moderation_event(sqlite3_stmt* st) {
  ModerationEvent e;
  e.id = sqlite3_column_int64(st, 0);
  e.session_id = column_opt(st, 1);
  e.comment_id = column_opt(st, 2);
  e.viewer_id = column_opt(st, 3);
  e.action = column_text(st, 4);
  e.actor = column_text(st, 5);
  e.reason = column_text(st, 6);
  e.before_text = column_text(st, 7);
  e.after_text = column_text(st, 8);
  e.at_ms = sqlite3_column_int64(st, 9);
  return e;
}

class EventCursor final : public ArchiveCursor<ModerationEvent> {
 public:
  EventCursor(sqlite3* db, int64_t session_id, ArchiveOrder order, size_t page_rows)
      : ArchiveCursor(page_rows),
        by_time_(order == ArchiveOrder::by_time),
        session_id_(session_id),
        st_(db, by_time_ ? ARCHIVE_EVENT_SELECT
                    "WHERE session_id = ?1 AND (at_ms, id) > (?4, ?2) ORDER BY at_ms, id LIMIT ?3"
                         : ARCHIVE_EVENT_SELECT "WHERE session_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3") {}

 protected:
  Status fetch(std::vector<ModerationEvent>* page) override {
    return fetch_page(st_, session_id_, &last_id_, &last_time_, by_time_, page_size_, page, read_moderation_event,
                      [](const ModerationEvent& e) { return std::pair(e.at_ms, e.id); });
  }

 private:
  bool by_time_;
  int64_t session_id_;
  int64_t last_id_ = kMinKey;
  int64_t last_time_ = kMinKey;
  Prepared st_;
};

// ---- on-air events ----

ArchiveOnAirEvent read_on_air_event(sqlite3_stmt* st) {
  ArchiveOnAirEvent a;
  OnAirEventRow& r = a.row;
  r.id = sqlite3_column_int64(st, 0);
  r.session_id = column_opt(st, 1);
  r.at_ms = sqlite3_column_int64(st, 2);
  r.stream_offset_ms = column_opt(st, 3);
  r.kind = column_text(st, 4);
  r.comment_id = column_opt(st, 5);
  r.actor = column_text(st, 6);
  r.detail = column_text(st, 7);
  a.has_comment = sqlite3_column_type(st, 8) != SQLITE_NULL;
  a.author = column_text(st, 9);
  a.text = column_text(st, 10);
  a.direction = column_text(st, 11);
  return a;
}

class OnAirCursor final : public ArchiveCursor<ArchiveOnAirEvent> {
 public:
  OnAirCursor(sqlite3* db, int64_t session_id, size_t page_rows)
      : ArchiveCursor(page_rows),
        session_id_(session_id),
        st_(db,
            "SELECT o.id, o.session_id, o.at_ms, o.stream_offset_ms, o.kind, o.comment_id, o.actor, o.detail, "
            "c.id, c.display_name, c.text, c.direction "
            "FROM on_air_events o LEFT JOIN comments c ON c.id = o.comment_id "
            "WHERE o.session_id = ?1 AND (o.at_ms, o.id) > (?4, ?2) ORDER BY o.at_ms, o.id LIMIT ?3") {}

 protected:
  Status fetch(std::vector<ArchiveOnAirEvent>* page) override {
    return fetch_page(st_, session_id_, &last_id_, &last_time_, true, page_size_, page, read_on_air_event,
                      [](const ArchiveOnAirEvent& a) { return std::pair(a.row.at_ms, a.row.id); });
  }

 private:
  int64_t session_id_;
  int64_t last_id_ = kMinKey;
  int64_t last_time_ = kMinKey;
  Prepared st_;
};

// ---- archive page lists ----

#define ARCHIVE_LIST_SELECT                                                                                \
  "SELECT c.id, c.session_id, c.viewer_id, c.display_name, c.text, c.lang, c.direction, c.source, "      \
  "c.client_id, c.external_id, c.received_at_ms, c.stream_offset_ms, c.status, c.votes, "                \
  "EXISTS (SELECT 1 FROM on_air_events o WHERE o.comment_id = c.id AND o.kind = 'aired') "               \
  "FROM comments c "

ArchiveListComment read_list_comment(sqlite3_stmt* st) {
  ArchiveListComment a;
  read_comment_columns(st, a.row);
  a.aired = sqlite3_column_int64(st, 14) != 0;
  return a;
}

// Comments by id with optional status (?4) and source (?5) filters; NULL
// parameters match everything.
class ListCommentCursor final : public ArchiveCursor<ArchiveListComment> {
 public:
  ListCommentCursor(sqlite3* db, int64_t session_id, ArchiveCommentFilter filter, size_t page_rows)
      : ArchiveCursor(page_rows),
        session_id_(session_id),
        filter_(std::move(filter)),
        st_(db, ARCHIVE_LIST_SELECT
            "WHERE c.session_id = ?1 AND c.id > ?2 AND (?4 IS NULL OR c.status = ?4) "
            "AND (?5 IS NULL OR c.source = ?5) ORDER BY c.id LIMIT ?3") {}

 protected:
  Status fetch(std::vector<ArchiveListComment>* page) override {
    if (!st_.status()) return st_.status();
    Status s = st_.bind(1, session_id_);
    if (s) s = st_.bind(2, last_id_);
    if (s) s = st_.bind(3, static_cast<int64_t>(page_size_));
    if (s && filter_.status) s = st_.bind_text(4, std::string(to_string(*filter_.status)));
    if (s && !filter_.source.empty()) s = st_.bind_text(5, filter_.source);
    Status error;
    if (s) {
      while (st_.step(&error)) {
        page->push_back(read_list_comment(st_.get()));
        last_id_ = page->back().row.id;
      }
    }
    st_.reset();
    if (!s) return s;
    return error;
  }

 private:
  int64_t session_id_;
  ArchiveCommentFilter filter_;
  int64_t last_id_ = kMinKey;
  Prepared st_;
};

#undef ARCHIVE_COMMENT_SELECT
#undef ARCHIVE_EVENT_SELECT

Status open_connection(const std::string& path, int flags, sqlite3** out) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status s = Status::error(rc == SQLITE_CANTOPEN ? "not_found" : "io",
                             "cannot open " + path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close_v2(db);
    return s;
  }
  sqlite3_extended_result_codes(db, 1);
  // A server on the same file checkpoints and commits; wait for those
  // instead of failing at the first SQLITE_BUSY.
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  *out = db;
  return Status::ok();
}

Status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::ok();
  std::string message = err ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  const int base = rc & 0xff;
  return Status::error(base == SQLITE_BUSY || base == SQLITE_LOCKED ? "busy" : "io", "sqlite: " + message);
}

}  // namespace

// ---- ArchiveReader ----

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::open(const std::string& db_path) {
  try {
    sqlite3* db = nullptr;
    if (Status s = open_connection(db_path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, &db); !s) return s;
    std::unique_ptr<ArchiveReader> reader(new ArchiveReader());
    reader->db_ = db;
    // A file that is not a Sabla database (or not a database at all) fails
    // here with a clear message rather than at the first export query.
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sessions LIMIT 1", -1, &st, nullptr);
    if (rc == SQLITE_OK) {
      rc = sqlite3_step(st);
      if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    Status s = rc == SQLITE_OK ? Status::ok() : sql_error(db, rc, "not a sabla database (" + db_path + ")");
    sqlite3_finalize(st);
    if (!s) return s;
    return reader;
  } catch (const std::exception& e) {
    return Status::error("internal", e.what());
  }
}

ArchiveReader::~ArchiveReader() {
  if (db_) sqlite3_close_v2(db_);
}

Result<std::optional<SessionRow>> ArchiveReader::session(int64_t id) {
  try {
    Prepared st(db_,
                "SELECT id, title_ar, title_en, status, created_at_ms, live_at_ms, ended_at_ms FROM sessions "
                "WHERE id = ?1");
    if (!st.status()) return st.status();
    if (Status s = st.bind(1, id); !s) return s;
    Status error;
    std::optional<SessionRow> out;
    if (st.step(&error)) {
      SessionRow r;
      r.id = sqlite3_column_int64(st.get(), 0);
      r.title_ar = column_text(st.get(), 1);
      r.title_en = column_text(st.get(), 2);
      r.status = column_text(st.get(), 3);
      r.created_at_ms = sqlite3_column_int64(st.get(), 4);
      r.live_at_ms = column_opt(st.get(), 5);
      r.ended_at_ms = column_opt(st.get(), 6);
      out = std::move(r);
    }
    st.reset();
    if (!error) return error;
    return out;
  } catch (const std::exception& e) {
    return Status::error("internal", e.what());
  }
}

std::unique_ptr<ArchiveCursor<ArchiveComment>> ArchiveReader::comments(int64_t session_id, ArchiveOrder order,
                                                                       size_t page_rows) {
  try {
    return std::make_unique<CommentCursor>(db_, session_id, order, page_rows);
  } catch (...) {
    return nullptr;  // out of memory; documented in the header
  }
}

std::unique_ptr<ArchiveCursor<ModerationEvent>> ArchiveReader::moderation_events(int64_t session_id,
                                                                                 ArchiveOrder order,
                                                                                 size_t page_rows) {
  try {
    return std::make_unique<EventCursor>(db_, session_id, order, page_rows);
  } catch (...) {
    return nullptr;  // out of memory; documented in the header
  }
}

std::unique_ptr<ArchiveCursor<ArchiveOnAirEvent>> ArchiveReader::on_air_events(int64_t session_id,
                                                                               size_t page_rows) {
  try {
    return std::make_unique<OnAirCursor>(db_, session_id, page_rows);
  } catch (...) {
    return nullptr;  // out of memory; documented in the header
  }
}

void ArchiveReader::set_time_budget(int64_t budget_ms) {
  deadline_ns_ = budget_ms > 0 ? steady_now_ns() + budget_ms * 1'000'000 : 0;
  // Every ~1000 virtual machine steps: microseconds, so the check is cheap
  // and the overrun small.
  if (deadline_ns_ != 0) {
    sqlite3_progress_handler(db_, 1000, deadline_passed, &deadline_ns_);
  } else {
    sqlite3_progress_handler(db_, 0, nullptr, nullptr);
  }
}

bool ArchiveReader::out_of_time() const { return deadline_passed(const_cast<int64_t*>(&deadline_ns_)) != 0; }

bool ArchiveReader::sessions_has_column(const char* column) {
  Prepared st(db_, "SELECT 1 FROM pragma_table_info('sessions') WHERE name = ?1");
  if (!st.status()) return false;
  if (!st.bind_text(1, column)) return false;
  Status error;
  const bool found = st.step(&error);
  st.reset();
  return found;
}

Result<std::vector<SessionSummary>> ArchiveReader::session_summaries(size_t max_sessions) {
  try {
    const bool has_peak = sessions_has_column("viewers_peak");
    const bool has_retention = sessions_has_column("retention_days");
    std::vector<SessionSummary> out;
    std::unordered_map<int64_t, size_t> index;
    {
      const std::string sql = std::string("SELECT id, title_ar, title_en, status, created_at_ms, live_at_ms, ended_at_ms, ") +
                              (has_peak ? "viewers_peak" : "0") + ", " + (has_retention ? "retention_days" : "NULL") +
                              " FROM sessions ORDER BY id LIMIT ?1";
      Prepared st(db_, sql.c_str());
      if (!st.status()) return st.status();
      if (Status s = st.bind(1, static_cast<int64_t>(max_sessions)); !s) return s;
      Status error;
      while (st.step(&error)) {
        SessionSummary r;
        r.session.id = sqlite3_column_int64(st.get(), 0);
        r.session.title_ar = column_text(st.get(), 1);
        r.session.title_en = column_text(st.get(), 2);
        r.session.status = column_text(st.get(), 3);
        r.session.created_at_ms = sqlite3_column_int64(st.get(), 4);
        r.session.live_at_ms = column_opt(st.get(), 5);
        r.session.ended_at_ms = column_opt(st.get(), 6);
        r.viewers_peak = sqlite3_column_int64(st.get(), 7);
        r.retention_days = column_opt(st.get(), 8);
        index.emplace(r.session.id, out.size());
        out.push_back(std::move(r));
      }
      st.reset();
      if (!error) return error;
    }
    {
      // One pass in (session_id, id) index order; the grouping needs no sort.
      Prepared st(db_,
                  "SELECT session_id, count(*), sum(status = 'approved'), sum(status = 'rejected'), "
                  "sum(status = 'hidden'), sum(status = 'pending') FROM comments GROUP BY session_id");
      if (!st.status()) return st.status();
      Status error;
      while (st.step(&error)) {
        auto it = index.find(sqlite3_column_int64(st.get(), 0));
        if (it == index.end()) continue;
        SessionSummary& r = out[it->second];
        r.received = sqlite3_column_int64(st.get(), 1);
        r.approved = sqlite3_column_int64(st.get(), 2);
        r.rejected = sqlite3_column_int64(st.get(), 3);
        r.hidden = sqlite3_column_int64(st.get(), 4);
        r.pending = sqlite3_column_int64(st.get(), 5);
      }
      st.reset();
      if (!error) return error;
    }
    {
      // Where the comments came from (the web page, each bridge): the
      // archive counts by source beside its source filter.
      Prepared st(db_, "SELECT session_id, source, count(*) FROM comments GROUP BY session_id, source");
      if (!st.status()) return st.status();
      Status error;
      while (st.step(&error)) {
        auto it = index.find(sqlite3_column_int64(st.get(), 0));
        if (it != index.end())
          out[it->second].by_source.emplace_back(column_text(st.get(), 1), sqlite3_column_int64(st.get(), 2));
      }
      st.reset();
      if (!error) return error;
    }
    {
      Prepared st(db_,
                  "SELECT session_id, count(DISTINCT comment_id) FROM on_air_events "
                  "WHERE kind = 'aired' AND comment_id IS NOT NULL GROUP BY session_id");
      if (!st.status()) return st.status();
      Status error;
      while (st.step(&error)) {
        auto it = index.find(sqlite3_column_int64(st.get(), 0));
        if (it != index.end()) out[it->second].aired = sqlite3_column_int64(st.get(), 1);
      }
      st.reset();
      if (!error) return error;
    }
    return out;
  } catch (const std::exception& e) {
    return Status::error("internal", e.what());
  }
}

std::unique_ptr<ArchiveCursor<ArchiveListComment>> ArchiveReader::list_comments(int64_t session_id,
                                                                                const ArchiveCommentFilter& filter,
                                                                                size_t page_rows) {
  try {
    return std::make_unique<ListCommentCursor>(db_, session_id, filter, page_rows);
  } catch (...) {
    return nullptr;  // out of memory; documented in the header
  }
}

Result<std::vector<MinuteCounts>> ArchiveReader::comments_per_minute(const SessionRow& session, size_t max_buckets) {
  try {
    // floor division: SQLite's integer '/' truncates towards zero, which
    // would fold the minute before going live into minute 0.
    Prepared st(db_,
                "SELECT m, count(*), sum(status = 'approved'), sum(status = 'rejected'), sum(status = 'hidden'), "
                "sum(status = 'pending') FROM (SELECT status, "
                "  CASE WHEN x >= 0 THEN x / 60000 ELSE (x - 59999) / 60000 END AS m "
                "  FROM (SELECT status, coalesce(stream_offset_ms, received_at_ms - ?2) AS x "
                "        FROM comments WHERE session_id = ?1)) "
                "GROUP BY m ORDER BY m LIMIT ?3");
    if (!st.status()) return st.status();
    Status s = st.bind(1, session.id);
    if (s) s = st.bind(2, session.live_at_ms.value_or(session.created_at_ms));
    if (s) s = st.bind(3, static_cast<int64_t>(max_buckets));
    if (!s) return s;
    std::vector<MinuteCounts> out;
    Status error;
    while (st.step(&error)) {
      MinuteCounts m;
      m.minute = sqlite3_column_int64(st.get(), 0);
      m.received = sqlite3_column_int64(st.get(), 1);
      m.approved = sqlite3_column_int64(st.get(), 2);
      m.rejected = sqlite3_column_int64(st.get(), 3);
      m.hidden = sqlite3_column_int64(st.get(), 4);
      m.pending = sqlite3_column_int64(st.get(), 5);
      out.push_back(m);
    }
    st.reset();
    if (!error) return error;
    return out;
  } catch (const std::exception& e) {
    return Status::error("internal", e.what());
  }
}

Result<std::vector<ArchiveListComment>> ArchiveReader::top_comments(int64_t session_id, size_t limit) {
  try {
    // Only what viewers could see and vote on as a question: approved, not
    // rejected, hidden or still pending. A top-N sort: SQLite keeps only
    // `limit` rows while it scans.
    Prepared st(db_, ARCHIVE_LIST_SELECT
                "WHERE c.session_id = ?1 AND c.status = 'approved' ORDER BY c.votes DESC, c.id LIMIT ?2");
    if (!st.status()) return st.status();
    Status s = st.bind(1, session_id);
    if (s) s = st.bind(2, static_cast<int64_t>(limit));
    if (!s) return s;
    std::vector<ArchiveListComment> out;
    Status error;
    while (st.step(&error)) out.push_back(read_list_comment(st.get()));
    st.reset();
    if (!error) return error;
    return out;
  } catch (const std::exception& e) {
    return Status::error("internal", e.what());
  }
}

Result<std::vector<std::pair<int64_t, int64_t>>> ArchiveReader::merged_links(int64_t session_id) {
  try {
    std::vector<std::pair<int64_t, int64_t>> out;
    {
      Prepared has(db_, "SELECT 1 FROM pragma_table_info('comments') WHERE name = 'merged_into'");
      if (!has.status()) return has.status();
      Status error;
      const bool found = has.step(&error);
      has.reset();
      if (!error) return error;
      if (!found) return out;
    }
    Prepared st(db_,
                "SELECT id, merged_into FROM comments WHERE session_id = ?1 AND merged_into IS NOT NULL "
                "AND status = 'merged' ORDER BY id");
    if (!st.status()) return st.status();
    if (Status s = st.bind(1, session_id); !s) return s;
    Status error;
    while (st.step(&error)) out.emplace_back(sqlite3_column_int64(st.get(), 0), sqlite3_column_int64(st.get(), 1));
    st.reset();
    if (!error) return error;
    return out;
  } catch (const std::exception& e) {
    return Status::error("internal", e.what());
  }
}

Result<std::vector<ArchivePoll>> ArchiveReader::polls(int64_t session_id) {
  try {
    std::vector<ArchivePoll> out;
    {
      Prepared has(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'polls'");
      if (!has.status()) return has.status();
      Status error;
      const bool found = has.step(&error);
      has.reset();
      if (!error) return error;
      if (!found) return out;
    }
    std::unordered_map<int64_t, size_t> index;
    {
      Prepared st(db_,
                  "SELECT id, session_id, question_ar, question_en, options, multiple, max_choices, results, status, "
                  "created_by, created_at_ms, opened_at_ms, opened_offset_ms, closed_at_ms, closed_offset_ms, "
                  "(SELECT count(*) FROM poll_votes v WHERE v.poll_id = polls.id) "
                  "FROM polls WHERE session_id = ?1 ORDER BY id");
      if (!st.status()) return st.status();
      if (Status s = st.bind(1, session_id); !s) return s;
      Status error;
      while (st.step(&error)) {
        sqlite3_stmt* q = st.get();
        auto text = [q](int c) {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(q, c));
          return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(q, c))) : std::string();
        };
        auto opt = [q](int c) -> std::optional<int64_t> {
          if (sqlite3_column_type(q, c) == SQLITE_NULL) return std::nullopt;
          return sqlite3_column_int64(q, c);
        };
        ArchivePoll p;
        p.row.id = sqlite3_column_int64(q, 0);
        p.row.session_id = sqlite3_column_int64(q, 1);
        p.row.question_ar = text(2);
        p.row.question_en = text(3);
        p.row.options = text(4);
        p.row.multiple = sqlite3_column_int64(q, 5) != 0;
        p.row.max_choices = sqlite3_column_int64(q, 6);
        p.row.results = text(7);
        p.row.status = text(8);
        p.row.created_by = text(9);
        p.row.created_at_ms = sqlite3_column_int64(q, 10);
        p.row.opened_at_ms = opt(11);
        p.row.opened_offset_ms = opt(12);
        p.row.closed_at_ms = opt(13);
        p.row.closed_offset_ms = opt(14);
        p.total = sqlite3_column_int64(q, 15);
        nlohmann::json options = nlohmann::json::parse(p.row.options, nullptr, false);
        if (options.is_array()) {
          for (const auto& o : options) {
            std::string ar, en;
            if (o.is_object()) {
              if (auto a = o.find("ar"); a != o.end() && a->is_string()) ar = a->get<std::string>();
              if (auto e = o.find("en"); e != o.end() && e->is_string()) en = e->get<std::string>();
            }
            p.options.emplace_back(std::move(ar), std::move(en));
          }
        }
        p.counts.assign(p.options.size(), 0);
        index[p.row.id] = out.size();
        out.push_back(std::move(p));
      }
      st.reset();
      if (!error) return error;
    }
    // One grouped pass over the session's ballots: votes per option index.
    Prepared st(db_,
                "SELECT v.poll_id, CAST(j.value AS INTEGER), count(*) FROM poll_votes v JOIN polls p ON p.id = v.poll_id, "
                "json_each(v.options) j WHERE p.session_id = ?1 AND json_valid(v.options) GROUP BY 1, 2");
    if (!st.status()) return st.status();
    if (Status s = st.bind(1, session_id); !s) return s;
    Status error;
    while (st.step(&error)) {
      auto it = index.find(sqlite3_column_int64(st.get(), 0));
      const int64_t option = sqlite3_column_int64(st.get(), 1);
      if (it == index.end()) continue;
      auto& counts = out[it->second].counts;
      if (option >= 0 && option < static_cast<int64_t>(counts.size()))
        counts[static_cast<size_t>(option)] = sqlite3_column_int64(st.get(), 2);
    }
    st.reset();
    if (!error) return error;
    return out;
  } catch (const std::exception& e) {
    return Status::error("internal", e.what());
  }
}

// ---- Retention ----

namespace {

// Owns a read-write connection for prune; rolls back on scope exit if a
// transaction is still open (an error path).
class WriteConnection {
 public:
  ~WriteConnection() {
    if (db_) {
      if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close_v2(db_);
    }
  }
  sqlite3** slot() { return &db_; }
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

// Runs one statement with int64 parameters; returns sqlite3_changes() (or
// the first column of the first row when `want_value`).
Result<int64_t> run(sqlite3* db, const char* sql, std::initializer_list<int64_t> params, bool want_value = false) {
  Prepared st(db, sql);
  if (!st.status()) return st.status();
  int i = 0;
  for (int64_t p : params) {
    if (Status s = st.bind(++i, p); !s) return s;
  }
  Status error;
  int64_t value = 0;
  while (st.step(&error)) {
    if (want_value && sqlite3_column_type(st.get(), 0) != SQLITE_NULL) value = sqlite3_column_int64(st.get(), 0);
  }
  st.reset();
  if (!error) return error;
  return want_value ? value : static_cast<int64_t>(sqlite3_changes(db));
}

struct PruneCounts {
  int64_t comments = 0;
  int64_t votes = 0;
  int64_t moderation_events = 0;
  int64_t on_air_events = 0;
  bool empty() const { return comments == 0 && votes == 0 && moderation_events == 0 && on_air_events == 0; }
};

Result<PruneCounts> count_session(sqlite3* db, int64_t session_id) {
  PruneCounts c;
  auto n = run(db, "SELECT count(*) FROM comments WHERE session_id = ?1", {session_id}, true);
  if (!n) return n.status();
  c.comments = *n;
  n = run(db,
          "SELECT count(*) FROM votes WHERE comment_id IN (SELECT id FROM comments WHERE session_id = ?1)",
          {session_id}, true);
  if (!n) return n.status();
  c.votes = *n;
  n = run(db, "SELECT count(*) FROM moderation_events WHERE session_id = ?1 AND action != 'prune'", {session_id},
          true);
  if (!n) return n.status();
  c.moderation_events = *n;
  n = run(db, "SELECT count(*) FROM on_air_events WHERE session_id = ?1", {session_id}, true);
  if (!n) return n.status();
  c.on_air_events = *n;
  return c;
}

Status record_prune(sqlite3* db, int64_t session_id, const PruneCounts& planned, int64_t cutoff_ms,
                    int64_t now_ms, const std::string& actor, std::optional<int64_t> retention_days) {
  nlohmann::ordered_json detail = {{"comments", planned.comments},
                                   {"votes", planned.votes},
                                   {"moderation_events", planned.moderation_events},
                                   {"on_air_events", planned.on_air_events},
                                   {"cutoff_ms", cutoff_ms}};
  if (retention_days) detail["retention_days"] = *retention_days;
  const std::string after = detail.dump();
  const std::string reason = retention_days ? "retention: kept " + std::to_string(*retention_days) +
                                                  " day(s) after the session ended"
                                            : "retention: session ended before the cut-off";
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db,
                              "INSERT INTO moderation_events (session_id, action, actor, reason, after_text, at_ms) "
                              "VALUES (?1, 'prune', ?2, ?3, ?4, ?5)",
                              -1, &st, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, session_id);
    sqlite3_bind_text(st, 2, actor.c_str(), static_cast<int>(actor.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, reason.c_str(), static_cast<int>(reason.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, after.c_str(), static_cast<int>(after.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, now_ms);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  Status s = rc == SQLITE_OK ? Status::ok() : sql_error(db, rc, "record prune");
  sqlite3_finalize(st);
  return s;
}

// One short write transaction: up to `batch` comments (with their votes and
// any audit/on-air rows pointing at them), then up to `batch` of the
// session's remaining audit and on-air rows. Adds what it deleted to *done;
// returns whether anything was deleted.
Result<bool> prune_batch(sqlite3* db, int64_t session_id, int64_t batch, int64_t* last_comment_id,
                         PruneCounts* done) {
  auto hi = run(db,
                "SELECT coalesce(max(id), ?2) FROM (SELECT id FROM comments WHERE session_id = ?1 AND id > ?2 "
                "ORDER BY id LIMIT ?3)",
                {session_id, *last_comment_id, batch}, true);
  if (!hi) return hi.status();
  bool any = false;
  if (*hi > *last_comment_id) {
    const int64_t lo = *last_comment_id;
    // Children first: votes reference comments (foreign key).
    auto n = run(db,
                 "DELETE FROM votes WHERE comment_id IN (SELECT id FROM comments WHERE session_id = ?1 "
                 "AND id > ?2 AND id <= ?3)",
                 {session_id, lo, *hi});
    if (!n) return n.status();
    done->votes += *n;
    n = run(db,
            "DELETE FROM moderation_events WHERE action != 'prune' AND comment_id IN (SELECT id FROM comments "
            "WHERE session_id = ?1 AND id > ?2 AND id <= ?3)",
            {session_id, lo, *hi});
    if (!n) return n.status();
    done->moderation_events += *n;
    n = run(db,
            "DELETE FROM on_air_events WHERE comment_id IN (SELECT id FROM comments WHERE session_id = ?1 "
            "AND id > ?2 AND id <= ?3)",
            {session_id, lo, *hi});
    if (!n) return n.status();
    done->on_air_events += *n;
    n = run(db, "DELETE FROM comments WHERE session_id = ?1 AND id > ?2 AND id <= ?3", {session_id, lo, *hi});
    if (!n) return n.status();
    done->comments += *n;
    *last_comment_id = *hi;
    any = true;
  }
  auto n = run(db,
               "DELETE FROM moderation_events WHERE id IN (SELECT id FROM moderation_events WHERE session_id = ?1 "
               "AND action != 'prune' ORDER BY id LIMIT ?2)",
               {session_id, batch});
  if (!n) return n.status();
  done->moderation_events += *n;
  any = any || *n > 0;
  n = run(db,
          "DELETE FROM on_air_events WHERE id IN (SELECT id FROM on_air_events WHERE session_id = ?1 "
          "ORDER BY id LIMIT ?2)",
          {session_id, batch});
  if (!n) return n.status();
  done->on_air_events += *n;
  any = any || *n > 0;
  return any;
}

bool has_retention_column(sqlite3* db) {
  Prepared st(db, "SELECT 1 FROM pragma_table_info('sessions') WHERE name = 'retention_days'");
  if (!st.status()) return false;
  Status error;
  const bool found = st.step(&error);
  st.reset();
  return found;
}

constexpr int64_t kDayMs = 86'400'000;
// Keeps ended_at + days * 1 day far from int64 overflow (about 2.7 million years).
constexpr int64_t kMaxRetentionDays = 1'000'000'000;

// cutoff_ms set: every ended session that ended before it. Unset: every
// ended session whose own retention_days has passed by now_ms.
Result<std::vector<PruneReport>> prune_impl(const std::string& db_path, std::optional<int64_t> cutoff_ms,
                                            int64_t now_ms, const std::string& actor, size_t batch_rows) {
  WriteConnection conn;
  if (Status s = open_connection(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, conn.slot()); !s) return s;
  sqlite3* db = conn.get();
  if (Status s = exec(db, "PRAGMA foreign_keys = ON"); !s) return s;

  std::vector<PruneReport> sessions;
  if (!cutoff_ms && !has_retention_column(db)) return sessions;  // nothing can have a retention yet
  {
    Prepared st(db, cutoff_ms ? "SELECT id, title_ar, title_en, ended_at_ms, NULL FROM sessions "
                                "WHERE status = 'ended' AND ended_at_ms IS NOT NULL AND ended_at_ms < ?1 ORDER BY id"
                              : "SELECT id, title_ar, title_en, ended_at_ms, retention_days FROM sessions "
                                "WHERE status = 'ended' AND ended_at_ms IS NOT NULL AND retention_days IS NOT NULL "
                                "AND retention_days >= 0 AND retention_days <= ?2 "
                                "AND ended_at_ms + retention_days * ?3 <= ?1 ORDER BY id");
    if (!st.status()) return st.status();
    Status s = st.bind(1, cutoff_ms.value_or(now_ms));
    if (s && !cutoff_ms) s = st.bind(2, kMaxRetentionDays);
    if (s && !cutoff_ms) s = st.bind(3, kDayMs);
    if (!s) return s;
    Status error;
    while (st.step(&error)) {
      PruneReport r;
      r.session_id = sqlite3_column_int64(st.get(), 0);
      r.title_ar = column_text(st.get(), 1);
      r.title_en = column_text(st.get(), 2);
      r.ended_at_ms = sqlite3_column_int64(st.get(), 3);
      r.retention_days = column_opt(st.get(), 4);
      sessions.push_back(std::move(r));
    }
    st.reset();
    if (!error) return error;
  }

  const auto batch = static_cast<int64_t>(batch_rows < 1 ? 1 : batch_rows);
  std::vector<PruneReport> reports;
  for (PruneReport& report : sessions) {
    auto planned = count_session(db, report.session_id);
    if (!planned) return planned.status();
    if (planned->empty()) continue;
    PruneCounts done;
    int64_t last_comment_id = kMinKey;
    bool first = true;
    for (;;) {
      // IMMEDIATE takes the write lock up front (waiting up to busy_timeout
      // behind the server's writer) instead of failing on upgrade mid-way.
      if (Status s = exec(db, "BEGIN IMMEDIATE"); !s) return s;
      if (first) {
        // The trace goes in with the first deletion, so no row can vanish
        // without the audit log saying so, even if prune is interrupted.
        const int64_t cutoff =
            cutoff_ms ? *cutoff_ms : now_ms - report.retention_days.value_or(0) * kDayMs;
        if (Status s = record_prune(db, report.session_id, *planned, cutoff, now_ms, actor, report.retention_days);
            !s) {
          return s;
        }
        first = false;
      }
      auto any = prune_batch(db, report.session_id, batch, &last_comment_id, &done);
      if (!any) return any.status();  // ~WriteConnection rolls back
      if (Status s = exec(db, "COMMIT"); !s) return s;
      if (!*any) break;
    }
    report.comments = done.comments;
    report.votes = done.votes;
    report.moderation_events = done.moderation_events;
    report.on_air_events = done.on_air_events;
    reports.push_back(report);
  }
  return reports;
}

}  // namespace

Result<std::vector<PruneReport>> prune_ended_sessions(const std::string& db_path, int64_t cutoff_ms, int64_t now_ms,
                                                      const std::string& actor, size_t batch_rows) {
  try {
    return prune_impl(db_path, cutoff_ms, now_ms, actor, batch_rows);
  } catch (const std::exception& e) {
    return Status::error("internal", std::string("prune failed: ") + e.what());
  } catch (...) {
    return Status::error("internal", "prune failed");
  }
}

Status record_recordings_prune(const std::string& db_path, int64_t session_id, const std::vector<std::string>& names,
                               int64_t now_ms, const std::string& actor) {
  try {
    WriteConnection conn;
    if (Status s = open_connection(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, conn.slot()); !s) return s;
    nlohmann::json list = nlohmann::json::array();
    for (const std::string& n : names) list.push_back(n);
    const std::string after = nlohmann::json{{"recordings", list}}.dump(-1, ' ', false,
                                                                         nlohmann::json::error_handler_t::replace);
    const std::string reason = "retention: recording files deleted";
    Prepared st(conn.get(),
                "INSERT INTO moderation_events (session_id, action, actor, reason, after_text, at_ms) "
                "VALUES (?1, 'prune', ?2, ?3, ?4, ?5)");
    if (!st.status()) return st.status();
    Status s = st.bind(1, session_id);
    if (s) s = st.bind_text(2, actor);
    if (s) s = st.bind_text(3, reason);
    if (s) s = st.bind_text(4, after);
    if (s) s = st.bind(5, now_ms);
    Status error;
    if (s) st.step(&error);
    st.reset();
    if (!s) return s;
    return error;
  } catch (const std::exception& e) {
    return Status::error("internal", std::string("record prune failed: ") + e.what());
  }
}

Result<std::vector<PruneReport>> prune_expired_sessions(const std::string& db_path, int64_t now_ms,
                                                        const std::string& actor, size_t batch_rows) {
  try {
    return prune_impl(db_path, std::nullopt, now_ms, actor, batch_rows);
  } catch (const std::exception& e) {
    return Status::error("internal", std::string("prune failed: ") + e.what());
  } catch (...) {
    return Status::error("internal", "prune failed");
  }
}

#undef ARCHIVE_LIST_SELECT

}  // namespace sabla::store
