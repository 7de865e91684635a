// Archive page queries (summaries, search, timeline, top), the session
// archive columns (viewers_peak, retention_days) and per-session retention,
// against real SQLite files written through the real Store (non-threaded)
// or direct SQL, and the real `sabla` binary for `archive prune`.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/store_helpers.h"
#include "archive/queries.h"
#include "store/archive_reader.h"
#include "store/schema.h"
#include "store/store.h"

using namespace sabla;
using namespace sabla::store;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path = fs::temp_directory_path() / ("sabla-queries-test-" + std::to_string(::getpid()) + "-" +
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
  fs::path data() const { return path / "data"; }
};

std::unique_ptr<Store> open_store(const std::string& path) { return test::open_test_store(path); }

template <class R, class Call>
R await(Store& store, Call call) {
  return test::await_store<R>(store, std::move(call));
}

constexpr int64_t kLiveAt = 1'764'400'000'000;  // 2025-11-29T07:06:40.000Z
constexpr int64_t kDay = 86'400'000;

int64_t add_session(Store& store, std::string status, std::optional<int64_t> live_at, std::optional<int64_t> ended_at,
                    std::string title_en = "Budget hearing") {
  SessionRow s;
  s.title_ar = "جلسة الميزانية";
  s.title_en = std::move(title_en);
  s.status = std::move(status);
  s.created_at_ms = live_at ? *live_at - 60'000 : kLiveAt;
  s.live_at_ms = live_at;
  s.ended_at_ms = ended_at;
  auto r = await<Result<SessionRow>>(store, [&](auto cb) { return store.create_session(s, cb); });
  REQUIRE(r.is_ok());
  return r->id;
}

int64_t add_comment(Store& store, int64_t session, std::string author, std::string text,
                    std::optional<int64_t> offset_ms, std::string source = "web", int64_t received_offset = -1) {
  CommentRow c;
  c.session_id = session;
  c.display_name = std::move(author);
  c.text = std::move(text);
  c.lang = "ar";
  c.direction = "rtl";
  c.source = std::move(source);
  c.received_at_ms = kLiveAt + (received_offset >= 0 ? received_offset : offset_ms.value_or(0));
  c.stream_offset_ms = offset_ms;
  auto r = await<Result<InsertedComment>>(store, [&](auto cb) { return store.insert_comment(c, std::nullopt, cb); });
  REQUIRE(r.is_ok());
  return r->id;
}

void decide(Store& store, int64_t id, CommentStatus status, std::string action) {
  Decision d;
  d.comment_id = id;
  d.new_status = status;
  d.event.action = std::move(action);
  d.event.actor = "amal";
  d.event.at_ms = kLiveAt + 1;
  REQUIRE(await<Status>(store, [&](auto cb) { return store.apply_decision(d, cb); }).is_ok());
}

void vote(Store& store, int64_t id, int64_t viewer) {
  REQUIRE(await<Result<std::pair<int64_t, bool>>>(store, [&](auto cb) { return store.add_vote(id, viewer, cb); })
              .is_ok());
}

OnAirEventRow on_air(int64_t session, std::string kind, int64_t comment, int64_t offset_ms) {
  OnAirEventRow r;
  r.session_id = session;
  r.at_ms = kLiveAt + offset_ms;
  r.stream_offset_ms = offset_ms;
  r.kind = std::move(kind);
  r.comment_id = comment;
  r.actor = "amal";
  return r;
}

void record(Store& store, std::vector<OnAirEventRow> rows) {
  REQUIRE(await<Status>(store, [&](auto cb) { return store.record_on_air(rows, json(nullptr), cb); }).is_ok());
}

int64_t scalar(const std::string& db_path, const std::string& sql) {
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

void exec_sql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : "") << " in " << sql);
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

json value(Result<json> r) {
  INFO(r.status().code() << ": " << r.status().message());
  REQUIRE(r.is_ok());
  // Whatever the HTTP layer does with it, dump() must not throw.
  REQUIRE_NOTHROW(r->dump());
  return std::move(r.value());
}

std::vector<int64_t> ids_of(const json& list) {
  std::vector<int64_t> out;
  for (const json& c : list) out.push_back(c.at("id").get<int64_t>());
  return out;
}

json search(const std::string& db, int64_t session, const std::string& q, const std::string& status = "",
            const std::string& source = "", const std::string& author = "", int64_t limit = 50, int64_t offset = 0) {
  return value(archive::search_comments(db, session, q, status, source, author, limit, offset));
}

// An ended session with Arabic comments in several forms.
struct Fixture {
  TempDir dir;
  int64_t session = 0;
  int64_t other = 0;
  std::vector<int64_t> ids;
  Fixture() {
    auto store = open_store(dir.db());
    session = add_session(*store, "ended", kLiveAt, kLiveAt + 10 * 60'000);
    other = add_session(*store, "ended", kLiveAt, kLiveAt + 1000, "Other");
    add_comment(*store, other, "أحمد", "أحمد في جلسة أخرى", 500);
    // 0: hamza on alef in the author and the text
    ids.push_back(add_comment(*store, session, "أحمد علي", "سؤال عن الطرق", 5'000));
    // 1: diacritics and tatweel in the text
    ids.push_back(add_comment(*store, session, "مريم", "مَدْرَسَةُ الحـــيّ الجديدة", 30'000));
    // 2: plain forms, from a bridge
    ids.push_back(add_comment(*store, session, "Sam", "احمد said the school budget is late", 65'000, "youtube"));
    // 3: minute 2, rejected
    ids.push_back(add_comment(*store, session, "نور", "إلى متى الانتظار؟", 130'000));
    // 4: no stored offset: bucketed by received time - live_at (minute 3)
    ids.push_back(add_comment(*store, session, "ليلى", "المدرسة مغلقة", std::nullopt, "web", 200'000));
    // 5: hidden
    ids.push_back(add_comment(*store, session, "x", "spam", 201'000));
    // 6: pending, received before going live (minute -1)
    ids.push_back(add_comment(*store, session, "early", "قبل البث", -20'000, "web", 0));
    decide(*store, ids[0], CommentStatus::approved, "approve");
    decide(*store, ids[1], CommentStatus::approved, "approve");
    decide(*store, ids[2], CommentStatus::approved, "auto_approve");
    decide(*store, ids[3], CommentStatus::rejected, "reject");
    decide(*store, ids[4], CommentStatus::approved, "approve");
    decide(*store, ids[5], CommentStatus::hidden, "hide");
    for (int64_t v : {1, 2, 3}) vote(*store, ids[1], v);
    for (int64_t v : {1, 2}) vote(*store, ids[4], v);
    vote(*store, ids[0], 1);
    vote(*store, ids[3], 9);
    // On air: 0 from 10 s, replaced by 1 at 40 s; 1 cleared at 70 s;
    // 0 again from 100 s and never cleared (closes at the session end).
    record(*store, {on_air(session, "aired", ids[0], 10'000)});
    record(*store, {on_air(session, "replaced", ids[0], 40'000), on_air(session, "aired", ids[1], 40'000)});
    record(*store, {on_air(session, "cleared", ids[1], 70'000)});
    record(*store, {on_air(session, "aired", ids[0], 100'000)});
    REQUIRE(await<Status>(*store, [&](auto cb) { return store->record_viewers_peak(session, 42, cb); }).is_ok());
  }
};

struct Run {
  int exit_code = -1;
  std::string out;
};

Run run_sabla(const std::string& args) {
  const std::string command = std::string("'") + SABLA_BINARY + "' " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  Run run;
  char buffer[65536];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

void touch(const fs::path& p, const std::string& content = "x") {
  std::ofstream out(p, std::ios::binary);
  out << content;
}

}  // namespace

// ---------------------------------------------------------------- schema

SCENARIO("the session archive migration adds viewers_peak and retention_days", "[archive]") {
  GIVEN("a database written by the schema before the migration") {
    TempDir dir;
    const auto& list = schema::migrations();
    size_t at = 0;  // the migration under test; later ones run when the store opens
    while (at < list.size() && std::string(list[at].name) != "0004_session_archive") ++at;
    REQUIRE(at < list.size());
    std::string old_schema;
    for (size_t i = 0; i < at; ++i) old_schema += std::string(list[i].sql);
    exec_sql(dir.db(), old_schema + "PRAGMA user_version = " + std::to_string(at) + ";" +
                           "INSERT INTO sessions (id, title_en, status, created_at_ms) VALUES (1, 'old', 'ended', 5);");

    THEN("the archive reads it as it is: no columns yet, peak 0, kept forever") {
      auto s = value(archive::session_summaries(dir.db()));
      REQUIRE(s["sessions"].size() == 1);
      CHECK(s["sessions"][0]["viewers_peak"] == 0);
      CHECK(s["sessions"][0]["retention_days"].is_null());
      auto pruned = prune_expired_sessions(dir.db(), kLiveAt, "test");
      REQUIRE(pruned.is_ok());
      CHECK(pruned->empty());
    }
    WHEN("the store opens it") {
      auto store = open_store(dir.db());
      THEN("the columns exist with their defaults, and the writes work") {
        CHECK(scalar(dir.db(), "PRAGMA user_version") == current_schema_version());
        CHECK(scalar(dir.db(), "SELECT viewers_peak FROM sessions WHERE id = 1") == 0);
        CHECK(scalar(dir.db(), "SELECT retention_days IS NULL FROM sessions WHERE id = 1") == 1);

        auto peak = [&](int64_t session, int64_t n) {
          return await<Status>(*store, [&](auto cb) { return store->record_viewers_peak(session, n, cb); });
        };
        REQUIRE(peak(1, 17).is_ok());
        REQUIRE(peak(1, 5).is_ok());  // never lowers
        CHECK(scalar(dir.db(), "SELECT viewers_peak FROM sessions WHERE id = 1") == 17);
        CHECK(peak(99, 3).code() == "not_found");

        auto retain = [&](int64_t session, std::optional<int64_t> days) {
          return await<Status>(*store, [&](auto cb) { return store->set_retention(session, days, cb); });
        };
        REQUIRE(retain(1, 30).is_ok());
        CHECK(scalar(dir.db(), "SELECT retention_days FROM sessions WHERE id = 1") == 30);
        REQUIRE(retain(1, std::nullopt).is_ok());
        CHECK(scalar(dir.db(), "SELECT retention_days IS NULL FROM sessions WHERE id = 1") == 1);
        CHECK(retain(1, -1).code() == "invalid");
        CHECK(retain(99, 1).code() == "not_found");

        auto s = value(archive::session_summaries(dir.db()));
        CHECK(s["sessions"][0]["viewers_peak"] == 17);
      }
    }
  }
}

// ---------------------------------------------------------------- summaries

SCENARIO("session summaries count comments per status and aired comments", "[archive]") {
  Fixture fx;
  fs::create_directories(fx.dir.data() / "recordings");
  touch(fx.dir.data() / "recordings" / ("session-" + std::to_string(fx.session) + "-program.mkv"), "12345");
  touch(fx.dir.data() / "recordings" / ("session-" + std::to_string(fx.session) + "1-other.mkv"));
  touch(fx.dir.data() / "recordings" / "notes.txt");

  const json all = value(archive::session_summaries(fx.dir.db()));
  REQUIRE(all["sessions"].size() == 2);
  const json& s = all["sessions"][0];
  CHECK(s["id"] == fx.session);
  CHECK(s["title_ar"] == "جلسة الميزانية");
  CHECK(s["title_en"] == "Budget hearing");
  CHECK(s["status"] == "ended");
  CHECK(s["live_at_ms"] == kLiveAt);
  CHECK(s["ended_at_ms"] == kLiveAt + 600'000);
  CHECK(s["duration_ms"] == 600'000);
  CHECK(s["viewers_peak"] == 42);
  CHECK(s["retention_days"].is_null());
  CHECK(s["received"] == 7);
  CHECK(s["approved"] == 4);
  CHECK(s["rejected"] == 1);
  CHECK(s["hidden"] == 1);
  CHECK(s["pending"] == 1);
  CHECK(s["aired"] == 2);  // distinct: comment 0 aired twice
  CHECK(s["sources"] == json{{"web", 6}, {"youtube", 1}});
  REQUIRE(s["recordings"].size() == 1);
  CHECK(s["recordings"][0]["name"] == "session-" + std::to_string(fx.session) + "-program.mkv");
  CHECK(s["recordings"][0]["bytes"] == 5);

  const json& o = all["sessions"][1];
  CHECK(o["received"] == 1);
  CHECK(o["aired"] == 0);
  CHECK(o["sources"] == json{{"web", 1}});
  CHECK(o["recordings"].empty());

  CHECK(archive::session_summaries((fx.dir.path / "missing.db").string()).status().code() == "not_found");
}

// ---------------------------------------------------------------- search

SCENARIO("search matches Arabic-normalised text and authors", "[archive]") {
  Fixture fx;
  const std::string db = fx.dir.db();

  WHEN("searching a name without the hamza") {
    const json r = search(db, fx.session, "احمد");
    THEN("the author with the hamza and the text without it are found, not the other session's") {
      CHECK(ids_of(r["comments"]) == std::vector<int64_t>{fx.ids[0], fx.ids[2]});
      CHECK(r["more"] == false);
    }
  }
  WHEN("searching with the hamza") {
    CHECK(ids_of(search(db, fx.session, "أحمد")["comments"]) == std::vector<int64_t>{fx.ids[0], fx.ids[2]});
  }
  WHEN("searching without diacritics, tatweel or taa marbuta") {
    CHECK(ids_of(search(db, fx.session, "مدرسه")["comments"]) == std::vector<int64_t>{fx.ids[1], fx.ids[4]});
    CHECK(ids_of(search(db, fx.session, "الحي")["comments"]) == std::vector<int64_t>{fx.ids[1]});
  }
  WHEN("searching with diacritics the text does not have") {
    CHECK(ids_of(search(db, fx.session, "الْمَدْرَسَة")["comments"]) == std::vector<int64_t>{fx.ids[4]});
  }
  WHEN("searching alef with hamza below and Latin in another case") {
    CHECK(ids_of(search(db, fx.session, "الى")["comments"]) == std::vector<int64_t>{fx.ids[3]});
    CHECK(ids_of(search(db, fx.session, "SCHOOL")["comments"]) == std::vector<int64_t>{fx.ids[2]});
  }
  THEN("a comment carries the documented fields") {
    const json r = search(db, fx.session, "علي");
    REQUIRE(r["comments"].size() == 1);
    const json& c = r["comments"][0];
    CHECK(c["id"] == fx.ids[0]);
    CHECK(c["received_at_ms"] == kLiveAt + 5'000);
    CHECK(c["stream_offset_ms"] == 5'000);
    CHECK(c["author"] == "أحمد علي");
    CHECK(c["source"] == "web");
    CHECK(c["text"] == "سؤال عن الطرق");
    CHECK(c["status"] == "approved");
    CHECK(c["votes"] == 1);
    CHECK(c["aired"] == true);
    CHECK(c["dir"] == "rtl");
  }
  THEN("a comment without a stored offset gets received time minus live_at") {
    const json r = search(db, fx.session, "مغلقه");
    REQUIRE(r["comments"].size() == 1);
    CHECK(r["comments"][0]["stream_offset_ms"] == 200'000);
    CHECK(r["comments"][0]["aired"] == false);
  }
}

SCENARIO("search filters by status, source and author, and pages with limit and more", "[archive]") {
  Fixture fx;
  const std::string db = fx.dir.db();
  CHECK(ids_of(search(db, fx.session, "")["comments"]).size() == 7);
  CHECK(ids_of(search(db, fx.session, "", "approved")["comments"]) ==
        std::vector<int64_t>{fx.ids[0], fx.ids[1], fx.ids[2], fx.ids[4]});
  CHECK(ids_of(search(db, fx.session, "", "rejected")["comments"]) == std::vector<int64_t>{fx.ids[3]});
  CHECK(ids_of(search(db, fx.session, "", "", "youtube")["comments"]) == std::vector<int64_t>{fx.ids[2]});
  CHECK(ids_of(search(db, fx.session, "", "", "", "احمد")["comments"]) == std::vector<int64_t>{fx.ids[0]});
  CHECK(ids_of(search(db, fx.session, "مدرسه", "approved", "web")["comments"]) ==
        std::vector<int64_t>{fx.ids[1], fx.ids[4]});
  CHECK(search(db, fx.session, "", "pending", "youtube")["comments"].empty());

  WHEN("the limit is smaller than the matches") {
    const json p1 = search(db, fx.session, "", "approved", "", "", 3, 0);
    const json p2 = search(db, fx.session, "", "approved", "", "", 3, 3);
    const json exact = search(db, fx.session, "", "approved", "", "", 4, 0);
    THEN("more says whether another match follows, and offset continues") {
      CHECK(ids_of(p1["comments"]) == std::vector<int64_t>{fx.ids[0], fx.ids[1], fx.ids[2]});
      CHECK(p1["more"] == true);
      CHECK(ids_of(p2["comments"]) == std::vector<int64_t>{fx.ids[4]});
      CHECK(p2["more"] == false);
      CHECK(exact["more"] == false);
    }
  }
  THEN("limits are clamped and bad arguments are errors") {
    CHECK(search(db, fx.session, "", "", "", "", 0)["comments"].size() == 1);
    CHECK(search(db, fx.session, "", "", "", "", 100000)["comments"].size() == 7);
    CHECK(archive::search_comments(db, fx.session, "", "aired", "", "", 10, 0).status().code() == "invalid");
    CHECK(archive::search_comments(db, fx.session, "", "", "", "", 10, -1).status().code() == "invalid");
    CHECK(archive::search_comments(db, 999, "", "", "", "", 10, 0).status().code() == "not_found");
  }
}

SCENARIO("search scans a large session in pages and stops at the limit", "[archive]") {
  TempDir dir;
  int64_t session = 0;
  {
    auto store = open_store(dir.db());
    session = add_session(*store, "ended", kLiveAt, kLiveAt + 3'600'000);
  }
  // 3000 comments by SQL; every 100th mentions أحمد.
  std::string sql = "BEGIN;";
  for (int i = 0; i < 3000; ++i) {
    sql += "INSERT INTO comments (session_id, display_name, text, received_at_ms, stream_offset_ms, status) VALUES (" +
           std::to_string(session) + ", 'v" + std::to_string(i) + "', '" +
           (i % 100 == 0 ? std::string("سلام أحمد ") : std::string("تعليق ")) + std::to_string(i) + "', " +
           std::to_string(kLiveAt + i * 1000) + ", " + std::to_string(i * 1000) + ", 'approved');";
  }
  sql += "COMMIT;";
  exec_sql(dir.db(), sql);
  const json r = search(dir.db(), session, "احمد", "", "", "", 5, 0);
  CHECK(r["comments"].size() == 5);
  CHECK(r["more"] == true);
  CHECK_FALSE(r.contains("partial"));
  const json rest = search(dir.db(), session, "احمد", "", "", "", 500, 5);
  CHECK(rest["comments"].size() == 25);
  CHECK(rest["more"] == false);
  CHECK(search(dir.db(), session, "لا يوجد", "", "", "", 10, 0)["comments"].empty());
}

// ---------------------------------------------------------------- timeline

SCENARIO("the timeline counts comments per minute and lists on-air periods", "[archive]") {
  Fixture fx;
  const json t = value(archive::timeline(fx.dir.db(), fx.session, kLiveAt + kDay));
  CHECK(t["bucket_ms"] == 60'000);
  CHECK(t["session"]["id"] == fx.session);
  CHECK(t["session"]["duration_ms"] == 600'000);
  CHECK(t["truncated"] == false);

  const json& m = t["minutes"];
  REQUIRE(m.size() == 5);
  // minute -1: the pending comment before going live
  CHECK(m[0]["minute"] == -1);
  CHECK(m[0]["from_ms"] == -60'000);
  CHECK(m[0]["received"] == 1);
  CHECK(m[0]["pending"] == 1);
  // minute 0: comments 0 and 1 (approved)
  CHECK(m[1]["minute"] == 0);
  CHECK(m[1]["received"] == 2);
  CHECK(m[1]["approved"] == 2);
  CHECK(m[1]["rejected"] == 0);
  // minute 1: comment 2
  CHECK(m[2]["minute"] == 1);
  CHECK(m[2]["approved"] == 1);
  // minute 2: comment 3 (rejected)
  CHECK(m[3]["minute"] == 2);
  CHECK(m[3]["rejected"] == 1);
  CHECK(m[3]["approved"] == 0);
  // minute 3: comment 4 (by received time) and 5 (hidden)
  CHECK(m[4]["minute"] == 3);
  CHECK(m[4]["received"] == 2);
  CHECK(m[4]["approved"] == 1);
  CHECK(m[4]["hidden"] == 1);

  const json& p = t["on_air"];
  REQUIRE(p.size() == 3);
  CHECK(p[0]["comment_id"] == fx.ids[0]);
  CHECK(p[0]["from_ms"] == 10'000);
  CHECK(p[0]["to_ms"] == 40'000);
  CHECK(p[0]["author"] == "أحمد علي");
  CHECK(p[0]["text"] == "سؤال عن الطرق");
  CHECK(p[1]["comment_id"] == fx.ids[1]);
  CHECK(p[1]["from_ms"] == 40'000);
  CHECK(p[1]["to_ms"] == 70'000);
  CHECK(p[2]["comment_id"] == fx.ids[0]);
  CHECK(p[2]["from_ms"] == 100'000);
  CHECK(p[2]["to_ms"] == 600'000);  // never cleared: the session end
  for (const json& period : p) CHECK(period["on_air_now"] == false);  // the session has ended

  CHECK(archive::timeline(fx.dir.db(), 999, kLiveAt).status().code() == "not_found");
}

SCENARIO("in a live session a comment still on screen runs to now and is shown as on air", "[archive]") {
  TempDir dir;
  int64_t session = 0, first = 0, second = 0;
  {
    auto store = open_store(dir.db());
    session = add_session(*store, "live", kLiveAt, std::nullopt);
    first = add_comment(*store, session, "مريم", "سؤال أول", 5'000);
    second = add_comment(*store, session, "أحمد", "سؤال ما زال على الشاشة", 20'000);
    decide(*store, first, CommentStatus::approved, "approve");
    decide(*store, second, CommentStatus::approved, "approve");
    // first from 10 s to 60 s; second from 60 s and never taken off.
    record(*store, {on_air(session, "aired", first, 10'000)});
    record(*store, {on_air(session, "replaced", first, 60'000), on_air(session, "aired", second, 60'000)});
  }
  WHEN("the report is asked for 20 minutes after going live") {
    const json t = value(archive::timeline(dir.db(), session, kLiveAt + 20 * 60'000));
    const json& p = t["on_air"];
    REQUIRE(p.size() == 2);
    THEN("the closed period keeps its end and the open one runs to now, marked on air") {
      CHECK(p[0]["comment_id"] == first);
      CHECK(p[0]["to_ms"] == 60'000);
      CHECK(p[0]["on_air_now"] == false);
      CHECK(p[1]["comment_id"] == second);
      CHECK(p[1]["from_ms"] == 60'000);
      CHECK(p[1]["to_ms"] == 20 * 60'000);  // not the last event (60 s), not start + 8 s
      CHECK(p[1]["on_air_now"] == true);
    }
  }
  WHEN("the wall clock is behind the last on-air event (stream offsets run ahead)") {
    const json t = value(archive::timeline(dir.db(), session, kLiveAt + 30'000));
    THEN("the open period never ends before it began") {
      CHECK(t["on_air"][1]["to_ms"] == 60'000);
      CHECK(t["on_air"][1]["on_air_now"] == true);
    }
  }
  WHEN("the session then ends") {
    {
      auto store = open_store(dir.db());
      SessionRow ended;
      ended.id = session;
      ended.title_ar = "جلسة الميزانية";
      ended.title_en = "Budget hearing";
      ended.status = "ended";
      ended.created_at_ms = kLiveAt - 60'000;
      ended.live_at_ms = kLiveAt;
      ended.ended_at_ms = kLiveAt + 5 * 60'000;
      REQUIRE(await<Status>(*store, [&](auto cb) { return store->update_session(ended, cb); }).is_ok());
    }
    const json t = value(archive::timeline(dir.db(), session, kLiveAt + 20 * 60'000));
    THEN("the open period closes at the session end and is no longer on air") {
      CHECK(t["on_air"][1]["to_ms"] == 5 * 60'000);
      CHECK(t["on_air"][1]["on_air_now"] == false);
    }
  }
}

// ---------------------------------------------------------------- top

SCENARIO("top questions are approved comments only, ordered by votes", "[archive]") {
  Fixture fx;
  {
    // The most upvoted comments of the session are ones that must not be
    // listed: rejected (3), hidden (5) and still pending (6).
    auto store = open_store(fx.dir.db());
    for (int64_t v = 10; v < 16; ++v) vote(*store, fx.ids[3], v);
    for (int64_t v = 10; v < 15; ++v) vote(*store, fx.ids[5], v);
    for (int64_t v = 10; v < 14; ++v) vote(*store, fx.ids[6], v);
  }
  const json t = value(archive::top_comments(fx.dir.db(), fx.session, 3));
  REQUIRE(t["comments"].size() == 3);
  CHECK(ids_of(t["comments"]) == std::vector<int64_t>{fx.ids[1], fx.ids[4], fx.ids[0]});
  CHECK(t["comments"][0]["votes"] == 3);
  CHECK(t["comments"][0]["status"] == "approved");
  CHECK(t["comments"][0]["aired"] == true);
  CHECK(t["comments"][1]["aired"] == false);
  // Every approved comment and nothing else; ties by id (2 has no votes).
  const json all = value(archive::top_comments(fx.dir.db(), fx.session, 1000));
  CHECK(ids_of(all["comments"]) == std::vector<int64_t>{fx.ids[1], fx.ids[4], fx.ids[0], fx.ids[2]});
  for (const json& c : all["comments"]) CHECK(c["status"] == "approved");
  CHECK(value(archive::top_comments(fx.dir.db(), fx.session, 0))["comments"].size() == 1);
}

SCENARIO("invalid UTF-8 in stored text comes out as valid JSON", "[archive]") {
  Fixture fx;
  exec_sql(fx.dir.db(), "UPDATE comments SET text = CAST(x'41ff42' AS TEXT), display_name = CAST(x'c3' AS TEXT) "
                        "WHERE id = " + std::to_string(fx.ids[1]));
  const json t = value(archive::top_comments(fx.dir.db(), fx.session, 1));
  CHECK(t["comments"][0]["text"] == "A\xEF\xBF\xBD" "B");
  value(archive::search_comments(fx.dir.db(), fx.session, "", "", "", "", 50, 0));
  value(archive::timeline(fx.dir.db(), fx.session, kLiveAt));
}

// ---------------------------------------------------------------- retention

SCENARIO("prune applies each session's own retention", "[archive]") {
  TempDir dir;
  const int64_t now = kLiveAt + 400 * kDay;
  int64_t expired = 0, young = 0, forever = 0, live = 0;
  {
    auto store = open_store(dir.db());
    expired = add_session(*store, "ended", kLiveAt, kLiveAt + kDay, "expired");       // ended 399 days ago
    young = add_session(*store, "ended", kLiveAt, now - 10 * kDay, "young");          // ended 10 days ago
    forever = add_session(*store, "ended", kLiveAt, kLiveAt + kDay, "forever");       // no retention
    live = add_session(*store, "live", kLiveAt, std::nullopt, "live");
    for (int64_t s : {expired, young, forever, live}) {
      const int64_t c = add_comment(*store, s, "a", "نص", 1000);
      vote(*store, c, 1);
      record(*store, {on_air(s, "aired", c, 2000)});
    }
    auto retain = [&](int64_t session, std::optional<int64_t> days) {
      REQUIRE(await<Status>(*store, [&](auto cb) { return store->set_retention(session, days, cb); }).is_ok());
    };
    retain(expired, 365);
    retain(young, 30);
    retain(live, 1);
  }
  auto reports = prune_expired_sessions(dir.db(), now, "test", 1);
  INFO(reports.status().message());
  REQUIRE(reports.is_ok());
  REQUIRE(reports->size() == 1);
  const PruneReport& r = (*reports)[0];
  CHECK(r.session_id == expired);
  CHECK(r.retention_days == 365);
  CHECK(r.comments == 1);
  CHECK(r.votes == 1);
  CHECK(r.on_air_events == 1);
  for (int64_t s : {young, forever, live}) {
    CHECK(scalar(dir.db(), "SELECT count(*) FROM comments WHERE session_id = " + std::to_string(s)) == 1);
  }
  CHECK(scalar(dir.db(), "SELECT count(*) FROM comments WHERE session_id = " + std::to_string(expired)) == 0);
  CHECK(scalar(dir.db(), "SELECT count(*) FROM moderation_events WHERE action = 'prune' AND session_id = " +
                             std::to_string(expired)) == 1);
  // The session row stays, so the archive still lists it (with no comments).
  const json s = value(archive::session_summaries(dir.db()));
  CHECK(s["sessions"][0]["retention_days"] == 365);
  CHECK(s["sessions"][0]["received"] == 0);
  // A second run removes nothing.
  auto again = prune_expired_sessions(dir.db(), now, "test");
  REQUIRE(again.is_ok());
  CHECK(again->empty());
  // 20 days later the 30-day session goes too.
  auto later = prune_expired_sessions(dir.db(), now + 20 * kDay, "test");
  REQUIRE(later.is_ok());
  REQUIRE(later->size() == 1);
  CHECK((*later)[0].session_id == young);
}

SCENARIO("sabla archive prune without --older-than uses per-session retention and removes recordings",
         "[archive][cli]") {
  TempDir dir;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  int64_t expired = 0, kept = 0;
  {
    auto store = open_store(dir.db());
    expired = add_session(*store, "ended", now - 40 * kDay, now - 31 * kDay, "expired");
    kept = add_session(*store, "ended", now - 40 * kDay, now - 31 * kDay, "kept");
    add_comment(*store, expired, "a", "نص", 1000);
    add_comment(*store, kept, "a", "نص", 1000);
    REQUIRE(await<Status>(*store, [&](auto cb) { return store->set_retention(expired, 30, cb); }).is_ok());
  }
  const fs::path rec = dir.data() / "recordings";
  fs::create_directories(rec);
  const std::string e = std::to_string(expired);
  const std::string k = std::to_string(kept);
  touch(rec / ("session-" + e + "-program.mkv"));
  touch(rec / ("session-" + e + "-program.ts"));
  touch(rec / ("session-" + k + "-program.mkv"));
  touch(rec / ("session-" + e + "0-program.mkv"));  // session 10x, not this one
  const std::string data = "--data '" + dir.data().string() + "'";

  const Run run = run_sabla("archive prune " + data);
  INFO(run.out);
  CHECK(run.exit_code == 0);
  CHECK_THAT(run.out, Catch::Contains("session " + e + " (expired"));
  CHECK_THAT(run.out, Catch::Contains("kept 30 day(s)"));
  CHECK_THAT(run.out, Catch::Contains("removed recording session-" + e + "-program.mkv"));
  CHECK_THAT(run.out, Catch::Contains("pruned 1 session(s) past their retention, removed 2 recording file(s)"));
  CHECK_FALSE(fs::exists(rec / ("session-" + e + "-program.mkv")));
  CHECK_FALSE(fs::exists(rec / ("session-" + e + "-program.ts")));
  CHECK(fs::exists(rec / ("session-" + k + "-program.mkv")));
  CHECK(fs::exists(rec / ("session-" + e + "0-program.mkv")));
  CHECK(scalar(dir.db(), "SELECT count(*) FROM comments WHERE session_id = " + k) == 1);
  CHECK(scalar(dir.db(), "SELECT count(*) FROM comments WHERE session_id = " + e) == 0);
  // Both the rows and the files left a trace in the audit log.
  CHECK(scalar(dir.db(), "SELECT count(*) FROM moderation_events WHERE action = 'prune' AND session_id = " + e) == 2);
  CHECK(scalar(dir.db(), "SELECT count(*) FROM moderation_events WHERE action = 'prune' AND after_text LIKE "
                         "'%session-" + e + "-program.ts%'") == 1);

  const Run again = run_sabla("archive prune " + data);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.out, Catch::Contains("pruned 0 session(s) past their retention, removed 0 recording file(s)"));

  // --older-than prunes every ended session before the cut-off, recordings too.
  const Run all = run_sabla("archive prune --older-than 30d " + data);
  INFO(all.out);
  CHECK(all.exit_code == 0);
  CHECK_THAT(all.out, Catch::Contains("session " + k + " (kept"));
  CHECK_FALSE(fs::exists(rec / ("session-" + k + "-program.mkv")));
}
