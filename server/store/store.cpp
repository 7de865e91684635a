#include "store/store.h"

#include <sqlite3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "store/schema.h"

namespace sabla::store {

std::string_view to_string(CommentStatus s) {
  switch (s) {
    case CommentStatus::pending: return "pending";
    case CommentStatus::approved: return "approved";
    case CommentStatus::rejected: return "rejected";
    case CommentStatus::hidden: return "hidden";
  }
  return "pending";
}

std::optional<CommentStatus> parse_comment_status(std::string_view s) {
  if (s == "pending") return CommentStatus::pending;
  if (s == "approved") return CommentStatus::approved;
  if (s == "rejected") return CommentStatus::rejected;
  if (s == "hidden") return CommentStatus::hidden;
  return std::nullopt;
}

namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t wall_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// SQLite result codes -> the Status codes the rest of the server reacts to.
// Needs extended result codes enabled on the connection.
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

// Renames one error code, keeping the message (e.g. a UNIQUE violation is
// "exists" for create_account but "conflict" elsewhere).
Status recode(const Status& s, std::string_view from, std::string to) {
  if (s.code() != from) return s;
  return Status::error(std::move(to), s.message());
}

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
Result<std::optional<int64_t>> returning_id(Stmt& st) {
  std::optional<int64_t> id;
  while (st.step()) {
    if (!id) id = st.i64(0);
  }
  if (!st.status()) return st.status();
  return id;
}

// ---- Row mapping. Column lists and readers stay side by side. ----

#define SESSION_COLUMNS "id, title_ar, title_en, status, created_at_ms, live_at_ms, ended_at_ms"
SessionRow read_session(const Stmt& s) {
  SessionRow r;
  r.id = s.i64(0);
  r.title_ar = s.text(1);
  r.title_en = s.text(2);
  r.status = s.text(3);
  r.created_at_ms = s.i64(4);
  r.live_at_ms = s.opt_i64(5);
  r.ended_at_ms = s.opt_i64(6);
  return r;
}

#define COMMENT_COLUMNS                                                                     \
  "id, session_id, viewer_id, display_name, text, lang, direction, source, client_id, " \
  "external_id, received_at_ms, stream_offset_ms, status, votes"
CommentRow read_comment(const Stmt& s) {
  CommentRow r;
  r.id = s.i64(0);
  r.session_id = s.i64(1);
  r.viewer_id = s.opt_i64(2);
  r.display_name = s.text(3);
  r.text = s.text(4);
  r.lang = s.text(5);
  r.direction = s.text(6);
  r.source = s.text(7);
  r.client_id = s.text(8);
  r.external_id = s.text(9);
  r.received_at_ms = s.i64(10);
  r.stream_offset_ms = s.opt_i64(11);
  r.status = parse_comment_status(s.text(12)).value_or(CommentStatus::pending);
  r.votes = s.i64(13);
  return r;
}

#define VIEWER_COLUMNS "id, token_hash, display_name, banned_until_ms, last_ip, created_at_ms"
ViewerRow read_viewer(const Stmt& s) {
  ViewerRow r;
  r.id = s.i64(0);
  r.token_hash = s.text(1);
  r.display_name = s.text(2);
  r.banned_until_ms = s.i64(3);
  r.last_ip = s.text(4);
  r.created_at_ms = s.i64(5);
  return r;
}

#define EVENT_COLUMNS \
  "id, session_id, comment_id, viewer_id, action, actor, reason, before_text, after_text, at_ms"
ModerationEvent read_event(const Stmt& s) {
  ModerationEvent e;
  e.id = s.i64(0);
  e.session_id = s.opt_i64(1);
  e.comment_id = s.opt_i64(2);
  e.viewer_id = s.opt_i64(3);
  e.action = s.text(4);
  e.actor = s.text(5);
  e.reason = s.text(6);
  e.before_text = s.text(7);
  e.after_text = s.text(8);
  e.at_ms = s.i64(9);
  return e;
}

#define ACCOUNT_COLUMNS "id, name, role, password_hash, created_at_ms"
AccountRow read_account(const Stmt& s) {
  AccountRow r;
  r.id = s.i64(0);
  r.name = s.text(1);
  r.role = s.text(2);
  r.password_hash = s.text(3);
  r.created_at_ms = s.i64(4);
  return r;
}

#define API_TOKEN_COLUMNS "id, name, role, token_hash, created_at_ms"
ApiTokenRow read_api_token(const Stmt& s) {
  ApiTokenRow r;
  r.id = s.i64(0);
  r.name = s.text(1);
  r.role = s.text(2);
  r.token_hash = s.text(3);
  r.created_at_ms = s.i64(4);
  return r;
}

constexpr const char* kSettingsKey = "moderation";
constexpr const char* kOnAirKey = "on_air";

Status insert_event(Db& db, const ModerationEvent& e) {
  Stmt st(db,
          "INSERT INTO moderation_events (session_id, comment_id, viewer_id, action, actor, "
          "reason, before_text, after_text, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(e.session_id)
      .bind(e.comment_id)
      .bind(e.viewer_id)
      .bind(e.action)
      .bind(e.actor)
      .bind(e.reason)
      .bind(e.before_text)
      .bind(e.after_text)
      .bind(e.at_ms);
  return st.run();
}

// The stored row that made an insert a no-op, looked up by the same key
// order the unique indexes use.
Result<InsertedComment> find_duplicate(Db& db, const CommentRow& row) {
  if (row.viewer_id && !row.client_id.empty()) {
    // `client_id != ''` lets the planner use the partial unique index.
    Stmt st(db,
            "SELECT id, status FROM comments WHERE viewer_id = ? AND client_id = ? "
            "AND client_id != ''");
    st.bind(row.viewer_id).bind(row.client_id);
    if (st.step()) {
      return InsertedComment{st.i64(0), parse_comment_status(st.text(1)).value_or(CommentStatus::pending),
                             true};
    }
    if (!st.status()) return st.status();
  }
  if (!row.external_id.empty()) {
    Stmt st(db,
            "SELECT id, status FROM comments WHERE source = ? AND external_id = ? "
            "AND external_id != ''");
    st.bind(row.source).bind(row.external_id);
    if (st.step()) {
      return InsertedComment{st.i64(0), parse_comment_status(st.text(1)).value_or(CommentStatus::pending),
                             true};
    }
    if (!st.status()) return st.status();
  }
  return Status::error("internal", "comment insert was ignored but no duplicate row was found");
}

// Turns an escaping exception into a Status so the writer thread survives a
// throwing operation body.
template <class Out, class Body>
Out guarded(Body& body, Db& db) {
  try {
    return body(db);
  } catch (const std::exception& e) {
    return Status::error("internal", std::string("store operation threw: ") + e.what());
  } catch (...) {
    return Status::error("internal", "store operation threw");
  }
}

// One queued write. execute() runs inside the batch's transaction and returns
// the completion to post if that transaction commits; fail() builds the
// completion to post instead when it does not.
struct Op {
  bool savepoint = false;  // several statements that must succeed or fail together
  SteadyClock::time_point enqueued{};
  std::function<std::pair<bool, Task>(Db&)> execute;
  std::function<Task(const Status&)> fail;
};

// Out is Status or Result<T>; body is Out(Db&).
template <class Out, class Body>
Op make_op(bool savepoint, Body body, std::function<void(Out)> done) {
  auto callback = std::make_shared<std::function<void(Out)>>(std::move(done));
  Op op;
  op.savepoint = savepoint;
  op.execute = [body = std::move(body), callback](Db& db) mutable -> std::pair<bool, Task> {
    Out out = guarded<Out>(body, db);
    const bool ok = out.is_ok();
    return {ok, [callback, out = std::move(out)]() mutable {
              if (*callback) (*callback)(std::move(out));
            }};
  };
  op.fail = [callback](const Status& why) -> Task {
    return [callback, why] {
      if (*callback) (*callback)(why);
    };
  };
  return op;
}

}  // namespace

struct Store::Impl {
  Options options;
  Poster poster;
  size_t fill_target = 1;  // batch size worth waiting for: min(max_batch, queue_capacity)
  // ":memory:" is private to one connection, so reads must share the writer's.
  bool reads_use_writer = false;

  // Threaded: used only by the writer thread (after open()). Unthreaded:
  // GUARDED_BY(write_mutex).
  Db write_db;
  std::mutex write_mutex;

  std::mutex read_mutex;
  Db read_db;  // GUARDED_BY(read_mutex)

  mutable std::mutex queue_mutex;
  std::condition_variable work_cv;  // writer: ops arrived, flush or stop requested
  std::condition_variable done_cv;  // flush(): a batch's completions were posted
  std::deque<Op> queue;             // GUARDED_BY(queue_mutex)
  uint64_t enqueued = 0;            // GUARDED_BY(queue_mutex)
  uint64_t completed = 0;           // GUARDED_BY(queue_mutex)
  int flush_waiters = 0;            // GUARDED_BY(queue_mutex)
  bool stopping = false;            // GUARDED_BY(queue_mutex)
  bool writer_done = false;         // GUARDED_BY(queue_mutex)

  mutable std::mutex metrics_mutex;
  StoreMetrics counters;  // GUARDED_BY(metrics_mutex); queue_length filled on read

  std::thread writer;
  // Set by the writer itself: the std::thread member is assigned after the
  // thread may already be running, so the writer cannot read it race-free.
  std::atomic<std::thread::id> writer_id{};

  Impl(const Options& o, Poster p) : options(o), poster(std::move(p)) {
    options.max_batch = std::max<size_t>(options.max_batch, 1);
    options.queue_capacity = std::max<size_t>(options.queue_capacity, 1);
    options.max_batch_delay_ms = std::max(options.max_batch_delay_ms, 0);
    fill_target = std::min(options.max_batch, options.queue_capacity);
  }

  ~Impl() { shutdown(); }

  Status open() {
    const bool memory = options.path == ":memory:";
    if (options.path.empty()) return Status::error("invalid", "store path is empty");
    if (memory && options.threaded) {
      return Status::error("invalid", "\":memory:\" needs threaded = false (one connection)");
    }
    Status s = write_db.open(options.path,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
    if (!s) return s;
    if (s = write_db.exec("PRAGMA foreign_keys = ON"); !s) return s;
    // migrate() checks the version before changing anything, so a database
    // from newer code is left untouched, journal mode included.
    if (s = schema::migrate(write_db.get()); !s) return s;
    auto mode = write_db.query_text("PRAGMA journal_mode = WAL");
    if (!mode) return mode.status();
    if (*mode != "wal" && !(memory && *mode == "memory")) {
      return Status::error("io", "cannot enable WAL journal (got \"" + *mode + "\")");
    }
    if (s = write_db.exec(options.synchronous_full ? "PRAGMA synchronous = FULL"
                                                   : "PRAGMA synchronous = NORMAL");
        !s) {
      return s;
    }
    // Checkpoints run on the writer thread right after the COMMIT that
    // crossed the threshold; a crash in the middle of one is harmless (the
    // WAL still holds every frame and is replayed at the next open).
    if (s = write_db.exec("PRAGMA wal_autocheckpoint = " +
                          std::to_string(std::max(options.wal_autocheckpoint, 1)));
        !s) {
      return s;
    }

    if (memory) {
      reads_use_writer = true;
    } else {
      // Opened after migrations so the schema exists; read-only makes a
      // stray write through the read path fail loudly.
      if (s = read_db.open(options.path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX); !s) return s;
      if (s = read_db.exec("PRAGMA foreign_keys = ON"); !s) return s;
    }

    if (options.threaded) writer = std::thread([this] { writer_loop(); });
    return Status::ok();
  }

  void shutdown() {
    if (writer.joinable()) {
      {
        std::lock_guard lk(queue_mutex);
        stopping = true;
      }
      work_cv.notify_all();
      // The writer drains the queue before it exits, so this also flushes.
      writer.join();
    }
    read_db.close();
    write_db.close();
  }

  bool can_accept(size_t n) const {
    if (!options.threaded) return true;
    std::lock_guard lk(queue_mutex);
    return !writer_done && queue.size() + n <= options.queue_capacity;
  }

  bool submit(Op op) {
    if (!options.threaded) {
      std::vector<Task> tasks;
      {
        std::lock_guard lk(write_mutex);
        std::vector<Op> one;
        one.push_back(std::move(op));
        tasks = run_batch(one);
      }
      // Posted outside the lock: a completion may well issue the next write.
      for (auto& t : tasks) post(std::move(t));
      return true;
    }
    size_t size = 0;
    {
      std::lock_guard lk(queue_mutex);
      if (writer_done || queue.size() >= options.queue_capacity) return false;
      op.enqueued = SteadyClock::now();
      queue.push_back(std::move(op));
      ++enqueued;
      size = queue.size();
    }
    // The writer sleeps either for a first op or for a full batch; other
    // pushes would only wake it to go back to sleep.
    if (size == 1 || size == fill_target) work_cv.notify_one();
    return true;
  }

  void flush() {
    if (!options.threaded) return;
    // A completion run inline on the writer thread cannot wait for itself.
    if (writer_id.load() == std::this_thread::get_id()) return;
    std::unique_lock lk(queue_mutex);
    const uint64_t target = enqueued;
    ++flush_waiters;
    work_cv.notify_one();  // cut short the wait for a fuller batch
    done_cv.wait(lk, [&] { return completed >= target || writer_done; });
    --flush_waiters;
  }

  void writer_loop() {
    writer_id.store(std::this_thread::get_id());
    const auto delay = std::chrono::milliseconds(options.max_batch_delay_ms);
    std::vector<Op> batch;
    for (;;) {
      {
        std::unique_lock lk(queue_mutex);
        work_cv.wait(lk, [&] { return !queue.empty() || stopping; });
        if (queue.empty()) {
          writer_done = true;
          break;
        }
        // The delay counts from the first op's arrival, not from when the
        // writer got to it: under load ops have already waited a commit.
        const auto deadline = queue.front().enqueued + delay;
        while (queue.size() < fill_target && !stopping && flush_waiters == 0) {
          if (work_cv.wait_until(lk, deadline) == std::cv_status::timeout) break;
        }
        const size_t n = std::min(queue.size(), options.max_batch);
        for (size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      // One hand-off per transaction, not per operation: each post wakes the
      // owner thread, and a batch of 200 acks needs only one wake-up.
      std::vector<Task> tasks = run_batch(batch);
      post([tasks = std::move(tasks)]() mutable {
        for (auto& t : tasks) {
          try {
            t();
          } catch (const std::exception& e) {
            spdlog::error("store: a completion threw: {}", e.what());
          } catch (...) {
            spdlog::error("store: a completion threw");
          }
        }
      });
      {
        std::lock_guard lk(queue_mutex);
        completed += batch.size();
      }
      batch.clear();
      done_cv.notify_all();
    }
    done_cv.notify_all();
  }

  void post(Task task) {
    try {
      if (poster) {
        poster(std::move(task));
      } else {
        task();
      }
    } catch (const std::exception& e) {
      spdlog::error("store: posting a completion threw: {}", e.what());
    } catch (...) {
      spdlog::error("store: posting a completion threw");
    }
  }

  void rollback_if_open() {
    if (!sqlite3_get_autocommit(write_db.get())) Stmt(write_db, "ROLLBACK").run();
  }

  // One transaction over `ops`. Returns the completions to post, in order:
  // each op's own result if COMMIT succeeded, else an "io" error for all.
  std::vector<Task> run_batch(std::vector<Op>& ops) {
    auto fail_all = [&](const std::string& why) {
      spdlog::error("store: batch of {} operation(s) not committed: {}", ops.size(), why);
      rollback_if_open();
      {
        std::lock_guard lk(metrics_mutex);
        ++counters.failed_transactions;
      }
      const Status err = Status::error("io", why);
      std::vector<Task> out;
      out.reserve(ops.size());
      for (auto& op : ops) out.push_back(op.fail(err));
      return out;
    };

    rollback_if_open();  // never inherit a half-finished transaction
    if (Status s = Stmt(write_db, "BEGIN IMMEDIATE").run(); !s) {
      return fail_all("BEGIN failed: " + s.message());
    }
    std::vector<Task> tasks;
    tasks.reserve(ops.size());
    for (auto& op : ops) {
      tasks.push_back(execute_one(op));
      // Errors such as SQLITE_FULL or IOERR roll back the whole transaction,
      // taking the earlier ops of the batch with it.
      if (sqlite3_get_autocommit(write_db.get())) {
        return fail_all(std::string("transaction aborted: ") + sqlite3_errmsg(write_db.get()));
      }
    }
    const auto t0 = SteadyClock::now();
    Status commit = Stmt(write_db, "COMMIT").run();
    const double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
    if (!commit) return fail_all("COMMIT failed: " + commit.message());
    {
      std::lock_guard lk(metrics_mutex);
      ++counters.transactions;
      counters.operations += ops.size();
      counters.largest_batch = std::max<uint64_t>(counters.largest_batch, ops.size());
      counters.last_commit_ms = ms;
      counters.max_commit_ms = std::max(counters.max_commit_ms, ms);
    }
    return tasks;
  }

  Task execute_one(Op& op) {
    if (op.savepoint) {
      if (Status s = Stmt(write_db, "SAVEPOINT op").run(); !s) return op.fail(s);
    }
    bool ok = false;
    Task task;
    try {
      auto result = op.execute(write_db);
      ok = result.first;
      task = std::move(result.second);
    } catch (const std::exception& e) {
      task = op.fail(Status::error("internal", std::string("store operation threw: ") + e.what()));
    } catch (...) {
      task = op.fail(Status::error("internal", "store operation threw"));
    }
    if (op.savepoint) {
      // A failed op leaves no trace; the rest of the batch still commits.
      if (!ok) Stmt(write_db, "ROLLBACK TO op").run();
      Stmt(write_db, "RELEASE op").run();
    }
    return task;
  }

  template <class T, class F>
  Result<T> read(F&& f) {
    try {
      std::unique_lock rl(read_mutex, std::defer_lock);
      std::unique_lock wl(write_mutex, std::defer_lock);
      if (reads_use_writer) {
        std::lock(rl, wl);
        return f(write_db);
      }
      rl.lock();
      return f(read_db);
    } catch (const std::exception& e) {
      return Status::error("internal", std::string("store read threw: ") + e.what());
    } catch (...) {
      return Status::error("internal", "store read threw");
    }
  }

  StoreMetrics metrics() const {
    StoreMetrics m;
    {
      std::lock_guard lk(metrics_mutex);
      m = counters;
    }
    std::lock_guard lk(queue_mutex);
    m.queue_length = queue.size();
    return m;
  }
};

namespace {

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

// Runs a public write method body so that nothing escapes the boundary.
template <class F>
bool guard_submit(F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    spdlog::error("store: could not queue a write: {}", e.what());
  } catch (...) {
    spdlog::error("store: could not queue a write");
  }
  return false;
}

}  // namespace

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  try {
    if (impl_) impl_->shutdown();
  } catch (...) {
    // A destructor must not throw; the connections close with impl_ anyway.
  }
}

Store::Options Store::options_from(const Config& config) {
  Options options;
  options.path = config.db_path();
  options.synchronous_full = config.synchronous_full;
  options.max_batch = static_cast<size_t>(config.batch_max);
  options.max_batch_delay_ms = config.batch_delay_ms;
  options.queue_capacity = static_cast<size_t>(config.writer_queue);
  options.wal_autocheckpoint = config.wal_autocheckpoint;
  return options;
}

Result<std::unique_ptr<Store>> Store::open(const Options& options, Poster post_completion) {
  try {
    auto impl = std::make_unique<Impl>(options, std::move(post_completion));
    if (Status s = impl->open(); !s) return s;
    return std::unique_ptr<Store>(new Store(std::move(impl)));
  } catch (const std::exception& e) {
    return Status::error("internal", std::string("store open threw: ") + e.what());
  } catch (...) {
    return Status::error("internal", "store open threw");
  }
}

bool Store::can_accept(size_t n) const {
  try {
    return impl_->can_accept(n);
  } catch (...) {
    return false;
  }
}

bool Store::insert_comment(CommentRow row, std::optional<ModerationEvent> event,
                           std::function<void(Result<InsertedComment>)> done) {
  return guard_submit([&] {
    const bool savepoint = event.has_value();
    auto body = [row = std::move(row), event = std::move(event)](Db& db) -> Result<InsertedComment> {
      // DO NOTHING covers both idempotency indexes (the only other unique
      // key is the rowid, which is never bound), so a retry writes nothing.
      Stmt ins(db,
               "INSERT INTO comments (session_id, viewer_id, display_name, text, lang, direction, "
               "source, client_id, external_id, received_at_ms, stream_offset_ms, status, votes) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id");
      ins.bind(row.session_id)
          .bind(row.viewer_id)
          .bind(row.display_name)
          .bind(row.text)
          .bind(row.lang)
          .bind(row.direction)
          .bind(row.source)
          .bind(row.client_id)
          .bind(row.external_id)
          .bind(row.received_at_ms)
          .bind(row.stream_offset_ms)
          .bind(to_string(row.status))
          .bind(row.votes);
      auto id = returning_id(ins);
      if (!id) return id.status();
      if (!*id) return find_duplicate(db, row);
      InsertedComment out{**id, row.status, false};
      if (event) {
        ModerationEvent e = *event;
        e.comment_id = out.id;
        if (!e.session_id) e.session_id = row.session_id;
        if (Status s = insert_event(db, e); !s) return s;
      }
      return out;
    };
    return impl_->submit(make_op<Result<InsertedComment>>(savepoint, std::move(body), std::move(done)));
  });
}

bool Store::apply_decision(Decision decision, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [d = std::move(decision)](Db& db) -> Status {
      int64_t session_id = 0;
      std::string old_text;
      {
        Stmt sel(db, "SELECT session_id, text FROM comments WHERE id = ?");
        sel.bind(d.comment_id);
        if (!sel.step()) {
          if (!sel.status()) return sel.status();
          return Status::error("not_found", "no comment " + std::to_string(d.comment_id));
        }
        session_id = sel.i64(0);
        old_text = sel.text(1);
      }
      {
        Stmt upd(db, "UPDATE comments SET status = ?, text = coalesce(?, text) WHERE id = ?");
        upd.bind(to_string(d.new_status));
        if (d.new_text) {
          upd.bind(*d.new_text);
        } else {
          upd.bind_null();
        }
        upd.bind(d.comment_id);
        if (Status s = upd.run(); !s) return s;
      }
      ModerationEvent e = d.event;
      e.comment_id = d.comment_id;
      if (!e.session_id) e.session_id = session_id;
      // The store is the one place that knows the text being replaced, so an
      // edit's audit row is complete even when the caller left it out.
      if (d.new_text) {
        if (e.before_text.empty()) e.before_text = old_text;
        if (e.after_text.empty()) e.after_text = *d.new_text;
      }
      return insert_event(db, e);
    };
    return impl_->submit(make_op<Status>(true, std::move(body), std::move(done)));
  });
}

bool Store::add_vote(int64_t comment_id, int64_t viewer_id,
                     std::function<void(Result<std::pair<int64_t, bool>>)> done) {
  return guard_submit([&] {
    auto body = [comment_id, viewer_id](Db& db) -> Result<std::pair<int64_t, bool>> {
      int64_t votes = 0;
      {
        Stmt sel(db, "SELECT votes FROM comments WHERE id = ?");
        sel.bind(comment_id);
        if (!sel.step()) {
          if (!sel.status()) return sel.status();
          return Status::error("not_found", "no comment " + std::to_string(comment_id));
        }
        votes = sel.i64(0);
      }
      bool inserted = false;
      {
        Stmt ins(db,
                 "INSERT INTO votes (comment_id, viewer_id, at_ms) VALUES (?, ?, ?) "
                 "ON CONFLICT DO NOTHING RETURNING 1");
        ins.bind(comment_id).bind(viewer_id).bind(wall_now_ms());
        auto r = returning_id(ins);
        if (!r) return r.status();
        inserted = r->has_value();
      }
      if (inserted) {
        Stmt upd(db, "UPDATE comments SET votes = votes + 1 WHERE id = ? RETURNING votes");
        upd.bind(comment_id);
        auto r = returning_id(upd);
        if (!r) return r.status();
        votes = r->value_or(votes + 1);
      }
      return std::pair<int64_t, bool>{votes, inserted};
    };
    return impl_->submit(make_op<Result<std::pair<int64_t, bool>>>(true, std::move(body), std::move(done)));
  });
}

bool Store::save_viewer(ViewerRow viewer, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [v = std::move(viewer)](Db& db) -> Status {
      // created_at_ms is kept from the first save: it is when the viewer
      // first appeared, not when it was last updated.
      Stmt st(db,
              "INSERT INTO viewers (" VIEWER_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?) "
              "ON CONFLICT(id) DO UPDATE SET token_hash = excluded.token_hash, "
              "display_name = excluded.display_name, banned_until_ms = excluded.banned_until_ms, "
              "last_ip = excluded.last_ip");
      st.bind(v.id).bind(v.token_hash).bind(v.display_name).bind(v.banned_until_ms).bind(v.last_ip).bind(
          v.created_at_ms);
      return st.run();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::set_ip_ban(IpBan ban, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [b = std::move(ban)](Db& db) -> Status {
      if (b.until_ms == 0) {
        Stmt st(db, "DELETE FROM ip_bans WHERE ip = ?");
        st.bind(b.ip);
        return st.run();
      }
      Stmt st(db,
              "INSERT INTO ip_bans (ip, until_ms) VALUES (?, ?) "
              "ON CONFLICT(ip) DO UPDATE SET until_ms = excluded.until_ms");
      st.bind(b.ip).bind(b.until_ms);
      return st.run();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::record_event(ModerationEvent event, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [e = std::move(event)](Db& db) -> Status { return insert_event(db, e); };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::save_settings(nlohmann::json settings, std::optional<ModerationEvent> event,
                          std::function<void(Status)> done) {
  return guard_submit([&] {
    // Serialised here, on the caller's thread, so a bad value is refused
    // before it is queued. `replace` turns invalid UTF-8 into U+FFFD instead
    // of throwing.
    std::string value = settings.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const bool savepoint = event.has_value();
    auto body = [value = std::move(value), event = std::move(event)](Db& db) -> Status {
      {
        Stmt st(db,
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
        st.bind(kSettingsKey).bind(value);
        if (Status s = st.run(); !s) return s;
      }
      if (event) return insert_event(db, *event);
      return Status::ok();
    };
    return impl_->submit(make_op<Status>(savepoint, std::move(body), std::move(done)));
  });
}

bool Store::record_on_air(std::vector<OnAirEventRow> events, nlohmann::json saved_state,
                          std::function<void(Status)> done) {
  return guard_submit([&] {
    std::string value = saved_state.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto body = [value = std::move(value), events = std::move(events)](Db& db) -> Status {
      for (const auto& e : events) {
        Stmt st(db,
                "INSERT INTO on_air_events (session_id, at_ms, stream_offset_ms, kind, comment_id, actor, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)");
        st.bind(e.session_id).bind(e.at_ms).bind(e.stream_offset_ms).bind(e.kind).bind(e.comment_id).bind(e.actor).bind(
            e.detail);
        if (Status s = st.run(); !s) return s;
      }
      Stmt st(db,
              "INSERT INTO settings (key, value) VALUES (?, ?) "
              "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
      st.bind(kOnAirKey).bind(value);
      return st.run();
    };
    return impl_->submit(make_op<Status>(true, std::move(body), std::move(done)));
  });
}

bool Store::create_session(SessionRow session, std::function<void(Result<SessionRow>)> done) {
  return guard_submit([&] {
    auto body = [s = std::move(session)](Db& db) -> Result<SessionRow> {
      Stmt st(db,
              "INSERT INTO sessions (title_ar, title_en, status, created_at_ms, live_at_ms, "
              "ended_at_ms) VALUES (?, ?, ?, ?, ?, ?) RETURNING id");
      st.bind(s.title_ar).bind(s.title_en).bind(s.status).bind(s.created_at_ms).bind(s.live_at_ms).bind(
          s.ended_at_ms);
      auto id = returning_id(st);
      if (!id) return id.status();
      if (!*id) return Status::error("internal", "session insert returned no id");
      SessionRow out = s;
      out.id = **id;
      return out;
    };
    return impl_->submit(make_op<Result<SessionRow>>(false, std::move(body), std::move(done)));
  });
}

bool Store::update_session(SessionRow session, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [s = std::move(session)](Db& db) -> Status {
      // created_at_ms is immutable: it records when the session was made.
      Stmt st(db,
              "UPDATE sessions SET title_ar = ?, title_en = ?, status = ?, live_at_ms = ?, "
              "ended_at_ms = ? WHERE id = ? RETURNING id");
      st.bind(s.title_ar).bind(s.title_en).bind(s.status).bind(s.live_at_ms).bind(s.ended_at_ms).bind(
          s.id);
      auto id = returning_id(st);
      if (!id) return id.status();
      if (!*id) return Status::error("not_found", "no session " + std::to_string(s.id));
      return Status::ok();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::record_viewers_peak(int64_t session_id, int64_t peak, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [session_id, peak](Db& db) -> Status {
      Stmt st(db, "UPDATE sessions SET viewers_peak = max(viewers_peak, ?) WHERE id = ? RETURNING id");
      st.bind(peak).bind(session_id);
      auto id = returning_id(st);
      if (!id) return id.status();
      if (!*id) return Status::error("not_found", "no session " + std::to_string(session_id));
      return Status::ok();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::set_retention(int64_t session_id, std::optional<int64_t> days, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [session_id, days](Db& db) -> Status {
      if (days && *days < 0) return Status::error("invalid", "retention days must not be negative");
      Stmt st(db, "UPDATE sessions SET retention_days = ? WHERE id = ? RETURNING id");
      st.bind(days).bind(session_id);
      auto id = returning_id(st);
      if (!id) return id.status();
      if (!*id) return Status::error("not_found", "no session " + std::to_string(session_id));
      return Status::ok();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::create_account(AccountRow account, std::function<void(Result<AccountRow>)> done) {
  return guard_submit([&] {
    auto body = [a = std::move(account)](Db& db) -> Result<AccountRow> {
      Stmt st(db,
              "INSERT INTO accounts (name, role, password_hash, created_at_ms) VALUES (?, ?, ?, ?) "
              "RETURNING id");
      st.bind(a.name).bind(a.role).bind(a.password_hash).bind(a.created_at_ms);
      auto id = returning_id(st);
      if (!id) return recode(id.status(), "conflict", "exists");
      if (!*id) return Status::error("internal", "account insert returned no id");
      AccountRow out = a;
      out.id = **id;
      return out;
    };
    return impl_->submit(make_op<Result<AccountRow>>(false, std::move(body), std::move(done)));
  });
}

bool Store::create_api_token(ApiTokenRow token, std::function<void(Result<ApiTokenRow>)> done) {
  return guard_submit([&] {
    auto body = [t = std::move(token)](Db& db) -> Result<ApiTokenRow> {
      Stmt st(db,
              "INSERT INTO api_tokens (name, role, token_hash, created_at_ms) VALUES (?, ?, ?, ?) "
              "RETURNING id");
      st.bind(t.name).bind(t.role).bind(t.token_hash).bind(t.created_at_ms);
      auto id = returning_id(st);
      if (!id) return recode(id.status(), "conflict", "exists");
      if (!*id) return Status::error("internal", "api token insert returned no id");
      ApiTokenRow out = t;
      out.id = **id;
      return out;
    };
    return impl_->submit(make_op<Result<ApiTokenRow>>(false, std::move(body), std::move(done)));
  });
}

bool Store::save_auth_session(AuthSessionRow session, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [s = std::move(session)](Db& db) -> Status {
      Stmt st(db,
              "INSERT INTO auth_sessions (token_hash, account_id, expires_at_ms) VALUES (?, ?, ?) "
              "ON CONFLICT(token_hash) DO UPDATE SET account_id = excluded.account_id, "
              "expires_at_ms = excluded.expires_at_ms");
      st.bind(s.token_hash).bind(s.account_id).bind(s.expires_at_ms);
      return st.run();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::after_commit(std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [](Db&) -> Status { return Status::ok(); };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::delete_auth_session(std::string token_hash, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [h = std::move(token_hash)](Db& db) -> Status {
      Stmt st(db, "DELETE FROM auth_sessions WHERE token_hash = ?");
      st.bind(h);
      return st.run();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

// ---- Reads ----

namespace {

Status read_sessions(Db& db, std::vector<SessionRow>& out) {
  Stmt st(db, "SELECT " SESSION_COLUMNS " FROM sessions ORDER BY id");
  while (st.step()) out.push_back(read_session(st));
  return st.status();
}

Status read_comments(Db& db, int64_t session_id, std::vector<CommentRow>& out) {
  Stmt st(db, "SELECT " COMMENT_COLUMNS " FROM comments WHERE session_id = ? ORDER BY id");
  st.bind(session_id);
  while (st.step()) out.push_back(read_comment(st));
  return st.status();
}

}  // namespace

Result<LoadedState> Store::load_state() {
  return impl_->read<LoadedState>([](Db& db) -> Result<LoadedState> {
    ReadTxn txn(db);
    if (!txn.status()) return txn.status();
    LoadedState state;
    if (Status s = read_sessions(db, state.sessions); !s) return s;
    {
      Stmt st(db, "SELECT id FROM sessions WHERE status = 'live' ORDER BY id DESC LIMIT 1");
      if (st.step()) state.current_session_id = st.i64(0);
      if (!st.status()) return st.status();
    }
    if (state.current_session_id) {
      const int64_t sid = *state.current_session_id;
      if (Status s = read_comments(db, sid, state.comments); !s) return s;
      Stmt st(db,
              "SELECT v.comment_id, v.viewer_id FROM votes v JOIN comments c ON c.id = v.comment_id "
              "WHERE c.session_id = ? ORDER BY v.comment_id, v.viewer_id");
      st.bind(sid);
      while (st.step()) state.votes.emplace_back(st.i64(0), st.i64(1));
      if (!st.status()) return st.status();
    }
    {
      Stmt st(db, "SELECT " VIEWER_COLUMNS " FROM viewers ORDER BY id");
      while (st.step()) state.viewers.push_back(read_viewer(st));
      if (!st.status()) return st.status();
    }
    {
      // Every ban, expired or not: the caller judges expiry with its own clock.
      Stmt st(db, "SELECT ip, until_ms FROM ip_bans ORDER BY ip");
      while (st.step()) state.ip_bans.push_back(IpBan{st.text(0), st.i64(1)});
      if (!st.status()) return st.status();
    }
    {
      Stmt st(db, "SELECT value FROM settings WHERE key = ?");
      st.bind(kSettingsKey);
      if (st.step()) {
        auto parsed = nlohmann::json::parse(st.text(0), nullptr, false);
        // A corrupt value must not keep the server from starting; defaults apply.
        if (!parsed.is_discarded()) state.settings = std::move(parsed);
      }
      if (!st.status()) return st.status();
    }
    {
      Stmt st(db, "SELECT value FROM settings WHERE key = ?");
      st.bind(kOnAirKey);
      if (st.step()) {
        auto parsed = nlohmann::json::parse(st.text(0), nullptr, false);
        if (!parsed.is_discarded()) state.on_air = std::move(parsed);
      }
      if (!st.status()) return st.status();
    }
    return state;
  });
}

Result<std::vector<SessionRow>> Store::list_sessions() {
  return impl_->read<std::vector<SessionRow>>([](Db& db) -> Result<std::vector<SessionRow>> {
    std::vector<SessionRow> out;
    if (Status s = read_sessions(db, out); !s) return s;
    return out;
  });
}

Result<std::optional<AccountRow>> Store::find_account(std::string_view name) {
  return impl_->read<std::optional<AccountRow>>([&](Db& db) -> Result<std::optional<AccountRow>> {
    Stmt st(db, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE name = ?");
    st.bind(name);
    std::optional<AccountRow> out;
    if (st.step()) out = read_account(st);
    if (!st.status()) return st.status();
    return out;
  });
}

Result<std::optional<AccountRow>> Store::find_account_by_id(int64_t id) {
  return impl_->read<std::optional<AccountRow>>([&](Db& db) -> Result<std::optional<AccountRow>> {
    Stmt st(db, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE id = ?");
    st.bind(id);
    std::optional<AccountRow> out;
    if (st.step()) out = read_account(st);
    if (!st.status()) return st.status();
    return out;
  });
}

Result<int64_t> Store::count_accounts() {
  return impl_->read<int64_t>([](Db& db) -> Result<int64_t> {
    Stmt st(db, "SELECT count(*) FROM accounts");
    int64_t n = 0;
    if (st.step()) n = st.i64(0);
    if (!st.status()) return st.status();
    return n;
  });
}

Result<std::vector<std::string>> Store::account_names() {
  return impl_->read<std::vector<std::string>>([](Db& db) -> Result<std::vector<std::string>> {
    Stmt st(db, "SELECT name FROM accounts ORDER BY id");
    std::vector<std::string> out;
    while (st.step()) out.push_back(st.text(0));
    if (!st.status()) return st.status();
    return out;
  });
}

Result<std::optional<ApiTokenRow>> Store::find_api_token(std::string_view token_hash) {
  return impl_->read<std::optional<ApiTokenRow>>([&](Db& db) -> Result<std::optional<ApiTokenRow>> {
    Stmt st(db, "SELECT " API_TOKEN_COLUMNS " FROM api_tokens WHERE token_hash = ?");
    st.bind(token_hash);
    std::optional<ApiTokenRow> out;
    if (st.step()) out = read_api_token(st);
    if (!st.status()) return st.status();
    return out;
  });
}

Result<std::optional<AuthSessionRow>> Store::find_auth_session(std::string_view token_hash) {
  return impl_->read<std::optional<AuthSessionRow>>(
      [&](Db& db) -> Result<std::optional<AuthSessionRow>> {
        // Expired rows are returned too: expiry is the caller's policy.
        Stmt st(db,
                "SELECT token_hash, account_id, expires_at_ms FROM auth_sessions WHERE token_hash = ?");
        st.bind(token_hash);
        std::optional<AuthSessionRow> out;
        if (st.step()) out = AuthSessionRow{st.text(0), st.i64(1), st.i64(2)};
        if (!st.status()) return st.status();
        return out;
      });
}

Result<std::vector<CommentRow>> Store::comments_of_session(int64_t session_id) {
  return impl_->read<std::vector<CommentRow>>([&](Db& db) -> Result<std::vector<CommentRow>> {
    std::vector<CommentRow> out;
    if (Status s = read_comments(db, session_id, out); !s) return s;
    return out;
  });
}

Result<std::vector<ModerationEvent>> Store::moderation_events(int64_t session_id) {
  return impl_->read<std::vector<ModerationEvent>>(
      [&](Db& db) -> Result<std::vector<ModerationEvent>> {
        Stmt st(db, "SELECT " EVENT_COLUMNS " FROM moderation_events WHERE session_id = ? ORDER BY id");
        st.bind(session_id);
        std::vector<ModerationEvent> out;
        while (st.step()) out.push_back(read_event(st));
        if (!st.status()) return st.status();
        return out;
      });
}

Result<std::vector<OnAirEventRow>> Store::on_air_events(int64_t session_id) {
  return impl_->read<std::vector<OnAirEventRow>>([&](Db& db) -> Result<std::vector<OnAirEventRow>> {
    Stmt st(db,
            "SELECT id, session_id, at_ms, stream_offset_ms, kind, comment_id, actor, detail "
            "FROM on_air_events WHERE session_id = ? ORDER BY id");
    st.bind(session_id);
    std::vector<OnAirEventRow> out;
    while (st.step()) {
      OnAirEventRow r;
      r.id = st.i64(0);
      r.session_id = st.opt_i64(1);
      r.at_ms = st.i64(2);
      r.stream_offset_ms = st.opt_i64(3);
      r.kind = st.text(4);
      r.comment_id = st.opt_i64(5);
      r.actor = st.text(6);
      r.detail = st.text(7);
      out.push_back(std::move(r));
    }
    if (!st.status()) return st.status();
    return out;
  });
}

Result<int64_t> Store::schema_version() {
  return impl_->read<int64_t>([](Db& db) -> Result<int64_t> { return schema::read_user_version(db.get()); });
}

StoreMetrics Store::metrics() const {
  try {
    return impl_->metrics();
  } catch (...) {
    return {};
  }
}

void Store::flush() {
  try {
    impl_->flush();
  } catch (const std::exception& e) {
    spdlog::error("store: flush failed: {}", e.what());
  } catch (...) {
    spdlog::error("store: flush failed");
  }
}

}  // namespace sabla::store

// Keep the column-list helpers private to this file even in unity builds.
#undef SESSION_COLUMNS
#undef COMMENT_COLUMNS
#undef VIEWER_COLUMNS
#undef EVENT_COLUMNS
#undef ACCOUNT_COLUMNS
#undef API_TOKEN_COLUMNS
