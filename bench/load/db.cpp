#include "db.h"

#include <sqlite3.h>

namespace sabla::load {

namespace {

bool count(sqlite3* db, const char* sql, const std::string* bind, int64_t* out, std::string* error) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    *error = sqlite3_errmsg(db);
    return false;
  }
  if (bind) sqlite3_bind_text(stmt, 1, bind->data(), static_cast<int>(bind->size()), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) *out = sqlite3_column_int64(stmt, 0);
  else *error = sqlite3_errmsg(db);
  sqlite3_finalize(stmt);
  return rc == SQLITE_ROW;
}

}  // namespace

std::optional<CommentCount> count_comments(const std::string& path, const std::string& client_id_prefix,
                                           std::string* error) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    *error = db ? sqlite3_errmsg(db) : "cannot open " + path;
    sqlite3_close(db);
    return std::nullopt;
  }
  sqlite3_busy_timeout(db, 5000);  // the server's writer may hold the lock for a moment
  CommentCount c;
  // substr, not LIKE: exact and case-sensitive whatever the prefix holds.
  const std::string prefix = client_id_prefix;
  bool ok = count(db, "SELECT COUNT(*) FROM comments", nullptr, &c.total, error) &&
            count(db, "SELECT COUNT(*) FROM comments WHERE substr(client_id, 1, length(?1)) = ?1", &prefix,
                  &c.with_prefix, error);
  sqlite3_close(db);
  if (!ok) return std::nullopt;
  return c;
}

}  // namespace sabla::load
