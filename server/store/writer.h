// Internal to the store: the writer. One thread drains a bounded queue of
// operations and runs each batch in one transaction; completions are posted
// to the owner thread after COMMIT (see store.h). Reads share the locks kept
// here. The public Store methods (writes.cpp, reads.cpp, auth.cpp) build the
// operations and go through submit() and read().
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "store/sqlite.h"
#include "store/store.h"

namespace sabla::store {

using SteadyClock = std::chrono::steady_clock;

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

  Impl(const Options& o, Poster p);
  ~Impl() { shutdown(); }

  // Opens both connections, migrates, starts the writer thread (threaded).
  Status open();
  // Drains the queue, stops the writer, closes the connections.
  void shutdown();
  bool can_accept(size_t n) const;
  // Queues `op` (threaded) or runs it at once; false when the queue is full.
  bool submit(Op op);
  void flush();
  void writer_loop();  // the writer thread
  void post(Task task);
  void rollback_if_open();
  // One transaction over `ops`. Returns the completions to post, in order:
  // each op's own result if COMMIT succeeded, else an "io" error for all.
  std::vector<Task> run_batch(std::vector<Op>& ops);
  Task execute_one(Op& op);
  StoreMetrics metrics() const;

  // Runs `f(Db&)` under the read lock on the read connection (or the
  // writer's, for ":memory:"); exceptions become a Status.

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
};

}  // namespace sabla::store
