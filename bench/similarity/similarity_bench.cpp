// Similar-question cost per comment: what the ingest path pays to find the
// earlier comments of the session that say nearly the same (server/moderation/
// similarity.h). Generates N realistic comments (Arabic questions from a few
// topics with morphology, diacritics, punctuation, emoji and some English;
// about a fifth are near-repeats of an earlier one, as in a real session),
// adds them one by one to a SimilarityIndex as the Room does, and prints one
// JSON line:
//   {"bench":"similarity","comments":N,"threshold":0.4,
//    "add_us":{"mean","p50","p99","max"},   <- per comment: words + MinHash + search + insert
//                                            (mean: whole loop / N; the others timed one by one)
//    "words_us_mean":..,                     <- of which: normalise + split + stem
//    "mean_similar":..,"with_similar_share":..,
//    "last_1000_add_us_mean":..,             <- with the index full (capacity 10,000)
//    "rss_kib_before","rss_kib_after","index_size"}
// Times are thread CPU time (CLOCK_THREAD_CPUTIME_ID): robust on a shared box.
//
// Usage: sabla-similarity-bench [COMMENTS=20000]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "moderation/similarity.h"

using sabla::moderation::similarity_words;
using sabla::moderation::SimilarityIndex;

namespace {

double thread_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

const char* kOpenings[] = {"متى سيتم", "ما هي خطة الوزارة بشأن", "نطالب بسرعة", "هل هناك موعد محدد لـ",
                           "أرجو توضيح", "لماذا تأخر", "نشكر المجلس ونسأل عن", "ما مصير"};
const char* kTopics[] = {"افتتاح الطريق الجديد في ولاية بوشر", "صيانة المدارس في القرى الجبلية",
                         "زيادة عدد الأطباء في مستشفى صحار", "مشروع تحلية المياه في صور",
                         "توفير فرص العمل للشباب الباحثين عن عمل", "خفض أسعار الكهرباء في الصيف",
                         "بناء مساكن للأسر ذات الدخل المحدود", "تطوير النقل العام بين المحافظات",
                         "إنشاء حديقة عامة في الحي", "رواتب المتقاعدين وتأخر صرفها",
                         "تنظيم السوق المركزي للخضار", "توسعة ميناء الدقم"};
const char* kEndings[] = {"؟", " في أقرب وقت؟", " وشكراً 🙏", "!!", " هذا العام؟", " يا معالي الوزير؟",
                          " — ننتظر منذ ٢٠٢٢", ""};
const char* kEnglish[] = {"When will the new road in Bawshar open?", "Please publish the budget figures online",
                          "Thank you for this session!", "What about jobs for young graduates?"};

std::string make_comment(std::mt19937& rng, const std::vector<std::string>& earlier) {
  const unsigned r = rng() % 100;
  if (r < 20 && !earlier.empty()) {
    // A near-repeat: an earlier comment with its ending changed.
    std::string t = earlier[rng() % earlier.size()];
    return t + (rng() % 2 ? " أرجو الرد" : "؟");
  }
  if (r < 26) return kEnglish[rng() % 4];
  std::string t = kOpenings[rng() % 8];
  t += " ";
  t += kTopics[rng() % 12];
  if (rng() % 3 == 0) {
    t += " و";
    t += kTopics[rng() % 12];
  }
  t += kEndings[rng() % 8];
  t += " (" + std::to_string(rng() % 1000) + ")";
  return t;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20000;
  std::mt19937 rng(7);
  std::vector<std::string> texts;
  texts.reserve(n);
  for (int i = 0; i < n; ++i) texts.push_back(make_comment(rng, texts));

  // Means come from one clock reading around the whole loop (a thread-CPU
  // clock read is a system call of about a microsecond here); percentiles
  // from a second, per-comment timed pass over a fresh index.
  size_t word_count = 0;
  const double w0 = thread_us();
  for (const auto& t : texts) word_count += similarity_words(t).size();
  const double words_total = thread_us() - w0;

  double untimed_total = 0;
  {
    SimilarityIndex index;
    const double t0 = thread_us();
    for (int i = 0; i < n; ++i) index.add(i + 1, texts[i]);
    untimed_total = thread_us() - t0;
  }

  const long rss_before = rss_kib();
  SimilarityIndex index;
  std::vector<double> add_us;
  add_us.reserve(n);
  size_t similar_total = 0, with_similar = 0;
  for (int i = 0; i < n; ++i) {
    const double t0 = thread_us();
    const auto found = index.add(i + 1, texts[i]);
    add_us.push_back(thread_us() - t0);
    similar_total += found.size();
    with_similar += !found.empty();
  }
  const long rss_after = rss_kib();

  double sum = untimed_total, last_sum = 0;
  const int last = std::min(n, 1000);
  for (int i = n - last; i < n; ++i) last_sum += add_us[i];
  std::printf(
      "{\"bench\":\"similarity\",\"comments\":%d,\"threshold\":%.2f,"
      "\"add_us\":{\"mean\":%.2f,\"p50\":%.2f,\"p99\":%.2f,\"max\":%.1f},"
      "\"words_us_mean\":%.2f,\"words_per_comment\":%.1f,\"mean_similar\":%.2f,\"with_similar_share\":%.3f,"
      "\"last_1000_add_us_mean\":%.2f,\"rss_kib_before\":%ld,\"rss_kib_after\":%ld,\"index_size\":%zu}\n",
      n, SimilarityIndex::Options{}.threshold, sum / n, percentile(add_us, 0.5), percentile(add_us, 0.99),
      *std::max_element(add_us.begin(), add_us.end()), words_total / n, double(word_count) / n, double(similar_total) / n,
      double(with_similar) / n, last_sum / last, rss_before, rss_after, index.size());
  return 0;
}
