// The net thread's share of one comment, before and after issue #16, in one
// process and one run: the frame → fields → sanitizer → checks → ack and
// `pending` frames, done the old way (json tree, ICU-only text paths, json
// frames) and the new way (SAX into a fixed struct, the ASCII/Arabic fast
// paths, hand-built frames). No sockets and no SQLite: those are the same
// for both. Prints one JSON line:
//   {"bench":"ingest_path","comments":N,"ascii_arabic_share":..,
//    "json_path":{"us":..,"allocs":..},"fast_path":{"us":..,"allocs":..},"speedup":..}
// us: thread CPU time per comment (CLOCK_THREAD_CPUTIME_ID, robust on a
// shared box; best of 5 rounds); allocs: operator new calls per comment.
//
// Usage: sabla-ingest-path-bench [COMMENTS=20000]
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moderation/text.h"
#include "moderation/text_reference.h"
#include "protocol/messages.h"

namespace {
std::atomic<long> g_allocs{0};
}  // namespace

// Counting replacements of the global allocation functions (malloc/free
// underneath). GCC 12 sees the inlined free() and warns of a mismatch that
// is not one.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using nlohmann::json;
namespace m = sabla::moderation;
namespace p = sabla::protocol;

double thread_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

const char* kOpenings[] = {"متى سيتم", "ما هي خطة الوزارة بشأن", "نطالب بسرعة", "هل هناك موعد محدد لـ",
                           "أرجو توضيح", "لماذا تأخر", "نشكر المجلس ونسأل عن", "ما مصير"};
const char* kTopics[] = {"افتتاح الطريق الجديد في ولاية بوشر", "صيانة المدارس في القرى الجبلية",
                         "زيادة عدد الأطباء في مستشفى صحار", "مشروع تحلية المياه في صور",
                         "توفير فرص العمل للشباب الباحثين عن عمل", "خفض أسعار الكهرباء في الصيف"};
const char* kEndings[] = {"؟", " في أقرب وقت؟", " وشكراً 🙏", "!!", " هذا العام؟", " يا معالي الوزير؟",
                          " — ننتظر منذ ٢٠٢٢", ""};
const char* kEnglish[] = {"When will the new road in Bawshar open?", "Please publish the budget figures online",
                          "Thank you for this session!"};

std::vector<std::string> make_frames(int n) {
  std::mt19937 rng(16);
  std::vector<std::string> frames;
  frames.reserve(n);
  for (int i = 0; i < n; ++i) {
    std::string text;
    if (rng() % 10 == 0) {
      text = kEnglish[rng() % 3];
    } else {
      text = std::string(kOpenings[rng() % 8]) + " " + kTopics[rng() % 6] + kEndings[rng() % 8];
    }
    // What sabla-load and the viewer page send.
    frames.push_back(json{{"type", "comment"}, {"client_id", "ld" + std::to_string(i)}, {"text", text}}.dump());
  }
  return frames;
}

sabla::store::CommentRow row_for(std::string text, std::string client_id, int64_t id, bool general) {
  sabla::store::CommentRow row;
  row.id = id;
  row.session_id = 1;
  row.viewer_id = 7;
  row.display_name = "أمل";
  row.lang = general ? m::text_reference::detect_language(text) : m::detect_language(text);
  row.direction = general ? m::text_reference::detect_direction(text) : m::detect_direction(text);
  row.text = std::move(text);
  row.client_id = std::move(client_id);
  row.received_at_ms = 1765000000000 + id;
  row.stream_offset_ms = 1000 + id;
  return row;
}

// As Room::viewer_message + handle_comment + the completion did before #16.
size_t json_path(const std::string& frame, int64_t id) {
  std::string why;
  auto in = p::parse_incoming(frame, &why);
  if (!in || in->type != "comment") std::abort();
  const json& msg = in->body;
  auto cid = msg.find("client_id");
  std::string key = "s:" + cid->get<std::string>();
  if (m::count_code_points(key) > 66) std::abort();
  auto t = msg.find("text");
  std::string text = t->get<std::string>();
  if (!m::is_valid_utf8(text)) std::abort();
  std::string clean = m::text_reference::sanitize_text(text);
  if (clean.empty() || m::text_reference::normalize_for_match(clean).empty()) std::abort();
  if (m::count_code_points(clean) > 500) std::abort();
  auto row = row_for(clean, key.substr(2), id, true);
  std::string ack = p::dump(json{{"type", "ack"}, {"client_id", *cid}, {"id", id}, {"status", "pending"}});
  std::string pending = p::dump(json{{"type", "pending"}, {"comment", p::comment_json(row, true, "")}});
  return ack.size() + pending.size();
}

// As they do now.
size_t fast_path(const std::string& frame, int64_t id, p::CommentFrame& f) {
  if (!p::parse_comment_frame(frame, &f)) std::abort();
  std::string key;
  key.reserve(2 + f.client_id.size());
  key += "s:";
  key += f.client_id;
  if (m::count_code_points(key) > 66) std::abort();
  if (!m::is_valid_utf8(f.text)) std::abort();
  std::string clean = m::sanitize_text(f.text);
  if (clean.empty() || m::normalize_for_match(clean).empty()) std::abort();
  if (m::count_code_points(clean) > 500) std::abort();
  auto row = row_for(std::move(clean), key.substr(2), id, false);
  std::string cid_text;
  p::append_json_string(cid_text, f.client_id);
  std::string ack = p::ack_frame(cid_text, id, "pending");
  std::string pending = p::comment_frame("pending", row, true, "");
  return ack.size() + pending.size();
}

struct Figure {
  double us = 1e18;
  double allocs = 0;
};

template <class F>
Figure measure(const std::vector<std::string>& frames, F&& f) {
  Figure best;
  size_t sink = 0;
  for (int round = 0; round < 5; ++round) {
    const long a0 = g_allocs.load();
    const double t0 = thread_us();
    for (size_t i = 0; i < frames.size(); ++i) sink += f(frames[i], static_cast<int64_t>(i));
    const double t1 = thread_us();
    const long a1 = g_allocs.load();
    best.us = std::min(best.us, (t1 - t0) / frames.size());
    best.allocs = static_cast<double>(a1 - a0) / frames.size();
  }
  if (sink == 0) std::abort();
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  if (n <= 0) return 2;
  auto frames = make_frames(n);
  // The two paths must agree before their cost means anything.
  p::CommentFrame f;
  size_t block_only = 0;
  for (const auto& frame : frames) {
    std::string why;
    auto in = p::parse_incoming(frame, &why);
    const std::string text = in->body["text"].get<std::string>();
    if (m::sanitize_text(text) != m::text_reference::sanitize_text(text)) return 1;
    if (m::normalize_for_match(text) != m::text_reference::normalize_for_match(text)) return 1;
    if (m::detect_language(text) != m::text_reference::detect_language(text)) return 1;
    if (m::detect_direction(text) != m::text_reference::detect_direction(text)) return 1;
    // Only ASCII and the Arabic block U+0600-U+06FF (lead bytes 0xD8-0xDB):
    // the text the fast paths are for (the emoji and the dash take the general one).
    if (std::all_of(text.begin(), text.end(), [](char c) {
          const auto b = static_cast<unsigned char>(c);
          return b < 0x80 || (b >= 0xD8 && b <= 0xDB) || (b >= 0x80 && b < 0xC0);
        }))
      ++block_only;
  }
  const Figure before = measure(frames, [](const std::string& fr, int64_t id) { return json_path(fr, id); });
  const Figure after = measure(frames, [&](const std::string& fr, int64_t id) { return fast_path(fr, id, f); });
  std::printf(
      "{\"bench\":\"ingest_path\",\"comments\":%d,\"ascii_arabic_share\":%.2f,"
      "\"json_path\":{\"us\":%.2f,\"allocs\":%.1f},\"fast_path\":{\"us\":%.2f,\"allocs\":%.1f},\"speedup\":%.2f}\n",
      n, static_cast<double>(block_only) / n, before.us, before.allocs, after.us, after.allocs, before.us / after.us);
  return 0;
}
