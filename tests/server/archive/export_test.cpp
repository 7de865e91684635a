// Archive exports and retention against real SQLite files written through
// the real Store (non-threaded) or direct SQL, and the real `sabla` binary.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/command.h"
#include "support/csv_reader.h"
#include "support/srt_reader.h"
#include "support/store_helpers.h"
#include "archive/export.h"
#include "common/crypto.h"
#include "store/archive_reader.h"
#include "store/store.h"

using namespace sabla;
using namespace sabla::store;
using archive::Exporter;
using archive::Format;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path = fs::temp_directory_path() / ("sabla-archive-test-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(counter++) + "-" + std::to_string(rd()));
    fs::create_directories(path / "data");
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string db() const { return (path / "data" / "sabla.db").string(); }
};

std::unique_ptr<Store> open_store(const std::string& path, bool threaded = false) {
  return test::open_test_store(path, threaded);
}

template <class R, class Call>
R await(Store& store, Call call) {
  return test::await_store<R>(store, std::move(call));
}

constexpr int64_t kLiveAt = 1'764'400'000'000;  // 2025-11-29T07:06:40.000Z

int64_t add_session(Store& store, std::string status, std::optional<int64_t> live_at,
                    std::optional<int64_t> ended_at, std::string title = "Budget hearing") {
  SessionRow s;
  s.title_ar = "جلسة الميزانية";
  s.title_en = std::move(title);
  s.status = std::move(status);
  s.created_at_ms = live_at ? *live_at - 60'000 : kLiveAt;
  s.live_at_ms = live_at;
  s.ended_at_ms = ended_at;
  auto r = await<Result<SessionRow>>(store, [&](auto cb) { return store.create_session(s, cb); });
  REQUIRE(r.is_ok());
  return r->id;
}

int64_t add_comment(Store& store, int64_t session, std::string author, std::string text, int64_t offset_ms,
                    std::optional<int64_t> viewer = std::nullopt, std::string source = "web") {
  CommentRow c;
  c.session_id = session;
  c.viewer_id = viewer;
  c.display_name = std::move(author);
  c.text = std::move(text);
  c.lang = "ar";
  c.direction = "rtl";
  c.source = std::move(source);
  c.received_at_ms = kLiveAt + offset_ms;
  c.stream_offset_ms = offset_ms;
  auto r = await<Result<InsertedComment>>(store, [&](auto cb) { return store.insert_comment(c, std::nullopt, cb); });
  REQUIRE(r.is_ok());
  return r->id;
}

void decide(Store& store, int64_t id, CommentStatus status, std::string action, std::string actor, int64_t at_offset,
            std::string reason = "", std::optional<std::string> new_text = std::nullopt) {
  Decision d;
  d.comment_id = id;
  d.new_status = status;
  d.new_text = std::move(new_text);
  d.event.action = std::move(action);
  d.event.actor = std::move(actor);
  d.event.reason = std::move(reason);
  d.event.at_ms = kLiveAt + at_offset;
  REQUIRE(await<Status>(store, [&](auto cb) { return store.apply_decision(d, cb); }).is_ok());
}

OnAirEventRow on_air(int64_t session, std::string kind, std::optional<int64_t> comment, int64_t offset_ms,
                     bool store_offset = true) {
  OnAirEventRow r;
  r.session_id = session;
  r.at_ms = kLiveAt + offset_ms;
  if (store_offset) r.stream_offset_ms = offset_ms;
  r.kind = std::move(kind);
  r.comment_id = comment;
  r.actor = "amal";
  r.detail = R"({"mode":"air"})";
  return r;
}

void record(Store& store, std::vector<OnAirEventRow> rows) {
  REQUIRE(await<Status>(store, [&](auto cb) { return store.record_on_air(rows, json(nullptr), cb); }).is_ok());
}

// The texts that break naive exporters.
struct Sample {
  std::string author;
  std::string text;
  std::string csv_text;  // what the CSV cell must read back as
};
const std::vector<Sample>& samples() {
  static const std::vector<Sample> list = {
      {"مريم", "سؤال عن الطرق، والمدارس؟", "سؤال عن الطرق، والمدارس؟"},
      {"Sam \"the\" Man", "He said \"hello\", then left", "He said \"hello\", then left"},
      {"علي", "a,b,c", "a,b,c"},
      {"نور", "سطر أول\nsecond line\r\nثالث", "سطر أول\nsecond line\r\nثالث"},
      {"=cmd|' /C calc'!A0", "=SUM(A1)", "'=SUM(A1)"},
      {"x", "+966 555", "'+966 555"},
      {"y", "-1", "'-1"},
      {"z", "@mention", "'@mention"},
      {"t", "\tindented", "'\tindented"},
      {"ليلى", "تعليق 😀 مع رموز", "تعليق 😀 مع رموز"},
  };
  return list;
}

// A small ended session with every kind of row. Comment ids are returned in
// order; offsets are i*10 s.
struct Fixture {
  TempDir dir;
  int64_t session = 0;
  std::vector<int64_t> ids;
  Fixture() {
    auto store = open_store(dir.db());
    session = add_session(*store, "ended", kLiveAt, kLiveAt + 3'600'000);
    // Another session's rows must never leak into this export.
    const int64_t other = add_session(*store, "ended", kLiveAt, kLiveAt + 1000, "Other");
    add_comment(*store, other, "other", "not in this session", 500);
    for (size_t i = 0; i < samples().size(); ++i) {
      ids.push_back(add_comment(*store, session, samples()[i].author, samples()[i].text,
                                static_cast<int64_t>(i) * 10'000, static_cast<int64_t>(100 + i)));
    }
    decide(*store, ids[0], CommentStatus::approved, "approve", "amal", 1'000);
    decide(*store, ids[1], CommentStatus::rejected, "reject", "omar", 12'000, "off topic, repeated");
    decide(*store, ids[2], CommentStatus::approved, "edit", "amal", 21'000, "", std::string("a, b and c"));
    decide(*store, ids[2], CommentStatus::approved, "approve", "amal", 22'000);
    decide(*store, ids[3], CommentStatus::approved, "approve", "amal", 31'000);
    decide(*store, ids[4], CommentStatus::hidden, "hide", "omar", 41'000);
    decide(*store, ids[9], CommentStatus::approved, "approve", "amal", 91'500);
    REQUIRE(await<Result<std::pair<int64_t, bool>>>(*store, [&](auto cb) { return store->add_vote(ids[0], 7, cb); })
                .is_ok());
    REQUIRE(await<Result<std::pair<int64_t, bool>>>(*store, [&](auto cb) { return store->add_vote(ids[0], 8, cb); })
                .is_ok());
    // On air: 0 from 5 s to 12 s (replaced by 2), 2 until 20 s (cleared),
    // 3 and 9 stacked: 9 leaves first, 3 is never cleared (caption until the
    // session end); a ticker in between carries no comment.
    record(*store, {on_air(session, "aired", ids[0], 5'000)});
    record(*store, {on_air(session, "replaced", ids[0], 12'000), on_air(session, "aired", ids[2], 12'000)});
    record(*store, {on_air(session, "ticker", std::nullopt, 15'000)});
    record(*store, {on_air(session, "cleared", ids[2], 20'000)});
    record(*store, {on_air(session, "aired", ids[3], 32'000)});
    record(*store, {on_air(session, "aired", ids[9], 95'000, /*store_offset=*/false)});  // offset from live_at
    record(*store, {on_air(session, "cleared", ids[9], 99'250)});
  }
};

struct Exported {
  std::string bytes;
  std::vector<size_t> chunks;
  size_t peak_rows = 0;
  std::string content_type;
  std::string file_name;
};

Exported export_all(const std::string& db, int64_t session, Format f) {
  auto ex = Exporter::open(db, session, f);
  INFO(ex.status().message());
  REQUIRE(ex.is_ok());
  Exported out;
  std::string chunk;
  while ((*ex)->next(&chunk)) {
    out.chunks.push_back(chunk.size());
    out.bytes += chunk;
    chunk.clear();
  }
  INFO((*ex)->status().message());
  REQUIRE((*ex)->status().is_ok());
  out.peak_rows = (*ex)->peak_buffered_rows();
  out.content_type = (*ex)->content_type();
  out.file_name = (*ex)->file_name();
  return out;
}

using test::parse_csv;

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

int64_t parse_ts(const std::string& t, char sep) {
  // HH:MM:SS.mmm (hours may have more digits)
  const auto c1 = t.find(':');
  const auto c2 = t.find(':', c1 + 1);
  const auto dot = t.find(sep, c2 + 1);
  return std::stoll(t.substr(0, c1)) * 3'600'000 + std::stoll(t.substr(c1 + 1, 2)) * 60'000 +
         std::stoll(t.substr(c2 + 1, 2)) * 1000 + std::stoll(t.substr(dot + 1, 3));
}

struct Cue {
  int64_t start = 0;
  int64_t end = 0;
  std::string text;
};

// A small WebVTT/SRT reader: optional header, then blocks separated by
// blank lines: [identifier] timing line, text lines.
std::vector<Cue> parse_cues(const std::string& text, bool vtt) {
  const char sep = vtt ? '.' : ',';
  const std::regex timing(vtt ? R"(^(\d{2,}:\d{2}:\d{2}\.\d{3}) --> (\d{2,}:\d{2}:\d{2}\.\d{3})$)"
                              : R"(^(\d{2,}:\d{2}:\d{2},\d{3}) --> (\d{2,}:\d{2}:\d{2},\d{3})$)");
  std::vector<Cue> cues;
  const std::vector<std::string> lines = split_lines(text);
  size_t i = 0;
  if (vtt) {
    REQUIRE(!lines.empty());
    REQUIRE(lines[0] == "WEBVTT");
    REQUIRE(lines.size() >= 2);
    REQUIRE(lines[1].empty());
    i = 2;
  }
  while (i < lines.size()) {
    if (lines[i].empty()) {
      ++i;
      continue;
    }
    std::smatch m;
    if (!std::regex_match(lines[i], m, timing)) {
      // identifier line, then the timing line
      REQUIRE(lines[i].find("-->") == std::string::npos);
      ++i;
      REQUIRE(i < lines.size());
      INFO("timing line: " << lines[i]);
      REQUIRE(std::regex_match(lines[i], m, timing));
    }
    Cue cue{parse_ts(m[1], sep), parse_ts(m[2], sep), ""};
    CHECK(cue.end > cue.start);
    ++i;
    while (i < lines.size() && !lines[i].empty()) {
      CHECK(lines[i].find("-->") == std::string::npos);
      if (!cue.text.empty()) cue.text += "\n";
      cue.text += lines[i++];
    }
    CHECK_FALSE(cue.text.empty());
    cues.push_back(std::move(cue));
  }
  return cues;
}

// Bulk rows through direct SQL (the Store's API would take far longer).
void bulk_comments(const std::string& db_path, int64_t session, int n, const std::string& text) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db,
                             "INSERT INTO comments (session_id, viewer_id, display_name, text, lang, direction, "
                             "source, received_at_ms, stream_offset_ms, status, votes) "
                             "VALUES (?1, ?2, 'مشارك', ?3, 'ar', 'rtl', 'web', ?4, ?5, ?6, ?7)",
                             -1, &st, nullptr) == SQLITE_OK);
  for (int i = 0; i < n; ++i) {
    sqlite3_bind_int64(st, 1, session);
    sqlite3_bind_int64(st, 2, i % 500);
    const std::string t = text + " #" + std::to_string(i);
    sqlite3_bind_text(st, 3, t.c_str(), static_cast<int>(t.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, kLiveAt + i * 100);
    sqlite3_bind_int64(st, 5, i * 100);
    sqlite3_bind_text(st, 6, i % 3 == 0 ? "approved" : "pending", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, i % 7);
    REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  REQUIRE(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
}

int64_t count_rows(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  INFO(sql);
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  const int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

Status verify(const std::string& text, archive::AuditCheck* check = nullptr) {
  std::istringstream in(text);
  return archive::verify_audit(in, check);
}

// ---- the real binary ----

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

struct Run {
  int exit_code = -1;
  std::string out;
  std::string err;
};

Run run_sabla(const TempDir& dir, const std::string& args) {
  const fs::path err_file = dir.path / "stderr.txt";
  const std::string command = quote(SABLA_BINARY) + " " + args + " 2>" + quote(err_file.string());
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  Run run;
  char buffer[65536];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = read_file(err_file);
  return run;
}

}  // namespace

// ---------------------------------------------------------------- formats

SCENARIO("formats and helpers", "[archive]") {
  CHECK(archive::parse_format("chat-vtt") == Format::chat_vtt);
  CHECK_FALSE(archive::parse_format("xlsx").has_value());
  for (Format f : {Format::csv, Format::json, Format::ndjson, Format::vtt, Format::srt, Format::chat_vtt,
                   Format::audit}) {
    CHECK(archive::parse_format(archive::format_name(f)) == f);
  }
  CHECK(archive::iso8601_utc(kLiveAt) == "2025-11-29T07:06:40.000Z");
  CHECK(archive::iso8601_utc(0) == "1970-01-01T00:00:00.000Z");
  CHECK(archive::iso8601_utc(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(archive::iso8601_utc(951'782'400'123) == "2000-02-29T00:00:00.123Z");
  CHECK(archive::format_offset(0) == "00:00:00.000");
  CHECK(archive::format_offset(3'723'004) == "01:02:03.004");
  CHECK(archive::format_offset(3'723'004, true) == "01:02:03,004");
  CHECK(archive::format_offset(360'000'000) == "100:00:00.000");
  CHECK(archive::format_offset(-1500) == "-00:00:01.500");
}

SCENARIO("an unknown session or database is reported, not thrown", "[archive]") {
  Fixture fx;
  auto missing = Exporter::open(fx.dir.db(), 999, Format::csv);
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().code() == "not_found");
  auto no_db = Exporter::open((fx.dir.path / "nope.db").string(), fx.session, Format::csv);
  REQUIRE_FALSE(no_db.is_ok());
  CHECK_FALSE(fs::exists(fx.dir.path / "nope.db"));  // read-only: never creates the file
}

SCENARIO("CSV export round-trips through an RFC 4180 parser", "[archive]") {
  Fixture fx;
  const Exported ex = export_all(fx.dir.db(), fx.session, Format::csv);
  CHECK(ex.content_type == "text/csv; charset=utf-8");
  CHECK(ex.file_name == "sabla-session-" + std::to_string(fx.session) + ".csv");

  THEN("it starts with a UTF-8 BOM and the documented header") {
    REQUIRE(ex.bytes.rfind("\xEF\xBB\xBF", 0) == 0);
    const auto rows = parse_csv(std::string_view(ex.bytes).substr(3));
    REQUIRE(!rows.empty());
    CHECK(rows[0] == std::vector<std::string>{"id", "received_at", "stream_offset", "author", "source", "text",
                                              "status", "decided_by", "decided_at", "reason", "votes", "aired",
                                              "first_aired_at", "merged_into"});
  }
  THEN("every comment comes back with the same text, neutralised where formula-like") {
    const auto rows = parse_csv(std::string_view(ex.bytes).substr(3));
    REQUIRE(rows.size() == samples().size() + 1);
    for (size_t i = 0; i < samples().size(); ++i) {
      const auto& row = rows[i + 1];
      INFO("row " << i);
      REQUIRE(row.size() == 14);
      CHECK(row[0] == std::to_string(fx.ids[i]));
      CHECK(row[1] == archive::iso8601_utc(kLiveAt + static_cast<int64_t>(i) * 10'000));
      CHECK(row[2] == archive::format_offset(static_cast<int64_t>(i) * 10'000));
      const std::string expected_text = i == 2 ? "a, b and c" : samples()[i].csv_text;
      CHECK(row[5] == expected_text);
      CHECK(row[4] == "web");
    }
    // Author cells are neutralised too.
    CHECK(rows[5][3] == "'=cmd|' /C calc'!A0");
    CHECK(rows[1][3] == "مريم");
    CHECK(rows[2][3] == "Sam \"the\" Man");
  }
  THEN("decisions, votes and airing are derived from the logs") {
    const auto rows = parse_csv(std::string_view(ex.bytes).substr(3));
    CHECK(rows[1][6] == "approved");
    CHECK(rows[1][7] == "amal");
    CHECK(rows[1][8] == archive::iso8601_utc(kLiveAt + 1'000));
    CHECK(rows[1][10] == "2");
    CHECK(rows[1][11] == "yes");
    CHECK(rows[1][12] == archive::iso8601_utc(kLiveAt + 5'000));
    CHECK(rows[2][6] == "rejected");
    CHECK(rows[2][7] == "omar");
    CHECK(rows[2][9] == "off topic, repeated");
    CHECK(rows[2][11] == "no");
    CHECK(rows[2][12].empty());
    // Edited then approved: the decision is the approve, not the edit.
    CHECK(rows[3][8] == archive::iso8601_utc(kLiveAt + 22'000));
    CHECK(rows[5][6] == "hidden");
    CHECK(rows[6][6] == "pending");
    CHECK(rows[6][7].empty());
    CHECK(rows[6][8].empty());
  }
  THEN("rows end with CRLF") {
    CHECK(ex.bytes.size() > 2);
    CHECK(ex.bytes.substr(ex.bytes.size() - 2) == "\r\n");
  }
}

SCENARIO("JSON export is one document with the documented keys", "[archive]") {
  Fixture fx;
  const Exported ex = export_all(fx.dir.db(), fx.session, Format::json);
  CHECK(ex.content_type == "application/json");
  const json doc = json::parse(ex.bytes);  // throws (fails the test) if invalid
  CHECK(doc["format"] == "sabla-archive");
  CHECK(doc["version"] == 1);
  const json& s = doc["session"];
  for (const char* key : {"id", "title_ar", "title_en", "status", "created_at", "created_at_ms", "live_at",
                          "live_at_ms", "ended_at", "ended_at_ms"}) {
    CHECK(s.contains(key));
  }
  CHECK(s["title_ar"] == "جلسة الميزانية");
  REQUIRE(doc["comments"].size() == samples().size());
  for (const json& c : doc["comments"]) {
    for (const char* key :
         {"id", "session", "received_at", "received_at_ms", "stream_offset", "stream_offset_ms", "author", "viewer",
          "source", "external_id", "lang", "dir", "text", "original_text", "status", "decision", "decided_by",
          "decided_at", "decided_at_ms", "reason", "votes", "aired", "first_aired_at", "first_aired_at_ms",
          "first_aired_offset_ms"}) {
      INFO(key);
      CHECK(c.contains(key));
    }
  }
  CHECK(doc["comments"][4]["text"] == "=SUM(A1)");  // JSON is not a spreadsheet: no apostrophe
  CHECK(doc["comments"][2]["original_text"] == "a,b,c");
  CHECK(doc["comments"][2]["text"] == "a, b and c");
  CHECK(doc["comments"][1]["decision"] == "reject");
  CHECK(doc["comments"][0]["aired"] == true);
  CHECK(doc["comments"][0]["first_aired_offset_ms"] == 5000);
  CHECK(doc["moderation_events"].size() == 7);
  for (const char* key : {"id", "session", "comment", "viewer", "action", "actor", "reason", "before_text",
                          "after_text", "at", "at_ms"}) {
    CHECK(doc["moderation_events"][0].contains(key));
  }
  REQUIRE(doc["on_air_events"].size() == 8);
  CHECK(doc["on_air_events"][0]["detail"]["mode"] == "air");
  CHECK(doc["on_air_events"][6]["stream_offset_ms"] == 95'000);  // derived from live_at

  WHEN("the session has no rows at all") {
    TempDir dir;
    int64_t empty = 0;
    {
      auto store = open_store(dir.db());
      empty = add_session(*store, "scheduled", std::nullopt, std::nullopt);
    }
    const json d = json::parse(export_all(dir.db(), empty, Format::json).bytes);
    CHECK(d["comments"].empty());
    CHECK(d["moderation_events"].empty());
    CHECK(d["on_air_events"].empty());
    CHECK(d["session"]["live_at"].is_null());
  }
}

SCENARIO("invalid UTF-8 in stored text never breaks JSON", "[archive]") {
  Fixture fx;
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(fx.dir.db().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    const std::string bad = "bad \xff\xfe bytes";
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "UPDATE comments SET text = ?1 WHERE id = ?2", -1, &st, nullptr) == SQLITE_OK);
    sqlite3_bind_text(st, 1, bad.c_str(), static_cast<int>(bad.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, fx.ids[0]);
    REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  for (Format f : {Format::json, Format::ndjson, Format::audit}) {
    const Exported ex = export_all(fx.dir.db(), fx.session, f);
    if (f == Format::json) {
      const json doc = json::parse(ex.bytes);
      CHECK(doc["comments"][0]["text"] == "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
    } else {
      for (const std::string& line : split_lines(ex.bytes)) CHECK_NOTHROW(json::parse(line));
    }
  }
  const Exported csv = export_all(fx.dir.db(), fx.session, Format::csv);
  CHECK(csv.bytes.find("bad \xEF\xBF\xBD\xEF\xBF\xBD bytes") != std::string::npos);
}

SCENARIO("NDJSON export is one event per line in time order", "[archive]") {
  Fixture fx;
  const Exported ex = export_all(fx.dir.db(), fx.session, Format::ndjson);
  CHECK(ex.content_type == "application/x-ndjson");
  const auto lines = split_lines(ex.bytes);
  // 10 received + 7 moderation + 8 on-air
  REQUIRE(lines.size() == 25);
  int64_t last = INT64_MIN;
  std::map<std::string, int> seen;
  for (const std::string& line : lines) {
    const json j = json::parse(line);
    REQUIRE(j.contains("event"));
    REQUIRE(j.contains("at"));
    const int64_t at = j["at_ms"];
    CHECK(at >= last);
    last = at;
    seen[j["event"]]++;
  }
  CHECK(seen["received"] == 10);
  CHECK(seen["approved"] == 4);
  CHECK(seen["rejected"] == 1);
  CHECK(seen["edited"] == 1);
  CHECK(seen["hidden"] == 1);
  CHECK(seen["aired"] == 4);
  CHECK(seen["replaced"] == 1);
  CHECK(seen["cleared"] == 2);
  CHECK(seen["ticker"] == 1);
  // "received" carries the text as received, before the edit.
  const json third = json::parse(lines[0]);
  CHECK(third["event"] == "received");
  bool found_original = false;
  for (const std::string& line : lines) {
    const json j = json::parse(line);
    if (j["event"] == "received" && j["comment"] == fx.ids[2]) found_original = j["text"] == "a,b,c";
  }
  CHECK(found_original);
}

SCENARIO("VTT and SRT captions follow the stored on-air offsets", "[archive]") {
  Fixture fx;
  const Exported vtt = export_all(fx.dir.db(), fx.session, Format::vtt);
  CHECK(vtt.content_type == "text/vtt; charset=utf-8");
  const std::vector<Cue> cues = parse_cues(vtt.bytes, true);
  REQUIRE(cues.size() == 4);

  // Expected from the stored rows themselves.
  auto store = open_store(fx.dir.db());
  auto events = store->on_air_events(fx.session);
  REQUIRE(events.is_ok());
  std::map<int64_t, int64_t> aired, left;
  for (const auto& e : *events) {
    if (!e.comment_id) continue;
    const int64_t off = e.stream_offset_ms ? *e.stream_offset_ms : e.at_ms - kLiveAt;
    if (e.kind == "aired") aired[*e.comment_id] = off;
    if (e.kind == "cleared" || e.kind == "replaced") left[*e.comment_id] = off;
  }
  CHECK(cues[0].start == aired[fx.ids[0]]);
  CHECK(cues[0].end == left[fx.ids[0]]);
  CHECK(cues[0].text == "مريم: سؤال عن الطرق، والمدارس؟");
  CHECK(cues[1].start == aired[fx.ids[2]]);
  CHECK(cues[1].end == left[fx.ids[2]]);
  CHECK(cues[2].start == aired[fx.ids[3]]);
  CHECK(cues[2].end == 3'600'000);  // never cleared: until the session end
  CHECK(cues[2].text == "نور: سطر أول\nsecond line\nثالث");
  CHECK(cues[3].start == 95'000);
  CHECK(cues[3].end == 99'250);
  for (size_t i = 1; i < cues.size(); ++i) CHECK(cues[i].start >= cues[i - 1].start);

  THEN("SRT has the same cues with comma decimals and numbered blocks") {
    const Exported srt = export_all(fx.dir.db(), fx.session, Format::srt);
    CHECK(srt.bytes.rfind("1\n00:00:05,000 --> 00:00:12,000\n", 0) == 0);
    CHECK(srt.bytes.find('.') == std::string::npos);
    const std::vector<Cue> srt_cues = parse_cues(srt.bytes, false);
    REQUIRE(srt_cues.size() == cues.size());
    for (size_t i = 0; i < cues.size(); ++i) {
      CHECK(srt_cues[i].start == cues[i].start);
      CHECK(srt_cues[i].end == cues[i].end);
    }
  }
  THEN("markup characters are escaped in VTT") {
    TempDir dir;
    int64_t s = 0;
    {
      auto st = open_store(dir.db());
      s = add_session(*st, "ended", kLiveAt, kLiveAt + 60'000);
      const int64_t id = add_comment(*st, s, "a<b>", "x --> y & <i>z</i>\n\n\nend", 1000);
      decide(*st, id, CommentStatus::approved, "approve", "amal", 1'500);
      record(*st, {on_air(s, "aired", id, 2'000)});
      record(*st, {on_air(s, "cleared", id, 3'000)});
    }
    const auto c = parse_cues(export_all(dir.db(), s, Format::vtt).bytes, true);
    REQUIRE(c.size() == 1);
    CHECK(c[0].text == "a&lt;b&gt;: x --&gt; y &amp; &lt;i&gt;z&lt;/i&gt;\nend");
  }
}

// Issue #11, defect 2: a viewer's comment must not forge SRT cues or markup.
// The payload is the issue's: a timing line inside the text made ffmpeg read a
// second cue at 1.0 s, and <b> became bold.
constexpr const char* kForgedCue = "fake cue\n00:00:01.000 --> 00:00:02.000\ninjected <b>bold</b>";

// One aired comment (5 s to 12 s) by `author`; returns the SRT export.
std::string srt_of_one_airing(const TempDir& dir, const std::string& author, const std::string& text) {
  int64_t s = 0;
  {
    auto st = open_store(dir.db());
    s = add_session(*st, "ended", kLiveAt, kLiveAt + 60'000);
    const int64_t id = add_comment(*st, s, author, text, 1000);
    decide(*st, id, CommentStatus::approved, "approve", "amal", 1'500);
    record(*st, {on_air(s, "aired", id, 5'000)});
    record(*st, {on_air(s, "cleared", id, 12'000)});
  }
  return export_all(dir.db(), s, Format::srt).bytes;
}

bool have_tool(const std::string& name) {
  return test::run_command("command -v " + name + " 2>/dev/null").find(name) != std::string::npos;
}

SCENARIO("an aired comment cannot forge SRT cues or markup", "[archive][srt]") {
  GIVEN("the issue's payload: a timing line and <b> tags inside one comment") {
    TempDir dir;
    const std::string srt = srt_of_one_airing(dir, "مريم", kForgedCue);
    INFO(srt);
    const test::SrtDocument doc = test::parse_srt_strict(srt);
    THEN("a strict reader sees one well-formed cue, its timing the airing's") {
      CHECK(doc.error == "");
      REQUIRE(doc.cues.size() == 1);
      CHECK(doc.cues[0].start_ms == 5'000);
      CHECK(doc.cues[0].end_ms == 12'000);
    }
    THEN("the text reads the same to a person: the arrow and the tags stay visible, as text") {
      REQUIRE(doc.cues.size() == 1);
      // U+2060 WORD JOINER (invisible) breaks "-->"; U+FF1C FULLWIDTH
      // LESS-THAN SIGN stands for '<' where it would open a tag.
      const std::vector<std::string> expected = {
          "مريم: fake cue", "00:00:01.000 --\u2060> 00:00:02.000", "injected \uFF1Cb>bold\uFF1C/b>"};
      CHECK(doc.cues[0].lines == expected);
    }
  }
  GIVEN("lines that read as cue numbers, blank lines, ASS overrides and other tags") {
    TempDir dir;
    const std::string srt = srt_of_one_airing(
        dir, "", "2\n\n \n00:00:01,000 --> 00:00:02,000\r\n{\\an8}top {y:i} a<b c>d <3 x\\Ny\f<font color=red>r</font>");
    INFO(srt);
    const test::SrtDocument doc = test::parse_srt_strict(srt);
    CHECK(doc.error == "");
    REQUIRE(doc.cues.size() == 1);
    const std::vector<std::string> expected = {
        "\u20602", "00:00:01,000 --\u2060> 00:00:02,000",
        "\uFF5B\\an8}top \uFF5By:i} a\uFF1Cb c>d <3 x\\\u2060Ny", "\uFF1Cfont color=red>r\uFF1C/font>"};
    CHECK(doc.cues[0].lines == expected);
  }
  GIVEN("a '<' just before a tag or a '{' (the fuzzer's \"b&<</i>\")") {
    TempDir dir;
    const test::SrtDocument doc = test::parse_srt_strict(srt_of_one_airing(dir, "", "b&<</i> x<{y} a << b"));
    THEN("the '<' before what turns fullwidth turns fullwidth too, and a '<' before a space stays") {
      CHECK(doc.error == "");
      REQUIRE(doc.cues.size() == 1);
      CHECK(doc.cues[0].lines == std::vector<std::string>{"b&\uFF1C\uFF1C/i> x\uFF1C\uFF5By} a \uFF1C< b"});
    }
  }
  GIVEN("Arabic text with ordinary punctuation") {
    TempDir dir;
    const std::string text = "هل ستُنشر الميزانية؟ نعم، في ٢٠٢٦ (قريباً) - 50% > 40% & a < b!";
    const test::SrtDocument doc = test::parse_srt_strict(srt_of_one_airing(dir, "نور", text));
    THEN("it is written unchanged") {
      CHECK(doc.error == "");
      REQUIRE(doc.cues.size() == 1);
      CHECK(doc.cues[0].lines == std::vector<std::string>{"نور: " + text});
    }
  }
}

// What a real receiver sees: ffmpeg's SubRip demuxer is lenient (it starts a
// cue at any line with a timing in it) and its SRT-to-ASS conversion turns
// tags into overrides. Skipped, with a warning, where ffmpeg is not installed
// (scripts/setup installs it).
SCENARIO("ffprobe and ffmpeg read one plain cue from the forged comment", "[archive][srt][ffmpeg]") {
  if (!have_tool("ffprobe") || !have_tool("ffmpeg")) {
    WARN("SKIPPED: ffprobe/ffmpeg not installed (scripts/setup installs ffmpeg)");
    return;
  }
  TempDir dir;
  const fs::path srt_path = dir.path / "forged.srt";
  const fs::path ass_path = dir.path / "forged.ass";
  {
    std::ofstream(srt_path, std::ios::binary) << srt_of_one_airing(dir, "مريم", kForgedCue);
  }
  const std::string probe = test::run_command("ffprobe -v error -count_packets -show_entries stream=nb_read_packets "
                                              "-of csv=p=0 '" + srt_path.string() + "' 2>&1");
  INFO("ffprobe: " << probe);
  CHECK(probe == "1\n");

  test::run_command("ffmpeg -nostdin -v error -y -i '" + srt_path.string() + "' '" + ass_path.string() + "' 2>&1");
  std::ifstream ass(ass_path);
  REQUIRE(ass);
  std::vector<std::string> dialogue;
  for (std::string line; std::getline(ass, line);)
    if (line.rfind("Dialogue:", 0) == 0) dialogue.push_back(line);
  INFO("ASS: " << [&] { std::string all; for (auto& d : dialogue) all += d + "\n"; return all; }());
  REQUIRE(dialogue.size() == 1);
  CHECK(dialogue[0].rfind("Dialogue: 0,0:00:05.00,0:00:12.00,", 0) == 0);
  CHECK(dialogue[0].find("injected") != std::string::npos);
  CHECK(dialogue[0].find("مريم: fake cue") != std::string::npos);
  CHECK(dialogue[0].find("{\\") == std::string::npos);  // no ASS override ({\b1}) from the comment
}

SCENARIO("chat-vtt shows every approved comment for 8 s", "[archive]") {
  Fixture fx;
  const Exported ex = export_all(fx.dir.db(), fx.session, Format::chat_vtt);
  CHECK(ex.file_name == "sabla-session-" + std::to_string(fx.session) + "-chat.vtt");
  const auto cues = parse_cues(ex.bytes, true);
  REQUIRE(cues.size() == 4);  // ids 0, 2, 3, 9 are approved
  const std::vector<int64_t> offsets = {0, 20'000, 30'000, 90'000};
  for (size_t i = 0; i < cues.size(); ++i) {
    CHECK(cues[i].start == offsets[i]);
    CHECK(cues[i].end == offsets[i] + archive::kDefaultCueMs);
  }
}

SCENARIO("the audit export is a hash chain that detects any change", "[archive]") {
  REQUIRE(crypto::init());
  Fixture fx;
  const Exported ex = export_all(fx.dir.db(), fx.session, Format::audit);
  const std::vector<std::string> lines = split_lines(ex.bytes);
  REQUIRE(lines.size() == 7 + 2);  // header, 7 events, end

  THEN("it verifies as exported") {
    archive::AuditCheck check;
    const Status s = verify(ex.bytes, &check);
    INFO(s.message());
    CHECK(s.is_ok());
    CHECK(check.lines == lines.size());
    const json first = json::parse(lines[1]);
    CHECK(first["prev"] == crypto::sha256_hex(lines[0]));
    CHECK(first["seq"] == 1);
    CHECK(json::parse(lines[0])["type"] == "header");
    CHECK(json::parse(lines.back())["count"] == 7);
  }
  THEN("changing one byte of any line fails verification") {
    for (size_t li = 0; li < lines.size(); ++li) {
      for (size_t pos : {size_t{0}, lines[li].size() / 3, lines[li].size() / 2, lines[li].size() - 2}) {
        std::vector<std::string> edited = lines;
        edited[li][pos] = static_cast<char>(edited[li][pos] ^ 0x01);
        std::string text;
        for (const auto& l : edited) text += l + "\n";
        archive::AuditCheck check;
        INFO("line " << li + 1 << " byte " << pos);
        const Status s = verify(text, &check);
        CHECK_FALSE(s.is_ok());
        // The edited line or the one after it (whose "prev" no longer matches).
        CHECK((check.bad_line == li + 1 || check.bad_line == li + 2));
      }
    }
  }
  THEN("deleting any line fails verification") {
    for (size_t li = 0; li < lines.size(); ++li) {
      std::string text;
      for (size_t k = 0; k < lines.size(); ++k) {
        if (k != li) text += lines[k] + "\n";
      }
      INFO("deleted line " << li + 1);
      CHECK_FALSE(verify(text).is_ok());
    }
  }
  THEN("swapping two event lines fails verification") {
    std::vector<std::string> swapped = lines;
    std::swap(swapped[2], swapped[3]);
    std::string text;
    for (const auto& l : swapped) text += l + "\n";
    archive::AuditCheck check;
    CHECK_FALSE(verify(text, &check).is_ok());
    CHECK(check.bad_line == 3);
  }
  THEN("an empty input fails") { CHECK_FALSE(verify("").is_ok()); }
}

SCENARIO("exports stream in bounded chunks, one page of rows at a time", "[archive]") {
  TempDir dir;
  int64_t session = 0;
  {
    auto store = open_store(dir.db());
    session = add_session(*store, "ended", kLiveAt, kLiveAt + 10'000'000);
  }
  const int kRows = 20'000;
  const std::string text = "تعليق طويل نسبياً, \"مع\" علامات\nوسطر ثانٍ =1+2";
  bulk_comments(dir.db(), session, kRows, text);
  constexpr size_t kMaxRow = 1024;  // one exported row of this text is well under this

  for (Format f : {Format::csv, Format::json, Format::ndjson, Format::chat_vtt}) {
    INFO("format " << archive::format_name(f));
    const Exported ex = export_all(dir.db(), session, f);
    REQUIRE(ex.chunks.size() > 10);
    for (size_t c : ex.chunks) CHECK(c <= archive::kChunkBytes + kMaxRow);
    CHECK(ex.peak_rows <= store::kArchivePageRows);
    CHECK(ex.peak_rows > 0);
    if (f == Format::csv) CHECK(parse_csv(std::string_view(ex.bytes).substr(3)).size() == kRows + 1);
    if (f == Format::json) CHECK(json::parse(ex.bytes)["comments"].size() == kRows);
    if (f == Format::ndjson) CHECK(split_lines(ex.bytes).size() == kRows);
    if (f == Format::chat_vtt) CHECK(parse_cues(ex.bytes, true).size() == (kRows + 2) / 3);
  }
}

SCENARIO("cursors page by (time, id) without losing or repeating rows on equal times", "[archive]") {
  TempDir dir;
  int64_t session = 0;
  {
    auto store = open_store(dir.db());
    session = add_session(*store, "ended", kLiveAt, kLiveAt + 60'000);
  }
  // 4 comments per millisecond, 50 rows, read 3 at a time: page boundaries
  // fall inside runs of equal received_at_ms.
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    const std::string sql =
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 49) "
        "INSERT INTO comments (session_id, text, received_at_ms) SELECT " +
        std::to_string(session) + ", 'c' || i, " + std::to_string(kLiveAt) + " + (49 - i) / 4 FROM n";
    REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto reader = ArchiveReader::open(dir.db());
  REQUIRE(reader.is_ok());
  for (ArchiveOrder order : {ArchiveOrder::by_id, ArchiveOrder::by_time}) {
    auto cursor = (*reader)->comments(session, order, 3);
    std::vector<std::pair<int64_t, int64_t>> keys;
    while (const ArchiveComment* c = cursor->next()) keys.emplace_back(c->row.received_at_ms, c->row.id);
    CHECK(cursor->status().is_ok());
    CHECK(cursor->peak_buffered() == 3);
    REQUIRE(keys.size() == 50);
    std::set<int64_t> ids;
    for (const auto& k : keys) ids.insert(k.second);
    CHECK(ids.size() == 50);
    auto sorted = keys;
    if (order == ArchiveOrder::by_time) {
      std::sort(sorted.begin(), sorted.end());
    } else {
      std::sort(sorted.begin(), sorted.end(), [](auto a, auto b) { return a.second < b.second; });
    }
    CHECK(keys == sorted);
  }
}

// ---------------------------------------------------------------- retention

SCENARIO("prune removes only the rows of sessions that ended before the cut-off", "[archive]") {
  REQUIRE(crypto::init());
  TempDir dir;
  const int64_t now = kLiveAt + 500LL * 86'400'000;
  const int64_t day = 86'400'000;
  int64_t old_ended = 0, recent_ended = 0, old_live = 0, old_scheduled = 0;
  int64_t old_comment = 0;
  {
    auto store = open_store(dir.db());
    old_ended = add_session(*store, "ended", kLiveAt, kLiveAt + 3'600'000, "Old");
    recent_ended = add_session(*store, "ended", now - 20 * day, now - 10 * day, "Recent");
    old_live = add_session(*store, "live", kLiveAt, std::nullopt, "Still live");
    old_scheduled = add_session(*store, "scheduled", std::nullopt, std::nullopt, "Never held");
    for (int64_t s : {old_ended, recent_ended, old_live}) {
      for (int i = 0; i < 25; ++i) {
        const int64_t id = add_comment(*store, s, "م", "نص " + std::to_string(i), i * 1000, 7);
        if (s == old_ended && i == 0) old_comment = id;
        decide(*store, id, CommentStatus::approved, "approve", "amal", i * 1000 + 10);
        REQUIRE(await<Result<std::pair<int64_t, bool>>>(*store, [&](auto cb) { return store->add_vote(id, 9, cb); })
                    .is_ok());
        if (i % 5 == 0) record(*store, {on_air(s, "aired", id, i * 1000 + 20)});
      }
    }
  }
  const auto count_for = [&](int64_t s) {
    return std::vector<int64_t>{
        count_rows(dir.db(), "SELECT count(*) FROM comments WHERE session_id = " + std::to_string(s)),
        count_rows(dir.db(), "SELECT count(*) FROM votes WHERE comment_id IN (SELECT id FROM comments WHERE "
                             "session_id = " + std::to_string(s) + ")"),
        count_rows(dir.db(), "SELECT count(*) FROM moderation_events WHERE session_id = " + std::to_string(s) +
                                 " AND action != 'prune'"),
        count_rows(dir.db(), "SELECT count(*) FROM on_air_events WHERE session_id = " + std::to_string(s))};
  };
  const std::vector<int64_t> full = {25, 25, 25, 5};
  REQUIRE(count_for(old_ended) == full);

  // A server's store stays open on the same file throughout (WAL, own
  // writer): prune must work beside it.
  auto server_store = open_store(dir.db(), /*threaded=*/true);

  auto reports = prune_ended_sessions(dir.db(), now - 365 * day, now, "cli", /*batch_rows=*/7);
  INFO(reports.status().message());
  REQUIRE(reports.is_ok());
  REQUIRE(reports->size() == 1);
  const PruneReport& r = (*reports)[0];
  CHECK(r.session_id == old_ended);
  CHECK(r.comments == 25);
  CHECK(r.votes == 25);
  CHECK(r.moderation_events == 25);
  CHECK(r.on_air_events == 5);

  CHECK(count_for(old_ended) == std::vector<int64_t>{0, 0, 0, 0});
  CHECK(count_for(recent_ended) == full);
  CHECK(count_for(old_live) == full);
  CHECK(count_rows(dir.db(), "SELECT count(*) FROM sessions") == 4);  // session rows stay
  CHECK(count_rows(dir.db(), "SELECT count(*) FROM moderation_events WHERE comment_id = " +
                                 std::to_string(old_comment)) == 0);

  THEN("the audit log records the prune, and the audit export still verifies") {
    CHECK(count_rows(dir.db(), "SELECT count(*) FROM moderation_events WHERE action = 'prune' AND session_id = " +
                                   std::to_string(old_ended)) == 1);
    const Exported audit = export_all(dir.db(), old_ended, Format::audit);
    const auto lines = split_lines(audit.bytes);
    REQUIRE(lines.size() == 3);
    const json ev = json::parse(lines[1]);
    CHECK(ev["action"] == "prune");
    CHECK(ev["actor"] == "cli");
    CHECK(json::parse(ev["after_text"].get<std::string>())["comments"] == 25);
    CHECK(verify(audit.bytes).is_ok());
  }
  THEN("the server's store keeps writing, and a second prune is a no-op") {
    const int64_t id = add_comment(*server_store, old_live, "x", "after prune", 99'000);
    CHECK(id > old_comment);
    auto again = prune_ended_sessions(dir.db(), now - 365 * day, now, "cli");
    REQUIRE(again.is_ok());
    CHECK(again->empty());
    CHECK(count_rows(dir.db(), "SELECT count(*) FROM moderation_events WHERE action = 'prune'") == 1);
  }
  (void)old_scheduled;
}

// ---------------------------------------------------------------- CLI

SCENARIO("sabla export and archive prune through the real binary", "[archive][cli]") {
  Fixture fx;
  const std::string data = "--data " + quote((fx.dir.path / "data").string());
  const std::string session = "--session " + std::to_string(fx.session);

  SECTION("CSV to stdout is byte for byte the exporter's output") {
    const Run run = run_sabla(fx.dir, "export " + session + " --format csv " + data);
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK(run.out == export_all(fx.dir.db(), fx.session, Format::csv).bytes);
  }
  SECTION("--out writes the file and nothing to stdout") {
    const fs::path out = fx.dir.path / "audit.jsonl";
    const Run run = run_sabla(fx.dir, "export " + session + " --format audit --out " + quote(out.string()) + " " + data);
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK(run.out.empty());
    CHECK_FALSE(fs::exists(out.string() + ".partial"));
    const std::string bytes = read_file(out);
    CHECK(bytes == export_all(fx.dir.db(), fx.session, Format::audit).bytes);

    const Run ok = run_sabla(fx.dir, "export --verify " + quote(out.string()));
    CHECK(ok.exit_code == 0);
    CHECK(ok.out == "ok: 9 lines\n");

    std::string tampered = bytes;
    const size_t pos = tampered.find("omar");
    REQUIRE(pos != std::string::npos);
    tampered[pos] = 'O';
    write_file(out, tampered);
    const Run bad = run_sabla(fx.dir, "export --verify " + quote(out.string()));
    CHECK(bad.exit_code == 1);
    CHECK_THAT(bad.out, Catch::StartsWith("bad: line "));
  }
  SECTION("usage and runtime errors have distinct exit codes") {
    CHECK(run_sabla(fx.dir, "export " + session + " --format xlsx " + data).exit_code == 2);
    CHECK(run_sabla(fx.dir, "export --format csv " + data).exit_code == 2);
    CHECK(run_sabla(fx.dir, "export --verify x --session 1").exit_code == 2);
    const Run missing = run_sabla(fx.dir, "export --session 999 --format csv " + data);
    CHECK(missing.exit_code == 1);
    CHECK_THAT(missing.err, Catch::Contains("no session 999"));
    CHECK(run_sabla(fx.dir, "export --verify " + quote((fx.dir.path / "none").string())).exit_code == 1);
    const Run no_db = run_sabla(fx.dir, "export " + session + " --format csv --data " +
                                            quote((fx.dir.path / "empty").string()));
    CHECK(no_db.exit_code == 1);
    CHECK_FALSE(fs::exists(fx.dir.path / "empty"));
  }
  SECTION("archive prune reports per session and validates the duration") {
    CHECK(run_sabla(fx.dir, "archive prune --older-than 12x " + data).exit_code == 2);
    CHECK(run_sabla(fx.dir, "archive prune --older-than 0d " + data).exit_code == 2);
    // The fixture session ended in 2025; the clock says later than that.
    const Run far = run_sabla(fx.dir, "archive prune --older-than 36500d " + data);
    INFO(far.err);
    REQUIRE(far.exit_code == 0);
    CHECK_THAT(far.out, Catch::Contains("pruned 0 session(s)"));
    const Run run = run_sabla(fx.dir, "archive prune --older-than 1h " + data);
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.out, Catch::Contains("session " + std::to_string(fx.session) + " (Budget hearing"));
    CHECK_THAT(run.out, Catch::Contains("removed 10 comments, 2 votes, 7 moderation events, 8 on-air events"));
    CHECK(count_rows(fx.dir.db(), "SELECT count(*) FROM comments WHERE session_id = " +
                                      std::to_string(fx.session)) == 0);
  }
}
