// The HTTP API routes (docs/protocol.md): health, metrics, login/logout,
// me, sessions (create, live, end, bridge comments, retention, export) and
// the archive's queries.
#include <libwebsockets.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include <spdlog/spdlog.h>

#include "archive/decisions.h"
#include "archive/export.h"
#include "archive/queries.h"
#include "bridges/bridges.h"
#include "common/crypto.h"
#include "net/net_internal.h"
#include "protocol/messages.h"

namespace sabla::net {

using moderation::Actor;
using nlohmann::json;

void NetServer::login(lws* wsi, HttpTxn* txn) {
  if (!origin_allowed(wsi, false)) return respond_json(txn, 403, error_body("forbidden", "origin not allowed"));
  const int64_t steady = clock_.steady_ms();
  auto bucket = login_buckets_.try_emplace(txn->ip, static_cast<double>(config_.login_attempts_per_minute),
                                           config_.login_attempts_per_minute / 60.0, steady).first;
  int64_t retry = 0;
  if (!bucket->second.try_take(steady, &retry))
    return respond_json(txn, 429, error_body("rate_limited", "too many login attempts"),
                        {{"retry-after", std::to_string((retry + 999) / 1000)}});
  auto body = json::parse(txn->body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("name") || !body.contains("password") ||
      !body["name"].is_string() || !body["password"].is_string())
    return respond_json(txn, 400, error_body("invalid", "send {\"name\":...,\"password\":...}"));
  std::string name = body["name"].get<std::string>();
  std::string password = body["password"].get<std::string>();
  auto account = store_->find_account(name);
  if (!account) return respond_json(txn, 500, error_body("internal", "could not read accounts"));
  std::optional<store::AccountRow> row = *account;
  const uint64_t txn_id = txn->id;
  // Argon2 takes tens of ms: it runs on the auth worker, never on the net thread.
  bool queued = auth_worker_->post([this, row, password, txn_id] {
    static const std::string dummy = crypto::hash_password("not a real password");
    bool ok = crypto::verify_password(row ? row->password_hash : dummy, password) && row.has_value();
    post([this, row, ok, txn_id] {
      HttpTxn* t = find_txn(txn_id);
      if (!t) return;  // the client went away meanwhile
      if (!ok) return respond_json(t, 401, error_body("unauthorized", "wrong name or password"));
      std::string cookie = crypto::random_secret(32);
      int64_t expires = clock_.now_ms() + config_.auth_session_hours * 3600 * 1000;
      store::AuthSessionRow session{crypto::sha256_hex(cookie), row->id, expires};
      std::string set_cookie = "sabla_session=" + cookie + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                               std::to_string(config_.auth_session_hours * 3600) +
                               (config_.tls_cert.empty() ? "" : "; Secure");
      json reply = {{"name", row->name}, {"role", row->role}};
      if (!store_->save_auth_session(session, [this, txn_id, reply, set_cookie](Status s) {
            HttpTxn* t2 = find_txn(txn_id);
            if (!t2) return;
            if (!s) return respond_json(t2, 500, error_body("internal", "could not save the login"));
            respond_json(t2, 200, reply, {{"set-cookie", set_cookie}});
          }))
        respond_json(t, 503, error_body("busy", "try again"));
    });
  });
  if (!queued) respond_json(txn, 503, error_body("busy", "too many logins at once, try again"));
}

// The archive page's reads. They run on the net thread on their own
// read-only connection; each is bounded (paged scans, limits).
void NetServer::archive_api(lws* wsi, HttpTxn* txn, const Actor& actor) {
  if (txn->method != "GET") return respond_json(txn, 405, error_body("method_not_allowed", "use GET"));
  if (actor.role != "archivist" && actor.role != "producer")
    return respond_json(txn, 403, error_body("forbidden", "the archive is for archivists and producers"));
  auto arg = [&](const char* name) {
    char value[512] = {0};
    const char* v = lws_get_urlarg_by_name(wsi, name, value, sizeof(value));
    return std::string(v ? v : "");
  };
  auto number = [&](const char* name, int64_t fallback) {
    std::string v = arg(name);
    int64_t n = fallback;
    if (!v.empty()) {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 0) return int64_t{-1};
    }
    return n;
  };
  auto reply = [&](std::function<Result<json>()> query) { reply_from_reader(txn, std::move(query)); };
  const std::string db = config_.db_path();
  const std::string& path = txn->path;
  if (path == "/api/v1/archive/sessions") return reply([db] { return archive::session_summaries(db); });
  const std::string prefix = "/api/v1/archive/sessions/";
  if (path.rfind(prefix, 0) != 0) return respond_json(txn, 404, error_body("not_found", "no such route"));
  std::string rest = path.substr(prefix.size());
  auto slash = rest.find('/');
  auto id = parse_id(rest.substr(0, slash));
  std::string what = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (!id) return respond_json(txn, 404, error_body("not_found", "no such session"));
  const int64_t session = *id;
  if (what == "timeline") {
    const int64_t now = clock_.now_ms();  // an open on-air period runs to now
    return reply([db, session, now] { return archive::timeline(db, session, now); });
  }
  if (what == "top") {
    int64_t limit = number("limit=", 10);
    if (limit < 1) return respond_json(txn, 400, error_body("invalid", "limit must be a positive integer"));
    limit = std::min(limit, archive::kTopMaxLimit);
    return reply([db, session, limit] { return archive::top_comments(db, session, limit); });
  }
  if (what == "outcomes") return reply([db, session] { return archive::outcomes(db, session); });
  if (what == "comments") {
    int64_t limit = number("limit=", 100), offset = number("offset=", 0);
    if (limit < 1 || offset < 0) return respond_json(txn, 400, error_body("invalid", "limit and offset must be integers"));
    limit = std::min(limit, archive::kSearchMaxLimit);
    return reply([db, session, q = arg("q="), st = arg("status="), src = arg("source="), au = arg("author="), limit,
                  offset] { return archive::search_comments(db, session, q, st, src, au, limit, offset); });
  }
  respond_json(txn, 404, error_body("not_found", "no such route"));
}

// A search may scan a whole session (seconds for a million comments): it
// runs on the reader worker, never on the net thread, and the answer comes
// back through post() like a store completion.
void NetServer::reply_from_reader(HttpTxn* txn, std::function<Result<json>()> query) {
  const uint64_t txn_id = txn->id;
  bool queued = reader_worker_->post([this, txn_id, query = std::move(query)] {
    auto result = std::make_shared<Result<json>>(query());
    post([this, txn_id, result] {
      HttpTxn* t = find_txn(txn_id);
      if (!t) return;  // the client went away meanwhile
      const Result<json>& r = *result;
      if (r) return respond_json(t, 200, *r);
      const Status failure = r.status();  // by value: code() must not outlive it
      const std::string& code = failure.code();
      const int status = code == "not_found" ? 404 : code == "invalid" ? 400 : code == "timeout" ? 503 : 500;
      respond_json(t, status, error_body(status == 500 ? "internal" : code.c_str(), failure.message()));
    });
  });
  if (!queued) respond_json(txn, 503, error_body("busy", "too many archive queries at once, try again"));
}

// The public decisions register (archive/decisions.h): anyone may read it.
void NetServer::public_api(HttpTxn* txn) {
  if (txn->method != "GET" && txn->method != "HEAD")
    return respond_json(txn, 405, error_body("method_not_allowed", "use GET"));
  const std::string db = config_.db_path();
  const std::string& path = txn->path;
  if (path == "/api/v1/public/sessions") return reply_from_reader(txn, [db] { return archive::public_sessions(db); });
  const std::string prefix = "/api/v1/public/sessions/";
  const std::string suffix = "/decisions";
  if (path.rfind(prefix, 0) != 0 || path.size() <= prefix.size() + suffix.size() ||
      path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0)
    return respond_json(txn, 404, error_body("not_found", "no such route"));
  auto id = parse_id(path.substr(prefix.size(), path.size() - prefix.size() - suffix.size()));
  if (!id) return respond_json(txn, 404, error_body("not_found", "no such session"));
  const int64_t session = *id;
  reply_from_reader(txn, [db, session] { return archive::public_decisions(db, session); });
}

// The bridges (issue 14). GET /api/v1/bridges: each bridge's state for the
// studio. POST /api/v1/bridges/{name}: a webhook bridge's post, signed with
// X-Sabla-Signature: sha256=<hex HMAC-SHA256 of the raw body>; it then goes
// through Room::bridge_comment like the ingest API, with the bridge's name
// as its source. A bad or missing signature stores nothing (401).
void NetServer::bridges_api(lws* wsi, HttpTxn* txn, const std::optional<Actor>& actor) {
  const std::string& path = txn->path;
  if (path == "/api/v1/bridges") {
    if (txn->method != "GET" && txn->method != "HEAD")
      return respond_json(txn, 405, error_body("method_not_allowed", "use GET"));
    if (!actor) return respond_json(txn, 401, error_body("unauthorized", "log in or send a bearer token"));
    if (!actor->can_moderate() && actor->role != "archivist")
      return respond_json(txn, 403, error_body("forbidden", "the bridges are shown to the studio's roles"));
    json list = json::array();
    if (bridges_) {
      for (const bridges::BridgeState& b : bridges_->states()) {
        list.push_back({{"name", b.name},
                        {"kind", b.kind},
                        {"state", b.state},
                        {"poll_interval_ms", b.poll_interval_ms},
                        {"comments_in", b.comments_in},
                        {"duplicates", b.duplicates},
                        {"refused", b.refused},
                        {"requests", b.requests},
                        {"failures", b.failures},
                        {"last_error", b.last_error},
                        {"last_ok_ms", b.last_ok_ms ? json(b.last_ok_ms) : json()}});
      }
    }
    return respond_json(txn, 200, json{{"bridges", std::move(list)}});
  }
  const std::string name = path.substr(std::strlen("/api/v1/bridges/"));
  const auto webhook = std::find_if(config_.bridges.begin(), config_.bridges.end(), [&](const BridgeConfig& b) {
    return b.kind == "webhook" && b.name == name;
  });
  if (webhook == config_.bridges.end())
    return respond_json(txn, 404, error_body("not_found", "no webhook bridge has that name"));
  if (txn->method != "POST") return respond_json(txn, 405, error_body("method_not_allowed", "use POST"));
  char signature[128] = {0};
  constexpr const char* kHeader = "x-sabla-signature:";
  const int length = lws_hdr_custom_length(wsi, kHeader, static_cast<int>(std::strlen(kHeader)));
  if (length <= 0 || length >= static_cast<int>(sizeof(signature)) ||
      lws_hdr_custom_copy(wsi, signature, sizeof(signature), kHeader, static_cast<int>(std::strlen(kHeader))) < 0 ||
      !bridges::verify_signature(webhook->secret, txn->body, signature)) {
    if (bridges_) bridges_->webhook_refused(name, "a post with a bad or missing X-Sabla-Signature was refused");
    return respond_json(txn, 401, error_body("unauthorized", "X-Sabla-Signature must be sha256=<hex HMAC-SHA256 of the body>"));
  }
  auto body = json::parse(txn->body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    if (bridges_) bridges_->webhook_refused(name, "a post was not a JSON object");
    return respond_json(txn, 400, error_body("invalid", "send {\"author\",\"text\",\"external_id\"}"));
  }
  // The source is the bridge's name, whatever the body says.
  json comment{{"source", name}};
  for (const char* key : {"author", "text", "external_id"})
    if (auto it = body.find(key); it != body.end()) comment[key] = *it;
  auto session = room_->current_session_id();
  if (!session) return respond_json(txn, 409, error_body("no_session", "no session is live"));
  const uint64_t txn_id = txn->id;
  room_->bridge_comment(Actor{"bridge:" + name, "bridge"}, *session, comment, [this, txn_id, name](moderation::ApiReply r) {
    if (bridges_) {
      const bool duplicate = r.body.is_object() && r.body.value("duplicate", false);
      std::string error;
      if (r.status >= 300 && r.body.is_object() && r.body.contains("error") && r.body["error"].is_object())
        error = r.body["error"].value("message", "");
      bridges_->webhook_fed(name, bridges::feed_result(r.status, duplicate, error));
    }
    if (HttpTxn* t = find_txn(txn_id)) respond_json(t, r.status, r.body);
  });
}

// "ok" (200), or "degraded" (503) when a cluster node cannot reach Redis: a
// balancer's health check then takes it out of rotation.
json NetServer::health_json(int* status) {
  json body{{"status", "ok"}, {"version", SABLA_VERSION}};
  if (room_) {
    auto sid = room_->current_session_id();
    body["session"] = sid ? json(*sid) : json();
  }
  if (broker_) {
    bool healthy = true;
    body["cluster"] = broker_->health(&healthy);
    if (!healthy) {
      body["status"] = "degraded";
      *status = 503;
    }
  }
  return body;
}

void NetServer::dispatch_api(lws* wsi, HttpTxn* txn) {
  const std::string& path = txn->path;
  const bool get = txn->method == "GET" || txn->method == "HEAD";
  const bool post_method = txn->method == "POST";
  if (path == "/api/v1/health") {
    if (!get) return respond_json(txn, 405, error_body("method_not_allowed", "use GET"));
    int status = 200;
    json body = health_json(&status);
    return respond_json(txn, status, body);
  }
  if (path == "/metrics") {
    if (!get) return respond_json(txn, 405, error_body("method_not_allowed", "use GET"));
    if (!config_.metrics_public && !is_loopback(txn->ip))
      return respond_json(txn, 403, error_body("forbidden", "metrics are served to loopback only"));
    return respond(txn, 200, "text/plain; version=0.0.4; charset=utf-8", metrics_text());
  }
  if (!room_) return main_node_only(txn);  // an edge node: everything below lives on the main node
  if (path == "/api/v1/login") {
    if (!post_method) return respond_json(txn, 405, error_body("method_not_allowed", "use POST"));
    return login(wsi, txn);
  }
  bool via_cookie = false;
  auto actor = authenticate(wsi, &via_cookie);
  if (path == "/api/v1/logout") {
    if (!post_method) return respond_json(txn, 405, error_body("method_not_allowed", "use POST"));
    const std::string clear_cookie = "sabla_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";
    char value[128];
    size_t max = sizeof(value);
    if (lws_http_cookie_get(wsi, "sabla_session", value, &max) == 0) {
      std::string hash = crypto::sha256_hex(std::string(value, max));
      auth_cache_.erase(hash);
      // Answer only once the session is gone from disk: until then a request with
      // the cookie would still find it (and cache it again for a minute), so the
      // cache entry is dropped once more after the commit.
      const uint64_t txn_id = txn->id;
      if (!store_->delete_auth_session(hash, [this, txn_id, hash, clear_cookie](Status s) {
            auth_cache_.erase(hash);
            HttpTxn* t = find_txn(txn_id);
            if (!t) return;
            if (!s) return respond_json(t, 500, error_body("internal", "could not end the login"));
            respond_json(t, 200, json{{"ok", true}}, {{"set-cookie", clear_cookie}});
          }))
        respond_json(txn, 503, error_body("busy", "try again"));
      return;
    }
    return respond_json(txn, 200, json{{"ok", true}}, {{"set-cookie", clear_cookie}});
  }
  if (path == "/api/v1/me") {
    if (!actor) return respond_json(txn, 401, error_body("unauthorized", "not logged in"));
    return respond_json(txn, 200, json{{"name", actor->name}, {"role", actor->role}});
  }
  if (path.rfind("/api/v1/archive/", 0) == 0) {
    if (!actor) return respond_json(txn, 401, error_body("unauthorized", "log in first"));
    return archive_api(wsi, txn, *actor);
  }
  if (path.rfind("/api/v1/public/", 0) == 0) return public_api(txn);
  if (path == "/api/v1/bridges" || path.rfind("/api/v1/bridges/", 0) == 0) return bridges_api(wsi, txn, actor);
  if (path.rfind("/api/v1/comments/", 0) == 0) {
    // POST /api/v1/comments/{id}/outcome: a producer records management's response.
    const std::string prefix = "/api/v1/comments/";
    const std::string suffix = "/outcome";
    const bool shaped = path.size() > prefix.size() + suffix.size() &&
                        path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
    std::optional<int64_t> id;
    if (shaped) id = parse_id(path.substr(prefix.size(), path.size() - prefix.size() - suffix.size()));
    if (!id) return respond_json(txn, 404, error_body("not_found", "no such route"));
    if (!post_method) return respond_json(txn, 405, error_body("method_not_allowed", "use POST"));
    if (!actor) return respond_json(txn, 401, error_body("unauthorized", "log in or send a bearer token"));
    if (via_cookie && !origin_allowed(wsi, true)) return respond_json(txn, 403, error_body("forbidden", "origin not allowed"));
    auto body = json::parse(txn->body, nullptr, false);
    if (body.is_discarded()) return respond_json(txn, 400, error_body("invalid", "malformed JSON"));
    const uint64_t txn_id = txn->id;
    return room_->record_outcome(*actor, *id, body, [this, txn_id](moderation::ApiReply r) {
      if (HttpTxn* t = find_txn(txn_id)) respond_json(t, r.status, r.body);
    });
  }
  if (path.rfind("/api/v1/sessions", 0) != 0) return respond_json(txn, 404, error_body("not_found", "no such route"));
  if (!actor) return respond_json(txn, 401, error_body("unauthorized", "log in or send a bearer token"));
  const bool patch_method = txn->method == "PATCH";
  if ((post_method || patch_method) && via_cookie && !origin_allowed(wsi, true))
    return respond_json(txn, 403, error_body("forbidden", "origin not allowed"));

  const uint64_t txn_id = txn->id;
  auto done = [this, txn_id](moderation::ApiReply r) {
    if (HttpTxn* t = find_txn(txn_id)) respond_json(t, r.status, r.body);
  };
  if (path == "/api/v1/sessions") {
    if (get) {
      auto r = room_->list_sessions();
      return respond_json(txn, r.status, r.body);
    }
    if (!post_method) return respond_json(txn, 405, error_body("method_not_allowed", "use GET or POST"));
    auto body = json::parse(txn->body, nullptr, false);
    if (body.is_discarded()) return respond_json(txn, 400, error_body("invalid", "malformed JSON"));
    return room_->create_session(*actor, body, done);
  }
  // /api/v1/sessions/{id} and /api/v1/sessions/{id}/{live|end|comments|export|retention}
  if (path.rfind("/api/v1/sessions/", 0) != 0) return respond_json(txn, 404, error_body("not_found", "no such route"));
  std::string rest = path.substr(std::strlen("/api/v1/sessions/"));
  auto slash = rest.find('/');
  auto id = parse_id(rest.substr(0, slash));
  std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (!id || (!action.empty() && action != "live" && action != "end" && action != "comments" &&
              action != "export" && action != "retention") ||
      (action.empty() && slash != std::string::npos))
    return respond_json(txn, 404, error_body("not_found", "no such route"));
  if (action.empty()) {
    if (!patch_method) return respond_json(txn, 405, error_body("method_not_allowed", "use PATCH"));
    auto body = json::parse(txn->body, nullptr, false);
    if (body.is_discarded()) return respond_json(txn, 400, error_body("invalid", "malformed JSON"));
    return room_->rename_session(*actor, *id, body, done);
  }
  if (action == "retention") {
    if (!post_method) return respond_json(txn, 405, error_body("method_not_allowed", "use POST"));
    if (actor->role != "archivist" && actor->role != "producer")
      return respond_json(txn, 403, error_body("forbidden", "retention is set by archivists and producers"));
    auto body = json::parse(txn->body, nullptr, false);
    std::optional<int64_t> days;
    const bool valid = body.is_object() && body.contains("days") &&
                       (body["days"].is_null() ||
                        (body["days"].is_number_integer() && body["days"].get<int64_t>() >= 1 &&
                         body["days"].get<int64_t>() <= 36500));
    if (!valid)
      return respond_json(txn, 400, error_body("invalid", "send {\"days\": 1-36500} or {\"days\": null} to keep forever"));
    if (!body["days"].is_null()) days = body["days"].get<int64_t>();
    const int64_t session = *id;
    if (!store_->set_retention(session, days, [this, txn_id, session, days](Status st) {
          HttpTxn* t = find_txn(txn_id);
          if (!t) return;
          if (!st) {
            const bool missing = st.code() == "not_found";
            return respond_json(t, missing ? 404 : 500, error_body(missing ? "not_found" : "internal", st.message()));
          }
          respond_json(t, 200, json{{"id", session}, {"retention_days", days ? json(*days) : json()}});
        }))
      respond_json(txn, 503, error_body("busy", "the store is busy, try again"));
    return;
  }
  if (action == "export") {
    if (!get) return respond_json(txn, 405, error_body("method_not_allowed", "use GET"));
    if (actor->role != "archivist" && actor->role != "producer")
      return respond_json(txn, 403, error_body("forbidden", "exports are for archivists and producers"));
    char value[32] = {0};
    const char* f = lws_get_urlarg_by_name(wsi, "format=", value, sizeof(value));
    auto format = archive::parse_format(f ? f : "csv");
    if (!format)
      return respond_json(txn, 400, error_body("invalid", "format must be csv, json, ndjson, vtt, srt, chat-vtt, audit, polls, polls-json, decisions or decisions-json"));
    auto exporter = archive::Exporter::open(config_.db_path(), *id, *format);
    if (!exporter) {
      const bool missing = exporter.status().code() == "not_found";
      return respond_json(txn, missing ? 404 : 500, error_body(missing ? "not_found" : "internal", exporter.status().message()));
    }
    std::string disposition = "attachment; filename=\"" + (*exporter)->file_name() + "\"";
    std::string type = (*exporter)->content_type();
    txn->exporter = std::move(*exporter);
    return respond(txn, 200, type, {}, {{"content-disposition", disposition}});
  }
  if (!post_method) return respond_json(txn, 405, error_body("method_not_allowed", "use POST"));
  if (action == "live") return room_->set_session_live(*actor, *id, done);
  if (action == "end") return room_->end_session(*actor, *id, done);
  auto body = json::parse(txn->body, nullptr, false);
  if (body.is_discarded()) return respond_json(txn, 400, error_body("invalid", "malformed JSON"));
  return room_->bridge_comment(*actor, *id, body, done);
}

}  // namespace sabla::net
