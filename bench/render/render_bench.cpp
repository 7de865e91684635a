// Overlay renderer benchmark: renders a realistic on-air state (2 Arabic
// comments + lower third + ticker, default theme) N times at 1280x720 and at
// 1920x1080, changing the comment text every render (as on air: the caller
// renders only when the state changes), and prints one JSON line:
//   {"bench":"overlay_render","iterations":200,"sizes":[{"width":1280,"height":720,
//    "mean_ms":..,"p50_ms":..,"p99_ms":..,"max_ms":..,"first_ms":..,
//    "cpu_mean_ms":..,"cpu_p50_ms":..,"cpu_p99_ms":..},...]}
// first_ms is the first render of a new Renderer (font loading), not counted
// in the statistics. cpu_* are the same statistics in thread CPU time: on a
// shared, loaded machine the wall-clock tail is mostly time spent preempted.
// Target: < 10 ms per render at 1920x1080.
//
// Usage: sabla-render-bench [ITERATIONS] [--png DIR]  (--png writes the last frame of each size)
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "sabla/overlay/renderer.h"

using namespace sabla::overlay;

namespace {

const char* kTexts[] = {
    "شكراً على هذا الطرح المهم، نأمل أن تُعرض نتائج الاستبيان على المواطنين قبل اتخاذ القرار النهائي.",
    "هل تشمل الخطة الجديدة المدارس في المناطق الريفية؟ وما هو الجدول الزمني للتنفيذ؟",
    "نطالب بنشر محاضر الجلسات كاملة على الموقع الرسمي للمجلس في نفس اليوم 👍",
    "متى سيتم افتتاح المستشفى الجديد في المدينة؟ ننتظر منذ عام ٢٠٢٢",
    "أشكر الوزيرة على وضوح الإجابات، وأتمنى أن تتكرر هذه الجلسات المفتوحة كل شهر.",
};
const char* kAuthors[] = {"سالم الهاشمي", "نورة العتيبي", "محمد Ali", "فاطمة", "عبد الله بن خالد"};

State make_state(int i) {
  State s;
  for (int k = 0; k < 2; ++k) {
    AiredComment c;
    c.id = i * 2 + k;
    c.author = kAuthors[(i + k) % 5];
    c.text = std::string(kTexts[(i + k) % 5]) + " (" + std::to_string(i) + ")";
    c.dir = "rtl";
    c.source = k == 0 ? "web" : "telegram";
    s.comments.push_back(c);
  }
  LowerThird lt;
  lt.name_ar = "د. فاطمة الزهراء";
  lt.title_ar = "وزيرة التخطيط والتنمية";
  lt.session_ar = "الجلسة العامة للمجلس الوطني";
  lt.name_en = "Dr. Fatima Al-Zahra";
  lt.title_en = "Minister of Planning and Development";
  s.lower_third = lt;
  s.ticker = "المجلس الوطني يناقش مشروع الموازنة العامة لعام ٢٠٢٥ — التصويت غداً الساعة العاشرة صباحاً";
  return s;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct Stats {
  double mean, p50, p99, max;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))]; };
  return Stats{std::accumulate(v.begin(), v.end(), 0.0) / v.size(), pct(0.5), pct(0.99), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 200;
  std::string png_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--png" && i + 1 < argc) {
      png_dir = argv[++i];
    } else if (std::atoi(arg.c_str()) > 0) {
      iterations = std::atoi(arg.c_str());
    } else {
      std::fprintf(stderr, "usage: %s [ITERATIONS] [--png DIR]\n", argv[0]);
      return 2;
    }
  }

  std::string out = "{\"bench\":\"overlay_render\",\"iterations\":" + std::to_string(iterations) + ",\"sizes\":[";
  const int sizes[][2] = {{1280, 720}, {1920, 1080}};
  for (size_t n = 0; n < 2; ++n) {
    const int w = sizes[n][0], h = sizes[n][1];
    Renderer renderer(w, h);
    auto t0 = std::chrono::steady_clock::now();
    Frame frame = renderer.render(make_state(0));
    const double first = ms_since(t0);
    std::vector<double> times, cpu_times;
    times.reserve(iterations);
    cpu_times.reserve(iterations);
    size_t checksum = 0;
    for (int i = 1; i <= iterations; ++i) {
      const State state = make_state(i);  // built outside the timed part
      const double cpu0 = thread_cpu_ms();
      t0 = std::chrono::steady_clock::now();
      frame = renderer.render(state);
      times.push_back(ms_since(t0));
      cpu_times.push_back(thread_cpu_ms() - cpu0);
      checksum += frame.alpha(w / 2, h - 10);  // inside the ticker band: 255 per render
    }
    if (!png_dir.empty()) {
      const std::string path = png_dir + "/render_bench_" + std::to_string(w) + "x" + std::to_string(h) + ".png";
      if (!write_png(frame, path)) std::fprintf(stderr, "cannot write %s\n", path.c_str());
    }
    const Stats wall = stats(times), cpu = stats(cpu_times);
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "%s{\"width\":%d,\"height\":%d,\"mean_ms\":%.3f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
                  "\"first_ms\":%.3f,\"cpu_mean_ms\":%.3f,\"cpu_p50_ms\":%.3f,\"cpu_p99_ms\":%.3f,\"checksum\":%zu}",
                  n == 0 ? "" : ",", w, h, wall.mean, wall.p50, wall.p99, wall.max, first, cpu.mean, cpu.p50, cpu.p99,
                  checksum);
    out += buf;
  }
  out += "]}";
  std::printf("%s\n", out.c_str());
  return 0;
}
