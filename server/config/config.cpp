#include "config/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string_view>
#include <system_error>

#include <toml++/toml.h>

// POSIX leaves `environ` undeclared unless asked; declaring it ourselves does
// not depend on feature-test macros.
extern "C" char** environ;

namespace sabla {
namespace {

Status config_error(std::string message) { return Status::error("config", std::move(message)); }

// ---- TOML file ----

std::string type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// Where a value came from, so every error names file, line, table and key.
struct Where {
  const std::string& file;
  std::string_view table;
  std::string_view key;
};

Status fail(const Where& w, const toml::node& node, const std::string& message) {
  return config_error(w.file + ":" + std::to_string(node.source().begin.line) + ": [" +
                      std::string(w.table) + "] " + std::string(w.key) + ": " + message);
}

Status expected(const Where& w, const toml::node& node, const std::string& what) {
  return fail(w, node, "expected " + what + ", got " + type_name(node));
}

using Handler = std::function<Status(const toml::node&, const Where&)>;

Handler string_into(std::string& out) {
  return [&out](const toml::node& node, const Where& w) {
    const auto* v = node.as_string();
    if (!v) return expected(w, node, "a string");
    out = v->get();
    return Status::ok();
  };
}

Handler bool_into(bool& out) {
  return [&out](const toml::node& node, const Where& w) {
    const auto* v = node.as_boolean();
    if (!v) return expected(w, node, "a boolean (true or false)");
    out = v->get();
    return Status::ok();
  };
}

Handler int64_into(int64_t& out) {
  return [&out](const toml::node& node, const Where& w) {
    const auto* v = node.as_integer();
    if (!v) return expected(w, node, "an integer");
    out = v->get();
    return Status::ok();
  };
}

Handler int_into(int& out) {
  return [&out](const toml::node& node, const Where& w) {
    const auto* v = node.as_integer();
    if (!v) return expected(w, node, "an integer");
    const int64_t x = v->get();
    // Narrowing silently would turn a huge value into a small or negative one.
    if (x < INT_MIN || x > INT_MAX) return fail(w, node, "integer " + std::to_string(x) + " is out of range");
    out = static_cast<int>(x);
    return Status::ok();
  };
}

Handler double_into(double& out) {
  return [&out](const toml::node& node, const Where& w) {
    // `burst = 5` is as natural to write as `burst = 5.0`.
    if (const auto* i = node.as_integer()) {
      out = static_cast<double>(i->get());
      return Status::ok();
    }
    const auto* f = node.as_floating_point();
    if (!f) return expected(w, node, "a number");
    if (!std::isfinite(f->get())) return fail(w, node, "must be a finite number");
    out = f->get();
    return Status::ok();
  };
}

Handler string_list_into(std::vector<std::string>& out) {
  return [&out](const toml::node& node, const Where& w) {
    const auto* array = node.as_array();
    if (!array) return expected(w, node, "an array of strings");
    std::vector<std::string> values;
    for (const toml::node& element : *array) {
      const auto* s = element.as_string();
      if (!s) return fail(w, element, "expected an array of strings, but an element is " + type_name(element));
      values.push_back(s->get());
    }
    out = std::move(values);
    return Status::ok();
  };
}

Handler synchronous_into(bool& full) {
  return [&full](const toml::node& node, const Where& w) {
    const auto* v = node.as_string();
    if (!v) return expected(w, node, "\"normal\" or \"full\"");
    if (v->get() == "full") {
      full = true;
    } else if (v->get() == "normal") {
      full = false;
    } else {
      return fail(w, node, "expected \"normal\" or \"full\", got \"" + v->get() + "\"");
    }
    return Status::ok();
  };
}

using TableHandlers = std::map<std::string, Handler, std::less<>>;

std::map<std::string, TableHandlers, std::less<>> file_handlers(Config& c) {
  return {
      {"server",
       {{"port", int_into(c.port)},
        {"bind", string_into(c.bind)},
        {"data_dir", string_into(c.data_dir)},
        {"static_dir", string_into(c.static_dir)},
        {"allowed_origins", string_list_into(c.allowed_origins)},
        {"trusted_proxies", string_list_into(c.trusted_proxies)},
        {"tls_cert", string_into(c.tls_cert)},
        {"tls_key", string_into(c.tls_key)},
        {"metrics_public", bool_into(c.metrics_public)},
        {"log_level", string_into(c.log_level)},
        {"log_json", bool_into(c.log_json)}}},
      {"store",
       {{"synchronous", synchronous_into(c.synchronous_full)},
        {"batch_max", int_into(c.batch_max)},
        {"batch_delay_ms", int_into(c.batch_delay_ms)},
        {"writer_queue", int_into(c.writer_queue)},
        {"wal_autocheckpoint", int_into(c.wal_autocheckpoint)}}},
      {"limits",
       {{"max_frame_bytes", int_into(c.max_frame_bytes)},
        {"max_comment_chars", int_into(c.max_comment_chars)},
        {"max_name_chars", int_into(c.max_name_chars)},
        {"max_connections_per_ip", int_into(c.max_connections_per_ip)},
        {"comment_burst", double_into(c.comment_burst)},
        {"comments_per_second", double_into(c.comments_per_second)},
        {"votes_per_second", double_into(c.votes_per_second)},
        {"poll_votes_per_ip", int_into(c.poll_votes_per_ip)},
        {"feed_size", int_into(c.feed_size)},
        {"fanout_tick_ms", int_into(c.fanout_tick_ms)},
        {"viewer_backlog", int_into(c.viewer_backlog)},
        {"login_attempts_per_minute", int_into(c.login_attempts_per_minute)}}},
      {"video",
       {{"source", string_into(c.video_source)},
        {"srt_passphrase", string_into(c.srt_passphrase)},
        {"srt_pbkeylen", int_into(c.srt_pbkeylen)},
        {"srt_streamid", string_into(c.srt_streamid)},
        {"width", int_into(c.video_width)},
        {"height", int_into(c.video_height)},
        {"fps", int_into(c.video_fps)},
        {"bitrate_kbps", int_into(c.video_bitrate_kbps)},
        {"preset", string_into(c.video_preset)},
        {"recording", bool_into(c.recording)},
        {"recording_segment_minutes", int_into(c.recording_segment_minutes)},
        {"restream_urls", string_list_into(c.restream_urls)}}},
      {"cluster",
       {{"redis", string_into(c.cluster_redis)},
        {"edge", bool_into(c.cluster_edge)},
        {"main_url", string_into(c.cluster_main_url)},
        {"node", string_into(c.cluster_node)},
        {"share_port", bool_into(c.cluster_share_port)},
        {"secret", string_into(c.cluster_secret)}}},
      {"session",
       {{"default_title_ar", string_into(c.default_title_ar)},
        {"default_title_en", string_into(c.default_title_en)},
        {"auth_session_hours", int64_into(c.auth_session_hours)},
        {"protected_names", string_list_into(c.protected_names)},
        {"default_language", string_into(c.default_language)}}},
  };
}

// ---- [[bridges]] ----

constexpr const char* kBridgeKinds = "youtube, x, facebook, telegram or webhook";

bool known_bridge_kind(const std::string& kind) {
  return kind == "youtube" || kind == "x" || kind == "facebook" || kind == "telegram" || kind == "webhook";
}

// The keys each kind uses besides kind, name and credentials' files; any
// other key in its table is an error (a typo, or an id of another platform).
bool bridge_key_fits(const std::string& kind, std::string_view key) {
  static const std::map<std::string, std::vector<std::string_view>, std::less<>> kKeys = {
      {"youtube", {"live_chat_id", "video_id", "api_key", "api_key_file", "token", "token_file"}},
      {"x", {"query", "token", "token_file"}},
      {"facebook", {"live_video_id", "token", "token_file"}},
      {"telegram", {"chat_id", "token", "token_file"}},
      {"webhook", {"secret", "secret_file"}},
  };
  if (key == "kind" || key == "name") return true;
  const bool polls = kind != "webhook";
  if (polls && (key == "api_base" || key == "poll_interval_ms" || key == "backoff_ms" || key == "backoff_max_ms"))
    return true;
  auto it = kKeys.find(kind);
  return it != kKeys.end() && std::find(it->second.begin(), it->second.end(), key) != it->second.end();
}

// A credential file's content, trimmed (a trailing newline is usual). A
// relative path is taken from the config file's directory. The error never
// shows the content.
Status read_secret_file(const std::string& config_file, const std::string& path, std::string& out,
                        const std::string& where) {
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::path(config_file).parent_path() / p;
  // A FIFO or a device could block the start or never end.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p, ec)) return config_error(where + ": " + p.string() + " is not a readable file");
  std::ifstream in(p, std::ios::binary);
  if (!in) return config_error(where + ": cannot read " + p.string());
  std::string content(4097, '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<size_t>(in.gcount()));
  if (content.size() > 4096) return config_error(where + ": " + p.string() + " is longer than 4096 bytes");
  const auto space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; };
  while (!content.empty() && space(content.back())) content.pop_back();
  while (!content.empty() && space(content.front())) content.erase(content.begin());
  if (content.empty()) return config_error(where + ": " + p.string() + " is empty");
  out = std::move(content);
  return Status::ok();
}

Status parse_bridges(const std::string& file, const toml::node& node, std::vector<BridgeConfig>& out) {
  const std::string line = std::to_string(node.source().begin.line);
  const auto* array = node.as_array();
  if (!array)
    return config_error(file + ":" + line + ": 'bridges' must be an array of tables: write [[bridges]], got " +
                        type_name(node));
  std::vector<BridgeConfig> bridges;
  for (const toml::node& element : *array) {
    const std::string at = file + ":" + std::to_string(element.source().begin.line) + ": [[bridges]] #" +
                           std::to_string(bridges.size() + 1);
    const auto* table = element.as_table();
    if (!table) return config_error(at + ": expected a table, got " + type_name(element));
    BridgeConfig b;
    const auto* kind = table->get("kind");
    if (!kind || !kind->is_string()) return config_error(at + ": kind must be given as a string (" + kBridgeKinds + ")");
    b.kind = kind->as_string()->get();
    if (!known_bridge_kind(b.kind))
      return config_error(at + ": unknown kind \"" + b.kind + "\" (expected " + kBridgeKinds + ")");
    std::string token_file, api_key_file, secret_file;
    const std::string table_label = "[[bridges]] #" + std::to_string(bridges.size() + 1);
    const TableHandlers handlers = {
        {"kind", string_into(b.kind)},
        {"name", string_into(b.name)},
        {"live_chat_id", string_into(b.live_chat_id)},
        {"video_id", string_into(b.video_id)},
        {"query", string_into(b.query)},
        {"live_video_id", string_into(b.live_video_id)},
        {"chat_id",
         [&b](const toml::node& n, const Where& w) {
           // Telegram chat ids are integers (-100… for groups and channels) or @usernames.
           if (const auto* i = n.as_integer()) {
             b.chat_id = std::to_string(i->get());
             return Status::ok();
           }
           if (const auto* str = n.as_string()) {
             b.chat_id = str->get();
             return Status::ok();
           }
           return expected(w, n, "an integer or a string");
         }},
        {"api_key", string_into(b.api_key)},
        {"api_key_file", string_into(api_key_file)},
        {"token", string_into(b.token)},
        {"token_file", string_into(token_file)},
        {"secret", string_into(b.secret)},
        {"secret_file", string_into(secret_file)},
        {"api_base", string_into(b.api_base)},
        {"poll_interval_ms", int_into(b.poll_interval_ms)},
        {"backoff_ms", int_into(b.backoff_ms)},
        {"backoff_max_ms", int_into(b.backoff_max_ms)},
    };
    for (auto&& [key, value] : *table) {
      const std::string key_line = file + ":" + std::to_string(key.source().begin.line) + ": " + table_label;
      auto handler = handlers.find(key.str());
      if (handler == handlers.end())
        return config_error(key_line + ": unknown key '" + std::string(key.str()) + "'");
      if (!bridge_key_fits(b.kind, key.str()))
        return config_error(key_line + ": a bridge of kind " + b.kind + " has no '" + std::string(key.str()) + "'");
      const Where where{file, table_label, key.str()};
      if (Status s = handler->second(value, where); !s) return s;
    }
    if (b.name.empty()) b.name = b.kind;
    const auto from_file = [&](const std::string& path, std::string& field, const char* what) -> Status {
      if (path.empty()) return Status::ok();
      if (!field.empty()) return config_error(at + ": give " + what + " or " + what + "_file, not both");
      return read_secret_file(file, path, field, at + " " + what + "_file");
    };
    if (Status s = from_file(token_file, b.token, "token"); !s) return s;
    if (Status s = from_file(api_key_file, b.api_key, "api_key"); !s) return s;
    if (Status s = from_file(secret_file, b.secret, "secret"); !s) return s;
    bridges.push_back(std::move(b));
  }
  out = std::move(bridges);
  return Status::ok();
}

Status apply_table(const std::string& file, const toml::table& root, Config& out) {
  // Values land in a copy so a file with an error leaves `out` untouched.
  Config config = out;
  const auto handlers = file_handlers(config);
  for (auto&& [table_key, table_node] : root) {
    const std::string_view table_name = table_key.str();
    const std::string line = std::to_string(table_key.source().begin.line);
    if (table_name == "bridges") {
      if (Status s = parse_bridges(file, table_node, config.bridges); !s) return s;
      continue;
    }
    auto known = handlers.find(table_name);
    if (known == handlers.end()) {
      if (!table_node.is_table()) {
        return config_error(file + ":" + line + ": key '" + std::string(table_name) +
                            "' must be inside a table: [server], [store], [limits], [video], [session], [cluster] or [[bridges]]");
      }
      return config_error(file + ":" + line + ": unknown table [" + std::string(table_name) +
                          "] (expected [server], [store], [limits], [video], [session], [cluster] or [[bridges]])");
    }
    const auto* table = table_node.as_table();
    if (!table) {
      return config_error(file + ":" + line + ": '" + std::string(table_name) + "' must be a table, got " +
                          type_name(table_node));
    }
    for (auto&& [key, node] : *table) {
      const Where where{file, table_name, key.str()};
      auto handler = known->second.find(key.str());
      if (handler == known->second.end()) {
        return config_error(file + ":" + std::to_string(key.source().begin.line) + ": unknown key '" +
                            std::string(key.str()) + "' in [" + std::string(table_name) + "]");
      }
      if (Status s = handler->second(node, where); !s) return s;
    }
  }
  out = std::move(config);
  return Status::ok();
}

Status parse_failure(const std::string& file, const toml::parse_error& e) {
  return config_error(file + ":" + std::to_string(e.source().begin.line) + ":" +
                      std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
}

// ---- Environment ----

std::string_view trim(std::string_view s) {
  const auto space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

Status env_error(const std::string& name, const std::string& value, const std::string& what) {
  return config_error(name + "='" + value + "': expected " + what);
}

bool parse_int(std::string_view text, int& out) {
  text = trim(text);
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return false;
  out = value;
  return true;
}

bool parse_double(std::string_view text, double& out) {
  text = trim(text);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return false;
  out = value;
  return true;
}

bool parse_bool(std::string_view text, bool& out) {
  const std::string v = ascii_lower(trim(text));
  if (v == "1" || v == "true") {
    out = true;
  } else if (v == "0" || v == "false") {
    out = false;
  } else {
    return false;
  }
  return true;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

using EnvHandler = std::function<Status(const std::string& name, const std::string& value)>;

EnvHandler env_string(std::string& out) {
  return [&out](const std::string&, const std::string& value) {
    out = value;
    return Status::ok();
  };
}

EnvHandler env_int(int& out) {
  return [&out](const std::string& name, const std::string& value) {
    return parse_int(value, out) ? Status::ok() : env_error(name, value, "an integer");
  };
}

EnvHandler env_double(double& out) {
  return [&out](const std::string& name, const std::string& value) {
    return parse_double(value, out) ? Status::ok() : env_error(name, value, "a number");
  };
}

EnvHandler env_bool(bool& out) {
  return [&out](const std::string& name, const std::string& value) {
    return parse_bool(value, out) ? Status::ok() : env_error(name, value, "1, true, 0 or false");
  };
}

bool valid_origin(const std::string& origin) {
  // Browsers send Origin as scheme://host[:port] with no path; anything else
  // could never match, so it is better rejected at start-up.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (origin.rfind(scheme, 0) == 0) {
      const std::string_view rest = std::string_view(origin).substr(scheme.size());
      return !rest.empty() && rest.find('/') == std::string_view::npos;
    }
  }
  return false;
}

Status validate_cluster(const Config& c) {
  if (c.cluster_edge && c.cluster_redis.empty())
    return config_error("an edge node needs Redis: set [cluster] redis (or SABLA_REDIS, --redis)");
  if (!c.cluster_redis.empty()) {
    auto address = parse_redis_url(c.cluster_redis);
    if (!address) return config_error("[cluster] redis: " + address.status().message());
  }
  if (!c.cluster_main_url.empty()) {
    const bool web = c.cluster_main_url.rfind("http://", 0) == 0 || c.cluster_main_url.rfind("https://", 0) == 0;
    if (!web || c.cluster_main_url.size() > 200)
      return config_error("[cluster] main_url must be an http:// or https:// URL (got '" + c.cluster_main_url + "')");
  }
  if (c.cluster_node.size() > 64 || !std::all_of(c.cluster_node.begin(), c.cluster_node.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
               ch == '_' || ch == '.';
      }))
    return config_error("[cluster] node must be at most 64 characters of a-z, A-Z, 0-9, '-', '_', '.'");
  if (!c.cluster_secret.empty() && c.cluster_secret.size() < 16)
    return config_error("[cluster] secret must be at least 16 characters");
  return Status::ok();
}

bool valid_bridge_name(const std::string& s) {
  // The same rule as the ingest API's `source` (room_comments.cpp).
  if (s.empty() || s.size() > 32 || s == "web") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

// Errors name the bridge and the field, never a credential's value.
Status validate_bridges(const std::vector<BridgeConfig>& bridges) {
  std::vector<std::string> names;
  for (const BridgeConfig& b : bridges) {
    const std::string at = "bridge \"" + b.name + "\" (" + b.kind + "): ";
    if (!known_bridge_kind(b.kind))
      return config_error("bridge \"" + b.name + "\": unknown kind \"" + b.kind + "\" (expected " + kBridgeKinds + ")");
    if (!valid_bridge_name(b.name))
      return config_error("bridge name \"" + b.name +
                          "\" must be 1-32 characters of a-z, 0-9, '.', '-', '_' and not \"web\" (it is the comments' source)");
    if (std::find(names.begin(), names.end(), b.name) != names.end())
      return config_error(at + "two bridges have this name: give each its own name (the source its comments carry)");
    names.push_back(b.name);
    const std::string token_env = bridge_env_name(b.name, "TOKEN");
    if (b.kind == "youtube") {
      if (b.live_chat_id.empty() == b.video_id.empty())
        return config_error(at + "give live_chat_id or video_id (one of them)");
      if (b.api_key.empty() && b.token.empty())
        return config_error(at + "needs api_key (api_key_file, " + bridge_env_name(b.name, "API_KEY") +
                            ") or an OAuth token (token_file, " + token_env + ")");
    } else if (b.kind == "x") {
      if (b.query.empty()) return config_error(at + "needs query (a hashtag or conversation_id:…)");
      if (b.query.size() > 4096) return config_error(at + "query is longer than 4096 characters");
      if (b.token.empty()) return config_error(at + "needs a bearer token (token, token_file or " + token_env + ")");
    } else if (b.kind == "facebook") {
      if (b.live_video_id.empty()) return config_error(at + "needs live_video_id");
      if (b.token.empty())
        return config_error(at + "needs a page access token (token, token_file or " + token_env + ")");
    } else if (b.kind == "telegram") {
      if (b.token.empty()) return config_error(at + "needs the bot token (token, token_file or " + token_env + ")");
    } else if (b.kind == "webhook") {
      if (b.secret.size() < 16)
        return config_error(at + "needs a secret of at least 16 characters (secret, secret_file or " +
                            bridge_env_name(b.name, "SECRET") + ")");
    }
    // Ids go into URLs: printable ASCII only, so none can smuggle a path or header.
    for (const std::string* id : {&b.live_chat_id, &b.video_id, &b.live_video_id, &b.chat_id}) {
      if (id->size() > 256 || !std::all_of(id->begin(), id->end(), [](char ch) { return ch > ' ' && ch < 127; }))
        return config_error(at + "an id must be at most 256 printable ASCII characters without spaces");
    }
    for (const std::string* secret : {&b.token, &b.api_key, &b.secret}) {
      if (!std::all_of(secret->begin(), secret->end(), [](char ch) { return ch >= ' ' && ch < 127; }))
        return config_error(at + "a credential must be printable ASCII (the value is not shown)");
    }
    if (b.kind == "webhook") continue;
    if (!b.api_base.empty()) {
      const bool web = b.api_base.rfind("http://", 0) == 0 || b.api_base.rfind("https://", 0) == 0;
      if (!web || b.api_base.size() > 300 || b.api_base.find_first_of(" \r\n?#") != std::string::npos)
        return config_error(at + "api_base must be an http:// or https:// URL without query (got '" + b.api_base + "')");
    }
    if (b.poll_interval_ms != 0 && (b.poll_interval_ms < 50 || b.poll_interval_ms > 3'600'000))
      return config_error(at + "poll_interval_ms must be 0 (the platform's default) or 50 to 3600000");
    if (b.backoff_ms < 10 || b.backoff_ms > 600'000) return config_error(at + "backoff_ms must be 10 to 600000");
    if (b.backoff_max_ms < b.backoff_ms || b.backoff_max_ms > 3'600'000)
      return config_error(at + "backoff_max_ms must be from backoff_ms to 3600000");
  }
  if (bridges.size() > 32) return config_error("at most 32 bridges");
  return Status::ok();
}

}  // namespace

std::string bridge_env_name(const std::string& bridge_name, const std::string& what) {
  std::string out = "SABLA_BRIDGE_";
  for (char ch : bridge_name) {
    if (ch >= 'a' && ch <= 'z') out += static_cast<char>(ch - 'a' + 'A');
    else if (ch == '-' || ch == '.') out += '_';
    else out += ch;
  }
  return out + "_" + what;
}

Result<RedisAddress> parse_redis_url(const std::string& url) {
  const std::string scheme = "redis://";
  if (url.rfind(scheme, 0) != 0) return Status::error("invalid", "expected redis://host[:port][/db], got '" + url + "'");
  std::string rest = url.substr(scheme.size());
  RedisAddress a;
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string auth = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // redis://:password@host or redis://user:password@host (the user is not used by Redis 7 AUTH default).
    auto colon = auth.find(':');
    a.password = colon == std::string::npos ? auth : auth.substr(colon + 1);
  }
  std::string db;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string port;
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  if (!rest.empty()) a.host = rest;
  if (!port.empty() && (!parse_int(port, a.port) || a.port < 1 || a.port > 65535))
    return Status::error("invalid", "bad port in '" + url + "'");
  if (!db.empty() && (!parse_int(db, a.db) || a.db < 0 || a.db > 15))
    return Status::error("invalid", "bad database number in '" + url + "'");
  return a;
}

Status load_config_file(const std::string& path, Config& config) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return config_error(path + ": config file not found");
#if TOML_EXCEPTIONS
  try {
    toml::table root = toml::parse_file(path);
    return apply_table(path, root, config);
  } catch (const toml::parse_error& e) {
    return parse_failure(path, e);
  } catch (const std::exception& e) {
    return config_error(path + ": " + e.what());
  }
#else
  toml::parse_result result = toml::parse_file(path);
  if (!result) return parse_failure(path, result.error());
  return apply_table(path, result.table(), config);
#endif
}

Status apply_environment(const std::map<std::string, std::string>& env, Config& out) {
  Config config = out;
  const std::map<std::string, EnvHandler> handlers = {
      {"SABLA_PORT", env_int(config.port)},
      {"SABLA_BIND", env_string(config.bind)},
      {"SABLA_DATA", env_string(config.data_dir)},
      {"SABLA_STATIC_DIR", env_string(config.static_dir)},
      {"SABLA_ALLOWED_ORIGINS",
       [&config](const std::string&, const std::string& value) {
         config.allowed_origins = split_list(value);
         return Status::ok();
       }},
      {"SABLA_TRUSTED_PROXIES",
       [&config](const std::string&, const std::string& value) {
         config.trusted_proxies = split_list(value);
         return Status::ok();
       }},
      {"SABLA_PROTECTED_NAMES",
       [&config](const std::string&, const std::string& value) {
         config.protected_names = split_list(value);
         return Status::ok();
       }},
      {"SABLA_DEFAULT_LANGUAGE", env_string(config.default_language)},
      {"SABLA_TLS_CERT", env_string(config.tls_cert)},
      {"SABLA_TLS_KEY", env_string(config.tls_key)},
      {"SABLA_LOG_LEVEL", env_string(config.log_level)},
      {"SABLA_LOG_JSON", env_bool(config.log_json)},
      {"SABLA_SYNCHRONOUS",
       [&config](const std::string& name, const std::string& value) {
         const std::string v = ascii_lower(trim(value));
         if (v == "full") {
           config.synchronous_full = true;
         } else if (v == "normal") {
           config.synchronous_full = false;
         } else {
           return env_error(name, value, "normal or full");
         }
         return Status::ok();
       }},
      {"SABLA_WAL_AUTOCHECKPOINT", env_int(config.wal_autocheckpoint)},
      {"SABLA_METRICS_PUBLIC", env_bool(config.metrics_public)},
      {"SABLA_MAX_CONNECTIONS_PER_IP", env_int(config.max_connections_per_ip)},
      {"SABLA_COMMENTS_PER_SECOND", env_double(config.comments_per_second)},
      {"SABLA_COMMENT_BURST", env_double(config.comment_burst)},
      {"SABLA_VIDEO_SOURCE", env_string(config.video_source)},
      {"SABLA_SRT_PASSPHRASE", env_string(config.srt_passphrase)},
      {"SABLA_SRT_PBKEYLEN", env_int(config.srt_pbkeylen)},
      {"SABLA_SRT_STREAMID", env_string(config.srt_streamid)},
      {"SABLA_VIDEO_SIZE",
       [&config](const std::string& name, const std::string& value) {
         int w = 0, h = 0;
         char x = 0;
         std::istringstream in(value);
         if (!(in >> w >> x >> h) || x != 'x' || !in.eof()) return env_error(name, value, "WIDTHxHEIGHT, e.g. 1280x720");
         config.video_width = w;
         config.video_height = h;
         return Status::ok();
       }},
      {"SABLA_RECORDING", env_bool(config.recording)},
      {"SABLA_REDIS", env_string(config.cluster_redis)},
      {"SABLA_EDGE", env_bool(config.cluster_edge)},
      {"SABLA_MAIN_URL", env_string(config.cluster_main_url)},
      {"SABLA_NODE", env_string(config.cluster_node)},
      {"SABLA_SHARE_PORT", env_bool(config.cluster_share_port)},
      {"SABLA_CLUSTER_SECRET", env_string(config.cluster_secret)},
      {"SABLA_RESTREAM_URLS",
       [&config](const std::string&, const std::string& value) {
         config.restream_urls = split_list(value);
         return Status::ok();
       }},
  };
  // A bridge's credentials from the environment win over the file (a
  // secret store or systemd's environment files keep them out of the TOML).
  for (BridgeConfig& b : config.bridges) {
    const std::pair<const char*, std::string*> credentials[] = {
        {"TOKEN", &b.token}, {"API_KEY", &b.api_key}, {"SECRET", &b.secret}};
    for (const auto& [what, field] : credentials) {
      auto it = env.find(bridge_env_name(b.name, what));
      if (it != env.end() && !trim(it->second).empty()) *field = std::string(trim(it->second));
    }
  }
  for (const auto& [name, value] : env) {
    // Other SABLA_* names may belong to scripts or later versions; ignoring
    // them keeps old binaries working in newer environments.
    auto handler = handlers.find(name);
    if (handler == handlers.end()) continue;
    if (Status s = handler->second(name, value); !s) return s;
  }
  out = std::move(config);
  return Status::ok();
}

std::map<std::string, std::string> sabla_environment() {
  std::map<std::string, std::string> env;
  if (environ == nullptr) return env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (text.rfind("SABLA_", 0) != 0) continue;
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

Status validate(const Config& c) {
  const auto positive = [](const char* name, auto value) -> Status {
    if (value > 0) return Status::ok();
    return config_error(std::string(name) + " must be positive (got " + std::to_string(value) + ")");
  };
  if (c.port < 0 || c.port > 65535) {
    return config_error("port must be between 0 and 65535 (got " + std::to_string(c.port) + ")");
  }
  if (c.bind.empty()) return config_error("bind must not be empty");
  if (c.data_dir.empty()) return config_error("data_dir must not be empty");
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return config_error("tls_cert and tls_key must be given together");
  }
  for (const std::string& origin : c.allowed_origins) {
    if (!valid_origin(origin)) {
      return config_error("allowed_origins: '" + origin +
                          "' is not an origin like https://example.org (scheme and host, no path)");
    }
  }
  for (const std::string& proxy : c.trusted_proxies) {
    in6_addr a6;
    in_addr a4;
    if (inet_pton(AF_INET, proxy.c_str(), &a4) != 1 && inet_pton(AF_INET6, proxy.c_str(), &a6) != 1)
      return config_error("trusted_proxies: '" + proxy + "' is not an IP address like 127.0.0.1 or ::1");
  }
  static const char* const kLevels[] = {"trace", "debug", "info", "warn", "error"};
  bool level_known = false;
  for (const char* level : kLevels) level_known = level_known || c.log_level == level;
  if (!level_known) {
    return config_error("log_level must be trace, debug, info, warn or error (got '" + c.log_level + "')");
  }

  const std::pair<const char*, int> ints[] = {
      {"batch_max", c.batch_max},
      {"writer_queue", c.writer_queue},
      {"wal_autocheckpoint", c.wal_autocheckpoint},  // 0 would let the WAL grow forever
      {"max_frame_bytes", c.max_frame_bytes},
      {"max_comment_chars", c.max_comment_chars},
      {"max_name_chars", c.max_name_chars},
      {"max_connections_per_ip", c.max_connections_per_ip},
      {"feed_size", c.feed_size},
      {"fanout_tick_ms", c.fanout_tick_ms},
      {"viewer_backlog", c.viewer_backlog},
      {"login_attempts_per_minute", c.login_attempts_per_minute},
  };
  for (const auto& [name, value] : ints) {
    if (Status s = positive(name, value); !s) return s;
  }
  if (c.poll_votes_per_ip < 0) {
    return config_error("poll_votes_per_ip must not be negative (got " + std::to_string(c.poll_votes_per_ip) + ")");
  }
  // Zero is meaningful here: commit as soon as the queue is drained.
  if (c.batch_delay_ms < 0) {
    return config_error("batch_delay_ms must not be negative (got " + std::to_string(c.batch_delay_ms) + ")");
  }
  const std::pair<const char*, double> doubles[] = {
      {"comments_per_second", c.comments_per_second},
      {"votes_per_second", c.votes_per_second},
  };
  for (const auto& [name, value] : doubles) {
    if (!std::isfinite(value)) return config_error(std::string(name) + " must be a finite number");
    if (Status s = positive(name, value); !s) return s;
  }
  // A bucket that holds less than one token could never pay for a comment.
  if (!std::isfinite(c.comment_burst) || c.comment_burst < 1) {
    return config_error("comment_burst must be at least 1 (got " + std::to_string(c.comment_burst) + ")");
  }
  if (Status s = positive("auth_session_hours", c.auth_session_hours); !s) return s;
  if (c.video_width < 160 || c.video_width > 3840 || c.video_height < 90 || c.video_height > 2160 ||
      c.video_width % 2 || c.video_height % 2)
    return config_error("video size must be even, from 160x90 to 3840x2160");
  if (c.video_fps < 1 || c.video_fps > 60) return config_error("video fps must be from 1 to 60");
  if (c.video_bitrate_kbps < 100 || c.video_bitrate_kbps > 50000)
    return config_error("video bitrate_kbps must be from 100 to 50000");
  if (Status s = positive("recording_segment_minutes", c.recording_segment_minutes); !s) return s;
  // The same rules as libsrt's, said before the pipeline starts. Never echo
  // the passphrase itself.
  if (!c.srt_passphrase.empty() && (c.srt_passphrase.size() < 10 || c.srt_passphrase.size() > 79))
    return config_error("srt_passphrase must be 10 to 79 characters long (got " +
                        std::to_string(c.srt_passphrase.size()) + ")");
  if (c.srt_pbkeylen != 0 && c.srt_pbkeylen != 16 && c.srt_pbkeylen != 24 && c.srt_pbkeylen != 32)
    return config_error("srt_pbkeylen must be 16, 24 or 32");
  if (c.srt_pbkeylen != 0 && c.srt_passphrase.empty()) return config_error("srt_pbkeylen needs srt_passphrase");
  if ((!c.srt_passphrase.empty() || !c.srt_streamid.empty()) && c.video_source.rfind("srt://", 0) != 0)
    return config_error("srt_passphrase and srt_streamid need an srt:// video source");
  for (const auto& url : c.restream_urls)
    if (url.rfind("rtmp://", 0) != 0 && url.rfind("rtmps://", 0) != 0)
      return config_error("restream urls must start with rtmp:// or rtmps://");
  if (c.default_language != "ar" && c.default_language != "en")
    return config_error("default_language must be \"ar\" or \"en\" (got \"" + c.default_language + "\")");
  // Every name is compared with every new display name: a short list.
  if (c.protected_names.size() > 100) return config_error("protected_names holds at most 100 names");
  if (Status s = validate_cluster(c); !s) return s;
  if (Status s = validate_bridges(c.bridges); !s) return s;
  // Keeps hours * 3'600'000 far from int64 overflow in expiry arithmetic.
  if (c.auth_session_hours > 24 * 366) {
    return config_error("auth_session_hours must be at most 8784 (one year)");
  }
  return Status::ok();
}

}  // namespace sabla
