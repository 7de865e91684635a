// The bridge engine: one thread, one libcurl multi handle, every polling
// bridge a small state machine (request -> answer -> feed the page -> commit
// the cursor -> wait). See bridges.h for the design and platform.h for what
// each platform supplies.
//
// Threads: run() and everything it calls is the bridge thread. Sink
// completions come from the net thread: they only queue their result in
// Shared::inbox and wake the loop with curl_multi_wakeup. states(),
// webhook_fed() and webhook_refused() may run on any thread (state_mutex).
#include "bridges/bridges.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "bridges/platform.h"

namespace sabla::bridges {
namespace {

// A platform answer larger than this is refused (no page is near it: 500
// chat messages are ~600 KiB of JSON at most).
constexpr size_t kMaxAnswerBytes = 2 * 1024 * 1024;
// Comments of one bridge handed to the ingest path at a time.
constexpr int kMaxFeeding = 32;
constexpr int64_t kLoopCapMs = 1000;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// What outlives the engine: sink completions may arrive after stop().
struct Shared {
  std::mutex mutex;
  CURLM* multi = nullptr;  // null once stopped: completions are dropped
  std::vector<std::pair<size_t, FeedResult>> inbox;
};

struct Slot {
  BridgeConfig config;
  std::unique_ptr<Platform> platform;  // null for a webhook
  int64_t base_interval_ms = 0;
  // Bridge thread only from here on.
  int64_t due_ms = 0;
  bool done = false;  // error or ended: not polled again
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  std::string body;
  bool too_large = false;
  std::map<std::string, std::string> headers;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  int failures = 0;  // in a row, for the backoff
  // The page being fed.
  bool page_active = false;
  std::deque<IncomingComment> queue;
  int feeding = 0;
  bool page_retry = false;
  std::string retry_error;
  int64_t page_delay_ms = 0;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  // A C callback: nothing here may throw (append of a bounded size).
  auto* slot = static_cast<Slot*>(user);
  const size_t n = size * count;
  if (slot->body.size() + n > kMaxAnswerBytes) {
    slot->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  slot->body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* slot = static_cast<Slot*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos && slot->headers.size() < 64 && n < 1024) {
    std::string name = lower(std::string(line.substr(0, colon)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
    slot->headers[name] = std::string(value);
  } else if (line.rfind("HTTP/", 0) == 0) {
    slot->headers.clear();  // a new response (after a 100 Continue)
  }
  return n;
}

std::unique_ptr<Platform> make_platform(const BridgeConfig& c) {
  if (c.kind == "youtube") return make_youtube(c);
  if (c.kind == "x") return make_x(c);
  if (c.kind == "facebook") return make_facebook(c);
  if (c.kind == "telegram") return make_telegram(c);
  return nullptr;
}

}  // namespace

struct Bridges::Impl {
  Sink sink;
  std::function<int64_t()> now_ms;
  std::vector<Slot> slots;
  mutable std::mutex state_mutex;
  std::vector<BridgeState> states;  // GUARDED_BY(state_mutex), by slot index
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  CURLM* multi = nullptr;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::mt19937_64 rng{std::random_device{}()};

  template <class F>
  void update(size_t i, F&& f) {
    std::lock_guard<std::mutex> lock(state_mutex);
    f(states[i]);
  }

  // No credential ever reaches a log line or the studio, whatever a curl
  // message or a platform's text may echo.
  std::string redact(const Slot& s, std::string text) const {
    for (const std::string* secret : {&s.config.token, &s.config.api_key, &s.config.secret}) {
      if (secret->size() < 4) continue;
      for (size_t at = text.find(*secret); at != std::string::npos; at = text.find(*secret, at))
        text.replace(at, secret->size(), "***");
    }
    return text;
  }

  int64_t backoff_ms(Slot& s) {
    const int shift = std::min(s.failures - 1, 20);
    const int64_t full = std::min<int64_t>(s.config.backoff_max_ms, int64_t{s.config.backoff_ms} << std::max(shift, 0));
    // Equal jitter: half fixed, half random, so bridges that failed together
    // do not come back together.
    std::uniform_int_distribution<int64_t> half(0, full / 2);
    return full - full / 2 + half(rng);
  }

  void set_state(size_t i, const std::string& state, const std::string& error, int64_t interval_ms) {
    Slot& s = slots[i];
    std::string previous;
    update(i, [&](BridgeState& st) {
      previous = st.state;
      st.state = state;
      if (!error.empty()) st.last_error = error;
      if (interval_ms >= 0) st.poll_interval_ms = interval_ms;
    });
    if (previous == state) return;
    if (state == "connected") spdlog::info("bridge {} ({}): connected", s.config.name, s.config.kind);
    else spdlog::warn("bridge {} ({}): {}: {}", s.config.name, s.config.kind, state, error);
  }

  void start_request(size_t i) {
    Slot& s = slots[i];
    Request req = s.platform->next_request();
    s.easy = curl_easy_init();
    if (!s.easy) {
      s.due_ms = steady_ms() + 1000;
      return;
    }
    s.body.clear();
    s.headers.clear();
    s.too_large = false;
    s.error_buffer[0] = 0;
    for (const std::string& h : req.headers) s.header_list = curl_slist_append(s.header_list, h.c_str());
    s.header_list = curl_slist_append(s.header_list, "Accept: application/json");
    curl_easy_setopt(s.easy, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, s.header_list);
    curl_easy_setopt(s.easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(s.easy, CURLOPT_USERAGENT, "sabla-bridge/1");
    curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s.easy, CURLOPT_CONNECTTIMEOUT_MS, 10'000L);
    curl_easy_setopt(s.easy, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_ms));
    curl_easy_setopt(s.easy, CURLOPT_ACCEPT_ENCODING, "");  // gzip, if the platform offers it
    curl_easy_setopt(s.easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxAnswerBytes));
    curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(s.easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(s.easy, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(s.easy, CURLOPT_ERRORBUFFER, s.error_buffer);
    curl_easy_setopt(s.easy, CURLOPT_PRIVATE, reinterpret_cast<void*>(i));
    curl_multi_add_handle(multi, s.easy);
  }

  void finish_transfer(size_t i, CURLcode code) {
    Slot& s = slots[i];
    Response r;
    curl_easy_getinfo(s.easy, CURLINFO_RESPONSE_CODE, &r.status);
    curl_multi_remove_handle(multi, s.easy);
    curl_easy_cleanup(s.easy);
    s.easy = nullptr;
    curl_slist_free_all(s.header_list);
    s.header_list = nullptr;
    Outcome o;
    if (s.too_large || code == CURLE_FILESIZE_EXCEEDED) {
      o.kind = Outcome::transient;
      o.error = "the platform's answer is larger than 2 MiB: refused";
    } else if (code != CURLE_OK) {
      o.kind = Outcome::transient;
      o.error = std::string("network: ") + (s.error_buffer[0] ? s.error_buffer : curl_easy_strerror(code));
    } else {
      update(i, [](BridgeState& st) { st.requests++; });
      r.headers = std::move(s.headers);
      r.body = std::move(s.body);
      r.now_ms = now_ms();
      o = s.platform->on_response(r);
    }
    s.body.clear();
    s.body.shrink_to_fit();
    handle(i, std::move(o));
  }

  void handle(size_t i, Outcome o) {
    Slot& s = slots[i];
    const int64_t now = steady_ms();
    o.error = redact(s, o.error);
    switch (o.kind) {
      case Outcome::page: {
        s.failures = 0;
        int64_t delay = s.base_interval_ms;
        if (o.next_delay_ms >= 0) delay = std::max<int64_t>(o.next_delay_ms, s.config.poll_interval_ms);
        const int64_t wall = now_ms();
        update(i, [&](BridgeState& st) { st.last_ok_ms = wall; });
        set_state(i, "connected", "", delay);
        s.page_delay_ms = o.more ? 0 : delay;
        if (o.comments.empty()) {
          s.platform->commit();
          s.due_ms = now + s.page_delay_ms;
          return;
        }
        s.page_active = true;
        s.page_retry = false;
        s.queue.assign(std::make_move_iterator(o.comments.begin()), std::make_move_iterator(o.comments.end()));
        feed_more(i);
        return;
      }
      case Outcome::again:
        s.failures = 0;
        s.due_ms = now;
        return;
      case Outcome::rate_limited:
      case Outcome::transient: {
        s.failures++;
        const int64_t wait = o.kind == Outcome::rate_limited && o.retry_after_ms >= 0 ? o.retry_after_ms : backoff_ms(s);
        update(i, [](BridgeState& st) { st.failures++; });
        set_state(i, "backoff", o.error, wait);
        s.due_ms = now + wait;
        return;
      }
      case Outcome::permanent:
      case Outcome::ended:
        update(i, [](BridgeState& st) { st.failures++; });
        set_state(i, o.kind == Outcome::ended ? "ended" : "error", o.error, 0);
        s.done = true;
        return;
    }
  }

  void feed_more(size_t i) {
    Slot& s = slots[i];
    while (s.feeding < kMaxFeeding && !s.queue.empty()) {
      IncomingComment c = std::move(s.queue.front());
      s.queue.pop_front();
      s.feeding++;
      std::weak_ptr<Shared> weak = shared;
      sink(std::move(c), [weak, i](FeedResult r) {
        auto sh = weak.lock();
        if (!sh) return;
        std::lock_guard<std::mutex> lock(sh->mutex);
        if (!sh->multi) return;  // stopped
        sh->inbox.emplace_back(i, std::move(r));
        curl_multi_wakeup(sh->multi);
      });
    }
  }

  void fed(size_t i, const FeedResult& r) {
    Slot& s = slots[i];
    if (!s.page_active) return;
    s.feeding--;
    switch (r.kind) {
      case FeedResult::stored:
        update(i, [&](BridgeState& st) { (r.duplicate ? st.duplicates : st.comments_in)++; });
        break;
      case FeedResult::refused:
        update(i, [&](BridgeState& st) {
          st.refused++;
          st.last_error = "a comment was refused: " + r.error;
        });
        break;
      case FeedResult::retry:
        // The page comes again later; what was stored of it is then a duplicate.
        s.page_retry = true;
        s.retry_error = r.error;
        s.queue.clear();
        break;
    }
    if (!s.page_retry) feed_more(i);
    if (s.feeding > 0 || !s.queue.empty()) return;
    s.page_active = false;
    const int64_t now = steady_ms();
    if (s.page_retry) {
      s.failures++;
      const int64_t wait = backoff_ms(s);
      update(i, [](BridgeState& st) { st.failures++; });
      set_state(i, "backoff", "the queue did not take the comments: " + s.retry_error, wait);
      s.due_ms = now + wait;
      return;
    }
    s.platform->commit();
    s.due_ms = now + s.page_delay_ms;
  }

  void run() {
    while (!stopping.load()) {
      std::vector<std::pair<size_t, FeedResult>> results;
      {
        std::lock_guard<std::mutex> lock(shared->mutex);
        results.swap(shared->inbox);
      }
      for (const auto& [i, r] : results) fed(i, r);
      int64_t now = steady_ms();
      for (size_t i = 0; i < slots.size(); ++i) {
        Slot& s = slots[i];
        if (s.platform && !s.done && !s.easy && !s.page_active && s.due_ms <= now) start_request(i);
      }
      int running = 0;
      curl_multi_perform(multi, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        void* index = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &index);
        finish_transfer(reinterpret_cast<size_t>(index), msg->data.result);
      }
      now = steady_ms();
      int64_t wait = kLoopCapMs;
      for (const Slot& s : slots) {
        if (s.platform && !s.done && !s.easy && !s.page_active) wait = std::min(wait, std::max<int64_t>(0, s.due_ms - now));
      }
      curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait), nullptr);
    }
  }
};

Bridges::Bridges(std::vector<BridgeConfig> configs, Sink sink, std::function<int64_t()> now_ms)
    : impl_(std::make_unique<Impl>()) {
  impl_->sink = std::move(sink);
  impl_->now_ms = std::move(now_ms);
  impl_->slots.resize(configs.size());
  for (size_t i = 0; i < configs.size(); ++i) {
    Slot& s = impl_->slots[i];
    s.config = std::move(configs[i]);
    s.platform = make_platform(s.config);
    if (s.platform) {
      s.base_interval_ms = s.config.kind == "telegram"       ? s.platform->default_interval_ms()
                           : s.config.poll_interval_ms > 0 ? s.config.poll_interval_ms
                                                           : s.platform->default_interval_ms();
    }
    BridgeState st;
    st.name = s.config.name;
    st.kind = s.config.kind;
    st.state = s.platform ? "starting" : "listening";
    st.poll_interval_ms = s.base_interval_ms;
    impl_->states.push_back(std::move(st));
  }
}

Bridges::~Bridges() { stop(); }

Status Bridges::start() {
  const bool polls = std::any_of(impl_->slots.begin(), impl_->slots.end(), [](const Slot& s) { return s.platform != nullptr; });
  if (!polls || impl_->thread.joinable()) return Status::ok();
  static std::once_flag curl_init;
  static CURLcode init_code = CURLE_OK;
  std::call_once(curl_init, [] { init_code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init_code != CURLE_OK) return Status::error("bridges", "libcurl failed to initialise");
  impl_->multi = curl_multi_init();
  if (!impl_->multi) return Status::error("bridges", "libcurl failed to create a multi handle");
  {
    std::lock_guard<std::mutex> lock(impl_->shared->mutex);
    impl_->shared->multi = impl_->multi;
  }
  Impl* impl = impl_.get();
  impl_->thread = std::thread([impl] { impl->run(); });
  spdlog::info("bridges: {} polling on the bridge thread",
               std::count_if(impl_->slots.begin(), impl_->slots.end(), [](const Slot& s) { return s.platform != nullptr; }));
  return Status::ok();
}

void Bridges::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->stopping.store(true);
  {
    std::lock_guard<std::mutex> lock(impl_->shared->mutex);
    curl_multi_wakeup(impl_->multi);
  }
  impl_->thread.join();
  {
    std::lock_guard<std::mutex> lock(impl_->shared->mutex);
    impl_->shared->multi = nullptr;  // later completions find nothing to wake
  }
  for (Slot& s : impl_->slots) {
    if (!s.easy) continue;
    curl_multi_remove_handle(impl_->multi, s.easy);
    curl_easy_cleanup(s.easy);
    s.easy = nullptr;
    curl_slist_free_all(s.header_list);
    s.header_list = nullptr;
  }
  curl_multi_cleanup(impl_->multi);
  impl_->multi = nullptr;
}

std::vector<BridgeState> Bridges::states() const {
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  return impl_->states;
}

void Bridges::webhook_fed(const std::string& name, const FeedResult& result) {
  const int64_t now = impl_->now_ms();
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  for (BridgeState& st : impl_->states) {
    if (st.name != name) continue;
    if (result.kind == FeedResult::stored) {
      (result.duplicate ? st.duplicates : st.comments_in)++;
      st.last_ok_ms = now;
    } else {
      st.refused++;
      st.last_error = "a post was refused: " + result.error;
    }
  }
}

void Bridges::webhook_refused(const std::string& name, const std::string& why) {
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  for (BridgeState& st : impl_->states) {
    if (st.name != name) continue;
    st.refused++;
    st.last_error = why;
  }
}

}  // namespace sabla::bridges
