#include "store/sqlite.h"

namespace sabla::store {

Status sql_status(sqlite3* db, int rc) {
  std::string code;
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      code = "conflict";
      break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      // Only references to sessions/comments/accounts exist, so a violation
      // means the referenced row is missing.
      code = "not_found";
      break;
    default:
      switch (rc & 0xff) {
        case SQLITE_CONSTRAINT: code = "invalid"; break;
        case SQLITE_BUSY:
        case SQLITE_LOCKED: code = "busy"; break;
        default: code = "io"; break;
      }
  }
  std::string message = "sqlite: ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Status::error(std::move(code), std::move(message));
}

Status recode(const Status& s, std::string_view from, std::string to) {
  if (s.code() != from) return s;
  return Status::error(std::move(to), s.message());
}

Result<std::optional<int64_t>> returning_id(Stmt& st) {
  std::optional<int64_t> id;
  while (st.step()) {
    if (!id) id = st.i64(0);
  }
  if (!st.status()) return st.status();
  return id;
}

}  // namespace sabla::store
