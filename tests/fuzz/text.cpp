// Fuzz target: the text rules every viewer- and bridge-typed string goes
// through (server/moderation/text.h), on any bytes.
//
// Properties:
//  - is_valid_utf8 agrees with nlohmann's own UTF-8 check (the one dump()
//    applies), so what the Room lets through can never make dump() throw;
//  - sanitize_text / sanitize_name / normalize_for_match / truncate_code_points
//    return valid UTF-8 for any input, and their JSON dump never throws;
//  - sanitize_text and sanitize_name are idempotent; names respect the cut;
//  - nothing throws out of any of them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "moderation/text.h"

using namespace sabla::moderation;

namespace {

// nlohmann's strict dump is the independent UTF-8 oracle.
bool dump_accepts(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

void check_output(std::string_view what, const std::string& out) {
  FUZZ_CHECK(is_valid_utf8(out), what);
  FUZZ_CHECK(dump_accepts(out), what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first byte picks the name length limit (0..63); the whole input,
  // including it, is the text, so plain-text seeds work as they are.
  const size_t max_name = size > 0 ? data[0] % 64 : 32;
  const std::string input(reinterpret_cast<const char*>(data), size);

  FUZZ_CHECK(is_valid_utf8(input) == dump_accepts(input), "is_valid_utf8 disagrees with nlohmann's check");

  const std::string text = sanitize_text(input);
  check_output("sanitize_text", text);
  FUZZ_CHECK(sanitize_text(text) == text, "sanitize_text is not idempotent");
  FUZZ_CHECK(text.size() <= input.size(), "sanitize_text grew the text");

  const std::string name = sanitize_name(input, max_name);
  check_output("sanitize_name", name);
  FUZZ_CHECK(count_code_points(name) <= max_name, "sanitize_name exceeded its cut");
  FUZZ_CHECK(sanitize_name(name, max_name) == name, "sanitize_name is not idempotent");
  FUZZ_CHECK(name.find('\n') == std::string::npos && name.find('\t') == std::string::npos,
             "a name kept a newline or tab");

  check_output("normalize_for_match", normalize_for_match(input));
  check_output("normalize_for_match(sanitize_text)", normalize_for_match(text));

  const std::string cut = truncate_code_points(input, max_name);
  check_output("truncate_code_points", cut);
  FUZZ_CHECK(count_code_points(cut) <= max_name, "truncate_code_points exceeded its cut");

  const std::string dir = detect_direction(text);
  FUZZ_CHECK(dir == "rtl" || dir == "ltr", "detect_direction");
  const std::string lang = detect_language(text);
  FUZZ_CHECK(lang == "ar" || lang == "en" || lang.empty(), "detect_language");

  // The input's own words as a block list: every entry must find itself
  // (when it normalises to something) and the matcher must not throw.
  const BlockedWords blocked({name, "سبام", "spam"});
  (void)blocked.first_match(text);
  if (!normalize_for_match(name).empty()) {
    FUZZ_CHECK(!BlockedWords({name}).first_match(name).empty(), "a blocked word does not match itself");
  }
  return 0;
}
