// Similar questions: which earlier comments of a session say nearly the same
// as a new one, so a small team can read (and merge) them side by side.
//
// A text becomes a set of word shingles: normalize_for_match() (hamza forms,
// diacritics, tatweel, taa marbuta, alef maksura, digits, case), split into
// words of letters and digits, light Arabic stemming (the article and the
// conjunction/preposition + article in front, a few plural and pronoun
// suffixes behind), Arabic and English function words dropped, then every
// word and every pair of neighbouring words. Two texts are similar when the
// Jaccard index of their shingle sets is at least `threshold`.
//
// Finding them without comparing with every earlier comment: MinHash (48
// hash functions) and locality-sensitive hashing in 24 bands of 2 rows. A
// pair with Jaccard 0.4 shares a band with probability 0.985 (0.2: 0.73,
// 0.1: 0.22); the candidates sharing the most bands (at most 48) are then
// checked on the exact Jaccard, so the bands only decide what is compared.
// Cost per comment: bench/similarity (bench/README.md).
//
// Memory is bounded: the index keeps the `capacity` most recent comments.
// Not thread-safe; the Room uses it on the net thread.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sabla::moderation {

// The words a text is compared on (normalised, stemmed, no function words).
std::vector<std::string> similarity_words(std::string_view text);
// The same for a text already in normalize_for_match() form.
std::vector<std::string> similarity_words_normalized(std::string_view normalized);

// Jaccard index of the two texts' shingle sets (0 when either has none).
double text_similarity(std::string_view a, std::string_view b);

class SimilarityIndex {
 public:
  struct Options {
    double threshold = 0.4;     // Jaccard index from which two comments are "similar"
    size_t max_results = 5;     // ids returned per comment, most similar first
    size_t capacity = 10000;    // comments kept; the oldest leave first
    // Most recent ids kept per band bucket: a flood of identical comments
    // fills the same buckets, and only the newest of them are worth listing.
    size_t bucket_size = 8;
    // Candidates checked on the exact Jaccard index per search, those that
    // share the most bands first.
    size_t max_verified = 48;
  };
  SimilarityIndex();
  explicit SimilarityIndex(Options options);

  // Indexed comments similar to `text`, most similar first (ties: the most
  // recent first), at most max_results; never `id` itself. Then indexes
  // `text` under `id` (replacing an earlier text of the same id).
  std::vector<int64_t> add(int64_t id, std::string_view text);
  // The same, for a text already in normalize_for_match() form (the ingest
  // path has it: it checks that a comment is not empty on it).
  std::vector<int64_t> add_normalized(int64_t id, std::string_view normalized);
  // The same search without indexing.
  std::vector<int64_t> find(std::string_view text) const;
  // Takes a comment out (rejected, hidden, merged). Unknown ids are ignored.
  void remove(int64_t id);
  bool contains(int64_t id) const { return entries_.count(id) != 0; }
  void clear();
  size_t size() const { return entries_.size(); }

  static constexpr int kHashes = 48;
  static constexpr int kBands = 24;
  static constexpr int kRows = kHashes / kBands;

 private:
  struct Fingerprint {
    std::vector<uint64_t> shingles;  // sorted, unique
    std::array<uint64_t, kBands> bands{};
  };
  struct Entry {
    Fingerprint print;
    uint64_t seq = 0;  // insertion order, for capacity eviction
  };
  static Fingerprint fingerprint(std::string_view normalized);
  std::vector<int64_t> search(const Fingerprint& print, int64_t self) const;
  std::vector<int64_t> insert(int64_t id, Fingerprint print);
  void unlink(int64_t id, const Entry& entry);

  Options options_;
  std::unordered_map<int64_t, Entry> entries_;
  // Band key (band number mixed into the hash) -> the most recent ids
  // (at most bucket_size), oldest first.
  std::unordered_map<uint64_t, std::vector<int64_t>> buckets_;
  std::deque<std::pair<int64_t, uint64_t>> order_;  // (id, seq), oldest first; stale pairs are skipped
  uint64_t next_seq_ = 0;
  // Scratch space of search(), kept to spare the allocations per comment.
  mutable std::vector<int64_t> candidates_;
  mutable std::vector<std::pair<int, int64_t>> ranked_;
  mutable std::vector<std::pair<double, int64_t>> scored_;
};

}  // namespace sabla::moderation
