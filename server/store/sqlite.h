// Internal to the store: the SQLite plumbing every part of it uses. A
// connection with its own prepared-statement cache (Db), one use of a cached
// statement (Stmt), a read transaction, and how SQLite result codes map to
// the Status codes the rest of the server reacts to.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace sabla::store {

// SQLite result codes -> the Status codes the rest of the server reacts to.
// Needs extended result codes enabled on the connection.
Status sql_status(sqlite3* db, int rc);

// Renames one error code, keeping the message (e.g. a UNIQUE violation is
// "exists" for create_account but "conflict" elsewhere).
Status recode(const Status& s, std::string_view from, std::string to);

// A connection with its own prepared-statement cache. Not thread-safe: each
// Db is used by one thread at a time (see the locks in Store::Impl).
class Db {
 public:
  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() { close(); }

  Status open(const std::string& path, int flags) {
    close();
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      Status s = Status::error("io", "cannot open " + path + ": " +
                                         (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)));
      close();
      return s;
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 5000);
    return Status::ok();
  }

  void close() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
    if (db_) sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  sqlite3* get() const { return db_; }

  // For pragmas whose result row is irrelevant; not cached.
  Status exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return Status::ok();
    Status s = Status::error("io", std::string("sqlite: ") + (err ? err : sqlite3_errstr(rc)));
    sqlite3_free(err);
    return s;
  }

  // Single-row text result of a pragma such as journal_mode.
  Result<std::string> query_text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      return Status::error("io", std::string("sqlite: ") + sqlite3_errmsg(db_));
    }
    Result<std::string> out = std::string();
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      out = std::string(p ? p : "");
    } else if (rc != SQLITE_DONE) {
      out = sql_status(db_, rc);
    }
    sqlite3_finalize(stmt);
    return out;
  }

  sqlite3_stmt* statement(const char* sql, Status* error) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      *error = sql_status(db_, rc);
      return nullptr;
    }
    cache_.emplace(sql, stmt);
    return stmt;
  }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// One use of a cached statement: binds positionally, records the first
// error, and resets on scope exit so the statement never holds a read
// snapshot or blocks COMMIT.
class Stmt {
 public:
  Stmt(Db& db, const char* sql) : db_(db.get()), stmt_(db.statement(sql, &status_)) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }

  Stmt& bind(int64_t v) {
    if (usable()) check(sqlite3_bind_int64(stmt_, ++index_, v));
    return *this;
  }
  Stmt& bind(std::string_view v) {
    // A default string_view has a null data(), which SQLite would store as
    // NULL rather than '' and trip the NOT NULL columns.
    const char* p = v.data() ? v.data() : "";
    if (usable()) check(sqlite3_bind_text64(stmt_, ++index_, p, v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
  }
  Stmt& bind(const std::optional<int64_t>& v) {
    if (!v) return bind_null();
    return bind(*v);
  }
  Stmt& bind_null() {
    if (usable()) check(sqlite3_bind_null(stmt_, ++index_));
    return *this;
  }

  // True while rows come; false at the end or on error (then see status()).
  bool step() {
    if (!usable()) return false;
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) status_ = sql_status(db_, rc);
    return false;
  }
  // Steps to completion, ignoring rows.
  Status run() {
    while (step()) {
    }
    return status_;
  }
  const Status& status() const { return status_; }

  int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<int64_t> opt_i64(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_int64(stmt_, col);
  }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    if (!p) return {};
    return std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }

 private:
  bool usable() const { return stmt_ && status_.is_ok(); }
  void check(int rc) {
    if (rc != SQLITE_OK && status_.is_ok()) status_ = sql_status(db_, rc);
  }

  sqlite3* db_;
  Status status_;
  sqlite3_stmt* stmt_;
  int index_ = 0;
};

// Runs a statement that RETURNING-s one integer; nullopt when no row came back.
Result<std::optional<int64_t>> returning_id(Stmt& st);

// A read transaction: one consistent snapshot across several SELECTs.
class ReadTxn {
 public:
  explicit ReadTxn(Db& db) : db_(db) { status_ = Stmt(db_, "BEGIN").run(); }
  ~ReadTxn() {
    if (status_ && !sqlite3_get_autocommit(db_.get())) Stmt(db_, "COMMIT").run();
  }
  const Status& status() const { return status_; }

 private:
  Db& db_;
  Status status_;
};

}  // namespace sabla::store
