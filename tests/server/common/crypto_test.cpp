#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "common/crypto.h"

using namespace sabla;

SCENARIO("SHA-256 digests are lower-case hex", "[crypto]") {
  REQUIRE(crypto::init());
  THEN("the FIPS 180-2 test vectors match") {
    CHECK(crypto::sha256_hex("abc") ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(crypto::sha256_hex("") ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  }
  THEN("binary input with NUL bytes is hashed in full") {
    const std::string a("a\0b", 3);
    const std::string b("a\0c", 3);
    CHECK(crypto::sha256_hex(a) != crypto::sha256_hex(b));
  }
}

SCENARIO("random secrets are unique and URL-safe", "[crypto]") {
  REQUIRE(crypto::init());
  REQUIRE(crypto::init());  // idempotent
  GIVEN("a thousand 32-byte secrets") {
    std::set<std::string> seen;
    bool all_url_safe = true;
    for (int i = 0; i < 1000; ++i) {
      std::string s = crypto::random_secret();
      CHECK(s.size() == 43);  // 32 bytes, base64 without padding
      for (char c : s) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                        c == '-' || c == '_';
        all_url_safe = all_url_safe && ok;
      }
      seen.insert(std::move(s));
    }
    THEN("none repeats and none needs escaping in a URL or cookie") {
      CHECK(seen.size() == 1000);
      CHECK(all_url_safe);
    }
  }
  THEN("other sizes encode to the expected length") {
    CHECK(crypto::random_secret(0).empty());
    CHECK(crypto::random_secret(1).size() == 2);
    CHECK(crypto::random_secret(16).size() == 22);
  }
}

SCENARIO("passwords are stored as Argon2id hashes", "[crypto]") {
  REQUIRE(crypto::init());
  GIVEN("a hashed password") {
    const std::string hash = crypto::hash_password("correct horse ✓ بطارية");
    THEN("the hash is an Argon2id string that verifies the right password only") {
      CHECK(hash.rfind("$argon2id$", 0) == 0);
      CHECK(crypto::verify_password(hash, "correct horse ✓ بطارية"));
      CHECK_FALSE(crypto::verify_password(hash, "correct horse ✓ بطاريه"));
      CHECK_FALSE(crypto::verify_password(hash, ""));
    }
    THEN("hashing again uses a fresh salt") {
      const std::string again = crypto::hash_password("correct horse ✓ بطارية");
      CHECK(again != hash);
      CHECK(crypto::verify_password(again, "correct horse ✓ بطارية"));
    }
  }
  THEN("malformed stored hashes never verify") {
    CHECK_FALSE(crypto::verify_password("", "x"));
    CHECK_FALSE(crypto::verify_password("not a hash", "not a hash"));
    CHECK_FALSE(crypto::verify_password(std::string(500, '$'), "x"));
    CHECK_FALSE(crypto::verify_password(std::string("$argon2id$\0", 11), "x"));
  }
}

SCENARIO("secrets are compared in constant time", "[crypto]") {
  REQUIRE(crypto::init());
  CHECK(crypto::constant_time_equal("abc", "abc"));
  CHECK(crypto::constant_time_equal("", ""));
  CHECK_FALSE(crypto::constant_time_equal("abc", "abd"));
  CHECK_FALSE(crypto::constant_time_equal("abc", "abcd"));
  CHECK_FALSE(crypto::constant_time_equal("", "a"));
}

SCENARIO("HMAC-SHA256 matches RFC 4231", "[crypto]") {
  REQUIRE(crypto::init());
  // RFC 4231, test cases 1 and 2.
  CHECK(crypto::hmac_sha256_hex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(crypto::hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

SCENARIO("a signed viewer token names its viewer on every node that knows the secret", "[crypto]") {
  REQUIRE(crypto::init());
  const std::string secret = "a shared cluster secret, 32+ chars";
  const int64_t id = (int64_t{3} << 32) | 17;
  const std::string token = crypto::signed_viewer_token(secret, id);
  THEN("it verifies under the same secret and gives the id back") {
    CHECK(token.rfind("v1." + std::to_string(id) + ".", 0) == 0);
    CHECK(crypto::verify_viewer_token(secret, token) == id);
  }
  THEN("another secret, another id, a changed MAC or a malformed token verify as nothing") {
    CHECK_FALSE(crypto::verify_viewer_token("another secret of the same kind!!", token));
    CHECK_FALSE(crypto::verify_viewer_token("", token));
    const std::string mac = token.substr(token.rfind('.') + 1);
    CHECK_FALSE(crypto::verify_viewer_token(secret, "v1." + std::to_string(id + 1) + "." + mac));
    std::string flipped = token;
    flipped.back() = flipped.back() == '0' ? '1' : '0';
    CHECK_FALSE(crypto::verify_viewer_token(secret, flipped));
    for (std::string bad : {std::string(), std::string("v1."), std::string("v1..") + mac, "v2." + token.substr(3),
                            "v1.0" + token.substr(3), "v1.-5." + mac, "v1.12x." + mac, token + "0",
                            token.substr(0, token.size() - 1), "v1.99999999999999999999." + mac})
      CHECK_FALSE(crypto::verify_viewer_token(secret, bad));
  }
}
