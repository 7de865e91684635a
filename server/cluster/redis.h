// Redis as the cluster's broker (docs/cluster.md): a blocking hiredis
// connection for one Redis thread, and the writer thread that runs queued
// commands in order. The net thread never touches a connection: it queues
// commands (bounded) and gets results back through NetServer::post().
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"

struct redisContext;
struct redisReply;

namespace sabla::cluster {

struct ReplyFree {
  void operator()(redisReply* r) const;
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// A reply's string (status, string, error), "" otherwise.
std::string reply_str(const redisReply* r);
bool reply_is_error(const redisReply* r);

// One blocking connection, used by one thread only. Commands time out after
// a few seconds, so a Redis that hangs looks like one that went away.
class RedisConn {
 public:
  explicit RedisConn(RedisAddress address, int timeout_ms = 3000);
  ~RedisConn();
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;

  // Connects (AUTH, SELECT) unless connected. False with error() on failure.
  bool ensure();
  // One command. Null on a connection error (the connection is dropped;
  // ensure() reconnects); an error reply is returned as a reply.
  Reply command(const std::vector<std::string>& argv);
  // Commands pipelined, replies in order; empty on a connection error.
  std::vector<Reply> pipeline(const std::vector<std::vector<std::string>>& commands);
  void drop();
  bool connected() const { return ctx_ != nullptr; }
  const std::string& error() const { return error_; }

 private:
  RedisAddress address_;
  int timeout_ms_;
  redisContext* ctx_ = nullptr;
  std::string error_;
};

// A thread that runs commands in the order they were queued, pipelining what
// is queued together, and reconnects with backoff (100 ms doubling to 2 s)
// when Redis goes away: a batch that failed is sent again after the
// reconnect, so a command may run twice but is never lost while the process
// lives (the cluster's messages carry sequence numbers and ids for that).
class RedisWriter {
 public:
  // A job runs alone on the writer thread with the connection; false means
  // the connection failed (it is retried after the reconnect).
  using Job = std::function<bool(RedisConn&)>;
  // Runs after a command's reply (writer thread); may be empty.
  using Done = std::function<void(const redisReply*)>;

  RedisWriter(RedisAddress address, size_t capacity);
  ~RedisWriter();
  // Runs first on each (re)connect, before anything queued (writer thread).
  void on_connect(Job job) { on_connect_ = std::move(job); }
  void start();
  void stop();

  // Any thread. False when the queue is full (the caller applies
  // back-pressure or counts a drop); `force` ignores the bound.
  bool push(std::vector<std::string> argv, Done done = {}, bool force = false);
  bool push_job(Job job, bool force = false);
  size_t queued() const;
  bool connected() const { return connected_.load(); }
  uint64_t reconnects() const { return reconnects_.load(); }

 private:
  struct Item {
    std::vector<std::string> argv;
    Done done;
    Job job;
  };
  void run();

  RedisConn conn_;
  const size_t capacity_;
  Job on_connect_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Item> items_;  // GUARDED_BY(mutex_)
  bool stopping_ = false;   // GUARDED_BY(mutex_)
  std::atomic<bool> connected_{false};
  std::atomic<bool> stop_now_{false};
  std::atomic<uint64_t> reconnects_{0};
  std::thread thread_;
};

// Sleeps for the backoff of attempt `n` (100 ms doubling to 2 s) unless
// `stop` turns true meanwhile (checked every 50 ms).
void backoff_sleep(int n, const std::atomic<bool>& stop);

// An entry of an XREAD / XREADGROUP / XRANGE reply.
struct StreamEntry {
  std::string stream;
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;
  const std::string& get(const char* key) const;
};
// The entries of an XREAD or XREADGROUP reply (nil: none), stream by stream.
std::vector<StreamEntry> parse_xread(const redisReply* r);
// The entries of an XRANGE / XREVRANGE reply.
std::vector<StreamEntry> parse_xrange(const redisReply* r, const std::string& stream);
// Stream ids "ms-seq" in order; false for malformed ones.
bool stream_id_less(const std::string& a, const std::string& b);

// Key names, one place.
namespace keys {
inline constexpr const char* kOut = "sabla:out";        // stream: viewer/overlay frames, main -> edges
inline constexpr const char* kInbox = "sabla:inbox";    // stream: viewer events, edges -> main (group "main")
inline constexpr const char* kGroup = "main";
inline constexpr const char* kEdgeSeq = "sabla:edge_seq";  // counter: edge numbers
inline constexpr const char* kNodes = "sabla:nodes";      // set of live edge numbers
inline constexpr const char* kMainAlive = "sabla:main";   // the main's heartbeat (EX)
inline constexpr const char* kSecret = "sabla:secret";    // the token secret, for edges without [cluster] secret
inline constexpr const char* kWelcome = "sabla:welcome";  // stream of one entry: the newest welcome template
inline std::string direct(int64_t edge) { return "sabla:direct:" + std::to_string(edge); }
inline std::string node(int64_t edge) { return "sabla:node:" + std::to_string(edge); }
}  // namespace keys

// A viewer connection on an edge, as the main node's Room sees it.
inline constexpr uint64_t kRemoteBit = 1ull << 62;
inline uint64_t remote_conn(int64_t edge, uint64_t local) {
  return kRemoteBit | (static_cast<uint64_t>(edge) << 32) | (local & 0xffffffffull);
}
inline bool is_remote(uint64_t conn) { return (conn & kRemoteBit) != 0; }
inline int64_t edge_of(uint64_t conn) { return static_cast<int64_t>((conn & ~kRemoteBit) >> 32); }
inline uint64_t local_of(uint64_t conn) { return conn & 0xffffffffull; }

}  // namespace sabla::cluster
