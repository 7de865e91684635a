#include "moderation/similarity.h"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <limits>
#include <unordered_set>

#include "moderation/text.h"

namespace sabla::moderation {

namespace {

// Function words, in their normalize_for_match() form (ى -> ي, أ/إ/آ -> ا,
// ة -> ه): they say nothing about what is asked.
const std::unordered_set<std::string_view>& stop_words() {
  static const std::unordered_set<std::string_view> words = {
      // Arabic
      "في", "من", "علي", "الي", "عن", "مع", "هل", "ما", "ماذا", "متي", "كيف", "لماذا", "اين", "كم", "او", "ام",
      "ان", "انه", "انها", "هذا", "هذه", "ذلك", "تلك", "هولاء", "التي", "الذي", "الذين", "كل", "قد", "لقد", "لا",
      "لم", "لن", "هناك", "هنا", "تم", "يتم", "سيتم", "اي", "عند", "بعد", "قبل", "حتي", "ثم", "يا", "نحن", "انا",
      "انت", "انتم", "هو", "هي", "هم", "كان", "كانت", "يكون", "سوف", "ايضا", "جدا", "بين", "غير", "الا", "اذا",
      "لو", "به", "بها", "له", "لها", "لنا", "لكم", "فيه", "فيها", "عليه", "عليها", "منه", "منها", "وهل", "وما",
      "ومتي", "وكيف", "ولماذا", "وفي", "ومن", "وعلي", "والي",
      // English
      "the", "a", "an", "is", "are", "was", "were", "be", "been", "to", "of", "in", "on", "for", "and", "or", "will",
      "would", "can", "could", "should", "what", "when", "where", "how", "why", "which", "who", "do", "does", "did",
      "we", "you", "i", "it", "its", "this", "that", "these", "those", "with", "at", "by", "from", "our", "your",
      "there", "please", "about", "any", "not", "no", "so", "if", "as", "us", "me", "my", "they", "their", "has",
      "have", "had"};
  return words;
}

size_t code_points(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Light stemming: enough for "الطريق" / "والطريق" / "طريق" and "المواطنين" /
// "مواطنون" / "مواطن" to meet, without a dictionary. Every Arabic letter here
// is two bytes in UTF-8. Returns a part of `word`.
std::string_view stem(std::string_view word) {
  static constexpr std::string_view kArticles[] = {"وال", "فال", "بال", "كال", "لل", "ال"};
  for (std::string_view a : kArticles) {
    if (starts_with(word, a) && code_points(word) >= code_points(a) + 2) {
      word.remove_prefix(a.size());
      break;
    }
  }
  static constexpr std::string_view kSuffixes[] = {"ات", "ون", "ين", "ان", "ها", "هم", "كم", "نا", "ه"};
  for (std::string_view s : kSuffixes) {
    if (ends_with(word, s) && code_points(word) >= code_points(s) + 3) {
      word.remove_suffix(s.size());
      break;
    }
  }
  // English plurals: "roads" / "road" (not "bus", not "address").
  if (word.size() > 3 && word.back() == 's' && word[word.size() - 2] != 's' &&
      static_cast<unsigned char>(word[0]) < 0x80)
    word.remove_suffix(1);
  return word;
}

// Letters and digits make words; ASCII and the Arabic block without ICU.
bool word_char(UChar32 c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  if (c >= 0x0621 && c <= 0x064A) return true;  // Arabic letters (marks are gone after normalising)
  return c >= 0 && (u_isUAlphabetic(c) || u_isdigit(c));
}

// Calls fn(word) for each word of a normalised text: stemmed, without
// function words and one-letter words. Words are views into `normalized`.
template <class Fn>
void for_each_word(std::string_view normalized, Fn fn) {
  const auto& stops = stop_words();
  const auto* p = reinterpret_cast<const uint8_t*>(normalized.data());
  const size_t length = normalized.size();
  size_t i = 0, begin = 0;
  bool in_word = false;
  auto finish = [&](size_t end) {
    const std::string_view word = normalized.substr(begin, end - begin);
    if (code_points(word) >= 2 && !stops.count(word)) {
      const std::string_view s = stem(word);
      if (!s.empty()) fn(s);
    }
  };
  while (i < length) {
    const size_t start = i;
    UChar32 c;
    U8_NEXT(p, i, length, c);
    const bool inside = word_char(c);
    if (inside && !in_word) begin = start;
    if (!inside && in_word) finish(start);
    in_word = inside;
  }
  if (in_word) finish(length);
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// splitmix64's finaliser: a good 64-bit mix.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// The MinHash family: h_i(x) = high 32 bits of (a_i * x + b_i) on the mixed
// shingle hash, with fixed odd multipliers (the same fingerprints on every run).
struct HashFamily {
  std::array<uint64_t, SimilarityIndex::kHashes> a{}, b{};
  HashFamily() {
    uint64_t seed = 0x5ab1a5ab1aull;
    for (int i = 0; i < SimilarityIndex::kHashes; ++i) {
      a[i] = mix(seed += 0x9e3779b97f4a7c15ull) | 1;
      b[i] = mix(seed += 0x9e3779b97f4a7c15ull);
    }
  }
};
const HashFamily& family() {
  static const HashFamily f;
  return f;
}

double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.empty() || b.empty()) return 0;
  size_t i = 0, j = 0, common = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) ++common, ++i, ++j;
    else if (a[i] < b[j]) ++i;
    else ++j;
  }
  return double(common) / double(a.size() + b.size() - common);
}

// Every word and every pair of neighbouring words, hashed, sorted, unique.
std::vector<uint64_t> shingles_of(std::string_view normalized) {
  std::vector<uint64_t> out;
  out.reserve(32);
  uint64_t previous = 0;
  bool first = true;
  for_each_word(normalized, [&](std::string_view word) {
    const uint64_t h = mix(fnv1a(word));
    out.push_back(h);
    if (!first) out.push_back(mix(previous * 0x100000001b3ull ^ (h + 0x632be59bd9b4e019ull)));
    previous = h;
    first = false;
  });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::vector<std::string> similarity_words(std::string_view text) {
  return similarity_words_normalized(normalize_for_match(text));
}

std::vector<std::string> similarity_words_normalized(std::string_view normalized) {
  std::vector<std::string> words;
  for_each_word(normalized, [&](std::string_view w) { words.emplace_back(w); });
  return words;
}

SimilarityIndex::Fingerprint SimilarityIndex::fingerprint(std::string_view normalized) {
  Fingerprint f;
  f.shingles = shingles_of(normalized);
  if (f.shingles.empty()) return f;

  std::array<uint32_t, kHashes> minima;
  minima.fill(std::numeric_limits<uint32_t>::max());
  const HashFamily& fam = family();
  for (uint64_t x : f.shingles)
    for (int k = 0; k < kHashes; ++k) minima[k] = std::min(minima[k], static_cast<uint32_t>((fam.a[k] * x + fam.b[k]) >> 32));
  for (int band = 0; band < kBands; ++band) {
    uint64_t key = mix(static_cast<uint64_t>(band) + 1);
    for (int r = 0; r < kRows; ++r) key = mix(key ^ minima[band * kRows + r]);
    f.bands[band] = key;
  }
  return f;
}

double text_similarity(std::string_view a, std::string_view b) {
  return jaccard(shingles_of(normalize_for_match(a)), shingles_of(normalize_for_match(b)));
}

SimilarityIndex::SimilarityIndex() : SimilarityIndex(Options{}) {}
SimilarityIndex::SimilarityIndex(Options options) : options_(options) {}

std::vector<int64_t> SimilarityIndex::search(const Fingerprint& print, int64_t self) const {
  std::vector<int64_t> found;
  if (print.shingles.empty() || entries_.empty()) return found;
  std::vector<int64_t>& candidates = candidates_;
  candidates.clear();
  for (uint64_t key : print.bands) {
    auto it = buckets_.find(key);
    if (it == buckets_.end()) continue;
    for (int64_t id : it->second)
      if (id != self) candidates.push_back(id);
  }
  // How many bands each candidate shares with the text: a band matches with
  // probability J^2, so the count ranks candidates by their likely Jaccard
  // index. Only the best-ranked few get the exact (costlier) comparison.
  std::sort(candidates.begin(), candidates.end());
  std::vector<std::pair<int, int64_t>>& ranked = ranked_;  // (shared bands, id)
  ranked.clear();
  for (size_t i = 0; i < candidates.size();) {
    size_t j = i;
    while (j < candidates.size() && candidates[j] == candidates[i]) ++j;
    ranked.emplace_back(static_cast<int>(j - i), candidates[i]);
    i = j;
  }
  if (ranked.size() > options_.max_verified) {
    std::nth_element(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(options_.max_verified),
                     ranked.end(), [](const auto& x, const auto& y) {
                       return x.first != y.first ? x.first > y.first : x.second > y.second;
                     });
    ranked.resize(options_.max_verified);
  }
  std::vector<std::pair<double, int64_t>>& scored = scored_;
  scored.clear();
  for (const auto& [bands, id] : ranked) {
    if (id == self) continue;
    auto e = entries_.find(id);
    if (e == entries_.end()) continue;
    const double j = jaccard(print.shingles, e->second.print.shingles);
    if (j >= options_.threshold) scored.emplace_back(j, id);
  }
  std::sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) {
    return x.first != y.first ? x.first > y.first : x.second > y.second;
  });
  for (size_t i = 0; i < scored.size() && i < options_.max_results; ++i) found.push_back(scored[i].second);
  return found;
}

std::vector<int64_t> SimilarityIndex::find(std::string_view text) const {
  return search(fingerprint(normalize_for_match(text)), 0);
}

std::vector<int64_t> SimilarityIndex::add(int64_t id, std::string_view text) {
  return insert(id, fingerprint(normalize_for_match(text)));
}

std::vector<int64_t> SimilarityIndex::add_normalized(int64_t id, std::string_view normalized) {
  return insert(id, fingerprint(normalized));
}

std::vector<int64_t> SimilarityIndex::insert(int64_t id, Fingerprint print) {
  std::vector<int64_t> found = search(print, id);
  remove(id);
  if (print.shingles.empty()) return found;
  for (uint64_t key : print.bands) {
    auto& ids = buckets_[key];
    if (!ids.empty() && ids.back() == id) continue;
    if (ids.size() >= std::max<size_t>(options_.bucket_size, 1)) ids.erase(ids.begin());
    ids.push_back(id);
  }
  const uint64_t seq = next_seq_++;
  entries_.emplace(id, Entry{std::move(print), seq});
  order_.emplace_back(id, seq);
  while (entries_.size() > options_.capacity && !order_.empty()) {
    auto [old, old_seq] = order_.front();
    order_.pop_front();
    auto e = entries_.find(old);
    if (e != entries_.end() && e->second.seq == old_seq) remove(old);
  }
  // Stale (removed or replaced) pairs would otherwise pile up in order_.
  if (order_.size() > 2 * options_.capacity + 64) {
    std::deque<std::pair<int64_t, uint64_t>> live;
    for (const auto& [oid, oseq] : order_) {
      auto e = entries_.find(oid);
      if (e != entries_.end() && e->second.seq == oseq) live.emplace_back(oid, oseq);
    }
    order_.swap(live);
  }
  return found;
}

void SimilarityIndex::unlink(int64_t id, const Entry& entry) {
  for (uint64_t key : entry.print.bands) {
    auto it = buckets_.find(key);
    if (it == buckets_.end()) continue;
    auto& ids = it->second;
    ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
    if (ids.empty()) buckets_.erase(it);
  }
}

void SimilarityIndex::remove(int64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  unlink(id, it->second);
  entries_.erase(it);
}

void SimilarityIndex::clear() {
  entries_.clear();
  buckets_.clear();
  order_.clear();
}

}  // namespace sabla::moderation
