// Similar questions: the Arabic-aware words, which pairs count as "nearly
// the same", and the MinHash index against a brute-force comparison.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "moderation/similarity.h"

using sabla::moderation::similarity_words;
using sabla::moderation::SimilarityIndex;
using sabla::moderation::text_similarity;

namespace {
using Words = std::vector<std::string>;
}  // namespace

SCENARIO("texts become normalised, stemmed content words", "[similarity]") {
  THEN("the article, conjunctions, diacritics, hamza forms and function words do not matter") {
    CHECK(similarity_words("والطريقُ الجديدُ") == Words{"طريق", "جديد"});
    CHECK(similarity_words("متى سيتم افتتاح الطريق؟") == Words{"افتتاح", "طريق"});
    CHECK(similarity_words("أين المستشفى") == similarity_words("اين المستشفي"));
    CHECK(similarity_words("للمواطنين") == similarity_words("المواطنون"));
    CHECK(similarity_words("ميزانية") == similarity_words("الميزانيه"));
  }
  THEN("English is lower-cased, plurals folded, function words dropped") {
    CHECK(similarity_words("When will the new ROADS open?") == Words{"new", "road", "open"});
    CHECK(similarity_words("the bus address") == Words{"bus", "address"});
  }
  THEN("punctuation, emoji and one-letter words are not words") {
    CHECK(similarity_words("؟؟ !! 👍 و a") == Words{});
  }
}

SCENARIO("pairs that say nearly the same are similar, others are not", "[similarity]") {
  struct Pair {
    const char* a;
    const char* b;
  };
  const Pair same[] = {
      {"متى سيتم افتتاح الطريق الجديد في ولاية بوشر؟", "متى يتم افتتاح الطريق الجديد في ولاية بوشر"},
      {"ما هي خطة الوزارة لتطوير المدارس في القرى؟", "ما خطة الوزارة لتطوير المدارس بالقرى"},
      {"نطالب بزيادة عدد الأطباء في مستشفى صحار", "نطالب بزيادة عدد الاطباء بمستشفى صحار!!"},
      {"متى تنتهي أعمال الطريق السريع؟", "متى ستنتهي اعمال الطريق السريع"},
      {"When will the new road in Bawshar open?", "when will the new road in bawshar be opened"},
      {"شكرا على هذه الجلسة", "شكراً على الجلسة"},
  };
  const Pair different[] = {
      {"متى سيتم افتتاح الطريق الجديد؟", "الطريق الجديد مليء بالحفر ويحتاج صيانة"},
      {"ما هي خطة الوزارة لتطوير المدارس؟", "نطالب بزيادة عدد الأطباء في المستشفيات"},
      {"When will the new road open?", "The new hospital needs more doctors"},
      {"شكرا", "متى تنتهي أعمال الطريق السريع"},
  };
  const double threshold = SimilarityIndex::Options{}.threshold;
  for (const auto& p : same) {
    INFO(p.a << " | " << p.b << " : " << text_similarity(p.a, p.b));
    CHECK(text_similarity(p.a, p.b) >= threshold);
  }
  for (const auto& p : different) {
    INFO(p.a << " | " << p.b << " : " << text_similarity(p.a, p.b));
    CHECK(text_similarity(p.a, p.b) < threshold);
  }
  CHECK(text_similarity("نص", "") == 0);
  CHECK(text_similarity("الطريق الجديد", "الطريق الجديد") == 1);
}

SCENARIO("the index returns earlier similar comments, most similar first", "[similarity]") {
  SimilarityIndex index;
  CHECK(index.add(1, "متى سيتم افتتاح الطريق الجديد في ولاية بوشر؟").empty());
  CHECK(index.add(2, "ما هي خطة الوزارة لتطوير المدارس في القرى؟").empty());
  CHECK(index.add(3, "متى يتم افتتاح الطريق الجديد في بوشر").size() == 1);
  GIVEN("a new comment like 1 and 3") {
    const auto found = index.add(4, "متى سيتم افتتاح الطريق الجديد في ولاية بوشر");
    THEN("both, the closer one first, never itself") { CHECK(found == std::vector<int64_t>{1, 3}); }
    THEN("find() sees the new one too") {
      CHECK(index.find("افتتاح الطريق الجديد في ولاية بوشر") == std::vector<int64_t>{4, 1, 3});
    }
  }
  GIVEN("a removed comment (rejected, hidden or merged)") {
    index.remove(1);
    THEN("it is no longer offered") { CHECK(index.find("متى سيتم افتتاح الطريق الجديد في ولاية بوشر") == std::vector<int64_t>{3}); }
  }
  GIVEN("an edited comment") {
    index.add(3, "ما خطة الوزارة لتطوير المدارس");
    THEN("it is found under its new text only") {
      CHECK(index.find("خطة الوزارة لتطوير المدارس في القرى") == std::vector<int64_t>{2, 3});
      CHECK(index.find("افتتاح الطريق الجديد في بوشر") == std::vector<int64_t>{1});
      CHECK(index.size() == 3);
    }
  }
  GIVEN("a text with no words") {
    THEN("nothing is indexed or found") {
      CHECK(index.add(9, "؟؟؟ 👍").empty());
      CHECK_FALSE(index.contains(9));
    }
  }
}

SCENARIO("the index stays bounded", "[similarity]") {
  GIVEN("a flood of identical comments") {
    SimilarityIndex index;
    std::vector<int64_t> last;
    for (int64_t id = 1; id <= 500; ++id) last = index.add(id, "شكرا على الجلسة المفيدة");
    THEN("at most 5 are listed, the most recent first") {
      CHECK(last == std::vector<int64_t>{499, 498, 497, 496, 495});
    }
  }
  GIVEN("more comments than its capacity") {
    SimilarityIndex::Options o;
    o.capacity = 100;
    SimilarityIndex index(o);
    for (int64_t id = 1; id <= 250; ++id) index.add(id, "سؤال رقم " + std::to_string(id) + " عن الطرق");
    THEN("the oldest left") {
      CHECK(index.size() == 100);
      CHECK_FALSE(index.contains(150));
      CHECK(index.contains(151));
      CHECK(index.contains(250));
    }
  }
}

namespace {

struct Coverage {
  size_t expected = 0;  // brute-force top-5 pairs
  size_t found = 0;     // of those, listed by the index
  size_t queries = 0;   // texts with at least one similar earlier text
  size_t full = 0;      // of those, texts for which the index listed min(k, 5) similar ones
};

// Synthetic questions of 3-7 words from the first `words` entries of a
// vocabulary; the index is compared with a brute-force scan of every
// earlier text.
Coverage compare_with_brute_force(size_t words) {
  const std::vector<std::string> vocab = {"طريق", "مدرسه", "مستشفي", "ميزانيه", "وزاره", "ولايه", "مياه", "كهرباء",
                                          "صيانه", "مشروع", "تطوير", "خطه", "عمل", "شباب", "سكن", "نقل",
                                          "حديقه", "سوق", "ميناء", "مطار", "بلديه", "اسعار", "رواتب", "تعليم"};
  std::mt19937 rng(42);
  std::vector<std::string> texts;
  for (int i = 0; i < 400; ++i) {
    std::string t;
    const int n = 3 + static_cast<int>(rng() % 5);
    for (int k = 0; k < n; ++k) t += vocab[rng() % words] + " ";
    texts.push_back(t);
  }
  SimilarityIndex index;
  const double threshold = SimilarityIndex::Options{}.threshold;
  Coverage c;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto got = index.add(static_cast<int64_t>(i + 1), texts[i]);
    std::vector<std::pair<double, int64_t>> brute;
    for (size_t j = 0; j < i; ++j) {
      const double s = text_similarity(texts[i], texts[j]);
      if (s >= threshold) brute.emplace_back(s, static_cast<int64_t>(j + 1));
    }
    std::sort(brute.begin(), brute.end(),
              [](auto& x, auto& y) { return x.first != y.first ? x.first > y.first : x.second > y.second; });
    const size_t k = brute.size();
    if (brute.size() > 5) brute.resize(5);
    const std::set<int64_t> got_set(got.begin(), got.end());
    for (const auto& [s, id] : brute) {
      ++c.expected;
      c.found += got_set.count(id);
    }
    if (k > 0) {
      ++c.queries;
      c.full += got.size() == std::min<size_t>(k, 5);
    }
    // Whatever the index lists is really similar.
    for (int64_t id : got) CHECK(text_similarity(texts[i], texts[static_cast<size_t>(id - 1)]) >= threshold);
  }
  return c;
}

}  // namespace

SCENARIO("MinHash banding finds what a full comparison finds", "[similarity]") {
  GIVEN("questions that overlap now and then (24 words)") {
    const Coverage c = compare_with_brute_force(24);
    THEN("it lists nearly every one of the most similar earlier texts") {
      INFO("brute force lists " << c.expected << " pairs, the index " << c.found);
      REQUIRE(c.expected > 50);
      CHECK(double(c.found) / double(c.expected) >= 0.95);
    }
  }
  GIVEN("a flood of overlapping questions (10 words)") {
    const Coverage c = compare_with_brute_force(10);
    THEN("it still lists as many similar texts as there are, up to 5, nearly always") {
      INFO(c.queries << " texts have similar ones; the index lists them all (up to 5) for " << c.full
                     << "; top-5 pairs " << c.found << " of " << c.expected);
      REQUIRE(c.queries > 200);
      CHECK(double(c.full) / double(c.queries) >= 0.85);
      CHECK(double(c.found) / double(c.expected) >= 0.9);
    }
  }
}
