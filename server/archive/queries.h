// What the archive page (static/archive.html) and the decision report
// (static/report.html) ask for, as JSON documents. The HTTP layer maps
//
//   GET /api/v1/archive/sessions                     -> session_summaries
//   GET /api/v1/archive/sessions/{id}/comments?...   -> search_comments
//   GET /api/v1/archive/sessions/{id}/timeline       -> timeline
//   GET /api/v1/archive/sessions/{id}/top?limit=N    -> top_comments
//   GET /api/v1/archive/sessions/{id}/outcomes       -> outcomes
//
// Each call opens its own read-only connection (store/archive_reader.h), so
// it runs on any thread beside a server writing the same file, and each is
// bounded: memory by a page of rows or a capped result, time by a budget
// after which it fails with code "timeout" (search instead returns what it
// found with "more":true, "partial":true). Errors: "not_found" (no such
// session or database), "invalid" (a bad argument), "timeout", "io", "busy",
// "internal". Nothing throws. Every string in the returned JSON is valid
// UTF-8 (stored bytes that are not become U+FFFD), so dump() cannot throw.
//
// Shapes (times are UTC ms, offsets ms since the session went live; null
// when unknown):
//
// session_summaries:
//   {"sessions":[{"id","title_ar","title_en","status","created_at_ms",
//     "live_at_ms","ended_at_ms","duration_ms","viewers_peak",
//     "retention_days" (null = keep forever),"received","approved",
//     "rejected","hidden","pending","aired",
//     "recordings":[{"name","bytes"}]}]}     (by id, newest last)
//   recordings: files named session-<id>-* in the "recordings" folder next
//   to the database (the data directory), by name.
//
// COMMENT (search and top):
//   {"id","received_at_ms","stream_offset_ms","author","source","text",
//    "status","votes","aired","dir","lang"}
//   stream_offset_ms: the stored offset, else received_at_ms - live_at_ms.
//
// search_comments: {"comments":[COMMENT...],"more":bool} in id order.
//   `query` matches the text or the author, `author` the author, both as
//   substrings of moderation::normalize_for_match() forms (so "احمد" finds
//   "أحمد", diacritics, tatweel and letter case do not matter); `status`
//   (pending|approved|rejected|hidden) and `source` must match exactly; ""
//   means any. limit is clamped to 1..500; offset counts matches to skip.
//   "more" is true when another match exists after the ones returned.
//
// timeline:
//   {"session":{"id","title_ar","title_en","status","created_at_ms",
//     "live_at_ms","ended_at_ms","duration_ms"},
//    "bucket_ms":60000,
//    "minutes":[{"minute","from_ms","received","approved","rejected",
//                "hidden","pending"}]     (only minutes with comments,
//                ascending; minute = floor(offset / 60 s), offset = stored
//                stream offset, else received - live_at, else - created_at)
//    "on_air":[{"comment_id","from_ms","to_ms","on_air_now","author","text","dir"}]
//                (by from_ms: 'aired' to that comment's 'replaced' or
//                'cleared'; never taken off: in a live session to `now_ms`
//                with "on_air_now":true (it is still on screen), in an
//                ended one to its end, else the last on-air event, else 8 s)
//    "truncated":bool}               (a cap on minutes or periods was hit)
//
// top_comments: {"comments":[COMMENT...]} approved comments only (not
//   rejected, hidden or pending), by votes desc, then id; limit clamped to
//   1..100.
// outcomes: what the session decided, for the report and the archive page:
//   {"polls":[{"id","question_ar","question_en","status","results",
//     "multiple","options":[{"ar","en","votes","percent"}],"total",
//     "opened_at_ms","closed_at_ms"}]      (every poll, drafts too, by id;
//     total = ballots, percent = store::poll_percent, as the exports)
//    "decisions":[DECISION...]}           (archive/decisions.h: approved
//     comments with an outcome, by comment id)
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sabla::archive {

constexpr int64_t kSearchMaxLimit = 500;
constexpr int64_t kTopMaxLimit = 100;

Result<nlohmann::json> session_summaries(const std::string& db_path);

Result<nlohmann::json> search_comments(const std::string& db_path, int64_t session_id, const std::string& query,
                                       const std::string& status, const std::string& source,
                                       const std::string& author, int64_t limit, int64_t offset);

Result<nlohmann::json> timeline(const std::string& db_path, int64_t session_id, int64_t now_ms);

Result<nlohmann::json> top_comments(const std::string& db_path, int64_t session_id, int64_t limit);

Result<nlohmann::json> outcomes(const std::string& db_path, int64_t session_id);

// Recording files of a session: regular files named session-<id>-* directly
// in <directory of db_path>/recordings, by name (empty when the folder does
// not exist). At most `max_files`.
std::vector<std::filesystem::path> recording_files(const std::string& db_path, int64_t session_id,
                                                   size_t max_files = 1000);

}  // namespace sabla::archive
