// Read side of the archive: the SQL behind exports, kept next to the store
// so the schema and the queries that depend on it change together.
//
// An ArchiveReader owns its own read-only connection to the database file
// (never the Store's), so an export can run in the CLI or an HTTP handler
// while a server writes to the same file: WAL readers never block the
// writer, and busy_timeout covers the brief checkpoint locks.
//
// Cursors page through a session: each page is one short query bounded by
// LIMIT and keyed on the last row seen (`WHERE (key) > (?) ORDER BY key
// LIMIT ?`), so no query holds a read snapshot between pages (the WAL can
// checkpoint while a slow HTTP client downloads) and at most one page of
// rows is in memory per cursor. Pages are not one snapshot: rows written
// during an export may or may not appear, which is fine for the sessions
// archivists export (ended ones).
//
// Not thread-safe: a reader and its cursors belong to one thread. Cursors
// must not outlive their reader.
#pragma once
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sabla::store {

// One comment with what the archive derives from the audit and on-air logs.
struct ArchiveComment {
  CommentRow row;
  // The last decision (approve, reject, hide, auto_approve, filter_reject):
  // who, when, and the reason given (empty when none).
  std::optional<int64_t> decision_event_id;
  std::string decided_by;
  std::optional<int64_t> decided_at_ms;
  std::string decision_action;
  std::string reason;
  // The text before its first edit (the text as received); nullopt when
  // the comment was never edited.
  std::optional<std::string> original_text;
  // The first on-air event of kind 'aired' for the comment.
  std::optional<int64_t> first_aired_at_ms;
  std::optional<int64_t> first_aired_offset_ms;
};

// An on-air event, with the aired comment's author and (final) text joined
// in so captions need no per-row lookup.
struct ArchiveOnAirEvent {
  OnAirEventRow row;
  std::string author;
  std::string text;
  std::string direction;
  bool has_comment = false;  // the comment row still exists
};

// Order of a walk through a session's rows.
enum class ArchiveOrder {
  by_id,    // insertion order (comments, audit log)
  by_time,  // (time, id): received_at_ms for comments, at_ms for events
};

// Forward-only paged cursor. next() returns the next row, fetching a new
// page when the current one is used up; nullptr at the end or on error
// (then status() says which).
template <class Row>
class ArchiveCursor {
 public:
  virtual ~ArchiveCursor() = default;
  const Row* next() {
    if (pos_ >= page_.size()) {
      if (done_ || !status_) return nullptr;
      page_.clear();
      pos_ = 0;
      // fetch() may allocate; no exception leaves a public call.
      try {
        status_ = fetch(&page_);
      } catch (const std::exception& e) {
        status_ = Status::error("internal", std::string("archive read failed: ") + e.what());
      } catch (...) {
        status_ = Status::error("internal", "archive read failed");
      }
      if (page_.size() > peak_) peak_ = page_.size();
      if (!status_ || page_.size() < page_size_) done_ = true;
      if (page_.empty()) return nullptr;
    }
    return &page_[pos_++];
  }
  // The next row without consuming it (nullptr at the end or on error).
  const Row* peek() {
    const Row* r = next();
    if (r) --pos_;
    return r;
  }
  const Status& status() const { return status_; }
  // Most rows ever buffered at once (tests check it never exceeds a page).
  size_t peak_buffered() const { return peak_; }

 protected:
  explicit ArchiveCursor(size_t page_size) : page_size_(page_size < 1 ? 1 : page_size) {}
  // Appends the next page (at most page_size_ rows) after the last row seen.
  virtual Status fetch(std::vector<Row>* page) = 0;
  size_t page_size_;

 private:
  std::vector<Row> page_;
  size_t pos_ = 0;
  size_t peak_ = 0;
  bool done_ = false;
  Status status_;
};

constexpr size_t kArchivePageRows = 1000;

class ArchiveReader {
 public:
  // Opens `db_path` read-only (SQLITE_OPEN_READONLY; the file must exist and
  // carry the schema). Never creates or migrates anything.
  static Result<std::unique_ptr<ArchiveReader>> open(const std::string& db_path);
  ~ArchiveReader();
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;

  // nullopt when there is no such session.
  Result<std::optional<SessionRow>> session(int64_t id);

  // Cursors over one session (nullptr only when out of memory). A cursor
  // whose query cannot be prepared reports it through status().
  std::unique_ptr<ArchiveCursor<ArchiveComment>> comments(int64_t session_id, ArchiveOrder order,
                                                          size_t page_rows = kArchivePageRows);
  std::unique_ptr<ArchiveCursor<ModerationEvent>> moderation_events(int64_t session_id, ArchiveOrder order,
                                                                    size_t page_rows = kArchivePageRows);
  // Always in (at_ms, id) order: captions and the NDJSON merge need time order.
  std::unique_ptr<ArchiveCursor<ArchiveOnAirEvent>> on_air_events(int64_t session_id,
                                                                   size_t page_rows = kArchivePageRows);

  sqlite3* handle() const { return db_; }

 private:
  ArchiveReader() = default;
  sqlite3* db_ = nullptr;
};

// ---- Retention ----

struct PruneReport {
  int64_t session_id = 0;
  std::string title_ar;
  std::string title_en;
  int64_t ended_at_ms = 0;
  int64_t comments = 0;
  int64_t votes = 0;
  int64_t moderation_events = 0;
  int64_t on_air_events = 0;
};

// Deletes the comments, votes, moderation events and on-air events of every
// session that ended before `cutoff_ms` (status 'ended', ended_at_ms <
// cutoff); the session rows themselves stay, so the archive still lists
// them. Per session, the first deleting transaction also records a
// moderation event with action 'prune' (actor `actor`, the planned counts in
// after_text as JSON) so the audit log keeps a trace whenever anything was
// removed; earlier 'prune' events are kept.
//
// Safe beside a running server on the same file: its own read-write
// connection with busy_timeout, and deletion in small transactions
// (`batch_rows` comments at a time) so the server's writer is never held up
// for long. Sessions with nothing left to delete are skipped (no report, no
// event), which makes a repeated prune a no-op.
Result<std::vector<PruneReport>> prune_ended_sessions(const std::string& db_path, int64_t cutoff_ms,
                                                      int64_t now_ms, const std::string& actor,
                                                      size_t batch_rows = 2000);

}  // namespace sabla::store
