// The store: SQLite in WAL mode, one writer thread with group commit, and a
// read connection for start-up load, logins and listings.
//
// Threads:
//  - Write methods may be called from one owner thread (the net thread) or,
//    in CLI tools, the main thread. They enqueue an operation to the writer
//    and return at once; the callback runs on the owner thread (through the
//    Poster given to open()) only after the transaction holding the
//    operation has COMMITTED. That is what makes an ack durable.
//  - The writer thread drains the bounded queue, runs up to max_batch
//    operations (or what arrives within max_batch_delay_ms) in one
//    transaction, commits, then posts every completion.
//  - Read methods run on the caller's thread on a separate read-only
//    connection (WAL: readers never block the writer), serialised by
//    read_mutex_.
// With Options::threaded = false there is no writer thread: each write runs
// and commits in the caller's thread and its callback is posted at once (unit
// tests and CLI commands).
//
// Sources:
//   store.cpp   open/close, back-pressure, metrics, flush
//   writer.cpp  the writer thread and batches (Store::Impl, writer.h)
//   writes.cpp  the live session's writes; reads.cpp its reads
//   auth.cpp    accounts, API tokens, login sessions (writes and reads)
//   polls.cpp   live polls and ballots (writes and reads); merges.cpp merge/unmerge
//   outcomes.cpp the decisions register (writes and reads)
//   rows.cpp    column lists and row readers; sqlite.cpp the SQLite plumbing
//   schema.cpp  every migration; archive_reader.cpp the export's paged cursors
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "config/config.h"

namespace sabla::store {

// merged: folded into a similar comment (merged_into); unmerge restores merged_from.
enum class CommentStatus { pending, approved, rejected, hidden, merged };
std::string_view to_string(CommentStatus s);
std::optional<CommentStatus> parse_comment_status(std::string_view s);

struct SessionRow {
  int64_t id = 0;
  std::string title_ar;
  std::string title_en;
  std::string status = "scheduled";  // scheduled | live | ended
  int64_t created_at_ms = 0;
  std::optional<int64_t> live_at_ms;
  std::optional<int64_t> ended_at_ms;
  std::optional<int64_t> scheduled_at_ms;  // planned start, informative only
};

struct CommentRow {
  int64_t id = 0;  // assigned by the store
  int64_t session_id = 0;
  std::optional<int64_t> viewer_id;  // empty for bridge comments
  std::string display_name;
  std::string text;               // sanitized text as received (or as edited)
  std::string lang;               // "ar", "en" or "" when unknown
  std::string direction = "ltr";  // "rtl" | "ltr"
  std::string source = "web";     // "web" or a bridge name
  std::string client_id;          // viewer's idempotency key ("" for bridges)
  std::string external_id;        // bridge's idempotency key ("" for web)
  int64_t received_at_ms = 0;     // server receive time, UTC ms
  std::optional<int64_t> stream_offset_ms;
  CommentStatus status = CommentStatus::pending;
  int64_t votes = 0;
  std::optional<int64_t> merged_into;  // status merged: the comment it was folded into
  std::string merged_from;             // status merged: the status it had before
};

struct InsertedComment {
  int64_t id = 0;
  CommentStatus status = CommentStatus::pending;
  // True when (viewer_id, client_id) or (source, external_id) was already
  // stored: nothing new was written and id/status are the stored row's.
  bool existed = false;
};

struct ViewerRow {
  int64_t id = 0;
  std::string token_hash;  // hex SHA-256 of the viewer's token
  std::string display_name;
  int64_t banned_until_ms = 0;
  std::string last_ip;
  int64_t created_at_ms = 0;
};

struct IpBan {
  std::string ip;
  int64_t until_ms = 0;
};

// One row of the audit log.
struct ModerationEvent {
  int64_t id = 0;
  std::optional<int64_t> session_id;
  std::optional<int64_t> comment_id;
  std::optional<int64_t> viewer_id;
  std::string action;  // received_auto, approve, reject, edit, hide, ban, unban, settings, filter_hold, filter_reject
  std::string actor;   // account name, "system" or "token:<name>"
  std::string reason;
  std::string before_text;
  std::string after_text;
  int64_t at_ms = 0;
};

// A moderator's decision on one comment: status (and maybe text) change plus
// its audit row, written in one transaction.
struct Decision {
  int64_t comment_id = 0;
  CommentStatus new_status = CommentStatus::pending;
  std::optional<std::string> new_text;  // set by "edit"
  ModerationEvent event;
};

// A merge (`into` set) or an unmerge of one comment, with its audit row
// (action and reason are filled in by the store).
struct MergeChange {
  int64_t comment_id = 0;
  std::optional<int64_t> into;
  ModerationEvent event;
};

// One on-air change (aired, replaced, cleared, lower_third, ticker, theme...).
struct OnAirEventRow {
  int64_t id = 0;
  std::optional<int64_t> session_id;
  int64_t at_ms = 0;
  std::optional<int64_t> stream_offset_ms;
  std::string kind;
  std::optional<int64_t> comment_id;
  std::string actor;
  std::string detail = "{}";  // JSON text
};

struct AccountRow {
  int64_t id = 0;
  std::string name;
  std::string role;           // moderator | producer | archivist
  std::string password_hash;  // libsodium crypto_pwhash_str
  int64_t created_at_ms = 0;
};

struct ApiTokenRow {
  int64_t id = 0;
  std::string name;
  std::string role;
  std::string token_hash;  // hex SHA-256 of the token
  int64_t created_at_ms = 0;
};

struct AuthSessionRow {
  std::string token_hash;  // hex SHA-256 of the cookie value
  int64_t account_id = 0;
  int64_t expires_at_ms = 0;
};

// A live poll as stored (migration 5). `options` is JSON text [{"ar","en"}].
struct PollRow {
  int64_t id = 0;  // assigned by the store
  int64_t session_id = 0;
  std::string question_ar, question_en;
  std::string options = "[]";
  bool multiple = false;
  int64_t max_choices = 1;
  std::string results = "live";  // live | after_close | hidden
  std::string status = "draft";  // draft | open | closed
  std::string created_by;
  int64_t created_at_ms = 0;
  std::optional<int64_t> opened_at_ms, opened_offset_ms;  // first opening
  std::optional<int64_t> closed_at_ms, closed_offset_ms;  // last closing
};

// One viewer's ballot in a poll (the last one counts); `options` is JSON
// text, a list of option indexes.
struct PollBallotRow {
  int64_t poll_id = 0;
  int64_t viewer_id = 0;
  std::string options = "[]";
  std::string ip;
  int64_t at_ms = 0;
};

// Management's response to an approved comment (the decisions register).
// Append-only: the newest row per comment is its current outcome.
struct OutcomeRow {
  int64_t id = 0;          // assigned by the store
  int64_t comment_id = 0;
  int64_t session_id = 0;  // the comment's (filled in by the store)
  std::string status;      // received | studying | accepted | implemented | declined
  std::string note_ar, note_en, owner;
  std::string due;         // YYYY-MM-DD or ""
  std::string actor;
  int64_t at_ms = 0;
  std::optional<int64_t> viewer_id;  // the comment's author (filled in by the store)
};

// What the net thread needs at start: everything of the current session.
struct LoadedState {
  std::vector<SessionRow> sessions;           // all sessions, by id
  std::vector<CommentRow> comments;           // all comments of `current_session_id`, by id
  std::vector<std::pair<int64_t, int64_t>> votes;  // (comment_id, viewer_id) of those comments
  std::vector<ViewerRow> viewers;             // every stored viewer
  std::vector<IpBan> ip_bans;                 // every stored IP ban (the caller checks expiry)
  nlohmann::json settings = nlohmann::json::object();  // last saved moderation settings
  nlohmann::json on_air;                      // last saved on-air state (null when none)
  std::optional<int64_t> current_session_id;  // the live session, else none
  // Polls of every session that has not ended (a survey may run before its
  // session goes live), with their ballots.
  std::vector<PollRow> polls;
  std::vector<PollBallotRow> poll_ballots;
  // The newest outcome of every comment that has a viewer as its author.
  std::vector<OutcomeRow> author_outcomes;
};

struct StoreMetrics {
  uint64_t transactions = 0;  // committed transactions
  uint64_t operations = 0;    // operations committed
  uint64_t failed_transactions = 0;
  uint64_t largest_batch = 0;
  double last_commit_ms = 0;  // duration of the latest COMMIT
  double max_commit_ms = 0;
  uint64_t queue_length = 0;
};

using Task = std::function<void()>;
// Runs a task on the owner thread (net thread, or inline in tests/CLI).
using Poster = std::function<void(Task)>;

class Store {
 public:
  struct Options {
    std::string path;                // SQLite file; ":memory:" is refused in threaded mode
    bool synchronous_full = false;   // PRAGMA synchronous=FULL instead of NORMAL
    size_t max_batch = 256;          // operations per transaction at most
    int max_batch_delay_ms = 2;      // how long the writer waits to fill a batch
    size_t queue_capacity = 16384;   // bounded hand-off queue
    int wal_autocheckpoint = 1000;   // PRAGMA wal_autocheckpoint (pages; SQLite's default)
    bool threaded = true;
  };

  // The [store] part of the configuration (threaded).
  static Options options_from(const Config& config);

  // Opens (creating if needed) the database, applies migrations, starts the writer.
  static Result<std::unique_ptr<Store>> open(const Options& options, Poster post_completion);
  ~Store();  // finishes queued operations, stops the writer, closes connections
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- Writes (owner thread) ----
  // Each returns false, doing nothing, when the queue is full (back-pressure).
  bool can_accept(size_t n = 1) const;
  bool insert_comment(CommentRow row, std::optional<ModerationEvent> event,
                      std::function<void(Result<InsertedComment>)> done);
  bool apply_decision(Decision decision, std::function<void(Status)> done);
  // Adds one vote once per viewer; returns the comment's vote count, and
  // whether this call added it.
  // Merges a comment into another of its session (both pending or approved,
  // the comment not itself the head of a group) or unmerges it; returns its
  // new status. not_found, invalid or conflict when the rule is broken.
  bool merge_comment(MergeChange change, std::function<void(Result<CommentStatus>)> done);
  bool add_vote(int64_t comment_id, int64_t viewer_id,
                std::function<void(Result<std::pair<int64_t, bool>>)> done);
  bool save_viewer(ViewerRow viewer, std::function<void(Status)> done);
  bool set_ip_ban(IpBan ban, std::function<void(Status)> done);  // until_ms 0 lifts it
  bool record_event(ModerationEvent event, std::function<void(Status)> done);
  bool save_settings(nlohmann::json settings, std::optional<ModerationEvent> event,
                     std::function<void(Status)> done);
  // Writes the events and the whole on-air state (for restarts) in one transaction.
  bool record_on_air(std::vector<OnAirEventRow> events, nlohmann::json saved_state,
                     std::function<void(Status)> done);
  bool create_session(SessionRow session, std::function<void(Result<SessionRow>)> done);
  // Status changes only (status, live_at_ms, ended_at_ms): the titles and the
  // schedule are rename_session's, so a go-live in flight cannot undo a rename.
  bool update_session(SessionRow session, std::function<void(Status)> done);
  // The titles and the planned start; not_found when there is no such session.
  bool rename_session(int64_t session_id, std::string title_ar, std::string title_en,
                      std::optional<int64_t> scheduled_at_ms, std::function<void(Status)> done);
  // Raises the session's viewers_peak to `peak` if higher (never lowers it).
  // not_found when there is no such session.
  bool record_viewers_peak(int64_t session_id, int64_t peak, std::function<void(Status)> done);
  // Keeps the session's comments and recordings `days` days after it ended
  // (nullopt: forever, the default); `sabla archive prune` applies it.
  // invalid for a negative count, not_found when there is no such session.
  bool set_retention(int64_t session_id, std::optional<int64_t> days, std::function<void(Status)> done);
  bool create_account(AccountRow account, std::function<void(Result<AccountRow>)> done);
  bool create_api_token(ApiTokenRow token, std::function<void(Result<ApiTokenRow>)> done);
  bool save_auth_session(AuthSessionRow session, std::function<void(Status)> done);
  bool delete_auth_session(std::string token_hash, std::function<void(Status)> done);
  // Polls (polls.cpp). Each change is written with its audit row in one
  // transaction; the event's session is the poll's.
  bool create_poll(PollRow poll, ModerationEvent event, std::function<void(Result<PollRow>)> done);
  // Status and the opened/closed times; not_found when there is no such poll.
  bool update_poll(PollRow poll, ModerationEvent event, std::function<void(Status)> done);
  // Drafts only: conflict when the poll was opened, not_found when unknown.
  bool delete_poll(int64_t poll_id, ModerationEvent event, std::function<void(Status)> done);
  // Replaces the viewer's earlier ballot in the poll.
  bool save_poll_ballot(PollBallotRow ballot, std::function<void(Status)> done);
  // Appends an outcome to an approved comment (any session) with an
  // "outcome" audit row holding it; not_found, or conflict when the comment
  // is not approved. Returns the row with id, session and author filled in.
  bool record_outcome(OutcomeRow outcome, std::function<void(Result<OutcomeRow>)> done);
  // Writes nothing: `done` runs once every operation queued before it has
  // committed (or failed). The cluster main acknowledges a Redis entry with
  // it only after what the entry caused is on disk.
  bool after_commit(std::function<void(Status)> done);

  // ---- Reads (any thread; never block the writer) ----
  Result<LoadedState> load_state();
  Result<std::vector<SessionRow>> list_sessions();
  Result<std::optional<AccountRow>> find_account(std::string_view name);
  Result<std::optional<AccountRow>> find_account_by_id(int64_t id);
  Result<int64_t> count_accounts();
  // Every account's name (the studio users viewers must not impersonate).
  Result<std::vector<std::string>> account_names();
  Result<std::optional<ApiTokenRow>> find_api_token(std::string_view token_hash);
  Result<std::optional<AuthSessionRow>> find_auth_session(std::string_view token_hash);
  Result<std::vector<CommentRow>> comments_of_session(int64_t session_id);
  Result<std::vector<ModerationEvent>> moderation_events(int64_t session_id);
  Result<std::vector<OnAirEventRow>> on_air_events(int64_t session_id);
  Result<int64_t> schema_version();
  // A session's polls by id, and their ballots (the export counts them).
  Result<std::vector<PollRow>> polls_of_session(int64_t session_id);
  Result<std::vector<PollBallotRow>> poll_ballots_of_session(int64_t session_id);
  // Every outcome recorded for a comment, oldest first.
  Result<std::vector<OutcomeRow>> outcome_history(int64_t comment_id);

  StoreMetrics metrics() const;
  // Blocks until every operation queued so far has committed and its
  // completion was posted (tests and shutdown).
  void flush();

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The schema version the code expects (the number of migrations).
int64_t current_schema_version();

}  // namespace sabla::store
