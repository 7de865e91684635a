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
#include <utility>
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

// A poll with its counts (from the ballots: the last one per viewer).
struct ArchivePoll {
  PollRow row;
  std::vector<std::pair<std::string, std::string>> options;  // (ar, en)
  std::vector<int64_t> counts;                               // per option
  int64_t total = 0;                                         // ballots
};

// An option's whole percent of the ballots, rounded half up (0 without
// ballots). Of the ballots, not the votes: a multiple-choice poll may pass
// 100 in sum. The exports and the report show the same figure.
constexpr int64_t poll_percent(int64_t votes, int64_t total) {
  return total > 0 ? (votes * 100 + total / 2) / total : 0;
}

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

// ---- Archive page queries (server/archive/queries.h builds their JSON) ----

// One session with the figures the archive lists.
struct SessionSummary {
  SessionRow session;
  int64_t viewers_peak = 0;                 // 0 on a database without the column
  std::optional<int64_t> retention_days;    // nullopt: keep forever
  int64_t received = 0;                     // every stored comment
  int64_t approved = 0;
  int64_t rejected = 0;
  int64_t hidden = 0;
  int64_t pending = 0;
  int64_t aired = 0;                        // distinct comments with an 'aired' on-air event
  std::vector<std::pair<std::string, int64_t>> by_source;  // stored comments per source ("web", a bridge's name)
};

// A comment as the archive page lists it.
struct ArchiveListComment {
  CommentRow row;
  bool aired = false;  // has at least one 'aired' on-air event
};

// SQL-side filters of a comment walk (text matching is done in C++ on
// normalised forms, see archive/queries.cpp).
struct ArchiveCommentFilter {
  std::optional<CommentStatus> status;
  std::string source;  // "" = any
};

// Comments per minute of stream offset. `minute` is floor(offset / 60 s)
// (negative before the session went live).
struct MinuteCounts {
  int64_t minute = 0;
  int64_t received = 0;
  int64_t approved = 0;
  int64_t rejected = 0;
  int64_t hidden = 0;
  int64_t pending = 0;
};

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

  // Every session (by id, at most `max_sessions`) with its counts: one
  // grouped pass over the comments and one over the aired events.
  Result<std::vector<SessionSummary>> session_summaries(size_t max_sessions = 10000);

  // The session's comments in id order, filtered by status/source in SQL,
  // each with its aired flag (an index seek per row).
  std::unique_ptr<ArchiveCursor<ArchiveListComment>> list_comments(int64_t session_id,
                                                                   const ArchiveCommentFilter& filter,
                                                                   size_t page_rows = 500);

  // Per minute of stream offset (the stored offset, else received time
  // minus live_at, else minus created_at), ascending; at most `max_buckets`
  // minutes (the earliest ones).
  Result<std::vector<MinuteCounts>> comments_per_minute(const SessionRow& session, size_t max_buckets = 20000);

  // The session's approved comments with the most votes (ties: earlier id
  // first); rejected, hidden and pending ones are never listed.
  Result<std::vector<ArchiveListComment>> top_comments(int64_t session_id, size_t limit);

  // (comment, merged into) of the session's merged comments, by comment id
  // (empty for a database from before migration 5).
  Result<std::vector<std::pair<int64_t, int64_t>>> merged_links(int64_t session_id);

  // The session's polls by id with their counts (a few rows each; empty for
  // a database from before migration 5).
  Result<std::vector<ArchivePoll>> polls(int64_t session_id);

  // Makes every query on this reader fail with code "timeout" once
  // `budget_ms` from now have passed (0 lifts the limit). Queries check it
  // while they run (an SQLite progress handler), so a slow aggregate is
  // cut short instead of holding an HTTP worker.
  void set_time_budget(int64_t budget_ms);
  bool out_of_time() const;

  // Whether the sessions table has `column` (databases written before a
  // migration are read as they are: the reader never migrates).
  bool sessions_has_column(const char* column);

  sqlite3* handle() const { return db_; }

 private:
  ArchiveReader() = default;
  sqlite3* db_ = nullptr;
  int64_t deadline_ns_ = 0;  // steady clock; 0 = none
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
  std::optional<int64_t> retention_days;  // set by prune_expired_sessions
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

// Per-session retention: prunes (as above, same batches and 'prune' audit
// record) every ended session whose own retention_days is set and has passed
// since it ended (ended_at_ms + retention_days * 1 day <= now_ms). Sessions
// kept forever (retention_days NULL) are never touched. A database from
// before the retention column has nothing to prune.
// Records in the audit log (a 'prune' moderation event of the session,
// after_text {"recordings":[names]}) that recording files of the session
// are about to be deleted. Called before deleting them, so no file can
// vanish without a trace.
Status record_recordings_prune(const std::string& db_path, int64_t session_id, const std::vector<std::string>& names,
                               int64_t now_ms, const std::string& actor);

Result<std::vector<PruneReport>> prune_expired_sessions(const std::string& db_path, int64_t now_ms,
                                                        const std::string& actor, size_t batch_rows = 2000);

}  // namespace sabla::store
