// The general (ICU) paths of detect_direction() and detect_language(), which
// those take for anything beyond printable ASCII and the common Arabic
// characters; for tests that check the fast paths against them (as
// text_reference::sanitize_text and ::normalize_for_match in text.h). Any
// thread.
#pragma once
#include <string>
#include <string_view>

namespace sabla::moderation::text_reference {
std::string detect_direction(std::string_view text);
std::string detect_language(std::string_view text);
}  // namespace sabla::moderation::text_reference
