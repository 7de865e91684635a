// The generic webhook's signature (net thread): X-Sabla-Signature is
// "sha256=" and the hex HMAC-SHA256 of the raw body under the bridge's
// secret (libsodium), compared in constant time.
#include <sodium.h>

#include <cctype>

#include "bridges/bridges.h"

namespace sabla::bridges {
namespace {

void mac(std::string_view secret, std::string_view body, unsigned char out[crypto_auth_hmacsha256_BYTES]) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  crypto_auth_hmacsha256_final(&state, out);
}

}  // namespace

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
  unsigned char digest[crypto_auth_hmacsha256_BYTES];
  mac(secret, body, digest);
  char hex[crypto_auth_hmacsha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
  return std::string("sha256=") + hex;
}

bool verify_signature(std::string_view secret, std::string_view body, std::string_view header) {
  constexpr std::string_view kPrefix = "sha256=";
  if (secret.empty() || header.size() != kPrefix.size() + crypto_auth_hmacsha256_BYTES * 2) return false;
  for (size_t i = 0; i < kPrefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != kPrefix[i]) return false;
  unsigned char given[crypto_auth_hmacsha256_BYTES];
  size_t len = 0;
  const std::string_view hex = header.substr(kPrefix.size());
  if (sodium_hex2bin(given, sizeof(given), hex.data(), hex.size(), nullptr, &len, nullptr) != 0 ||
      len != sizeof(given))
    return false;
  unsigned char expected[crypto_auth_hmacsha256_BYTES];
  mac(secret, body, expected);
  return sodium_memcmp(given, expected, sizeof(given)) == 0;
}

}  // namespace sabla::bridges
