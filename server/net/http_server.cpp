// HTTP requests: one transaction per request (answers may come later, from
// a store completion or a worker), writing answers and streamed exports,
// static files, and the origin and authentication checks the routes share.
#include <libwebsockets.h>
#include <strings.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "net/net_internal.h"
#include "protocol/messages.h"

namespace sabla::net {

using moderation::Actor;
using nlohmann::json;

namespace {

constexpr size_t kMaxHttpBody = 64 * 1024;
constexpr const char* kSecurityHeaders =
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'; "
    "form-action 'self'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "X-Frame-Options: SAMEORIGIN\r\n"
    "Cache-Control: no-cache\r\n";

std::string mime_for(const std::string& path) {
  auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".m3u8") return "application/vnd.apple.mpegurl";
  if (ext == ".ts") return "video/mp2t";
  return "application/octet-stream";
}

bool safe_relative_path(const std::string& p) {
  if (p.empty() || p.size() > 200 || p.find("..") != std::string::npos || p.find("//") != std::string::npos)
    return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_' || c == '/';
  });
}

}  // namespace

std::string header(lws* wsi, enum lws_token_indexes h) {
  int n = lws_hdr_total_length(wsi, h);
  if (n <= 0) return {};
  std::string s(static_cast<size_t>(n) + 1, '\0');
  int got = lws_hdr_copy(wsi, s.data(), n + 1, h);
  if (got < 0) return {};
  s.resize(static_cast<size_t>(got));
  return s;
}

bool is_loopback(const std::string& ip) { return ip.rfind("127.", 0) == 0 || ip == "::1"; }

std::optional<int64_t> parse_id(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

json error_body(const char* code, const std::string& message) {
  return json{{"error", {{"code", code}, {"message", message}}}};
}

json main_node_only_body(const Config& config, const std::string& what) {
  const std::string& url = config.cluster_main_url;
  std::string message = "this is an edge node; " + what + " is served by the main node" +
                        (url.empty() ? std::string(" (set [cluster] main_url to name it here)") : " at " + url);
  json body = error_body("main_node_only", message);
  body["error"]["main_url"] = url.empty() ? json() : json(url);
  return body;
}

void NetServer::main_node_only(HttpTxn* txn) {
  respond_json(txn, kMainNodeOnlyStatus, main_node_only_body(config_, txn->path));
}

bool NetServer::origin_allowed(lws* wsi, bool required) {
  std::string origin = header(wsi, WSI_TOKEN_ORIGIN);
  if (origin.empty()) return !required;
  for (const auto& allowed : config_.allowed_origins)
    if (origin == allowed) return true;
  std::string host = header(wsi, WSI_TOKEN_HOST);
  bool tls = !config_.tls_cert.empty();
  return !host.empty() && origin == std::string(tls ? "https://" : "http://") + host;
}

std::optional<Actor> NetServer::authenticate(lws* wsi, bool* via_cookie) {
  *via_cookie = false;
  if (!store_) return std::nullopt;  // an edge node has no accounts
  const int64_t now = clock_.now_ms();
  std::string auth = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
  if (auth.size() > 7 && strncasecmp(auth.c_str(), "Bearer ", 7) == 0) {
    std::string hash = crypto::sha256_hex(auth.substr(7));
    if (auto it = auth_cache_.find(hash); it != auth_cache_.end()) return it->second.actor;
    auto row = store_->find_api_token(hash);
    if (!row || !row->has_value()) return std::nullopt;
    Actor a{"token:" + (*row)->name, (*row)->role};
    auth_cache_[hash] = CachedAuth{a, now + 60'000};
    return a;
  }
  char value[128];
  size_t max = sizeof(value);
  if (lws_http_cookie_get(wsi, "sabla_session", value, &max) != 0) return std::nullopt;
  std::string cookie(value, max);
  std::string hash = crypto::sha256_hex(cookie);
  *via_cookie = true;
  if (auto it = auth_cache_.find(hash); it != auth_cache_.end()) return it->second.actor;
  auto session = store_->find_auth_session(hash);
  if (!session || !session->has_value() || (*session)->expires_at_ms <= now) return std::nullopt;
  auto account = store_->find_account_by_id((*session)->account_id);
  if (!account || !account->has_value()) return std::nullopt;
  Actor a{(*account)->name, (*account)->role};
  auth_cache_[hash] = CachedAuth{a, std::min((*session)->expires_at_ms, now + 60'000)};
  return a;
}

void NetServer::respond(HttpTxn* txn, int status, std::string content_type, std::string body,
                        std::vector<std::pair<std::string, std::string>> headers) {
  txn->ready = true;
  txn->status = status;
  txn->content_type = std::move(content_type);
  txn->payload = std::move(body);
  txn->headers = std::move(headers);
  lws_callback_on_writable(txn->wsi);
}

void NetServer::respond_json(HttpTxn* txn, int status, const json& body,
                             std::vector<std::pair<std::string, std::string>> headers) {
  respond(txn, status, "application/json", protocol::dump(body) + "\n", std::move(headers));
}

int NetServer::write_http(lws* wsi, HttpTxn* txn) {
  if (!txn || !txn->ready) return 0;
  if (!txn->headers_sent) {
    std::vector<unsigned char> buf(LWS_PRE + 4096 + txn->headers.size() * 512);
    unsigned char* start = buf.data() + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = buf.data() + buf.size() - 1;
    // Unknown length (a streamed export): lws sends it chunked.
    const lws_filepos_t length = txn->exporter ? LWS_ILLEGAL_HTTP_CONTENT_LEN : txn->payload.size();
    if (lws_add_http_common_headers(wsi, static_cast<unsigned int>(txn->status), txn->content_type.c_str(), length,
                                    &p, end))
      return 1;
    auto add = [&](const std::string& name, const std::string& value) {
      std::string n = name + ":";
      return lws_add_http_header_by_name(wsi, (const unsigned char*)n.c_str(), (const unsigned char*)value.data(),
                                         static_cast<int>(value.size()), &p, end);
    };
    if (add("x-content-type-options", "nosniff") || add("cache-control", "no-store") ||
        add("referrer-policy", "no-referrer"))
      return 1;
    for (const auto& [name, value] : txn->headers)
      if (add(name, value)) return 1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return 1;
    txn->headers_sent = true;
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (txn->exporter) {
    // Runs on the net thread: one page of rows per writable keeps every
    // other client served between chunks.
    std::string chunk;
    const bool more = txn->exporter->next(&chunk);
    if (!more && !txn->exporter->status().is_ok()) {
      spdlog::error("export failed: {}", txn->exporter->status().message());
      return -1;  // the client sees a cut chunked stream, never a silently short file
    }
    std::vector<unsigned char> buf(LWS_PRE + chunk.size());
    std::memcpy(buf.data() + LWS_PRE, chunk.data(), chunk.size());
    if (lws_write(wsi, buf.data() + LWS_PRE, chunk.size(), more ? LWS_WRITE_HTTP : LWS_WRITE_HTTP_FINAL) !=
        static_cast<int>(chunk.size()))
      return -1;
    if (more) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    if (lws_http_transaction_completed(wsi)) return -1;
    return 0;
  }
  std::vector<unsigned char> buf(LWS_PRE + txn->payload.size());
  std::memcpy(buf.data() + LWS_PRE, txn->payload.data(), txn->payload.size());
  if (lws_write(wsi, buf.data() + LWS_PRE, txn->payload.size(), LWS_WRITE_HTTP_FINAL) !=
      static_cast<int>(txn->payload.size()))
    return 1;
  if (lws_http_transaction_completed(wsi)) return -1;
  return 0;
}

NetServer::HttpTxn* NetServer::find_txn(uint64_t id) {
  auto it = txn_by_id_.find(id);
  return it == txn_by_id_.end() ? nullptr : it->second;
}

void NetServer::forget_txn(lws* wsi) {
  auto it = txn_of_wsi_.find(wsi);
  if (it == txn_of_wsi_.end()) return;
  txn_by_id_.erase(it->second->id);
  txn_of_wsi_.erase(it);
}

int NetServer::on_http(lws* wsi, int reason, void* user, void* in, size_t len) {
  auto current = [&]() -> HttpTxn* {
    auto it = txn_of_wsi_.find(wsi);
    return it == txn_of_wsi_.end() ? nullptr : it->second.get();
  };
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      drain_posted();
      return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      forget_txn(wsi);
      return confirm_upgrade(wsi);
    case LWS_CALLBACK_HTTP: {
      forget_txn(wsi);  // keep-alive: the previous request on this connection is over
      auto owned = std::make_unique<HttpTxn>();
      HttpTxn* txn = owned.get();
      txn->id = next_txn_id_++;
      txn->wsi = wsi;
      txn_by_id_[txn->id] = txn;
      txn_of_wsi_[wsi] = std::move(owned);
      http_requests_++;
      txn->path = std::string(static_cast<const char*>(in), len);
      txn->ip = peer_ip(wsi);
      if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) txn->method = "GET";
      else if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) txn->method = "POST";
      else if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0) txn->method = "HEAD";
      else if (lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0) txn->method = "PATCH";
      else txn->method = "OTHER";
      if (txn->method == "POST" || txn->method == "PATCH") {
        std::string cl = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
        if (cl.empty() || cl == "0") {
          dispatch_api(wsi, txn);  // no body follows
        } else if (std::strtoull(cl.c_str(), nullptr, 10) > kMaxHttpBody) {
          respond_json(txn, 413, error_body("too_large", "request body over 64 KiB"), {{"connection", "close"}});
        }
        return 0;  // the body arrives in LWS_CALLBACK_HTTP_BODY
      }
      return handle_http_request(wsi, txn);
    }
    case LWS_CALLBACK_HTTP_BODY: {
      HttpTxn* txn = current();
      if (!txn) return -1;
      if (txn->body.size() + len > kMaxHttpBody) txn->body_too_large = true;
      else txn->body.append(static_cast<const char*>(in), len);
      return 0;
    }
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
      HttpTxn* txn = current();
      if (!txn) return -1;
      if (txn->ready) return 0;
      if (txn->body_too_large) {
        respond_json(txn, 413, error_body("too_large", "request body over 64 KiB"));
        return 0;
      }
      dispatch_api(wsi, txn);
      return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE:
      return write_http(wsi, current());
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
      if (lws_http_transaction_completed(wsi)) return -1;
      return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_WSI_DESTROY:
      forget_txn(wsi);
      return 0;
    default:
      return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), user, in, len);
  }
}

int NetServer::handle_http_request(lws* wsi, HttpTxn* txn) {
  const std::string& path = txn->path;
  if (txn->method != "GET" && txn->method != "HEAD") {
    respond_json(txn, 405, error_body("method_not_allowed", "method not allowed"));
    return 0;
  }
  std::string file;  // relative to the static directory
  std::string full;  // or an absolute path
  if (path == "/" || path == "/index.html") file = "index.html";
  else if (path == "/studio" || path == "/studio/") file = "studio.html";
  else if (path == "/overlay" || path == "/overlay/") file = "overlay.html";
  else if (path == "/archive" || path == "/archive/") file = "archive.html";
  else if (path == "/report" || path == "/report.html") file = "report.html";
  else if (path == "/decisions" || path == "/decisions/") file = "decisions.html";
  else if (path == "/site.js") {
    // What the pages need from the configuration before they render
    // (static/assets/i18n.js imports it). default_language is "ar" or "en"
    // (validated), so it is safe to write into the script as it is.
    respond(txn, 200, "text/javascript; charset=utf-8",
            "export const defaultLanguage = '" + config_.default_language + "';\n");
    return 0;
  }
  else if (path.rfind("/assets/", 0) == 0 && safe_relative_path(path.substr(1))) file = path.substr(1);
  // Front-end packages come from npm (scripts/setup), never from the repository.
  else if (path == "/vendor/hls.min.js") file = "node_modules/hls.js/dist/hls.min.js";
  // The pipeline's HLS output: flat file names only.
  else if (path.rfind("/hls/", 0) == 0 && path.find('/', 5) == std::string::npos && safe_relative_path(path.substr(5)))
    full = config_.data_dir + "/hls/" + path.substr(5);
  if (!file.empty()) full = static_dir_ + "/" + file;
  // An edge node serves the viewer and overlay pages; the rest lives on the main node.
  const bool main_only_page = file == "studio.html" || file == "archive.html" || file == "report.html" ||
                              file == "decisions.html" ||
                              path.rfind("/hls/", 0) == 0;
  if (!room_ && main_only_page) {
    main_node_only(txn);
    return 0;
  }
  if (!full.empty()) {
    if (!std::filesystem::is_regular_file(full)) {
      respond_json(txn, 404, error_body("not_found", "no such page"));
      return 0;
    }
    int n = lws_serve_http_file(wsi, full.c_str(), mime_for(full).c_str(), kSecurityHeaders,
                                static_cast<int>(std::strlen(kSecurityHeaders)));
    if (n < 0) return -1;
    if (n > 0 && lws_http_transaction_completed(wsi)) return -1;
    return 0;
  }
  dispatch_api(wsi, txn);
  return 0;
}

}  // namespace sabla::net
