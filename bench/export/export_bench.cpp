// Export benchmark: a session with N comments (default 1,000,000) in a temp
// database, exported through archive::Exporter to /dev/null; prints one
// JSON line with rows/s and peak RSS (getrusage ru_maxrss). Target: peak RSS
// under 64 MiB for 1M comments, i.e. memory does not grow with the session.
//
//   sabla-export-bench [--rows N] [--format csv|json|ndjson|vtt|srt|chat-vtt|audit|all]
//                      [--db FILE] [--keep]
//
// --db reuses (or creates, when missing) a database file, so several formats
// can run on the same data without regenerating it. `--format all` runs
// each format in a fresh process (fork + exec of this binary) because
// ru_maxrss is a per-process high-water mark.
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/export.h"
#include "common/crypto.h"
#include "store/store.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kLiveAt = 1'764'400'000'000;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;  // KiB on Linux
}

bool exec_ok(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) == SQLITE_OK) return true;
  std::fprintf(stderr, "sqlite: %s (%s)\n", err ? err : "?", sql);
  sqlite3_free(err);
  return false;
}

// Schema through the real Store (migrations included), then the rows through
// one transaction of prepared inserts: a comment each, a decision event each
// (2/3 approved, 1/3 rejected), and every 100th approved comment aired for 8 s.
bool generate(const std::string& path, int64_t rows, int64_t* session_id) {
  {
    sabla::store::Store::Options o;
    o.path = path;
    o.threaded = false;
    auto store = sabla::store::Store::open(o, [](sabla::store::Task t) { t(); });
    if (!store) {
      std::fprintf(stderr, "store: %s\n", store.status().message().c_str());
      return false;
    }
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) return false;
  bool ok = exec_ok(db, "PRAGMA synchronous = OFF") && exec_ok(db, "BEGIN") &&
            exec_ok(db,
                    "INSERT INTO sessions (id, title_ar, title_en, status, created_at_ms, live_at_ms, ended_at_ms) "
                    "VALUES (1, 'جلسة الميزانية', 'Budget hearing', 'ended', 1764399940000, 1764400000000, "
                    "1764500000000)");
  sqlite3_stmt* c = nullptr;
  sqlite3_stmt* m = nullptr;
  sqlite3_stmt* a = nullptr;
  ok = ok &&
       sqlite3_prepare_v2(db,
                          "INSERT INTO comments (id, session_id, viewer_id, display_name, text, lang, direction, "
                          "source, received_at_ms, stream_offset_ms, status, votes) "
                          "VALUES (?1, 1, ?2, ?3, ?4, 'ar', 'rtl', 'web', ?5, ?6, ?7, ?8)",
                          -1, &c, nullptr) == SQLITE_OK &&
       sqlite3_prepare_v2(db,
                          "INSERT INTO moderation_events (session_id, comment_id, viewer_id, action, actor, reason, "
                          "at_ms) VALUES (1, ?1, ?2, ?3, 'amal', ?4, ?5)",
                          -1, &m, nullptr) == SQLITE_OK &&
       sqlite3_prepare_v2(db,
                          "INSERT INTO on_air_events (session_id, at_ms, stream_offset_ms, kind, comment_id, actor) "
                          "VALUES (1, ?1, ?2, ?3, ?4, 'amal')",
                          -1, &a, nullptr) == SQLITE_OK;
  const std::string names[] = {"مريم", "Sam \"the\" Man", "علي", "نور"};
  const std::string texts[] = {"سؤال عن الطرق، والمدارس في الحي الشمالي؟",
                               "When will the budget, line by line, be published?",
                               "=SUM(A1) شكراً على الجلسة\nسطر ثانٍ", "أقترح توسيع ساعات عمل المكتبة العامة"};
  for (int64_t i = 1; ok && i <= rows; ++i) {
    const int64_t offset = i * 50;  // 20 comments a second
    const bool approved = i % 3 != 0;
    const std::string& name = names[i % 4];
    const std::string& text = texts[i % 4];
    sqlite3_bind_int64(c, 1, i);
    sqlite3_bind_int64(c, 2, i % 5000);
    sqlite3_bind_text(c, 3, name.c_str(), static_cast<int>(name.size()), SQLITE_STATIC);
    sqlite3_bind_text(c, 4, text.c_str(), static_cast<int>(text.size()), SQLITE_STATIC);
    sqlite3_bind_int64(c, 5, kLiveAt + offset);
    sqlite3_bind_int64(c, 6, offset);
    sqlite3_bind_text(c, 7, approved ? "approved" : "rejected", -1, SQLITE_STATIC);
    sqlite3_bind_int64(c, 8, i % 11);
    ok = sqlite3_step(c) == SQLITE_DONE;
    sqlite3_reset(c);

    sqlite3_bind_int64(m, 1, i);
    sqlite3_bind_int64(m, 2, i % 5000);
    sqlite3_bind_text(m, 3, approved ? "approve" : "reject", -1, SQLITE_STATIC);
    sqlite3_bind_text(m, 4, approved ? "" : "off topic", -1, SQLITE_STATIC);
    sqlite3_bind_int64(m, 5, kLiveAt + offset + 20);
    ok = ok && sqlite3_step(m) == SQLITE_DONE;
    sqlite3_reset(m);

    if (approved && i % 100 == 1) {
      for (int k = 0; k < 2; ++k) {
        const int64_t at = offset + 30 + k * 8000;
        sqlite3_bind_int64(a, 1, kLiveAt + at);
        sqlite3_bind_int64(a, 2, at);
        sqlite3_bind_text(a, 3, k == 0 ? "aired" : "cleared", -1, SQLITE_STATIC);
        sqlite3_bind_int64(a, 4, i);
        ok = ok && sqlite3_step(a) == SQLITE_DONE;
        sqlite3_reset(a);
      }
    }
  }
  sqlite3_finalize(c);
  sqlite3_finalize(m);
  sqlite3_finalize(a);
  ok = ok && exec_ok(db, "COMMIT") && exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  sqlite3_close(db);
  *session_id = 1;
  return ok;
}

int run_one(const std::string& db, sabla::archive::Format format, int64_t rows, double generate_s) {
  const long rss_before = peak_rss_kib();
  const auto t0 = Clock::now();
  auto ex = sabla::archive::Exporter::open(db, 1, format);
  if (!ex) {
    std::fprintf(stderr, "export: %s\n", ex.status().message().c_str());
    return 1;
  }
  std::FILE* out = std::fopen("/dev/null", "wb");
  if (!out) return 1;
  std::string chunk;
  chunk.reserve(sabla::archive::kChunkBytes + 4096);
  uint64_t bytes = 0;
  size_t chunks = 0;
  while ((*ex)->next(&chunk)) {
    bytes += chunk.size();
    ++chunks;
    std::fwrite(chunk.data(), 1, chunk.size(), out);
    chunk.clear();
  }
  std::fclose(out);
  if (!(*ex)->status()) {
    std::fprintf(stderr, "export: %s\n", (*ex)->status().message().c_str());
    return 1;
  }
  const double secs = seconds_since(t0);
  nlohmann::ordered_json line = {{"bench", "export"},
                                 {"format", std::string(sabla::archive::format_name(format))},
                                 {"comments", rows},
                                 {"seconds", secs},
                                 {"rows_per_s", secs > 0 ? static_cast<double>(rows) / secs : 0.0},
                                 {"bytes", bytes},
                                 {"mib_per_s", secs > 0 ? static_cast<double>(bytes) / secs / 1048576.0 : 0.0},
                                 {"chunks", chunks},
                                 {"peak_rows_buffered", (*ex)->peak_buffered_rows()},
                                 {"peak_rss_before_export_kib", rss_before},
                                 {"peak_rss_kib", peak_rss_kib()},
                                 {"peak_rss_mib", static_cast<double>(peak_rss_kib()) / 1024.0},
                                 {"under_64_mib", peak_rss_kib() < 64 * 1024}};
  if (generate_s >= 0) line["generate_seconds"] = generate_s;
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1'000'000;
  std::string format_name = "csv";
  std::string db;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--rows" && i + 1 < argc) {
      rows = std::atoll(argv[++i]);
    } else if (arg == "--format" && i + 1 < argc) {
      format_name = argv[++i];
    } else if (arg == "--db" && i + 1 < argc) {
      db = argv[++i];
    } else if (arg == "--keep") {
      keep = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--rows N] [--format csv|json|ndjson|vtt|srt|chat-vtt|audit|all] [--db FILE] "
                   "[--keep]\n",
                   argv[0]);
      return 2;
    }
  }
  if (!sabla::crypto::init()) return 1;
  const auto format = sabla::archive::parse_format(format_name);
  if (!format && format_name != "all") {
    std::fprintf(stderr, "unknown format %s\n", format_name.c_str());
    return 2;
  }

  std::string temp_dir;
  if (db.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "sabla-export-bench-XXXXXX").string();
    if (!mkdtemp(pattern.data())) return 1;
    temp_dir = pattern;
    db = temp_dir + "/sabla.db";
  }
  double generate_s = -1;
  if (!std::filesystem::exists(db)) {
    const auto t0 = Clock::now();
    int64_t session = 0;
    if (!generate(db, rows, &session)) {
      std::fprintf(stderr, "generation failed\n");
      return 1;
    }
    generate_s = seconds_since(t0);
  }

  int rc = 0;
  if (format) {
    rc = run_one(db, *format, rows, generate_s);
  } else {
    if (generate_s >= 0) std::printf("{\"bench\":\"export-generate\",\"comments\":%lld,\"seconds\":%.3f}\n",
                                     static_cast<long long>(rows), generate_s);
    std::fflush(stdout);
    for (const char* f : {"csv", "json", "ndjson", "vtt", "srt", "chat-vtt", "audit"}) {
      const std::string rows_arg = std::to_string(rows);
      const pid_t pid = fork();
      if (pid == 0) {
        // A fresh image: ru_maxrss starts from zero for each format.
        std::vector<const char*> args = {"/proc/self/exe", "--rows", rows_arg.c_str(), "--format", f, "--db",
                                         db.c_str(), nullptr};
        execv("/proc/self/exe", const_cast<char* const*>(args.data()));
        _exit(127);
      }
      int status = 0;
      if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = 1;
    }
  }
  if (!temp_dir.empty() && !keep) {
    std::error_code ec;
    std::filesystem::remove_all(temp_dir, ec);
  } else if (!temp_dir.empty()) {
    std::fprintf(stderr, "kept %s\n", db.c_str());
  }
  return rc;
}
