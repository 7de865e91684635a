// Migrations that rebuild a table: a database written by an earlier version
// comes up with every row, id, vote and the AUTOINCREMENT high-water mark
// kept, and foreign keys still enforced.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "store/schema.h"
#include "store/store.h"
#include "support/store_helpers.h"

using namespace sabla;

namespace {

namespace fs = std::filesystem;

struct Db {
  sqlite3* db = nullptr;
  explicit Db(const std::string& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK);
  }
  ~Db() { sqlite3_close(db); }
  bool exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    if (err) {
      UNSCOPED_INFO(err);
      sqlite3_free(err);
    }
    return rc == SQLITE_OK;
  }
  int64_t integer(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }
};

fs::path temp_dir() {
  static std::atomic<int> counter{0};
  fs::path p = fs::temp_directory_path() /
               ("sabla-migration-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(p);
  return p;
}

}  // namespace

SCENARIO("version 5 rebuilds comments for the merged status without losing anything", "[store][migration]") {
  const fs::path dir = temp_dir();
  const std::string path = (dir / "sabla.db").string();
  {
    // A database as version 4 left it: two sessions' comments, votes, and a
    // deleted newest comment (its id must never come back).
    Db raw(path);
    REQUIRE(raw.exec("PRAGMA foreign_keys = ON"));
    const auto& list = store::schema::migrations();
    REQUIRE(list.size() >= 5);
    for (size_t i = 0; i < 4; ++i) REQUIRE(raw.exec(std::string(list[i].sql)));
    REQUIRE(raw.exec("PRAGMA user_version = 4"));
    REQUIRE(raw.exec("INSERT INTO sessions (id, title_ar, status, created_at_ms) VALUES (1, 'أ', 'ended', 1), "
                     "(2, 'ب', 'live', 2)"));
    REQUIRE(raw.exec(
        "INSERT INTO comments (session_id, viewer_id, text, client_id, received_at_ms, status, votes) VALUES "
        "(1, 7, 'سؤال أول', 'c1', 10, 'approved', 2), (2, 7, 'سؤال ثان', 'c2', 20, 'pending', 0), "
        "(2, 8, 'ثالث', 'c3', 30, 'hidden', 0), (2, 8, 'رابع', 'c4', 40, 'pending', 0)"));
    REQUIRE(raw.exec("INSERT INTO votes (comment_id, viewer_id, at_ms) VALUES (1, 8, 11), (1, 9, 12)"));
    REQUIRE(raw.exec("DELETE FROM comments WHERE id = 4"));
    REQUIRE(raw.integer("SELECT seq FROM sqlite_sequence WHERE name = 'comments'") == 4);
  }
  WHEN("the store opens it") {
    auto store = test::open_test_store(path);
    Db raw(path);
    THEN("every row and id is there, with its status and votes") {
      CHECK(raw.integer("PRAGMA user_version") == store::current_schema_version());
      CHECK(raw.integer("SELECT count(*) FROM comments") == 3);
      CHECK(raw.integer("SELECT votes FROM comments WHERE id = 1") == 2);
      CHECK(raw.integer("SELECT count(*) FROM comments WHERE id = 3 AND status = 'hidden' AND viewer_id = 8") == 1);
      CHECK(raw.integer("SELECT count(*) FROM votes WHERE comment_id = 1") == 2);
      CHECK(raw.integer("SELECT count(*) FROM comments WHERE merged_into IS NULL AND merged_from = ''") == 3);
    }
    THEN("the deleted id is not handed out again") {
      REQUIRE(raw.exec("INSERT INTO comments (session_id, text, received_at_ms) VALUES (2, 'جديد', 50)"));
      CHECK(raw.integer("SELECT max(id) FROM comments") == 5);
    }
    THEN("'merged' is a status now, and nonsense still is not") {
      CHECK(raw.exec("UPDATE comments SET status = 'merged', merged_into = 1, merged_from = 'pending' WHERE id = 2"));
      CHECK_FALSE(raw.exec("UPDATE comments SET status = 'lost' WHERE id = 2"));
    }
    THEN("the indexes are back and foreign keys still hold") {
      CHECK(raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN ('comments_viewer_client', "
                        "'comments_source_external', 'comments_session', 'comments_session_time', "
                        "'comments_merged_into')") == 5);
      REQUIRE(raw.exec("PRAGMA foreign_keys = ON"));
      CHECK_FALSE(raw.exec("INSERT INTO votes (comment_id, viewer_id, at_ms) VALUES (999, 1, 1)"));
      CHECK_FALSE(raw.exec("INSERT INTO comments (viewer_id, client_id, session_id, text, received_at_ms) "
                           "VALUES (7, 'c1', 2, 'same key', 60)"));  // the idempotency index
      CHECK(raw.integer("PRAGMA foreign_key_check") == -1);  // no row: no violation
    }
    THEN("the decisions tables exist") {
      for (const char* table : {"polls", "poll_votes", "outcomes"}) {
        INFO(table);
        CHECK(raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '" + std::string(table) +
                          "'") == 1);
      }
    }
  }
  fs::remove_all(dir);
}

SCENARIO("a fresh database gets version 5 with an empty sequence", "[store][migration]") {
  const fs::path dir = temp_dir();
  const std::string path = (dir / "sabla.db").string();
  {
    auto store = test::open_test_store(path);
  }
  Db raw(path);
  CHECK(raw.integer("PRAGMA user_version") == store::current_schema_version());
  REQUIRE(raw.exec("INSERT INTO sessions (id, created_at_ms) VALUES (1, 1)"));
  REQUIRE(raw.exec("INSERT INTO comments (session_id, text, received_at_ms) VALUES (1, 'x', 1)"));
  CHECK(raw.integer("SELECT id FROM comments") == 1);
  fs::remove_all(dir);
}
