#include "common/crypto.h"

#include <sodium.h>

#include <array>
#include <cstring>
#include <vector>

namespace sabla::crypto {

namespace {

// libsodium must be initialised before randombytes/pwhash are safe to use.
// A function-local static makes the first call thread-safe and later calls
// free, so every entry point can guard itself instead of trusting callers.
bool ensure_init() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

}  // namespace

bool init() { return ensure_init(); }

std::string random_secret(size_t bytes) {
  if (!ensure_init()) return {};
  std::vector<unsigned char> raw(bytes);
  if (bytes > 0) randombytes_buf(raw.data(), raw.size());
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bytes, variant), '\0');
  sodium_bin2base64(out.data(), out.size(), raw.data(), raw.size(), variant);
  // The encoded length includes the terminating NUL written by libsodium.
  out.resize(std::strlen(out.c_str()));
  sodium_memzero(raw.data(), raw.size());
  return out;
}

std::string sha256_hex(std::string_view data) {
  ensure_init();
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size());
  std::string hex(digest.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  hex.pop_back();
  return hex;
}

std::string hash_password(std::string_view password) {
  if (!ensure_init()) return {};
  std::array<char, crypto_pwhash_STRBYTES> out{};
  // Fails only when the memory limit cannot be allocated; an empty hash then
  // never verifies, so a caller that forgets to check cannot create a
  // password-less account.
  if (crypto_pwhash_str(out.data(), password.data(), password.size(),
                        crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return {};
  }
  return std::string(out.data());
}

bool verify_password(std::string_view stored_hash, std::string_view password) {
  if (!ensure_init()) return false;
  // libsodium reads a NUL-terminated string of at most STRBYTES; copy into a
  // buffer of that size so a corrupt or oversized stored value cannot make it
  // read past the end.
  if (stored_hash.empty() || stored_hash.size() >= crypto_pwhash_STRBYTES) return false;
  if (stored_hash.find('\0') != std::string_view::npos) return false;
  std::array<char, crypto_pwhash_STRBYTES> buf{};
  std::memcpy(buf.data(), stored_hash.data(), stored_hash.size());
  return crypto_pwhash_str_verify(buf.data(), password.data(), password.size()) == 0;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  ensure_init();
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> digest{};
  crypto_auth_hmacsha256_final(&state, digest.data());
  std::string hex(digest.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  hex.pop_back();
  return hex;
}

namespace {
constexpr size_t kViewerMacHex = 32;  // 128 bits of the HMAC: not guessable, short in a URL or storage
std::string viewer_mac(std::string_view secret, int64_t viewer_id) {
  return hmac_sha256_hex(secret, "viewer:" + std::to_string(viewer_id)).substr(0, kViewerMacHex);
}
}  // namespace

std::string signed_viewer_token(std::string_view secret, int64_t viewer_id) {
  return "v1." + std::to_string(viewer_id) + "." + viewer_mac(secret, viewer_id);
}

std::optional<int64_t> verify_viewer_token(std::string_view secret, std::string_view token) {
  if (secret.empty() || token.size() > 64 || token.substr(0, 3) != "v1.") return std::nullopt;
  const std::string_view rest = token.substr(3);
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 18) return std::nullopt;
  int64_t id = 0;
  for (char ch : rest.substr(0, dot)) {
    if (ch < '0' || ch > '9') return std::nullopt;
    id = id * 10 + (ch - '0');
  }
  if (id <= 0 || rest.substr(0, dot) != std::to_string(id)) return std::nullopt;  // one spelling per id
  if (!constant_time_equal(rest.substr(dot + 1), viewer_mac(secret, id))) return std::nullopt;
  return id;
}

}  // namespace sabla::crypto
