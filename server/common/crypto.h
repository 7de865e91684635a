// Secrets: generated with libsodium, stored only as hashes.
// Passwords use crypto_pwhash_str (Argon2id, interactive limits); tokens and
// cookies are 256-bit random values, stored as hex SHA-256 (they are not
// guessable, so a fast hash is enough and allows lookup by hash).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sabla::crypto {

// Must be called once before any other function (idempotent, thread-safe).
bool init();
// URL-safe random secret: `bytes` random bytes, base64url without padding.
std::string random_secret(size_t bytes = 32);
// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);
// Argon2id hash string for storage (slow by design: ~50-100 ms).
std::string hash_password(std::string_view password);
bool verify_password(std::string_view stored_hash, std::string_view password);
// Constant-time comparison of equal-length strings (false on length mismatch).
bool constant_time_equal(std::string_view a, std::string_view b);

// Lower-case hex HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// A viewer token any node can check without asking another (docs/cluster.md):
// "v1.<id>.<first 32 hex of HMAC-SHA256(secret, "viewer:<id>")>". An edge
// hands it out with an identity of its own numbering; the main node takes
// the identity from it as it takes one from a token it issued itself.
std::string signed_viewer_token(std::string_view secret, int64_t viewer_id);
// The viewer id a signed token names, or nothing (malformed, forged, another
// secret, or an empty secret).
std::optional<int64_t> verify_viewer_token(std::string_view secret, std::string_view token);

}  // namespace sabla::crypto
