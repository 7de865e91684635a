// Internal to the store: the row mapping. Each table's column list (a macro,
// so SQL literals can splice it) stays beside the reader that depends on its
// order; the keys of the settings table's documents.
#pragma once
#include "store/sqlite.h"
#include "store/store.h"

namespace sabla::store {

#define SESSION_COLUMNS \
  "id, title_ar, title_en, status, created_at_ms, live_at_ms, ended_at_ms, scheduled_at_ms"
SessionRow read_session(const Stmt& s);

#define COMMENT_COLUMNS                                                                     \
  "id, session_id, viewer_id, display_name, text, lang, direction, source, client_id, " \
  "external_id, received_at_ms, stream_offset_ms, status, votes, merged_into, merged_from"
CommentRow read_comment(const Stmt& s);

#define VIEWER_COLUMNS "id, token_hash, display_name, banned_until_ms, last_ip, created_at_ms"
ViewerRow read_viewer(const Stmt& s);

#define EVENT_COLUMNS \
  "id, session_id, comment_id, viewer_id, action, actor, reason, before_text, after_text, at_ms"
ModerationEvent read_event(const Stmt& s);
// Appends `e` to the audit log (inside the caller's transaction).
Status insert_event(Db& db, const ModerationEvent& e);

#define ACCOUNT_COLUMNS "id, name, role, password_hash, created_at_ms"
AccountRow read_account(const Stmt& s);

#define API_TOKEN_COLUMNS "id, name, role, token_hash, created_at_ms"
ApiTokenRow read_api_token(const Stmt& s);

// polls.cpp: the polls of unended sessions (and `current_session`) with
// their ballots, read inside load_state()'s transaction.
Status read_live_polls(Db& db, std::optional<int64_t> current_session, LoadedState& state);

// outcomes.cpp: the newest outcome of each comment with an author.
Status read_author_outcomes(Db& db, LoadedState& state);

// Keys of the settings table's documents.
constexpr const char* kSettingsKey = "moderation";
constexpr const char* kOnAirKey = "on_air";

}  // namespace sabla::store
