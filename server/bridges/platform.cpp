// Helpers the platforms share: JSON at the edge, the common HTTP outcomes,
// Retry-After, query encoding (bridge thread).
#include "bridges/platform.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>

namespace sabla::bridges {

nlohmann::json parse_json(const std::string& body) {
  // nlohmann's parser refuses invalid UTF-8, so nothing parsed here can make
  // dump() throw later.
  return nlohmann::json::parse(body, nullptr, false);
}

int64_t retry_after_ms(const Response& r) {
  auto it = r.headers.find("retry-after");
  if (it == r.headers.end()) return -1;
  const std::string& v = it->second;
  int64_t seconds = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (ec == std::errc() && p == v.data() + v.size() && seconds >= 0) return std::min<int64_t>(seconds, 86'400) * 1000;
  const time_t at = curl_getdate(v.c_str(), nullptr);  // an HTTP date
  if (at < 0) return -1;
  return std::clamp<int64_t>(static_cast<int64_t>(at) * 1000 - r.now_ms, 0, 86'400'000);
}

Outcome malformed(const std::string& what, const std::string& why) {
  Outcome o;
  o.kind = Outcome::transient;
  o.error = what + ": malformed answer (" + why + ")";
  return o;
}

std::unique_ptr<Outcome> classify_status(const Response& r, const std::string& what) {
  if (r.status >= 200 && r.status < 300) return nullptr;
  auto o = std::make_unique<Outcome>();
  const std::string status = "HTTP " + std::to_string(r.status);
  if (r.status == 429) {
    o->kind = Outcome::rate_limited;
    o->retry_after_ms = retry_after_ms(r);
    o->error = what + ": rate limited (" + status + ")";
  } else if (r.status >= 500) {
    o->kind = Outcome::transient;
    o->error = what + ": the platform failed (" + status + ")";
  } else if (r.status == 401 || r.status == 403) {
    o->kind = Outcome::permanent;
    o->error = what + ": credentials refused or expired (" + status + "): renew them and restart";
  } else {
    o->kind = Outcome::permanent;
    o->error = what + ": refused (" + status + ")";
  }
  return o;
}

std::string url_encode(const std::string& s) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

const nlohmann::json& member(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string str(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

bool id_greater(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() > b.size();
  return a > b;
}

}  // namespace sabla::bridges
