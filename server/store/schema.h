// Internal to the store: the schema as an ordered list of migrations.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include <sqlite3.h>

#include "common/status.h"

namespace sabla::store::schema {

struct Migration {
  std::string_view name;  // for error messages
  std::string_view sql;   // one or more statements
  // Rebuilds a table others reference: migrate() turns foreign keys off
  // around its transaction (SQLite ignores the pragma inside one) and runs
  // PRAGMA foreign_key_check before COMMIT.
  bool rebuilds_tables = false;
};

// Every migration ever shipped, oldest first. PRAGMA user_version holds how
// many of them a database has applied.
const std::vector<Migration>& migrations();

// Brings `db` (a read-write connection) up to current_schema_version(),
// applying each missing migration in its own transaction. Refuses, with code
// "schema_too_new", a database written by newer code.
Status migrate(sqlite3* db);

// PRAGMA user_version of `db`.
Result<int64_t> read_user_version(sqlite3* db);
// The integer a pragma query such as "PRAGMA foreign_keys" returns.
Result<int64_t> pragma_int(sqlite3* db, const char* pragma);

}  // namespace sabla::store::schema
