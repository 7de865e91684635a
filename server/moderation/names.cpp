#include "moderation/names.h"

#include <unicode/uchar.h>
#include <unicode/uspoof.h>
#include <unicode/utf8.h>

#include <cstdint>

#include "moderation/text.h"

namespace sabla::moderation {

namespace {

// Kept short on purpose: each word blocks every name that contains it, so
// only words that claim to speak for the hall belong here. Arabic forms with
// and without the article, since "ال" joins the word it defines.
const std::vector<std::string> kStaffWords = {
    "Sabla", "سبلة", "moderator", "admin", "administrator", "مشرف", "المشرف", "الإدارة",
};

// Protected names and staff words are cut like a long lower-third field.
constexpr size_t kMaxProtectedChars = 120;

void append_code_point(std::string& out, UChar32 c) {
  uint8_t buf[U8_MAX_LENGTH];
  int32_t n = 0;
  UBool error = false;
  U8_APPEND(buf, n, U8_MAX_LENGTH, c, error);
  if (!error) out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

}  // namespace

struct NameGuard::Checker {
  USpoofChecker* spoof = nullptr;
  ~Checker() {
    if (spoof) uspoof_close(spoof);
  }
};

NameGuard::NameGuard() : checker_(std::make_unique<Checker>()) {
  UErrorCode status = U_ZERO_ERROR;
  USpoofChecker* sc = uspoof_open(&status);
  if (U_SUCCESS(status)) checker_->spoof = sc;
  else if (sc) uspoof_close(sc);
  for (const std::string& w : kStaffWords) {
    std::string key = key_of(w);
    if (!key.empty()) staff_.push_back(Protected{w, std::move(key)});
  }
}

NameGuard::~NameGuard() = default;

const std::vector<std::string>& NameGuard::staff_words() { return kStaffWords; }

std::string NameGuard::skeleton(std::string_view text) const {
  // Without a checker (ICU data missing) the folded text is still compared,
  // which keeps case, invisibles and Arabic letter forms covered.
  if (!checker_->spoof || text.size() > INT32_MAX / 8) return std::string(text);
  const auto length = static_cast<int32_t>(text.size());
  UErrorCode status = U_ZERO_ERROR;
  int32_t needed = uspoof_getSkeletonUTF8(checker_->spoof, 0, text.data(), length, nullptr, 0, &status);
  if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status)) return std::string(text);
  std::string out(static_cast<size_t>(needed), '\0');
  status = U_ZERO_ERROR;
  uspoof_getSkeletonUTF8(checker_->spoof, 0, text.data(), length, out.data(), needed, &status);
  if (U_FAILURE(status)) return std::string(text);
  return out;
}

std::vector<std::string> NameGuard::words(std::string_view text) const {
  // Skeleton before case folding, so a capital "I" can pass for "l"; folded
  // and skeletonised again so that lower-case look-alikes meet too.
  const std::string folded = skeleton(normalize_for_match(skeleton(text)));
  std::vector<std::string> out;
  std::string word;
  size_t i = 0;
  while (i < folded.size()) {
    UChar32 c;
    U8_NEXT(reinterpret_cast<const uint8_t*>(folded.data()), i, folded.size(), c);
    if (c < 0) continue;
    const uint32_t gc = U_GET_GC_MASK(c);
    // Accents and Zalgo stacks are what an imitation adds to a name, never
    // what tells two names apart to a reader in a hurry.
    if (gc & (U_GC_MN_MASK | U_GC_ME_MASK)) continue;
    if (gc & (U_GC_L_MASK | U_GC_MC_MASK | U_GC_ND_MASK)) {
      append_code_point(word, u_tolower(c));
    } else if (!word.empty()) {
      out.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

std::string NameGuard::key_of(std::string_view name) const {
  std::string key;
  for (const std::string& w : words(name)) key += w;
  return key;
}

void NameGuard::set_protected_names(const std::vector<std::string>& names) {
  names_.clear();
  for (const std::string& n : names) add_protected_name(n);
}

void NameGuard::add_protected_name(std::string_view name) {
  try {
    if (!is_valid_utf8(name)) return;
    const std::string clean = sanitize_name(name, kMaxProtectedChars);
    std::string key = key_of(clean);
    if (key.empty()) return;
    for (const Protected& p : names_) {
      if (p.key == key) return;
    }
    names_.push_back(Protected{clean, std::move(key)});
  } catch (...) {
    // Out of memory: the list stays as it was rather than throw into a callback.
  }
}

std::string NameGuard::imitated(std::string_view name, const std::vector<std::string>& more) const {
  try {
    const std::vector<std::string> parts = words(name);
    if (parts.empty()) return {};
    std::string key;
    for (const std::string& w : parts) key += w;
    for (const Protected& p : names_) {
      if (p.key == key) return p.original;
    }
    for (const std::string& m : more) {
      if (!is_valid_utf8(m) || m.empty()) continue;
      const std::string clean = sanitize_name(m, kMaxProtectedChars);
      const std::string other = key_of(clean);
      if (!other.empty() && other == key) return clean;
    }
    for (const Protected& s : staff_) {
      for (const std::string& w : parts) {
        if (w == s.key) return s.original;
      }
    }
    return {};
  } catch (...) {
    return {};
  }
}

}  // namespace sabla::moderation
