#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/store_helpers.h"
#include "store/store.h"

using namespace sabla;
using namespace sabla::store;

namespace {

namespace fs = std::filesystem;

// A fresh directory per test so real SQLite files (with their -wal and -shm
// companions) never leak between tests or runs.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path = fs::temp_directory_path() /
           ("sabla-store-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
            std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string db() const { return (path / "sabla.db").string(); }
};

// Runs completions on whatever thread posts them: the caller's in
// unthreaded mode, the writer's in threaded mode (right after COMMIT).
Poster inline_poster() {
  return [](Task t) { t(); };
}

Store::Options options_for(const std::string& path, bool threaded) {
  Store::Options o;
  o.path = path;
  o.threaded = threaded;
  return o;
}

std::unique_ptr<Store> open_store(const Store::Options& o, Poster poster = inline_poster()) {
  auto r = Store::open(o, std::move(poster));
  INFO(r.status().code() << ": " << r.status().message());
  REQUIRE(r.is_ok());
  return std::move(r.value());
}

// Issues one write and waits for its completion. The callback may run on the
// writer thread, so the result is handed over under a mutex and only checked
// here, on the test thread (Catch2 assertions are not thread-safe).
template <class R, class Call>
R await(Store& store, Call call) {
  return test::await_store<R>(store, std::move(call));
}

int64_t create_session(Store& store, const std::string& status) {
  SessionRow s;
  s.title_ar = "جلسة";
  s.title_en = "Session";
  s.status = status;
  s.created_at_ms = 1'700'000'000'000;
  auto r = await<Result<SessionRow>>(store, [&](auto cb) { return store.create_session(s, cb); });
  REQUIRE(r.is_ok());
  CHECK(r->id > 0);
  CHECK(r->title_ar == "جلسة");
  return r->id;
}

CommentRow web_comment(int64_t session_id, int64_t viewer_id, std::string client_id, std::string text) {
  CommentRow c;
  c.session_id = session_id;
  c.viewer_id = viewer_id;
  c.display_name = "سالم";
  c.text = std::move(text);
  c.lang = "ar";
  c.direction = "rtl";
  c.source = "web";
  c.client_id = std::move(client_id);
  c.received_at_ms = 1'700'000'000'500;
  c.stream_offset_ms = 125'000;
  return c;
}

CommentRow bridge_comment(int64_t session_id, std::string source, std::string external_id,
                          std::string text) {
  CommentRow c;
  c.session_id = session_id;
  c.display_name = "YT user";
  c.text = std::move(text);
  c.lang = "en";
  c.source = std::move(source);
  c.external_id = std::move(external_id);
  c.received_at_ms = 1'700'000'001'000;
  return c;
}

Result<InsertedComment> insert(Store& store, const CommentRow& row,
                               std::optional<ModerationEvent> event = std::nullopt) {
  return await<Result<InsertedComment>>(
      store, [&](auto cb) { return store.insert_comment(row, event, cb); });
}

// An independent connection, as another process would open one: proves what
// has really been committed to the file.
struct RawDb {
  sqlite3* db = nullptr;
  explicit RawDb(const std::string& path, int flags = SQLITE_OPEN_READONLY) {
    if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      db = nullptr;
    }
  }
  ~RawDb() { sqlite3_close(db); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // First column of the first row, or nullopt on error / no row.
  std::optional<int64_t> integer(const std::string& sql, std::optional<int64_t> param = std::nullopt) {
    if (!db) return std::nullopt;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return std::nullopt;
    if (param) sqlite3_bind_int64(st, 1, *param);
    std::optional<int64_t> out;
    if (sqlite3_step(st) == SQLITE_ROW) out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return out;
  }
  std::optional<std::string> text(const std::string& sql, std::optional<int64_t> param = std::nullopt) {
    if (!db) return std::nullopt;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return std::nullopt;
    if (param) sqlite3_bind_int64(st, 1, *param);
    std::optional<std::string> out;
    if (sqlite3_step(st) == SQLITE_ROW) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      out = p ? p : "";
    }
    sqlite3_finalize(st);
    return out;
  }
  bool exec(const std::string& sql) {
    return db && sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
  }
};

ModerationEvent event_of(std::string action, std::string actor) {
  ModerationEvent e;
  e.action = std::move(action);
  e.actor = std::move(actor);
  e.at_ms = 1'700'000'002'000;
  return e;
}

}  // namespace

SCENARIO("the schema is built by migrations and versioned", "[store]") {
  TempDir dir;
  const std::string path = dir.db();

  GIVEN("an empty directory") {
    WHEN("the store opens") {
      auto store = open_store(options_for(path, true));
      THEN("every migration is applied and recorded in user_version") {
        REQUIRE(current_schema_version() >= 1);
        auto v = store->schema_version();
        REQUIRE(v.is_ok());
        CHECK(*v == current_schema_version());
        RawDb raw(path);
        CHECK(raw.integer("PRAGMA user_version") == current_schema_version());
        CHECK(raw.text("PRAGMA journal_mode") == "wal");
        for (const char* table : {"sessions", "viewers", "comments", "votes", "moderation_events",
                                  "ip_bans", "settings", "accounts", "api_tokens", "auth_sessions"}) {
          INFO(table);
          CHECK(raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '" +
                            std::string(table) + "'") == 1);
        }
        CHECK(raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                          "('comments_viewer_client', 'comments_source_external', 'comments_session')") ==
              3);
      }
    }
  }

  GIVEN("a database written and closed by the store") {
    int64_t session_id = 0;
    {
      auto store = open_store(options_for(path, true));
      session_id = create_session(*store, "live");
    }
    const auto objects = RawDb(path).integer("SELECT count(*) FROM sqlite_master");
    WHEN("it is reopened") {
      auto store = open_store(options_for(path, true));
      THEN("nothing is migrated again and the data is intact") {
        CHECK(store->schema_version().value() == current_schema_version());
        CHECK(RawDb(path).integer("SELECT count(*) FROM sqlite_master") == objects);
        auto sessions = store->list_sessions();
        REQUIRE(sessions.is_ok());
        REQUIRE(sessions->size() == 1);
        CHECK(sessions->front().id == session_id);
        CHECK(sessions->front().title_ar == "جلسة");
      }
    }
  }

  GIVEN("a database from a newer build") {
    {
      RawDb raw(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
      REQUIRE(raw.exec("PRAGMA user_version = " + std::to_string(current_schema_version() + 1)));
    }
    WHEN("the store opens it") {
      auto r = Store::open(options_for(path, true), inline_poster());
      THEN("it refuses with schema_too_new and leaves the file alone") {
        REQUIRE_FALSE(r.is_ok());
        CHECK(r.status().code() == "schema_too_new");
        CHECK_FALSE(r.status().message().empty());
        RawDb raw(path);
        CHECK(raw.integer("PRAGMA user_version") == current_schema_version() + 1);
        CHECK(raw.integer("SELECT count(*) FROM sqlite_master") == 0);
        CHECK(raw.text("PRAGMA journal_mode") == "delete");
      }
    }
  }

  GIVEN("an in-memory database") {
    THEN("threaded mode refuses it (its reader could not see the writer's data)") {
      auto r = Store::open(options_for(":memory:", true), inline_poster());
      REQUIRE_FALSE(r.is_ok());
      CHECK(r.status().code() == "invalid");
    }
    THEN("unthreaded mode works, reads sharing the one connection") {
      auto store = open_store(options_for(":memory:", false));
      const int64_t sid = create_session(*store, "live");
      auto r = insert(*store, web_comment(sid, 1, "c1", "hi"));
      REQUIRE(r.is_ok());
      auto comments = store->comments_of_session(sid);
      REQUIRE(comments.is_ok());
      CHECK(comments->size() == 1);
    }
  }
}

SCENARIO("writes are group-committed and acknowledged only after COMMIT", "[store]") {
  TempDir dir;
  const std::string path = dir.db();
  GIVEN("a threaded store whose completions run on the writer thread right after posting") {
    // Declared before the store: its completions write here.
    constexpr int kCount = 1000;
    std::mutex m;
    std::vector<int> order;    // GUARDED_BY(m)
    std::vector<int64_t> ids;  // GUARDED_BY(m)
    int failures = 0;          // GUARDED_BY(m)
    int visible = 0;           // GUARDED_BY(m)

    auto o = options_for(path, true);
    o.max_batch_delay_ms = 5;
    auto store = open_store(o);
    const int64_t sid = create_session(*store, "live");
    const StoreMetrics before = store->metrics();

    WHEN("1000 comments are submitted at once") {
      const auto t0 = std::chrono::steady_clock::now();
      int accepted = 0;
      for (int i = 0; i < kCount; ++i) {
        const bool ok = store->insert_comment(
            web_comment(sid, 1 + i % 7, "client-" + std::to_string(i), "comment " + std::to_string(i)),
            std::nullopt, [&, i](Result<InsertedComment> r) {
              // A separate connection opened now must already see the row:
              // the ack may only follow the COMMIT that made it durable.
              std::optional<int64_t> seen;
              if (r.is_ok()) {
                RawDb fresh(path);
                seen = fresh.integer("SELECT count(*) FROM comments WHERE id = ?", r->id);
              }
              std::lock_guard lk(m);
              order.push_back(i);
              if (!r.is_ok()) {
                ++failures;
                return;
              }
              ids.push_back(r->id);
              if (seen == 1) ++visible;
            });
        if (ok) ++accepted;
      }
      // Reads go to their own connection while the writer works.
      auto during = store->comments_of_session(sid);
      store->flush();
      const double elapsed_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      const StoreMetrics after = store->metrics();

      THEN("every write completes, in order, each visible to a fresh connection") {
        CHECK(during.is_ok());
        CHECK(accepted == kCount);
        std::lock_guard lk(m);
        CHECK(failures == 0);
        REQUIRE(order.size() == static_cast<size_t>(kCount));
        CHECK(std::is_sorted(order.begin(), order.end()));
        CHECK(std::is_sorted(ids.begin(), ids.end()));
        CHECK(std::set<int64_t>(ids.begin(), ids.end()).size() == ids.size());
        CHECK(visible == kCount);
        CHECK(RawDb(path).integer("SELECT count(*) FROM comments") == kCount);
      }
      THEN("they shared transactions") {
        const uint64_t ops = after.operations - before.operations;
        const uint64_t txns = after.transactions - before.transactions;
        INFO("transactions " << txns << " for " << ops << " operations, largest batch "
                             << after.largest_batch << ", max commit " << after.max_commit_ms
                             << " ms, " << elapsed_ms << " ms in all");
        CHECK(ops == static_cast<uint64_t>(kCount));
        CHECK(txns < ops);
        CHECK(after.largest_batch > 1);
        CHECK(after.largest_batch <= o.max_batch);
        CHECK(after.failed_transactions == 0);
        CHECK(after.queue_length == 0);
        CHECK(after.max_commit_ms >= after.last_commit_ms);
      }
    }
  }
}

SCENARIO("after_commit completes once everything queued before it is on disk", "[store]") {
  TempDir dir;
  const std::string path = dir.db();
  std::mutex m;
  std::vector<std::string> events;  // GUARDED_BY(m)
  int64_t rows_seen_by_barrier = -1;  // GUARDED_BY(m)
  auto o = options_for(path, true);
  o.max_batch_delay_ms = 5;
  auto store = open_store(o);
  const int64_t sid = create_session(*store, "live");
  for (int i = 0; i < 50; ++i) {
    REQUIRE(store->insert_comment(web_comment(sid, 1, "c" + std::to_string(i), "text"), std::nullopt,
                                  [&](Result<InsertedComment> r) {
                                    std::lock_guard lk(m);
                                    events.push_back(r.is_ok() ? "insert" : "failed");
                                  }));
  }
  REQUIRE(store->after_commit([&](Status s) {
    // A separate connection must see every row queued before the barrier.
    const int64_t rows = RawDb(path).integer("SELECT count(*) FROM comments").value_or(-2);
    std::lock_guard lk(m);
    rows_seen_by_barrier = rows;
    events.push_back(s.is_ok() ? "barrier" : "barrier-failed");
  }));
  store->flush();
  std::lock_guard lk(m);
  REQUIRE(events.size() == 51);
  CHECK(events.back() == "barrier");
  CHECK(std::count(events.begin(), events.end(), "insert") == 50);
  CHECK(rows_seen_by_barrier == 50);
}

SCENARIO("a failing operation rolls back alone while its batch commits", "[store]") {
  TempDir dir;
  GIVEN("a threaded store that waits long enough to batch everything submitted together") {
    std::mutex m;
    std::optional<Result<InsertedComment>> first, last;    // GUARDED_BY(m)
    std::optional<Status> decision;                        // GUARDED_BY(m)
    std::optional<Result<std::pair<int64_t, bool>>> vote;  // GUARDED_BY(m)
    std::optional<Result<InsertedComment>> orphan;         // GUARDED_BY(m)

    auto o = options_for(dir.db(), true);
    o.max_batch_delay_ms = 2000;  // flush() cuts the wait short
    auto store = open_store(o);
    const int64_t sid = create_session(*store, "live");
    const StoreMetrics before = store->metrics();

    WHEN("good and bad operations are queued together") {
      REQUIRE(store->insert_comment(web_comment(sid, 1, "a", "first"), std::nullopt,
                                    [&](Result<InsertedComment> r) {
                                      std::lock_guard lk(m);
                                      first = r;
                                    }));
      Decision d;
      d.comment_id = 999'999;
      d.new_status = CommentStatus::approved;
      d.event = event_of("approve", "amal");
      d.event.session_id = sid;
      REQUIRE(store->apply_decision(d, [&](Status s) {
        std::lock_guard lk(m);
        decision = s;
      }));
      REQUIRE(store->add_vote(999'999, 1, [&](Result<std::pair<int64_t, bool>> r) {
        std::lock_guard lk(m);
        vote = r;
      }));
      // Unknown session: the foreign key fails, and its event must go too.
      REQUIRE(store->insert_comment(web_comment(sid + 100, 1, "b", "orphan"),
                                    event_of("received_auto", "system"),
                                    [&](Result<InsertedComment> r) {
                                      std::lock_guard lk(m);
                                      orphan = r;
                                    }));
      REQUIRE(store->insert_comment(web_comment(sid, 1, "c", "last"), event_of("received_auto", "system"),
                                    [&](Result<InsertedComment> r) {
                                      std::lock_guard lk(m);
                                      last = r;
                                    }));
      store->flush();
      const StoreMetrics after = store->metrics();

      THEN("each bad op reports its own error and the good ones commit in one transaction") {
        std::lock_guard lk(m);
        REQUIRE(first.has_value());
        REQUIRE(last.has_value());
        REQUIRE(decision.has_value());
        REQUIRE(vote.has_value());
        REQUIRE(orphan.has_value());
        CHECK(first->is_ok());
        CHECK(last->is_ok());
        CHECK(decision->code() == "not_found");
        CHECK(vote->status().code() == "not_found");
        CHECK(orphan->status().code() == "not_found");
        CHECK(after.transactions - before.transactions == 1);
        CHECK(after.largest_batch >= 5);

        auto comments = store->comments_of_session(sid);
        REQUIRE(comments.is_ok());
        REQUIRE(comments->size() == 2);
        CHECK(comments->at(0).text == "first");
        CHECK(comments->at(1).text == "last");
        auto events = store->moderation_events(sid);
        REQUIRE(events.is_ok());
        REQUIRE(events->size() == 1);  // only the last insert's
        CHECK(events->front().comment_id == last->value().id);
        CHECK(events->front().action == "received_auto");
      }
    }
  }
}

SCENARIO("comment inserts are idempotent", "[store]") {
  TempDir dir;
  auto store = open_store(options_for(dir.db(), false));
  const int64_t sid = create_session(*store, "live");

  GIVEN("a web comment stored under (viewer 7, client c-1)") {
    auto first = insert(*store, web_comment(sid, 7, "c-1", "مرحبا"), event_of("received_auto", "system"));
    REQUIRE(first.is_ok());
    CHECK_FALSE(first->existed);
    CHECK(first->status == CommentStatus::pending);

    WHEN("the viewer re-sends it (after a moderator approved the first copy)") {
      Decision d;
      d.comment_id = first->id;
      d.new_status = CommentStatus::approved;
      d.event = event_of("approve", "amal");
      REQUIRE(await<Status>(*store, [&](auto cb) { return store->apply_decision(d, cb); }).is_ok());
      auto again = insert(*store, web_comment(sid, 7, "c-1", "different text"),
                          event_of("received_auto", "system"));
      THEN("the stored row answers and nothing new is written, not even the event") {
        REQUIRE(again.is_ok());
        CHECK(again->existed);
        CHECK(again->id == first->id);
        CHECK(again->status == CommentStatus::approved);
        auto comments = store->comments_of_session(sid);
        REQUIRE(comments.is_ok());
        REQUIRE(comments->size() == 1);
        CHECK(comments->front().text == "مرحبا");
        auto events = store->moderation_events(sid);
        REQUIRE(events.is_ok());
        CHECK(events->size() == 2);  // received_auto + approve
      }
    }
    WHEN("another viewer uses the same client id, or the same viewer a new one") {
      auto other_viewer = insert(*store, web_comment(sid, 8, "c-1", "x"));
      auto other_client = insert(*store, web_comment(sid, 7, "c-2", "y"));
      THEN("both are new comments") {
        REQUIRE(other_viewer.is_ok());
        REQUIRE(other_client.is_ok());
        CHECK_FALSE(other_viewer->existed);
        CHECK_FALSE(other_client->existed);
        CHECK(other_viewer->id != first->id);
        CHECK(other_client->id != first->id);
      }
    }
  }

  GIVEN("a bridge comment stored under (youtube, yt-1)") {
    auto first = insert(*store, bridge_comment(sid, "youtube", "yt-1", "hello"));
    REQUIRE(first.is_ok());
    CHECK_FALSE(first->existed);
    WHEN("the bridge delivers it again") {
      auto again = insert(*store, bridge_comment(sid, "youtube", "yt-1", "hello"));
      THEN("it is recognised as the same comment") {
        REQUIRE(again.is_ok());
        CHECK(again->existed);
        CHECK(again->id == first->id);
        CHECK(store->comments_of_session(sid)->size() == 1);
      }
    }
    WHEN("another bridge uses the same external id, and comments carry no keys at all") {
      auto other = insert(*store, bridge_comment(sid, "twitch", "yt-1", "hello"));
      auto keyless1 = insert(*store, bridge_comment(sid, "youtube", "", "a"));
      auto keyless2 = insert(*store, bridge_comment(sid, "youtube", "", "b"));
      THEN("each is stored: '' is no key") {
        REQUIRE(other.is_ok());
        REQUIRE(keyless1.is_ok());
        REQUIRE(keyless2.is_ok());
        CHECK_FALSE(other->existed);
        CHECK_FALSE(keyless1->existed);
        CHECK_FALSE(keyless2->existed);
        CHECK(store->comments_of_session(sid)->size() == 4);
      }
    }
  }
}

SCENARIO("a moderator decision writes its audit row", "[store]") {
  TempDir dir;
  auto store = open_store(options_for(dir.db(), false));
  const int64_t sid = create_session(*store, "live");
  auto c = insert(*store, web_comment(sid, 3, "k", "before edit"));
  REQUIRE(c.is_ok());

  WHEN("the comment is edited and approved") {
    Decision d;
    d.comment_id = c->id;
    d.new_status = CommentStatus::approved;
    d.new_text = "after edit";
    d.event = event_of("edit", "amal");
    d.event.reason = "typo";
    auto s = await<Status>(*store, [&](auto cb) { return store->apply_decision(d, cb); });
    THEN("row and audit agree") {
      REQUIRE(s.is_ok());
      auto comments = store->comments_of_session(sid);
      REQUIRE(comments.is_ok());
      REQUIRE(comments->size() == 1);
      CHECK(comments->front().text == "after edit");
      CHECK(comments->front().status == CommentStatus::approved);
      auto events = store->moderation_events(sid);
      REQUIRE(events.is_ok());
      REQUIRE(events->size() == 1);
      const ModerationEvent& e = events->front();
      CHECK(e.id > 0);
      CHECK(e.comment_id == c->id);
      CHECK(e.session_id == sid);
      CHECK(e.action == "edit");
      CHECK(e.actor == "amal");
      CHECK(e.reason == "typo");
      CHECK(e.before_text == "before edit");
      CHECK(e.after_text == "after edit");
      CHECK(e.at_ms == 1'700'000'002'000);
    }
  }
  WHEN("the comment is hidden without an edit") {
    Decision d;
    d.comment_id = c->id;
    d.new_status = CommentStatus::hidden;
    d.event = event_of("hide", "token:overlay");
    REQUIRE(await<Status>(*store, [&](auto cb) { return store->apply_decision(d, cb); }).is_ok());
    THEN("the text stays and the event carries no texts") {
      CHECK(store->comments_of_session(sid)->front().text == "before edit");
      CHECK(store->comments_of_session(sid)->front().status == CommentStatus::hidden);
      auto events = store->moderation_events(sid);
      REQUIRE(events->size() == 1);
      CHECK(events->front().before_text.empty());
      CHECK(events->front().after_text.empty());
    }
  }
  WHEN("the decision names an unknown comment") {
    Decision d;
    d.comment_id = c->id + 1;
    d.new_status = CommentStatus::rejected;
    d.event = event_of("reject", "amal");
    d.event.session_id = sid;
    auto s = await<Status>(*store, [&](auto cb) { return store->apply_decision(d, cb); });
    THEN("it fails with not_found and writes no audit row") {
      CHECK(s.code() == "not_found");
      CHECK(store->moderation_events(sid)->empty());
    }
  }
}

SCENARIO("votes count once per viewer", "[store]") {
  TempDir dir;
  auto store = open_store(options_for(dir.db(), false));
  const int64_t sid = create_session(*store, "live");
  auto c = insert(*store, web_comment(sid, 1, "k", "vote for me"));
  REQUIRE(c.is_ok());
  using VoteResult = Result<std::pair<int64_t, bool>>;
  auto vote = [&](int64_t comment, int64_t viewer) {
    return await<VoteResult>(*store, [&](auto cb) { return store->add_vote(comment, viewer, cb); });
  };

  auto v1 = vote(c->id, 10);
  auto v1_again = vote(c->id, 10);
  auto v2 = vote(c->id, 11);
  auto unknown = vote(c->id + 1, 10);

  REQUIRE(v1.is_ok());
  CHECK(*v1 == std::pair<int64_t, bool>{1, true});
  REQUIRE(v1_again.is_ok());
  CHECK(*v1_again == std::pair<int64_t, bool>{1, false});
  REQUIRE(v2.is_ok());
  CHECK(*v2 == std::pair<int64_t, bool>{2, true});
  CHECK(unknown.status().code() == "not_found");
  CHECK(store->comments_of_session(sid)->front().votes == 2);
}

SCENARIO("load_state restores the live session after a restart", "[store]") {
  TempDir dir;
  const std::string path = dir.db();
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  int64_t live_old = 0, live = 0, pending_id = 0, approved_id = 0, rejected_id = 0, other_id = 0;

  GIVEN("a server that wrote a session's worth of state and stopped") {
    {
      auto store = open_store(options_for(path, true));
      create_session(*store, "ended");
      live_old = create_session(*store, "live");
      live = create_session(*store, "live");
      create_session(*store, "scheduled");

      pending_id = insert(*store, web_comment(live, 1, "a", "pending one")).value().id;
      approved_id = insert(*store, web_comment(live, 2, "b", "approved one")).value().id;
      rejected_id = insert(*store, bridge_comment(live, "youtube", "yt-9", "rejected one")).value().id;
      other_id = insert(*store, web_comment(live_old, 1, "c", "old session")).value().id;
      for (auto [id, status] : {std::pair{approved_id, CommentStatus::approved},
                                std::pair{rejected_id, CommentStatus::rejected}}) {
        Decision d;
        d.comment_id = id;
        d.new_status = status;
        d.event = event_of(status == CommentStatus::approved ? "approve" : "reject", "amal");
        REQUIRE(await<Status>(*store, [&](auto cb) { return store->apply_decision(d, cb); }).is_ok());
      }
      using VoteResult = Result<std::pair<int64_t, bool>>;
      for (auto [comment, viewer] : {std::pair{approved_id, int64_t{2}}, std::pair{approved_id, int64_t{1}},
                                     std::pair{other_id, int64_t{1}}}) {
        REQUIRE(await<VoteResult>(*store, [&](auto cb) { return store->add_vote(comment, viewer, cb); })
                    .is_ok());
      }
      for (int64_t id : {1, 2}) {
        ViewerRow v;
        v.id = id;
        v.token_hash = "hash-" + std::to_string(id);
        v.display_name = "viewer " + std::to_string(id);
        v.last_ip = "10.0.0." + std::to_string(id);
        v.created_at_ms = 1000 + id;
        REQUIRE(await<Status>(*store, [&](auto cb) { return store->save_viewer(v, cb); }).is_ok());
      }
      ViewerRow banned;  // an upsert of viewer 1
      banned.id = 1;
      banned.token_hash = "hash-1";
      banned.display_name = "renamed";
      banned.banned_until_ms = now + 60'000;
      banned.last_ip = "10.0.0.9";
      banned.created_at_ms = 999'999;
      REQUIRE(await<Status>(*store, [&](auto cb) { return store->save_viewer(banned, cb); }).is_ok());

      for (IpBan ban : {IpBan{"10.0.0.1", now + 60'000}, IpBan{"10.0.0.2", now - 1}, IpBan{"10.0.0.3", now + 60'000},
                        IpBan{"10.0.0.3", 0}}) {
        REQUIRE(await<Status>(*store, [&](auto cb) { return store->set_ip_ban(ban, cb); }).is_ok());
      }
      nlohmann::json settings = {{"hold_for_review", true},
                                 {"slow_mode_seconds", 5},
                                 {"blocked_words", {"spam", std::string("bad\xff")}}};
      ModerationEvent e = event_of("settings", "amal");
      e.session_id = live;
      REQUIRE(await<Status>(*store, [&](auto cb) { return store->save_settings(settings, e, cb); }).is_ok());
    }

    WHEN("the store is reopened and the state loaded") {
      auto store = open_store(options_for(path, false));
      auto state = store->load_state();
      REQUIRE(state.is_ok());

      THEN("sessions are all there and the newest live one is current") {
        REQUIRE(state->sessions.size() == 4);
        CHECK(std::is_sorted(state->sessions.begin(), state->sessions.end(),
                             [](const SessionRow& a, const SessionRow& b) { return a.id < b.id; }));
        CHECK(state->current_session_id == live);
      }
      THEN("the current session's comments come back with status and votes") {
        REQUIRE(state->comments.size() == 3);
        CHECK(state->comments[0].id == pending_id);
        CHECK(state->comments[0].status == CommentStatus::pending);
        CHECK(state->comments[0].text == "pending one");
        CHECK(state->comments[0].direction == "rtl");
        CHECK(state->comments[0].viewer_id == 1);
        CHECK(state->comments[0].stream_offset_ms == 125'000);
        CHECK(state->comments[1].id == approved_id);
        CHECK(state->comments[1].status == CommentStatus::approved);
        CHECK(state->comments[1].votes == 2);
        CHECK(state->comments[2].id == rejected_id);
        CHECK(state->comments[2].status == CommentStatus::rejected);
        CHECK_FALSE(state->comments[2].viewer_id.has_value());
        CHECK_FALSE(state->comments[2].stream_offset_ms.has_value());
        CHECK(state->comments[2].external_id == "yt-9");
        using Vote = std::pair<int64_t, int64_t>;
        CHECK(state->votes == std::vector<Vote>{{approved_id, 1}, {approved_id, 2}});
      }
      THEN("viewers, stored bans (the lifted one gone) and settings are restored") {
        REQUIRE(state->viewers.size() == 2);
        CHECK(state->viewers[0].id == 1);
        CHECK(state->viewers[0].display_name == "renamed");
        CHECK(state->viewers[0].banned_until_ms == now + 60'000);
        CHECK(state->viewers[0].last_ip == "10.0.0.9");
        CHECK(state->viewers[0].created_at_ms == 1001);  // kept from the first save
        CHECK(state->viewers[1].token_hash == "hash-2");
        // Expired bans come back too: expiry is judged by the caller's clock.
        REQUIRE(state->ip_bans.size() == 2);
        CHECK(state->ip_bans[0].ip == "10.0.0.1");
        CHECK(state->ip_bans[1].ip == "10.0.0.2");
        CHECK(state->ip_bans[1].until_ms == now - 1);
        CHECK(state->settings["hold_for_review"] == true);
        CHECK(state->settings["slow_mode_seconds"] == 5);
        REQUIRE(state->settings["blocked_words"].size() == 2);
        CHECK(state->settings["blocked_words"][1] == "bad\xEF\xBF\xBD");  // invalid byte -> U+FFFD
      }
      THEN("the audit log of the session is intact") {
        auto events = store->moderation_events(live);
        REQUIRE(events.is_ok());
        REQUIRE(events->size() == 3);
        CHECK((*events)[0].action == "approve");
        CHECK((*events)[1].action == "reject");
        CHECK((*events)[2].action == "settings");
      }
    }
  }

  GIVEN("a brand-new database") {
    auto store = open_store(options_for(path, false));
    auto state = store->load_state();
    THEN("the state is empty with empty settings") {
      REQUIRE(state.is_ok());
      CHECK(state->sessions.empty());
      CHECK_FALSE(state->current_session_id.has_value());
      CHECK(state->comments.empty());
      CHECK(state->settings.is_object());
      CHECK(state->settings.empty());
    }
  }
}

SCENARIO("a full queue refuses writes", "[store]") {
  TempDir dir;
  // The first completion blocks the writer thread inside the Poster, so
  // nothing leaves the queue until the test says so.
  std::mutex m;
  std::condition_variable cv;
  bool entered = false;  // GUARDED_BY(m)
  bool release = false;  // GUARDED_BY(m)
  Poster blocking = [&](Task t) {
    {
      std::unique_lock lk(m);
      if (!entered) {
        entered = true;
        cv.notify_all();
        cv.wait(lk, [&] { return release; });
      }
    }
    t();
  };
  std::atomic<int> done{0};
  auto count = [&](Status s) {
    if (s.is_ok()) ++done;
  };
  auto o = options_for(dir.db(), true);
  o.queue_capacity = 4;
  o.max_batch_delay_ms = 0;
  auto store = open_store(o, blocking);
  REQUIRE(store->record_event(event_of("note", "system"), count));
  {
    std::unique_lock lk(m);
    REQUIRE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return entered; }));
  }

  WHEN("more writes arrive than the queue holds") {
    int accepted = 0;
    for (int i = 0; i < 4; ++i) accepted += store->record_event(event_of("note", "system"), count) ? 1 : 0;
    const bool can_before = store->can_accept();
    const bool fifth = store->record_event(event_of("note", "system"), count);
    const StoreMetrics full = store->metrics();
    {
      std::lock_guard lk(m);
      release = true;
    }
    cv.notify_all();
    store->flush();

    THEN("the overflow is refused without side effects and the rest completes") {
      CHECK(accepted == 4);
      CHECK_FALSE(can_before);
      CHECK_FALSE(fifth);
      CHECK(full.queue_length == 4);
      CHECK(done.load() == 5);
      CHECK(store->can_accept(4));
      CHECK_FALSE(store->can_accept(5));
      CHECK(RawDb(dir.db()).integer("SELECT count(*) FROM moderation_events") == 5);
    }
  }
}

SCENARIO("a batch that cannot commit fails every operation in it", "[store]") {
  TempDir dir;
  auto store = open_store(options_for(dir.db(), false));
  GIVEN("another process holding the write lock longer than busy_timeout") {
    RawDb other(dir.db(), SQLITE_OPEN_READWRITE);
    REQUIRE(other.exec("BEGIN IMMEDIATE"));
    WHEN("a write is attempted") {
      auto s = await<Status>(*store, [&](auto cb) { return store->record_event(event_of("note", "x"), cb); });
      REQUIRE(other.exec("ROLLBACK"));
      THEN("it reports an io error and the metrics count the failure") {
        CHECK(s.code() == "io");
        CHECK(store->metrics().failed_transactions == 1);
        auto later =
            await<Status>(*store, [&](auto cb) { return store->record_event(event_of("note", "y"), cb); });
        CHECK(later.is_ok());
      }
    }
  }
}

SCENARIO("unthreaded mode completes each write before returning", "[store]") {
  TempDir dir;
  std::vector<std::string> log;
  auto store = open_store(options_for(dir.db(), false), [&](Task t) {
    log.push_back("posted");
    t();
  });
  SessionRow s;
  s.status = "live";
  s.created_at_ms = 1;
  std::optional<int64_t> id;
  REQUIRE(store->create_session(s, [&](Result<SessionRow> r) {
    REQUIRE(r.is_ok());
    id = r->id;
    log.push_back("done");
  }));
  log.push_back("returned");
  CHECK(id.has_value());
  CHECK(log == std::vector<std::string>{"posted", "done", "returned"});
  CHECK(store->can_accept(1'000'000));
  CHECK(store->metrics().transactions == 1);
}

SCENARIO("accounts, API tokens and login sessions", "[store]") {
  TempDir dir;
  auto store = open_store(options_for(dir.db(), true));
  CHECK(store->count_accounts().value() == 0);

  AccountRow a;
  a.name = "amal";
  a.role = "moderator";
  a.password_hash = "$argon2id$fake";
  a.created_at_ms = 5;
  auto created = await<Result<AccountRow>>(*store, [&](auto cb) { return store->create_account(a, cb); });
  REQUIRE(created.is_ok());
  CHECK(created->id > 0);
  CHECK(created->name == "amal");

  THEN("a second account with the same name is refused with exists") {
    auto dup = await<Result<AccountRow>>(*store, [&](auto cb) { return store->create_account(a, cb); });
    CHECK(dup.status().code() == "exists");
    CHECK(store->count_accounts().value() == 1);
  }
  THEN("an unknown role is refused") {
    AccountRow bad = a;
    bad.name = "zed";
    bad.role = "admin";
    auto r = await<Result<AccountRow>>(*store, [&](auto cb) { return store->create_account(bad, cb); });
    CHECK(r.status().code() == "invalid");
  }
  THEN("it is found by name and by id") {
    auto by_name = store->find_account("amal");
    REQUIRE(by_name.is_ok());
    REQUIRE(by_name->has_value());
    CHECK((*by_name)->id == created->id);
    CHECK((*by_name)->password_hash == "$argon2id$fake");
    auto by_id = store->find_account_by_id(created->id);
    REQUIRE(by_id.is_ok());
    REQUIRE(by_id->has_value());
    CHECK((*by_id)->name == "amal");
    CHECK_FALSE(store->find_account("nobody").value().has_value());
  }
  THEN("API tokens are stored by hash") {
    ApiTokenRow t;
    t.name = "youtube-bridge";
    t.role = "bridge";
    t.token_hash = "abc123";
    t.created_at_ms = 6;
    auto r = await<Result<ApiTokenRow>>(*store, [&](auto cb) { return store->create_api_token(t, cb); });
    REQUIRE(r.is_ok());
    CHECK(r->id > 0);
    auto found = store->find_api_token("abc123");
    REQUIRE(found.is_ok());
    REQUIRE(found->has_value());
    CHECK((*found)->name == "youtube-bridge");
    auto dup = await<Result<ApiTokenRow>>(*store, [&](auto cb) { return store->create_api_token(t, cb); });
    CHECK(dup.status().code() == "exists");
  }
  THEN("login sessions are saved, found and deleted") {
    AuthSessionRow s{"cookiehash", created->id, 1000};
    REQUIRE(await<Status>(*store, [&](auto cb) { return store->save_auth_session(s, cb); }).is_ok());
    auto found = store->find_auth_session("cookiehash");
    REQUIRE(found.is_ok());
    REQUIRE(found->has_value());
    CHECK((*found)->account_id == created->id);
    CHECK((*found)->expires_at_ms == 1000);
    REQUIRE(await<Status>(*store, [&](auto cb) { return store->delete_auth_session("cookiehash", cb); })
                .is_ok());
    CHECK_FALSE(store->find_auth_session("cookiehash").value().has_value());

    AuthSessionRow orphan{"other", created->id + 50, 1000};
    auto r = await<Status>(*store, [&](auto cb) { return store->save_auth_session(orphan, cb); });
    CHECK(r.code() == "not_found");
  }
  THEN("sessions can be updated and renamed apart, and unknown ones are reported") {
    const int64_t sid = create_session(*store, "scheduled");
    REQUIRE(await<Status>(*store, [&](auto cb) { return store->rename_session(sid, "مسماة", "Renamed", 99, cb); })
                .is_ok());
    SessionRow s;
    s.id = sid;
    s.title_en = "stale title";  // a status change leaves the titles alone
    s.status = "live";
    s.live_at_ms = 77;
    REQUIRE(await<Status>(*store, [&](auto cb) { return store->update_session(s, cb); }).is_ok());
    auto sessions = store->list_sessions();
    REQUIRE(sessions.is_ok());
    REQUIRE(sessions->size() == 1);
    CHECK(sessions->front().status == "live");
    CHECK(sessions->front().title_ar == "مسماة");
    CHECK(sessions->front().title_en == "Renamed");
    CHECK(sessions->front().scheduled_at_ms == 99);
    CHECK(sessions->front().live_at_ms == 77);
    CHECK_FALSE(sessions->front().ended_at_ms.has_value());
    CHECK(sessions->front().created_at_ms == 1'700'000'000'000);
    s.id = sid + 1;
    auto missing = await<Status>(*store, [&](auto cb) { return store->update_session(s, cb); });
    CHECK(missing.code() == "not_found");
    auto unknown = await<Status>(*store, [&](auto cb) { return store->rename_session(sid + 1, "x", "x", {}, cb); });
    CHECK(unknown.code() == "not_found");
  }
}

// Not part of the suite: run with `test_server "[store-bench]"` to measure.
TEST_CASE("store throughput", "[.][store-bench]") {
  for (bool full : {false, true}) {
    TempDir dir;
    auto o = options_for(dir.db(), true);
    o.synchronous_full = full;
    std::atomic<int> done{0};
    auto store = open_store(o, [](Task t) { t(); });
    const int64_t sid = create_session(*store, "live");
    constexpr int kCount = 100'000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCount; ++i) {
      while (!store->insert_comment(web_comment(sid, i % 500, "c" + std::to_string(i), "bench comment"),
                                    std::nullopt, [&](Result<InsertedComment> r) {
                                      if (r.is_ok()) ++done;
                                    })) {
        std::this_thread::yield();  // back-pressure: queue full
      }
    }
    store->flush();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const StoreMetrics m = store->metrics();
    WARN((full ? "FULL" : "NORMAL") << ": " << kCount << " inserts in " << s << " s = " << kCount / s
                                    << "/s; " << m.transactions << " transactions, largest batch "
                                    << m.largest_batch << ", max commit " << m.max_commit_ms << " ms");
    CHECK(done.load() == kCount);
  }
}
