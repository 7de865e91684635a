// The public decisions register: what the public asked in a session and
// what management answered (issue 13). No login; the HTTP layer maps
//
//   GET /api/v1/public/sessions                  -> public_sessions
//   GET /api/v1/public/sessions/{id}/decisions   -> public_decisions
//
// and the exporter's decisions formats read decision_rows().
//
// Only what the public saw: approved comments (never pending, rejected,
// hidden or merged ones) that have an outcome; a merged comment counts as
// one more asker of the comment it was folded into, its votes add to it.
// Authors are the display names shown on air. Each call opens its own
// read-only connection with a time budget, like archive/queries.h.
//
// public_sessions: {"sessions":[{"id","title_ar","title_en","status",
//   "live_at_ms","ended_at_ms","decisions"}]}  (sessions that went live, by id)
// public_decisions: {"session":{"id","title_ar","title_en","status",
//   "live_at_ms","ended_at_ms"},"decisions":[DECISION...]} by comment id;
//   DECISION: {"id","text","author","dir","lang","askers","votes","status",
//   "note_ar","note_en","owner","due","updated_at_ms",
//   "history":[{"status","at_ms"}]} (history oldest first).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

struct sqlite3;

namespace sabla::archive {

struct DecisionRow {
  int64_t comment_id = 0;
  std::string text, author, direction, lang;
  int64_t askers = 1;  // the comment's author and those of the comments merged into it
  int64_t votes = 0;   // its votes and those of the comments merged into it
  std::string status, note_ar, note_en, owner, due;
  int64_t updated_at_ms = 0;
  std::vector<std::pair<std::string, int64_t>> history;  // (status, at_ms), oldest first
  std::optional<int64_t> stream_offset_ms;
};

// The session's decisions (see above) on an open read-only connection; an
// empty list for a database from before migration 5.
Result<std::vector<DecisionRow>> decision_rows(sqlite3* db, int64_t session_id);

// DECISION as above; the decision report (archive/queries.h) lists the same.
nlohmann::json decision_json(const DecisionRow& d);

Result<nlohmann::json> public_sessions(const std::string& db_path);
Result<nlohmann::json> public_decisions(const std::string& db_path, int64_t session_id);

}  // namespace sabla::archive
