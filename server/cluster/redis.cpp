// Redis connections and the writer thread (see redis.h). Runs on Redis
// threads only, never on the net thread.
#include "cluster/redis.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

namespace sabla::cluster {

void ReplyFree::operator()(redisReply* r) const {
  if (r) freeReplyObject(r);
}

std::string reply_str(const redisReply* r) {
  if (!r) return {};
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
    return std::string(r->str, r->len);
  return {};
}

bool reply_is_error(const redisReply* r) { return r && r->type == REDIS_REPLY_ERROR; }

RedisConn::RedisConn(RedisAddress address, int timeout_ms) : address_(std::move(address)), timeout_ms_(timeout_ms) {}

RedisConn::~RedisConn() { drop(); }

void RedisConn::drop() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

bool RedisConn::ensure() {
  if (ctx_) return true;
  timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
  redisContext* c = redisConnectWithTimeout(address_.host.c_str(), address_.port, tv);
  if (!c || c->err) {
    error_ = c ? c->errstr : "cannot allocate a Redis context";
    if (c) redisFree(c);
    return false;
  }
  redisSetTimeout(c, tv);
  ctx_ = c;
  if (!address_.password.empty()) {
    Reply r = command({"AUTH", address_.password});
    if (!r || reply_is_error(r.get())) {
      error_ = r ? "AUTH: " + reply_str(r.get()) : error_;
      drop();
      return false;
    }
  }
  if (address_.db != 0) {
    Reply r = command({"SELECT", std::to_string(address_.db)});
    if (!r || reply_is_error(r.get())) {
      error_ = r ? "SELECT: " + reply_str(r.get()) : error_;
      drop();
      return false;
    }
  }
  return true;
}

Reply RedisConn::command(const std::vector<std::string>& argv) {
  if (!ensure()) return nullptr;
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data()));
  if (!r) {
    error_ = ctx_->errstr;
    drop();
    return nullptr;
  }
  return Reply(r);
}

std::vector<Reply> RedisConn::pipeline(const std::vector<std::vector<std::string>>& commands) {
  std::vector<Reply> out;
  if (!ensure()) return out;
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& argv : commands) {
    args.clear();
    lens.clear();
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data()) != REDIS_OK) {
      error_ = ctx_->errstr;
      drop();
      return {};
    }
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK || !r) {
      error_ = ctx_->errstr;
      drop();
      return {};
    }
    out.emplace_back(static_cast<redisReply*>(r));
  }
  return out;
}

const std::string& StreamEntry::get(const char* key) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : fields)
    if (k == key) return v;
  return kEmpty;
}

namespace {
void entries_into(const redisReply* list, const std::string& stream, std::vector<StreamEntry>& out) {
  if (!list || list->type != REDIS_REPLY_ARRAY) return;
  for (size_t i = 0; i < list->elements; ++i) {
    const redisReply* e = list->element[i];
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 2) continue;
    StreamEntry entry;
    entry.stream = stream;
    entry.id = reply_str(e->element[0]);
    const redisReply* f = e->element[1];
    if (f && f->type == REDIS_REPLY_ARRAY)
      for (size_t j = 0; j + 1 < f->elements; j += 2)
        entry.fields.emplace_back(reply_str(f->element[j]), reply_str(f->element[j + 1]));
    out.push_back(std::move(entry));
  }
}
bool split_id(const std::string& id, uint64_t* ms, uint64_t* seq) {
  auto dash = id.find('-');
  if (dash == std::string::npos) return false;
  try {
    *ms = std::stoull(id.substr(0, dash));
    *seq = std::stoull(id.substr(dash + 1));
  } catch (...) {
    return false;
  }
  return true;
}
}  // namespace

std::vector<StreamEntry> parse_xread(const redisReply* r) {
  std::vector<StreamEntry> out;
  if (!r || r->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* s = r->element[i];
    if (!s || s->type != REDIS_REPLY_ARRAY || s->elements < 2) continue;
    entries_into(s->element[1], reply_str(s->element[0]), out);
  }
  return out;
}

std::vector<StreamEntry> parse_xrange(const redisReply* r, const std::string& stream) {
  std::vector<StreamEntry> out;
  entries_into(r, stream, out);
  return out;
}

bool stream_id_less(const std::string& a, const std::string& b) {
  uint64_t am = 0, as = 0, bm = 0, bs = 0;
  if (!split_id(a, &am, &as) || !split_id(b, &bm, &bs)) return false;
  return am < bm || (am == bm && as < bs);
}

void backoff_sleep(int n, const std::atomic<bool>& stop) {
  int ms = std::min(2000, 100 << std::min(n, 5));
  for (int waited = 0; waited < ms && !stop.load(); waited += 50)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

// ------------------------------------------------------------------ writer

RedisWriter::RedisWriter(RedisAddress address, size_t capacity) : conn_(std::move(address)), capacity_(capacity) {}

RedisWriter::~RedisWriter() { stop(); }

void RedisWriter::start() { thread_ = std::thread([this] { run(); }); }

void RedisWriter::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_now_.store(true);
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RedisWriter::push(std::vector<std::string> argv, Done done, bool force) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || (!force && items_.size() >= capacity_)) return false;
    items_.push_back(Item{std::move(argv), std::move(done), {}});
  }
  cv_.notify_one();
  return true;
}

bool RedisWriter::push_job(Job job, bool force) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || (!force && items_.size() >= capacity_)) return false;
    items_.push_back(Item{{}, {}, std::move(job)});
  }
  cv_.notify_one();
  return true;
}

size_t RedisWriter::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return items_.size();
}

void RedisWriter::run() {
  constexpr size_t kBatch = 512;
  int failures = 0;
  bool fresh = true;  // on_connect must run before the next command
  std::vector<Item> batch;
  for (;;) {
    if (batch.empty()) {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !items_.empty(); });
      if (stopping_) return;
      // A job runs alone; commands up to the next job go together.
      if (items_.front().job) {
        batch.push_back(std::move(items_.front()));
        items_.pop_front();
      } else {
        while (!items_.empty() && !items_.front().job && batch.size() < kBatch) {
          batch.push_back(std::move(items_.front()));
          items_.pop_front();
        }
      }
    }
    if (stop_now_.load()) return;
    bool ok = conn_.ensure();
    if (ok && fresh) {
      ok = !on_connect_ || on_connect_(conn_);
      if (ok) fresh = false;
    }
    if (ok) {
      if (batch.front().job) {
        ok = batch.front().job(conn_);
      } else {
        std::vector<std::vector<std::string>> commands;
        commands.reserve(batch.size());
        for (auto& item : batch) commands.push_back(item.argv);
        std::vector<Reply> replies = conn_.pipeline(commands);
        ok = replies.size() == batch.size();
        if (ok) {
          for (size_t i = 0; i < batch.size(); ++i) {
            if (reply_is_error(replies[i].get()))
              spdlog::warn("redis: {}: {}", batch[i].argv.empty() ? "" : batch[i].argv[0], reply_str(replies[i].get()));
            if (batch[i].done) batch[i].done(replies[i].get());
          }
        }
      }
    }
    if (ok) {
      if (failures > 0) spdlog::info("redis: writer reconnected after {} attempts", failures);
      failures = 0;
      connected_.store(true);
      batch.clear();
      continue;
    }
    // Redis went away: keep the batch, reconnect with backoff.
    if (failures == 0) spdlog::warn("redis: writer lost its connection: {}", conn_.error());
    connected_.store(false);
    conn_.drop();
    fresh = true;
    reconnects_++;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
    }
    backoff_sleep(failures++, stop_now_);
  }
}

}  // namespace sabla::cluster
