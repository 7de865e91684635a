#include "store/writer.h"

#include <algorithm>

#include "store/schema.h"

namespace sabla::store {

Store::Impl::Impl(const Options& o, Poster p) : options(o), poster(std::move(p)) {
  options.max_batch = std::max<size_t>(options.max_batch, 1);
  options.queue_capacity = std::max<size_t>(options.queue_capacity, 1);
  options.max_batch_delay_ms = std::max(options.max_batch_delay_ms, 0);
  fill_target = std::min(options.max_batch, options.queue_capacity);
}

Status Store::Impl::open() {
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

void Store::Impl::shutdown() {
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

bool Store::Impl::can_accept(size_t n) const {
  if (!options.threaded) return true;
  std::lock_guard lk(queue_mutex);
  return !writer_done && queue.size() + n <= options.queue_capacity;
}

bool Store::Impl::submit(Op op) {
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

void Store::Impl::flush() {
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

void Store::Impl::writer_loop() {
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

void Store::Impl::post(Task task) {
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

void Store::Impl::rollback_if_open() {
  if (!sqlite3_get_autocommit(write_db.get())) Stmt(write_db, "ROLLBACK").run();
}

// One transaction over `ops`. Returns the completions to post, in order:
// each op's own result if COMMIT succeeded, else an "io" error for all.
std::vector<Task> Store::Impl::run_batch(std::vector<Op>& ops) {
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

Task Store::Impl::execute_one(Op& op) {
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

StoreMetrics Store::Impl::metrics() const {
  StoreMetrics m;
  {
    std::lock_guard lk(metrics_mutex);
    m = counters;
  }
  std::lock_guard lk(queue_mutex);
  m.queue_length = queue.size();
  return m;
}

}  // namespace sabla::store
