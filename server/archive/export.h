// Exports of one session's record, pulled chunk by chunk so the CLI and
// the HTTP layer can stream them: memory stays at one page of rows (see
// store/archive_reader.h) whatever the size of the session.
//
//   auto ex = Exporter::open(db_path, session_id, Format::csv);
//   std::string chunk;
//   while ((*ex)->next(&chunk)) { send(chunk); chunk.clear(); }
//   if (!(*ex)->status()) { ... the export is incomplete ... }
//
// Formats (times are ISO 8601 UTC with milliseconds, "2025-11-29T07:06:40.000Z";
// stream offsets are "HH:MM:SS.mmm" from the moment the session went live:
// the stored offset, else received/at time minus live_at, else empty/null):
//
// csv      UTF-8 with BOM, RFC 4180 (CRLF rows, fields quoted when they hold
//          a comma, quote, CR or LF), one row per comment in id order:
//          id, received_at, stream_offset, author, source, text, status,
//          decided_by, decided_at, reason, votes, aired (yes/no),
//          first_aired_at, merged_into (the comment a merged one was folded
//          into, else empty). A cell starting with = + - @ TAB or CR gets a
//          leading apostrophe (spreadsheet formula injection).
// json     One document:
//          {"format":"sabla-archive","version":1,"session":SESSION,
//           "comments":[COMMENT...],"moderation_events":[EVENT...],
//           "on_air_events":[ON_AIR...],"polls":[POLL...]}
//          SESSION: id, title_ar, title_en, status, created_at(_ms),
//                   live_at(_ms), ended_at(_ms)  (null when unset)
//          COMMENT: id, session, received_at, received_at_ms, stream_offset,
//                   stream_offset_ms, author, viewer, source, external_id, lang,
//                   dir, text, original_text (null unless edited), status,
//                   decision, decided_by, decided_at, decided_at_ms, reason,
//                   votes, aired, first_aired_at, first_aired_at_ms,
//                   first_aired_offset_ms, merged_into (null unless
//                   merged), merged (ids merged into this one)
//          EVENT:   id, session, comment, viewer, action, actor, reason,
//                   before_text, after_text, at, at_ms
//          ON_AIR:  id, kind, comment, actor, at, at_ms, stream_offset,
//                   stream_offset_ms, detail (JSON, or the raw text if invalid)
//          POLL:    id, session, question_ar, question_en, status, results,
//                   multiple, max_choices, options [{index, ar, en, votes}],
//                   total (ballots), created_by, created_at, opened_at(_ms),
//                   opened_offset(_ms), closed_at(_ms), closed_offset(_ms)
// polls    CSV (BOM, as csv) with one row per poll option: poll, question_ar,
//          question_en, status, results, multiple, option (1-based),
//          option_ar, option_en, votes, percent (of the ballots), total,
//          opened_at, opened_offset, closed_at, closed_offset.
// polls-json {"format":"sabla-polls","version":1,"session":SESSION,"polls":[POLL...]}
// decisions CSV (BOM) of the decisions register (archive/decisions.h): comment,
//          text, author, askers, votes, status, note_ar, note_en, owner, due,
//          updated_at. decisions-json: {"format":"sabla-decisions","version":1,
//          "session":SESSION,"decisions":[{comment, text, author, askers, votes,
//          stream_offset, status, note_ar, note_en, owner, due, updated_at,
//          history:[{status, at, at_ms}]}]}
// ndjson   One event per line, ordered by (time, received < moderation <
//          on-air, id): {"event":E,"at","at_ms","offset","offset_ms",
//          "comment",...}. E is received (author, viewer, source, text: the
//          text as received, status: final), approved / rejected (auto or by a
//          moderator: action, actor, reason), edited (before_text,
//          after_text), hidden, held (filter_hold), banned, unbanned,
//          settings, pruned, and the on-air kinds aired, replaced, cleared,
//          on_air_edited, lower_third, ticker, theme... (kind, actor, detail).
// vtt/srt  Captions of what was on air: one cue per airing, from 'aired' to
//          the comment's 'replaced'/'cleared' event (never cleared: to the
//          session end, else the last on-air event, else 8 s), text
//          "author: text". Cues without a stream offset are left out.
//          Text never reads as structure or markup: VTT escapes & < > as
//          entities; SRT (no reader decodes entities) puts an invisible
//          U+2060 before the '>' of "->", before a digits-only line and
//          after the '\' of \N \n \h, and writes a '<' before a letter,
//          '/' or '!' as U+FF1C and '{' as U+FF5B. Blank lines are dropped.
// chat-vtt Every approved comment as a chat-replay cue shown 8 s from its
//          stream offset.
// audit    The moderation log as JSON lines: a header line
//          {"type":"header","format":"sabla-audit","version":1,"session":SESSION},
//          then one line per moderation event {"prev":H,"seq":N,...EVENT},
//          then {"prev":H,"type":"end","count":N}. H is the lower-case hex
//          SHA-256 of the previous line's bytes (without its newline), so an
//          edited, inserted, removed or reordered line breaks the chain.
#pragma once
#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace sabla::archive {

enum class Format { csv, json, ndjson, vtt, srt, chat_vtt, audit, polls, polls_json, decisions, decisions_json };

// "csv", "json", "ndjson", "vtt", "srt", "chat-vtt", "audit", "polls", "polls-json",
// "decisions", "decisions-json".
std::optional<Format> parse_format(std::string_view name);
std::string_view format_name(Format f);

// "2025-11-29T07:06:40.000Z".
std::string iso8601_utc(int64_t ms);
// "HH:MM:SS.mmm" (hours grow past 99; negative values get a leading '-').
// With `comma`, the SRT form "HH:MM:SS,mmm".
std::string format_offset(int64_t ms, bool comma = false);

// Each next() appends about this much (at most this plus one row).
constexpr size_t kChunkBytes = 64 * 1024;
// A never-cleared caption without a session end, and every chat-replay cue.
constexpr int64_t kDefaultCueMs = 8000;

class Exporter {
 public:
  // Opens the database read-only and checks the session exists
  // (code "not_found" otherwise).
  static Result<std::unique_ptr<Exporter>> open(const std::string& db_path, int64_t session_id, Format format);
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  // Appends the next part of the export to *chunk (up to ~kChunkBytes).
  // Returns false when there is nothing more: the export is complete if
  // status() is ok, else it failed part-way.
  bool next(std::string* chunk);
  Status status() const;
  // MIME type for Content-Type, e.g. "text/csv; charset=utf-8".
  std::string content_type() const;
  // Suggested download name, e.g. "sabla-session-12.csv".
  std::string file_name() const;
  // Most rows any cursor held at once (never more than one page).
  size_t peak_buffered_rows() const;

  struct Impl;

 private:
  explicit Exporter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct AuditCheck {
  size_t lines = 0;     // lines read (all of them when the chain holds)
  size_t bad_line = 0;  // 1-based number of the first bad line, 0 when ok
};

// Checks an audit export: header first, every later line's "prev" equal to
// the SHA-256 of the line before, event seq numbers 1..N, and an end line
// last whose count is N. The error message starts with "line K:".
Status verify_audit(std::istream& in, AuditCheck* check = nullptr);

}  // namespace sabla::archive
