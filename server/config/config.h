// All configuration in one struct. Sources, later ones win:
// embedded defaults < TOML file (--config) < SABLA_* environment < flags.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace sabla {

// One [[bridges]] table: a platform whose comments come into the moderation
// queue (server/bridges/, README "Bridges"). Credentials are never logged
// nor echoed in an error.
struct BridgeConfig {
  std::string kind;           // youtube | x | facebook | telegram | webhook
  std::string name;           // the `source` its comments carry; defaults to kind
  std::string live_chat_id;   // youtube: the chat, or
  std::string video_id;       // youtube: a live video whose activeLiveChatId is looked up
  std::string query;          // x: a recent-search query (a hashtag, conversation_id:…)
  std::string live_video_id;  // facebook: the live video's id
  std::string chat_id;        // telegram: only this chat ("" = every chat the bot is in)
  std::string api_key;        // youtube (or token); api_key_file, SABLA_BRIDGE_<NAME>_API_KEY
  std::string token;          // bearer/page/bot token; token_file, SABLA_BRIDGE_<NAME>_TOKEN
  std::string secret;         // webhook HMAC key; secret_file, SABLA_BRIDGE_<NAME>_SECRET
  std::string api_base;       // the platform's API root ("" = its public one); tests point it at loopback
  int poll_interval_ms = 0;   // between polls (0 = the kind's default; YouTube's own hint wins when longer)
  int backoff_ms = 1000;      // first wait after a 5xx or network error, doubled up to backoff_max_ms
  int backoff_max_ms = 60000;
};

struct Config {
  // [server]
  std::string bind = "0.0.0.0";      // SABLA_BIND
  int port = 8080;                    // SABLA_PORT, --port (0 = pick a free port)
  std::string data_dir = "data";      // SABLA_DATA, --data: sabla.db lives here
  std::string static_dir;             // SABLA_STATIC_DIR; empty = built-in path
  std::vector<std::string> allowed_origins;  // SABLA_ALLOWED_ORIGINS (comma separated); empty = same origin only
  // Balancers in front (e.g. nginx, docs/nginx/): for a connection from one
  // of these addresses the client's address is read from X-Forwarded-For,
  // so per-address limits and bans see viewers, not the balancer.
  std::vector<std::string> trusted_proxies;  // SABLA_TRUSTED_PROXIES (comma separated IP literals)
  std::string tls_cert;               // --tls-cert, SABLA_TLS_CERT
  std::string tls_key;                // --tls-key, SABLA_TLS_KEY
  bool metrics_public = false;        // serve /metrics to non-loopback clients
  std::string log_level = "info";     // SABLA_LOG_LEVEL: trace|debug|info|warn|error
  bool log_json = false;              // SABLA_LOG_JSON: one JSON object per log line

  // [store]
  bool synchronous_full = false;      // SABLA_SYNCHRONOUS=full|normal
  int batch_max = 256;                // operations per transaction
  int batch_delay_ms = 2;
  int writer_queue = 16384;
  // WAL pages after which a commit also checkpoints the WAL into the main
  // file (SQLite's own default is 1000). Tests set it low to exercise
  // crashes during checkpoints.
  int wal_autocheckpoint = 1000;      // SABLA_WAL_AUTOCHECKPOINT

  // [limits]
  int max_frame_bytes = 64 * 1024;
  int max_comment_chars = 500;        // default for settings.max_length
  int max_name_chars = 32;
  int max_connections_per_ip = 64;
  double comment_burst = 5;           // token bucket per viewer
  double comments_per_second = 0.5;
  double votes_per_second = 5;
  // Ballots one IP address may cast in one poll (0: no cap). Viewers behind
  // one NAT share an address, so the default is generous.
  int poll_votes_per_ip = 50;
  int feed_size = 50;                 // approved comments in `welcome`
  int fanout_tick_ms = 50;            // viewer deliveries are coalesced per tick
  int viewer_backlog = 4096;          // ring of viewer-bound messages; laggers are culled
  int login_attempts_per_minute = 10;

  // [video] — the program pipeline (docs: pipeline/README.md)
  std::string video_source = "testcard";  // SABLA_VIDEO_SOURCE: testcard | srt://:PORT | rtsp://… | rtmp://… |
                                          // http(s)://… | file://… | loop:/path | off (no video)
  // An SRT source's security (README, "From OBS"): the passphrase (10-79
  // characters, never logged) encrypts the stream and refuses other senders;
  // pbkeylen 16/24/32 (0 = SRT's default); a listener with a stream id takes
  // only callers that send it. SABLA_SRT_PASSPHRASE, SABLA_SRT_PBKEYLEN,
  // SABLA_SRT_STREAMID.
  std::string srt_passphrase;
  int srt_pbkeylen = 0;
  std::string srt_streamid;
  int video_width = 1280;                 // SABLA_VIDEO_SIZE=WxH
  int video_height = 720;
  int video_fps = 30;
  int video_bitrate_kbps = 2500;
  std::string video_preset = "veryfast";  // x264 speed preset
  bool recording = true;                  // SABLA_RECORDING: program recording in DATA/recordings
  int recording_segment_minutes = 10;
  std::vector<std::string> restream_urls;  // SABLA_RESTREAM_URLS (comma separated); keys are never logged

  // [session]
  std::string default_title_ar = "جلسة سبلة";
  std::string default_title_en = "Sabla session";
  int64_t auth_session_hours = 12;
  // Display names viewers may not imitate (confusable skeletons), besides the
  // studio accounts, the speaker on the lower third and the staff words of
  // server/moderation/names.cpp. SABLA_PROTECTED_NAMES (comma separated).
  std::vector<std::string> protected_names;
  // The pages' language until a visitor picks one (remembered in their
  // browser): "ar" or "en", whatever the browser's own language.
  std::string default_language = "ar";  // SABLA_DEFAULT_LANGUAGE

  // [cluster] — several nodes over Redis (docs/cluster.md). Without redis
  // the server is the one embedded node, as always.
  std::string cluster_redis;         // SABLA_REDIS, --redis: redis://[:password@]host[:port][/db]
  bool cluster_edge = false;         // SABLA_EDGE=1, --edge: an edge node (no store, no pipeline)
  std::string cluster_main_url;      // SABLA_MAIN_URL, --main-url: where studio, archive and API live
  std::string cluster_node;          // SABLA_NODE: this node's name in counts ("" = kind-host-pid)
  bool cluster_share_port = false;   // SABLA_SHARE_PORT, --share-port: listen with SO_REUSEPORT
  std::string cluster_secret;        // SABLA_CLUSTER_SECRET: signs viewer tokens ("" = the main's own,
                                     // kept in DATA/cluster.secret and shared through Redis)
  bool clustered() const { return !cluster_redis.empty(); }

  // [[bridges]] — platform comments into the queue (issue 14)
  std::vector<BridgeConfig> bridges;

  std::string db_path() const { return data_dir + "/sabla.db"; }
};

// Where Redis is, from a redis:// URL.
struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int db = 0;
};
Result<RedisAddress> parse_redis_url(const std::string& url);

// Reads a TOML file into `config` (only keys present change it). Unknown
// keys are an error so typos do not pass silently.
Status load_config_file(const std::string& path, Config& config);
// Applies SABLA_* variables from `env` (name -> value).
Status apply_environment(const std::map<std::string, std::string>& env, Config& config);
// The process environment's SABLA_* variables.
std::map<std::string, std::string> sabla_environment();
// The environment variable that holds a bridge's credential: `what` is
// TOKEN, API_KEY or SECRET; SABLA_BRIDGE_<NAME>_<WHAT>, the name upper-cased
// with '-' and '.' as '_'.
std::string bridge_env_name(const std::string& bridge_name, const std::string& what);
// Checks ranges and combinations after all sources were applied (port
// 0-65535, positive limits, known log level, TLS cert and key together).
Status validate(const Config& config);

}  // namespace sabla
