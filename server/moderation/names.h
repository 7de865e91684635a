// Display names viewers may not take because they imitate someone the
// audience trusts: a studio user (moderator, producer...), the speaker on
// the lower third, a configured name ([session] protected_names), or the
// staff words below (Sabla, moderator, مشرف...).
//
// Imitation is judged on ICU confusable skeletons (UTS #39, uspoof), so a
// Cyrillic "а", a capital "I" for "l", a "0" for "O", full-width letters,
// Arabic presentation forms, hamza and diacritics, zero-width characters
// and case all count as the letter they look like.
//
//  - A protected *name* matches only the whole name: "Amal" protects against
//    "АМАL", "amal." and "a m a l", but "Amalia" and "Amal Said" stay free.
//  - A staff *word* matches as a whole word anywhere in the name: "Sabla
//    team" and "amal (moderator)" are refused, "Sablawi" is not.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sabla::moderation {

class NameGuard {
 public:
  NameGuard();
  ~NameGuard();
  NameGuard(const NameGuard&) = delete;
  NameGuard& operator=(const NameGuard&) = delete;

  // The fixed staff words, as given to viewers in the docs.
  static const std::vector<std::string>& staff_words();

  // Replaces the protected names (empty and unmatchable ones are ignored).
  void set_protected_names(const std::vector<std::string>& names);
  // Adds one protected name (a studio user who just logged in).
  void add_protected_name(std::string_view name);

  // What sanitized `name` imitates: the protected name or staff word as it
  // was given, or "" when none. `more` are protected names that change
  // often (the speaker on the lower third), checked the same way.
  std::string imitated(std::string_view name, const std::vector<std::string>& more = {}) const;

  // The comparison form of `text`: its confusable skeleton, folded with
  // normalize_for_match() (case, Arabic letter forms, diacritics,
  // invisibles), split into words (letters, marks and digits). Exposed for tests.
  std::vector<std::string> words(std::string_view text) const;

 private:
  struct Protected {
    std::string original;
    std::string key;  // the words joined: the whole name's form
  };
  std::string skeleton(std::string_view text) const;
  std::string key_of(std::string_view name) const;

  struct Checker;
  std::unique_ptr<Checker> checker_;
  std::vector<Protected> names_;
  std::vector<Protected> staff_;
};

}  // namespace sabla::moderation
