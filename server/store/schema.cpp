// The whole database schema lives here and only here.
//
// To change the schema, APPEND a migration; never edit one that has shipped,
// because databases in the field have already applied it and record only the
// count (PRAGMA user_version). A migration that must rebuild a table with
// foreign keys needs PRAGMA foreign_keys=OFF, which SQLite ignores inside a
// transaction: give migrate() a way to run such a step outside one first.
#include "store/schema.h"

#include <string>

#include "store/store.h"

namespace sabla::store {
namespace schema {

namespace {

// Version 1. CHECK constraints only where a wrong value would corrupt a state
// machine (comment status, account role); free-form fields stay unconstrained
// so a new value from newer code does not turn into a lost write.
constexpr std::string_view kInitial = R"sql(
CREATE TABLE sessions (
  id            INTEGER PRIMARY KEY,
  title_ar      TEXT    NOT NULL DEFAULT '',
  title_en      TEXT    NOT NULL DEFAULT '',
  status        TEXT    NOT NULL DEFAULT 'scheduled',
  created_at_ms INTEGER NOT NULL,
  live_at_ms    INTEGER,
  ended_at_ms   INTEGER
);

-- The id is chosen by the caller (the net thread hands it out with the token),
-- so no AUTOINCREMENT.
CREATE TABLE viewers (
  id              INTEGER PRIMARY KEY,
  token_hash      TEXT    NOT NULL UNIQUE,
  display_name    TEXT    NOT NULL DEFAULT '',
  banned_until_ms INTEGER NOT NULL DEFAULT 0,
  last_ip         TEXT    NOT NULL DEFAULT '',
  created_at_ms   INTEGER NOT NULL
);

-- AUTOINCREMENT: comment ids go to clients and the archive, so an id must
-- never be handed out twice, even after rows are deleted.
CREATE TABLE comments (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id       INTEGER NOT NULL REFERENCES sessions(id),
  viewer_id        INTEGER,
  display_name     TEXT    NOT NULL DEFAULT '',
  text             TEXT    NOT NULL,
  lang             TEXT    NOT NULL DEFAULT '',
  direction        TEXT    NOT NULL DEFAULT 'ltr',
  source           TEXT    NOT NULL DEFAULT 'web',
  client_id        TEXT    NOT NULL DEFAULT '',
  external_id      TEXT    NOT NULL DEFAULT '',
  received_at_ms   INTEGER NOT NULL,
  stream_offset_ms INTEGER,
  status           TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'approved', 'rejected', 'hidden')),
  votes            INTEGER NOT NULL DEFAULT 0
);
-- Idempotency keys: partial, because '' means "no key" and must not collide.
CREATE UNIQUE INDEX comments_viewer_client ON comments(viewer_id, client_id)
  WHERE client_id != '';
CREATE UNIQUE INDEX comments_source_external ON comments(source, external_id)
  WHERE external_id != '';
CREATE INDEX comments_session ON comments(session_id, id);

CREATE TABLE votes (
  comment_id INTEGER NOT NULL REFERENCES comments(id),
  viewer_id  INTEGER NOT NULL,
  at_ms      INTEGER NOT NULL,
  PRIMARY KEY (comment_id, viewer_id)
) WITHOUT ROWID;

-- The audit log keeps plain ids (no foreign keys): it must outlive and never
-- block changes to the rows it describes.
CREATE TABLE moderation_events (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id  INTEGER,
  comment_id  INTEGER,
  viewer_id   INTEGER,
  action      TEXT    NOT NULL,
  actor       TEXT    NOT NULL DEFAULT '',
  reason      TEXT    NOT NULL DEFAULT '',
  before_text TEXT    NOT NULL DEFAULT '',
  after_text  TEXT    NOT NULL DEFAULT '',
  at_ms       INTEGER NOT NULL
);
CREATE INDEX moderation_events_session ON moderation_events(session_id, id);

CREATE TABLE ip_bans (
  ip       TEXT    PRIMARY KEY,
  until_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL UNIQUE,
  role          TEXT    NOT NULL CHECK (role IN ('moderator', 'producer', 'archivist')),
  password_hash TEXT    NOT NULL,
  created_at_ms INTEGER NOT NULL
);

CREATE TABLE api_tokens (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL,
  role          TEXT    NOT NULL,
  token_hash    TEXT    NOT NULL UNIQUE,
  created_at_ms INTEGER NOT NULL
);

CREATE TABLE auth_sessions (
  token_hash    TEXT    PRIMARY KEY,
  account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  expires_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
-- Without it, deleting an account scans every login to enforce the cascade.
CREATE INDEX auth_sessions_account ON auth_sessions(account_id);
)sql";

Status exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::ok();
  std::string message = err ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return Status::error("io", message);
}

void rollback(sqlite3* db) {
  if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

// PRAGMA foreign_key_check finds no violation (after a rebuild with the keys off).
Status foreign_keys_hold(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &stmt, nullptr) != SQLITE_OK)
    return Status::error("io", sqlite3_errmsg(db));
  const int rc = sqlite3_step(stmt);
  std::string table = rc == SQLITE_ROW && sqlite3_column_text(stmt, 0)
                          ? reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))
                          : "";
  sqlite3_finalize(stmt);
  if (rc == SQLITE_ROW) return Status::error("io", "foreign key violation in table " + table);
  if (rc != SQLITE_DONE) return Status::error("io", sqlite3_errmsg(db));
  return Status::ok();
}

Status too_new(int64_t found) {
  return Status::error("schema_too_new",
                       "database schema version " + std::to_string(found) +
                           " is newer than this build supports (" +
                           std::to_string(current_schema_version()) +
                           "); upgrade sabla or use a different database");
}

// Version 2. What was on screen when: one row per on-air change, with the
// stream offset so the archive can align it to the recording. The current
// state itself (to restore after a restart) is kept in settings under 'on_air'.
constexpr std::string_view kOnAirEvents = R"sql(
CREATE TABLE on_air_events (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id       INTEGER,
  at_ms            INTEGER NOT NULL,
  stream_offset_ms INTEGER,
  kind             TEXT    NOT NULL,
  comment_id       INTEGER,
  actor            TEXT    NOT NULL DEFAULT '',
  detail           TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX on_air_events_by_session ON on_air_events (session_id, at_ms);
)sql";

// Version 3. Indexes for the archive exports (store/archive_reader.cpp):
//  - per-comment lookups of the last decision and the first airing, so an
//    export page resolves them with index seeks instead of scans;
//  - time-ordered walks of a session's comments and moderation events, so
//    the NDJSON merge can page by (time, id) without sorting a whole session.
// The rowid is implicitly the last column of each index, which makes the
// (time, id) keyset pagination an index range scan.
constexpr std::string_view kArchiveIndexes = R"sql(
CREATE INDEX moderation_events_comment ON moderation_events (comment_id, id);
CREATE INDEX moderation_events_session_time ON moderation_events (session_id, at_ms);
CREATE INDEX on_air_events_comment ON on_air_events (comment_id, kind, at_ms);
CREATE INDEX comments_session_time ON comments (session_id, received_at_ms);
)sql";

// Version 4. Archive figures and retention per session:
//  - viewers_peak: the most viewers seen at once (the server raises it with
//    max(), so it only grows);
//  - retention_days: how long after its end the session's comments and
//    recordings are kept; NULL keeps them forever (`sabla archive prune`).
constexpr std::string_view kSessionArchive = R"sql(
ALTER TABLE sessions ADD COLUMN viewers_peak INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN retention_days INTEGER;
)sql";

// Version 5. From opinions to decisions: live polls, similar comments merged,
// management's outcomes.
//  - comments gain the status 'merged' (a near-duplicate folded into
//    merged_into; merged_from is the status it had, which unmerge restores).
//    A CHECK constraint cannot be changed in place, so the table is rebuilt
//    (SQLite's 12-step procedure, foreign keys off; see Migration) keeping
//    every id and the AUTOINCREMENT high-water mark.
//  - polls: a session's polls; options as JSON [{"ar","en"}]; opened_at /
//    closed_at are the first opening and the last closing (each change is
//    also in moderation_events).
//  - poll_votes: one ballot per viewer and poll (the last one counts),
//    options as a JSON array of indexes, the voter's address for the per-IP cap.
//  - outcomes: management's response to a comment, append-only (the newest
//    row per comment is the current one; history is never overwritten).
constexpr std::string_view kDecisions = R"sql(
CREATE TEMP TABLE v5_sequence AS SELECT seq FROM sqlite_sequence WHERE name = 'comments';
CREATE TABLE comments_v5 (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id       INTEGER NOT NULL REFERENCES sessions(id),
  viewer_id        INTEGER,
  display_name     TEXT    NOT NULL DEFAULT '',
  text             TEXT    NOT NULL,
  lang             TEXT    NOT NULL DEFAULT '',
  direction        TEXT    NOT NULL DEFAULT 'ltr',
  source           TEXT    NOT NULL DEFAULT 'web',
  client_id        TEXT    NOT NULL DEFAULT '',
  external_id      TEXT    NOT NULL DEFAULT '',
  received_at_ms   INTEGER NOT NULL,
  stream_offset_ms INTEGER,
  status           TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'approved', 'rejected', 'hidden', 'merged')),
  votes            INTEGER NOT NULL DEFAULT 0,
  merged_into      INTEGER,
  merged_from      TEXT    NOT NULL DEFAULT ''
);
INSERT INTO comments_v5 (id, session_id, viewer_id, display_name, text, lang, direction, source, client_id,
                         external_id, received_at_ms, stream_offset_ms, status, votes)
  SELECT id, session_id, viewer_id, display_name, text, lang, direction, source, client_id,
         external_id, received_at_ms, stream_offset_ms, status, votes FROM comments;
DROP TABLE comments;
ALTER TABLE comments_v5 RENAME TO comments;
UPDATE sqlite_sequence SET seq = max(seq, (SELECT seq FROM temp.v5_sequence))
  WHERE name = 'comments' AND EXISTS (SELECT 1 FROM temp.v5_sequence);
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'comments', seq FROM temp.v5_sequence
  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'comments');
DROP TABLE temp.v5_sequence;
CREATE UNIQUE INDEX comments_viewer_client ON comments(viewer_id, client_id) WHERE client_id != '';
CREATE UNIQUE INDEX comments_source_external ON comments(source, external_id) WHERE external_id != '';
CREATE INDEX comments_session ON comments(session_id, id);
CREATE INDEX comments_session_time ON comments (session_id, received_at_ms);
CREATE INDEX comments_merged_into ON comments (merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE polls (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id       INTEGER NOT NULL REFERENCES sessions(id),
  question_ar      TEXT    NOT NULL DEFAULT '',
  question_en      TEXT    NOT NULL DEFAULT '',
  options          TEXT    NOT NULL,
  multiple         INTEGER NOT NULL DEFAULT 0,
  max_choices      INTEGER NOT NULL DEFAULT 1,
  results          TEXT    NOT NULL DEFAULT 'live',
  status           TEXT    NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'open', 'closed')),
  created_by       TEXT    NOT NULL DEFAULT '',
  created_at_ms    INTEGER NOT NULL,
  opened_at_ms     INTEGER,
  opened_offset_ms INTEGER,
  closed_at_ms     INTEGER,
  closed_offset_ms INTEGER
);
CREATE INDEX polls_session ON polls (session_id, id);

CREATE TABLE poll_votes (
  poll_id   INTEGER NOT NULL REFERENCES polls(id),
  viewer_id INTEGER NOT NULL,
  options   TEXT    NOT NULL,
  ip        TEXT    NOT NULL DEFAULT '',
  at_ms     INTEGER NOT NULL,
  PRIMARY KEY (poll_id, viewer_id)
) WITHOUT ROWID;

CREATE TABLE outcomes (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  comment_id INTEGER NOT NULL REFERENCES comments(id),
  session_id INTEGER NOT NULL,
  status     TEXT    NOT NULL
             CHECK (status IN ('received', 'studying', 'accepted', 'implemented', 'declined')),
  note_ar    TEXT    NOT NULL DEFAULT '',
  note_en    TEXT    NOT NULL DEFAULT '',
  owner      TEXT    NOT NULL DEFAULT '',
  due        TEXT    NOT NULL DEFAULT '',
  actor      TEXT    NOT NULL DEFAULT '',
  at_ms      INTEGER NOT NULL
);
CREATE INDEX outcomes_comment ON outcomes (comment_id, id);
CREATE INDEX outcomes_session ON outcomes (session_id, id);
)sql";

// Version 6. When a scheduled session is meant to start (the producer's desk
// shows it; nothing starts by itself). NULL: no time set.
constexpr std::string_view kSessionSchedule = R"sql(
ALTER TABLE sessions ADD COLUMN scheduled_at_ms INTEGER;
)sql";

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      {"0001_initial", kInitial},
      {"0002_on_air_events", kOnAirEvents},
      {"0003_archive_indexes", kArchiveIndexes},
      {"0004_session_archive", kSessionArchive},
      {"0005_decisions", kDecisions, true},
      {"0006_session_schedule", kSessionSchedule},
  };
  return list;
}

Result<int64_t> read_user_version(sqlite3* db) { return pragma_int(db, "PRAGMA user_version"); }

Result<int64_t> pragma_int(sqlite3* db, const char* pragma) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, pragma, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return Status::error("io", sqlite3_errmsg(db));
  rc = sqlite3_step(stmt);
  Result<int64_t> out = Status::error("io", std::string(pragma) + " returned no row");
  if (rc == SQLITE_ROW) {
    out = static_cast<int64_t>(sqlite3_column_int64(stmt, 0));
  } else if (rc != SQLITE_DONE) {
    out = Status::error("io", sqlite3_errmsg(db));
  }
  sqlite3_finalize(stmt);
  return out;
}

namespace {

// Applies the migration at the database's version in one IMMEDIATE
// transaction (ok and nothing done when another process got there first).
Status apply_next(sqlite3* db, const std::vector<Migration>& list, int64_t target, bool check_foreign_keys) {
  // IMMEDIATE takes the write lock before re-reading the version, so two
  // processes opening the same new file cannot both apply a migration.
  if (Status s = exec(db, "BEGIN IMMEDIATE"); !s) return s;
  auto version = read_user_version(db);
  if (!version) {
    rollback(db);
    return version.status();
  }
  if (*version >= target) {
    rollback(db);
    return Status::ok();
  }
  const Migration& m = list[static_cast<size_t>(*version)];
  if (m.rebuilds_tables != check_foreign_keys) {
    // Another process moved the version on since the caller chose the
    // foreign-key setting: let it choose again.
    rollback(db);
    return Status::ok();
  }
  Status s = exec(db, std::string(m.sql));
  if (s && check_foreign_keys) s = foreign_keys_hold(db);
  if (s) s = exec(db, "PRAGMA user_version = " + std::to_string(*version + 1));
  if (s) s = exec(db, "COMMIT");
  if (!s) {
    rollback(db);
    return Status::error("io", "migration " + std::string(m.name) + " failed: " + s.message());
  }
  return Status::ok();
}

}  // namespace

Status migrate(sqlite3* db) {
  const auto& list = migrations();
  const auto target = static_cast<int64_t>(list.size());
  for (;;) {
    auto seen = read_user_version(db);
    if (!seen) return seen.status();
    if (*seen > target) return too_new(*seen);
    if (*seen == target) return Status::ok();

    // Foreign keys can only be switched outside a transaction; a rebuild
    // needs them off (DROP TABLE would otherwise delete-cascade-check).
    const bool rebuild = list[static_cast<size_t>(*seen)].rebuilds_tables;
    bool keys_were_on = false;
    if (rebuild) {
      auto on = pragma_int(db, "PRAGMA foreign_keys");
      if (!on) return on.status();
      keys_were_on = *on != 0;
      if (Status s = exec(db, "PRAGMA foreign_keys = OFF"); !s) return s;
    }
    Status s = apply_next(db, list, target, rebuild);
    if (rebuild && keys_were_on) {
      if (Status on = exec(db, "PRAGMA foreign_keys = ON"); !on && s) s = on;
    }
    if (!s) return s;
  }
}

}  // namespace schema

int64_t current_schema_version() {
  return static_cast<int64_t>(schema::migrations().size());
}

}  // namespace sabla::store
