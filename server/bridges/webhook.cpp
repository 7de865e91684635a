// The generic webhook's signature (net thread): X-Sabla-Signature is
// "sha256=" and the hex HMAC-SHA256 of the raw body under the bridge's
// secret (crypto::hmac_sha256_hex), compared in constant time.
#include <cctype>
#include <string>

#include "bridges/bridges.h"
#include "common/crypto.h"

namespace sabla::bridges {

FeedResult feed_result(int http_status, bool duplicate, std::string error) {
  FeedResult r;
  r.kind = http_status >= 200 && http_status < 300 ? FeedResult::stored
           : http_status == 400                    ? FeedResult::refused
                                                   : FeedResult::retry;
  r.duplicate = duplicate;
  r.error = std::move(error);
  return r;
}

std::string sign(std::string_view secret, std::string_view body) {
  return "sha256=" + crypto::hmac_sha256_hex(secret, body);
}

bool verify_signature(std::string_view secret, std::string_view body, std::string_view header) {
  constexpr std::string_view kPrefix = "sha256=";
  constexpr size_t kHexDigits = 64;  // HMAC-SHA256
  if (secret.empty() || header.size() != kPrefix.size() + kHexDigits) return false;
  // Prefix and hex digits in either case, as a sender may write them.
  std::string given(header);
  for (char& ch : given) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (given.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  return crypto::constant_time_equal(given, sign(secret, body));
}

}  // namespace sabla::bridges
