// RemoteSink (bridges.h): `sabla bridge` feeds a main node over HTTP. Its
// own thread does the blocking requests (libcurl easy, one connection kept
// alive), so the bridge thread never waits on the main node.
#include <curl/curl.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "bridges/bridges.h"

namespace sabla::bridges {
namespace {

constexpr size_t kQueue = 256;
constexpr size_t kMaxAnswer = 256 * 1024;

size_t collect(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  const size_t n = size * count;
  if (out->size() + n > kMaxAnswer) return 0;
  out->append(data, n);
  return n;
}

}  // namespace

struct RemoteSink::Impl {
  std::string base;
  std::string token;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::pair<IncomingComment, FeedDone>> queue;  // GUARDED_BY(mutex)
  bool stopping = false;                                    // GUARDED_BY(mutex)
  std::thread thread;
  // The remote thread only.
  CURL* easy = nullptr;
  std::optional<int64_t> session;

  // One request; false with `error` on a transport failure.
  bool call(const char* method, const std::string& path, const std::string& body, long* status, std::string* answer,
            std::string* error) {
    answer->clear();
    curl_easy_reset(easy);
    curl_slist* headers = nullptr;
    const std::string auth = "Authorization: Bearer " + token;
    headers = curl_slist_append(headers, auth.c_str());
    headers = curl_slist_append(headers, "Content-Type: application/json");
    const std::string url = base + path;
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    if (std::string(method) == "POST") {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    const CURLcode code = curl_easy_perform(easy);
    curl_slist_free_all(headers);
    if (code != CURLE_OK) {
      *error = std::string("main node: ") + curl_easy_strerror(code);
      return false;
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
    return true;
  }

  FeedResult feed(const IncomingComment& c) {
    long status = 0;
    std::string answer, error;
    if (!session) {
      if (!call("GET", "/api/v1/sessions", "", &status, &answer, &error)) return feed_result(0, false, error);
      if (status != 200) return feed_result(503, false, "main node: GET /api/v1/sessions -> HTTP " + std::to_string(status));
      const auto list = nlohmann::json::parse(answer, nullptr, false);
      if (list.is_object() && list.contains("sessions") && list["sessions"].is_array()) {
        for (const auto& s : list["sessions"])
          if (s.is_object() && s.value("current", false) && s.contains("id") && s["id"].is_number_integer())
            session = s["id"].get<int64_t>();
      }
      if (!session) return feed_result(409, false, "no session is live on the main node");
    }
    const std::string body =
        nlohmann::json{{"source", c.source}, {"author", c.author}, {"text", c.text}, {"external_id", c.external_id}}
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (!call("POST", "/api/v1/sessions/" + std::to_string(*session) + "/comments", body, &status, &answer, &error))
      return feed_result(0, false, error);
    const auto reply = nlohmann::json::parse(answer, nullptr, false);
    const bool duplicate = reply.is_object() && reply.value("duplicate", false);
    std::string message;
    if (status >= 300 && reply.is_object() && reply.contains("error") && reply["error"].is_object())
      message = reply["error"].value("message", "");
    if (status == 409) session.reset();  // the session ended: find the next one
    if (status == 401 || status == 403) message = "main node refused the API token (HTTP " + std::to_string(status) + ")";
    return feed_result(static_cast<int>(status), duplicate, message);
  }

  void run() {
    easy = curl_easy_init();
    for (;;) {
      std::pair<IncomingComment, FeedDone> job;
      {
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [this] { return stopping || !queue.empty(); });
        if (stopping) break;
        job = std::move(queue.front());
        queue.pop_front();
      }
      job.second(easy ? feed(job.first) : feed_result(0, false, "libcurl failed"));
    }
    std::deque<std::pair<IncomingComment, FeedDone>> left;
    {
      std::lock_guard<std::mutex> lock(mutex);
      left.swap(queue);
    }
    for (auto& [c, done] : left) done(feed_result(0, false, "stopping"));
    if (easy) curl_easy_cleanup(easy);
  }
};

RemoteSink::RemoteSink(std::string main_url, std::string token) : impl_(std::make_unique<Impl>()) {
  while (!main_url.empty() && main_url.back() == '/') main_url.pop_back();
  impl_->base = std::move(main_url);
  impl_->token = std::move(token);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Impl* impl = impl_.get();
  impl_->thread = std::thread([impl] { impl->run(); });
}

RemoteSink::~RemoteSink() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

Sink RemoteSink::sink() {
  Impl* impl = impl_.get();
  return [impl](IncomingComment c, FeedDone done) {
    {
      std::lock_guard<std::mutex> lock(impl->mutex);
      if (!impl->stopping && impl->queue.size() < kQueue) {
        impl->queue.emplace_back(std::move(c), std::move(done));
        impl->cv.notify_one();
        return;
      }
    }
    done(feed_result(503, false, "the main node is not keeping up"));
  };
}

}  // namespace sabla::bridges
