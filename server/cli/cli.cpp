// The `sabla` command line: serve, user add, token create, overlay render,
// --version.
// Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
// Secrets are printed once on stdout and never passed to the logger.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "archive/export.h"
#include "archive/queries.h"
#include "bridges/bridges.h"
#include "common/crypto.h"
#include "common/status.h"
#include "config/config.h"
#include "sabla/overlay/renderer.h"
#include "sabla/overlay/state.h"
#include "sabla/server.h"
#include "store/archive_reader.h"
#include "store/store.h"

namespace sabla {
namespace {

constexpr int kFailure = 1;
constexpr int kUsageError = 2;

// Shared by every subcommand that reads the configuration.
struct ConfigOptions {
  std::string config_file;
  std::string data_dir;
  CLI::Option* data = nullptr;
};

// `sabla bridge [KIND...]`: the config's polling bridges, run apart from the
// main node and posting to its ingest API with an API token.
struct BridgeOptions {
  ConfigOptions common;
  std::vector<std::string> kinds;
  std::string main_url;
  std::string token_file;
};

struct ServeOptions {
  ConfigOptions common;
  int port = 0;
  std::string bind;
  std::string static_dir;
  std::string tls_cert;
  std::string tls_key;
  CLI::Option* port_opt = nullptr;
  CLI::Option* bind_opt = nullptr;
  CLI::Option* static_opt = nullptr;
  CLI::Option* tls_cert_opt = nullptr;
  CLI::Option* tls_key_opt = nullptr;
  // Cluster (docs/cluster.md).
  std::string redis;
  std::string main_url;
  bool edge = false;
  bool share_port = false;
  CLI::Option* redis_opt = nullptr;
  CLI::Option* main_url_opt = nullptr;
};

struct CredentialOptions {
  ConfigOptions common;
  std::string name;
  std::string role;
};

struct OverlayRenderOptions {
  std::string state_file;
  std::string out_file;
  int width = 1920;
  int height = 1080;
};

// ---- Logging ----

// Log messages may contain quotes or newlines (paths, peer data); escaping
// here keeps every JSON line parseable without trusting each call site.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (const char ch : std::string_view(msg.payload.data(), msg.payload.size())) {
      const auto byte = static_cast<unsigned char>(ch);
      switch (ch) {
        case '"': append(dest, "\\\""); break;
        case '\\': append(dest, "\\\\"); break;
        case '\n': append(dest, "\\n"); break;
        case '\r': append(dest, "\\r"); break;
        case '\t': append(dest, "\\t"); break;
        default:
          if (byte < 0x20) {
            const char escaped[] = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xf], '\0'};
            append(dest, escaped);
          } else {
            dest.push_back(ch);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }

 private:
  static void append(spdlog::memory_buf_t& dest, std::string_view text) {
    dest.append(text.data(), text.data() + text.size());
  }
};

void setup_logging(const Config& config) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (config.log_json) {
    // No colour codes: they would end up inside the JSON strings.
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*"})");
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    formatter->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  }
  sink->set_formatter(std::move(formatter));
  auto logger = std::make_shared<spdlog::logger>("sabla", std::move(sink));
  logger->set_level(spdlog::level::from_str(config.log_level));
  // Replacing the default logger (rather than registering a new name) keeps
  // run_cli callable more than once in one process.
  spdlog::set_default_logger(std::move(logger));
}

// ---- Configuration ----

int config_failure(const Status& status) {
  std::cerr << "error: " << status.message() << "\n";
  return kUsageError;
}

// Defaults < TOML file < environment < the --data flag. Callers apply their
// other flags and then validate.
std::optional<Config> base_config(const ConfigOptions& options, int* exit_code) {
  Config config;
  if (!options.config_file.empty()) {
    if (Status s = load_config_file(options.config_file, config); !s) {
      *exit_code = config_failure(s);
      return std::nullopt;
    }
  }
  if (Status s = apply_environment(sabla_environment(), config); !s) {
    *exit_code = config_failure(s);
    return std::nullopt;
  }
  if (options.data && options.data->count() > 0) config.data_dir = options.data_dir;
  return config;
}

bool create_data_dir(const Config& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    std::cerr << "error: cannot create data directory " << config.data_dir << ": " << ec.message() << "\n";
    return false;
  }
  return true;
}

// ---- serve ----

std::string display_url(const Config& config, int port) {
  std::string host = config.bind;
  // A wildcard address is not something a browser can open; localhost is.
  if (host == "0.0.0.0" || host == "::" || host == "[::]" || host == "*") {
    host = "localhost";
  } else if (host.find(':') != std::string::npos && host.front() != '[') {
    host = "[" + host + "]";
  }
  const char* scheme = config.tls_cert.empty() ? "http" : "https";
  return std::string(scheme) + "://" + host + ":" + std::to_string(port);
}

int serve(const ServeOptions& options) {
  // Blocked before any thread exists so every server thread inherits the
  // mask and SIGINT/SIGTERM can only be taken by sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (int rc = pthread_sigmask(SIG_BLOCK, &signals, nullptr); rc != 0) {
    std::cerr << "error: cannot block signals: " << std::generic_category().message(rc) << "\n";
    return kFailure;
  }

  int exit_code = 0;
  std::optional<Config> loaded = base_config(options.common, &exit_code);
  if (!loaded) return exit_code;
  Config config = std::move(*loaded);
  if (options.port_opt->count() > 0) config.port = options.port;
  if (options.bind_opt->count() > 0) config.bind = options.bind;
  if (options.static_opt->count() > 0) config.static_dir = options.static_dir;
  if (options.tls_cert_opt->count() > 0) config.tls_cert = options.tls_cert;
  if (options.tls_key_opt->count() > 0) config.tls_key = options.tls_key;
  if (options.redis_opt->count() > 0) config.cluster_redis = options.redis;
  if (options.main_url_opt->count() > 0) config.cluster_main_url = options.main_url;
  if (options.edge) config.cluster_edge = true;
  if (options.share_port) config.cluster_share_port = true;
  if (Status s = validate(config); !s) return config_failure(s);

  setup_logging(config);
  // An edge node keeps nothing on disk.
  if (!config.cluster_edge && !create_data_dir(config)) return kFailure;

  std::string error;
  std::unique_ptr<Server> server = Server::start(config, &error);
  if (!server) {
    std::cerr << "error: " << (error.empty() ? "the server failed to start" : error) << "\n";
    return kFailure;
  }
  if (!server->initial_password().empty()) {
    std::cout << "producer account: producer\n"
              << "password: " << server->initial_password() << "\n";
  }
  const std::string url = display_url(config, server->port());
  std::cout << "listening on " << url << std::endl;  // tests and scripts read this line at once
  spdlog::info("listening on {}", url);

  // If the server stops by itself (fatal error), wake the sigwait below so
  // the process exits instead of hanging with nothing served.
  std::atomic<bool> stopping{false};
  const pthread_t main_thread = pthread_self();
  std::thread watcher([&server, &stopping, main_thread] {
    server->wait();
    if (!stopping.exchange(true)) pthread_kill(main_thread, SIGTERM);
  });

  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  const bool stopped_by_itself = stopping.exchange(true);
  if (!stopped_by_itself) {
    spdlog::info("received {}, shutting down", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  }
  server->stop();
  watcher.join();
  server.reset();
  if (stopped_by_itself) {
    std::cerr << "error: the server stopped unexpectedly\n";
    return kFailure;
  }
  spdlog::info("stopped");
  return 0;
}

// ---- user add / token create ----

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (const char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '.' || ch == '-' || ch == '_';
    if (!ok) return false;
  }
  return true;
}

bool valid_role(std::string_view role) {
  return role == "moderator" || role == "producer" || role == "archivist";
}

// Usage errors for NAME and --role; returns 0 when both are fine.
int check_credential_options(const CredentialOptions& options, const char* what) {
  if (!valid_name(options.name)) {
    std::cerr << "error: invalid " << what << " name '" << options.name
              << "': use 1-32 characters of letters, digits, '.', '-' and '_'\n";
    return kUsageError;
  }
  if (!valid_role(options.role)) {
    std::cerr << "error: invalid role '" << options.role << "': use moderator, producer or archivist\n";
    return kUsageError;
  }
  return 0;
}

// Opens the store in-thread: CLI writes commit before their call returns, so
// a printed secret always belongs to a stored hash.
std::unique_ptr<store::Store> open_store(const Config& config) {
  store::Store::Options options = store::Store::options_from(config);
  options.threaded = false;
  auto opened = store::Store::open(options, [](store::Task task) { task(); });
  if (!opened) {
    std::cerr << "error: cannot open " << options.path << ": " << opened.status().message() << "\n";
    return nullptr;
  }
  return std::move(opened.value());
}

// Runs the common prologue of user add / token create; returns the store or
// sets *exit_code.
std::unique_ptr<store::Store> prepare_store(const CredentialOptions& options, const char* what, int* exit_code) {
  if (int rc = check_credential_options(options, what); rc != 0) {
    *exit_code = rc;
    return nullptr;
  }
  std::optional<Config> config = base_config(options.common, exit_code);
  if (!config) return nullptr;
  if (Status s = validate(*config); !s) {
    *exit_code = config_failure(s);
    return nullptr;
  }
  setup_logging(*config);
  *exit_code = kFailure;
  if (!create_data_dir(*config)) return nullptr;
  return open_store(*config);
}

// Waits for a write's completion; with threaded=false and an inline poster it
// has normally run already, flush() makes that certain.
template <class Row>
Status commit(store::Store& store, const Row& row,
              bool (store::Store::*write)(Row, std::function<void(Result<Row>)>)) {
  std::optional<Status> outcome;
  const bool queued = (store.*write)(row, [&outcome](Result<Row> result) { outcome = result.status(); });
  if (!queued) return Status::error("busy", "the store refused the write (queue full)");
  store.flush();
  if (!outcome) return Status::error("internal", "the store did not report the write");
  return *outcome;
}

int user_add(const CredentialOptions& options) {
  int exit_code = 0;
  std::unique_ptr<store::Store> store = prepare_store(options, "account", &exit_code);
  if (!store) return exit_code;

  auto existing = store->find_account(options.name);
  if (!existing) {
    std::cerr << "error: " << existing.status().message() << "\n";
    return kFailure;
  }
  if (existing->has_value()) {
    std::cerr << "error: account " << options.name << " exists\n";
    return kFailure;
  }

  const std::string password = crypto::random_secret(18);
  store::AccountRow row;
  row.name = options.name;
  row.role = options.role;
  row.password_hash = crypto::hash_password(password);
  row.created_at_ms = SystemClock().now_ms();
  if (row.password_hash.empty()) {
    std::cerr << "error: password hashing failed\n";
    return kFailure;
  }
  if (Status s = commit(*store, row, &store::Store::create_account); !s) {
    // A concurrent `user add` of the same name can still lose the race.
    if (s.code() == "conflict") {
      std::cerr << "error: account " << options.name << " exists\n";
    } else {
      std::cerr << "error: " << s.message() << "\n";
    }
    return kFailure;
  }
  spdlog::info("created account {} ({})", options.name, options.role);
  std::cout << "password: " << password << std::endl;
  return 0;
}

int token_create(const CredentialOptions& options) {
  int exit_code = 0;
  std::unique_ptr<store::Store> store = prepare_store(options, "token", &exit_code);
  if (!store) return exit_code;

  const std::string token = crypto::random_secret(32);
  store::ApiTokenRow row;
  row.name = options.name;
  row.role = options.role;
  row.token_hash = crypto::sha256_hex(token);
  row.created_at_ms = SystemClock().now_ms();
  if (Status s = commit(*store, row, &store::Store::create_api_token); !s) {
    if (s.code() == "conflict") {
      std::cerr << "error: token " << options.name << " exists\n";
    } else {
      std::cerr << "error: " << s.message() << "\n";
    }
    return kFailure;
  }
  spdlog::info("created API token {} ({})", options.name, options.role);
  std::cout << "token: " << token << std::endl;
  return 0;
}

// ---- overlay render ----

// Draws a State JSON (the form to_json writes) with the same renderer the
// pipeline burns in, for comparing the browser overlay page with it.
int overlay_render(const OverlayRenderOptions& options) {
  std::ifstream in(options.state_file, std::ios::binary);
  if (!in) {
    std::cerr << "error: cannot read " << options.state_file << "\n";
    return kUsageError;
  }
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    std::cerr << "error: " << options.state_file << " is not valid JSON\n";
    return kUsageError;
  }
  overlay::State state;
  std::string error;
  if (!overlay::from_json(j, &state, &error)) {
    std::cerr << "error: invalid state in " << options.state_file << ": " << error << "\n";
    return kUsageError;
  }
  overlay::Renderer renderer(options.width, options.height);
  if (!overlay::write_png(renderer.render(state), options.out_file)) {
    std::cerr << "error: cannot write " << options.out_file << "\n";
    return kFailure;
  }
  return 0;
}

void add_config_options(CLI::App& command, ConfigOptions& options) {
  command.add_option("--config", options.config_file, "TOML configuration file");
  options.data = command.add_option("--data", options.data_dir, "Data directory (holds sabla.db)");
}

void add_credential_options(CLI::App& command, CredentialOptions& options, const char* name_help) {
  command.add_option("name", options.name, name_help)->required();
  command.add_option("--role", options.role, "moderator, producer or archivist")->required();
  add_config_options(command, options.common);
}

// ---- export / archive prune ----
// Both work on the database file directly (read-only for export, short
// write transactions for prune), so they run beside a server on the same
// data directory.

struct ExportOptions {
  ConfigOptions common;
  int64_t session_id = 0;
  std::string format;
  std::string out_file;
  std::string verify_file;
  CLI::Option* session_opt = nullptr;
  CLI::Option* format_opt = nullptr;
};

struct PruneOptions {
  ConfigOptions common;
  std::string older_than;
};

// Config for commands that only read or trim an existing database: no data
// directory is created, and a missing database is an error, not a new file.
std::optional<Config> existing_db_config(const ConfigOptions& options, int* exit_code) {
  std::optional<Config> config = base_config(options, exit_code);
  if (!config) return std::nullopt;
  if (Status s = validate(*config); !s) {
    *exit_code = config_failure(s);
    return std::nullopt;
  }
  setup_logging(*config);  // logs go to stderr, keeping stdout for the export
  std::error_code ec;
  if (!std::filesystem::exists(config->db_path(), ec)) {
    std::cerr << "error: no database at " << config->db_path() << "\n";
    *exit_code = kFailure;
    return std::nullopt;
  }
  return config;
}

int verify_audit_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "error: cannot read " << path << "\n";
    return kFailure;
  }
  archive::AuditCheck check;
  const Status s = archive::verify_audit(in, &check);
  if (!s) {
    std::cout << "bad: " << s.message() << std::endl;
    return kFailure;
  }
  std::cout << "ok: " << check.lines << " lines" << std::endl;
  return 0;
}

int export_session(const ExportOptions& options) {
  if (!options.verify_file.empty()) return verify_audit_file(options.verify_file);
  if (options.session_opt->count() == 0 || options.format_opt->count() == 0) {
    std::cerr << "error: export needs --session and --format (or --verify FILE)\n";
    return kUsageError;
  }
  const std::optional<archive::Format> format = archive::parse_format(options.format);
  if (!format) {
    std::cerr << "error: unknown format '" << options.format
              << "': use csv, json, ndjson, vtt, srt, chat-vtt, audit, polls, polls-json, decisions or decisions-json\n";
    return kUsageError;
  }
  int exit_code = 0;
  std::optional<Config> config = existing_db_config(options.common, &exit_code);
  if (!config) return exit_code;

  auto exporter = archive::Exporter::open(config->db_path(), options.session_id, *format);
  if (!exporter) {
    std::cerr << "error: " << exporter.status().message() << "\n";
    return kFailure;
  }

  // --out goes through a temporary file renamed at the end, so FILE is
  // either a complete export or absent, never a silently truncated one.
  const bool to_stdout = options.out_file.empty() || options.out_file == "-";
  const std::string partial = options.out_file + ".partial";
  std::FILE* out = to_stdout ? stdout : std::fopen(partial.c_str(), "wb");
  if (!out) {
    std::cerr << "error: cannot write " << partial << ": " << std::strerror(errno) << "\n";
    return kFailure;
  }
  std::string chunk;
  bool write_ok = true;
  while (write_ok && (*exporter)->next(&chunk)) {
    // fwrite: bytes as they are (BOM, CRLF), no locale or text-mode changes.
    write_ok = std::fwrite(chunk.data(), 1, chunk.size(), out) == chunk.size();
    chunk.clear();
  }
  write_ok = std::fflush(out) == 0 && write_ok;
  if (!to_stdout) write_ok = std::fclose(out) == 0 && write_ok;
  const Status status = (*exporter)->status();
  if (!write_ok || !status) {
    if (!write_ok) {
      std::cerr << "error: writing the export failed: " << std::strerror(errno) << "\n";
    } else {
      std::cerr << "error: export failed: " << status.message() << "\n";
    }
    if (!to_stdout) std::remove(partial.c_str());
    return kFailure;
  }
  if (!to_stdout) {
    std::error_code ec;
    std::filesystem::rename(partial, options.out_file, ec);
    if (ec) {
      std::cerr << "error: cannot move " << partial << " to " << options.out_file << ": " << ec.message() << "\n";
      std::remove(partial.c_str());
      return kFailure;
    }
  }
  return 0;
}

// "365d", "12h", "30m", "45s" -> milliseconds; nullopt if malformed or zero.
std::optional<int64_t> parse_duration_ms(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  int64_t unit = 0;
  switch (text.back()) {
    case 'd': unit = 86400000; break;
    case 'h': unit = 3600000; break;
    case 'm': unit = 60000; break;
    case 's': unit = 1000; break;
    default: return std::nullopt;
  }
  int64_t value = 0;
  for (const char ch : text.substr(0, text.size() - 1)) {
    if (ch < '0' || ch > '9') return std::nullopt;
    value = value * 10 + (ch - '0');
    if (value > 1000000000) return std::nullopt;  // keeps value * unit far from overflow
  }
  if (value == 0) return std::nullopt;
  return value * unit;
}

// Whether an ended session is past its retention: before the --older-than
// cut-off, or (without one) past its own retention_days.
bool past_retention(const store::SessionSummary& s, std::optional<int64_t> cutoff, int64_t now) {
  constexpr int64_t kDayMs = 86'400'000;
  if (s.session.status != "ended" || !s.session.ended_at_ms) return false;
  if (cutoff) return *s.session.ended_at_ms < *cutoff;
  if (!s.retention_days || *s.retention_days < 0 || *s.retention_days > 1'000'000'000) return false;
  return *s.session.ended_at_ms + *s.retention_days * kDayMs <= now;
}

// Deletes the recording files (recordings/session-<id>-* in the data
// directory) of every session past retention, after recording the names in
// the audit log. Returns false when something could not be removed.
bool prune_recordings(const std::string& db_path, std::optional<int64_t> cutoff, int64_t now, int* files_removed) {
  auto reader = store::ArchiveReader::open(db_path);
  if (!reader) {
    std::cerr << "error: cannot list sessions: " << reader.status().message() << "\n";
    return false;
  }
  auto sessions = (*reader)->session_summaries();
  if (!sessions) {
    std::cerr << "error: cannot list sessions: " << sessions.status().message() << "\n";
    return false;
  }
  reader->reset();
  bool ok = true;
  for (const store::SessionSummary& s : *sessions) {
    if (!past_retention(s, cutoff, now)) continue;
    const std::vector<std::filesystem::path> files = archive::recording_files(db_path, s.session.id);
    if (files.empty()) continue;
    std::vector<std::string> names;
    for (const auto& f : files) names.push_back(f.filename().string());
    if (Status st = store::record_recordings_prune(db_path, s.session.id, names, now, "cli"); !st) {
      std::cerr << "error: cannot record the prune of session " << s.session.id << ": " << st.message() << "\n";
      ok = false;
      continue;
    }
    for (const auto& f : files) {
      std::error_code ec;
      if (std::filesystem::remove(f, ec) && !ec) {
        std::cout << "session " << s.session.id << ": removed recording " << f.filename().string() << "\n";
        ++*files_removed;
      } else {
        std::cerr << "error: cannot remove " << f.string() << ": " << (ec ? ec.message() : "not found") << "\n";
        ok = false;
      }
    }
  }
  return ok;
}

int archive_prune(const PruneOptions& options) {
  std::optional<int64_t> age;
  if (!options.older_than.empty()) {
    age = parse_duration_ms(options.older_than);
    if (!age) {
      std::cerr << "error: invalid --older-than '" << options.older_than
                << "': use a positive number with d, h, m or s (e.g. 365d)\n";
      return kUsageError;
    }
  }
  int exit_code = 0;
  std::optional<Config> config = existing_db_config(options.common, &exit_code);
  if (!config) return exit_code;

  const int64_t now = SystemClock().now_ms();
  const std::optional<int64_t> cutoff = age ? std::optional<int64_t>(now - *age) : std::nullopt;
  auto reports = cutoff ? store::prune_ended_sessions(config->db_path(), *cutoff, now, "cli")
                        : store::prune_expired_sessions(config->db_path(), now, "cli");
  if (!reports) {
    std::cerr << "error: prune failed: " << reports.status().message() << "\n";
    return kFailure;
  }
  for (const store::PruneReport& r : *reports) {
    const std::string& title = r.title_en.empty() ? r.title_ar : r.title_en;
    std::cout << "session " << r.session_id << " (" << title << ", ended " << archive::iso8601_utc(r.ended_at_ms);
    if (r.retention_days) std::cout << ", kept " << *r.retention_days << " day(s)";
    std::cout << "): removed " << r.comments << " comments, " << r.votes << " votes, " << r.moderation_events
              << " moderation events, " << r.on_air_events << " on-air events\n";
  }
  int files_removed = 0;
  const bool files_ok = prune_recordings(config->db_path(), cutoff, now, &files_removed);
  if (cutoff) {
    std::cout << "pruned " << reports->size() << " session(s) ended before " << archive::iso8601_utc(*cutoff);
  } else {
    std::cout << "pruned " << reports->size() << " session(s) past their retention";
  }
  std::cout << ", removed " << files_removed << " recording file(s)" << std::endl;
  return files_ok ? 0 : kFailure;
}

struct ArchiveCommands {
  ExportOptions export_options;
  PruneOptions prune_options;
  CLI::App* export_cmd = nullptr;
  CLI::App* prune_cmd = nullptr;
};

void add_archive_commands(CLI::App& app, ArchiveCommands& cmds) {
  ExportOptions& ex = cmds.export_options;
  cmds.export_cmd = app.add_subcommand("export", "Export a session's record, or verify an audit export");
  ex.session_opt = cmds.export_cmd->add_option("--session", ex.session_id, "Session id");
  ex.format_opt =
      cmds.export_cmd->add_option("--format", ex.format, "csv, json, ndjson, vtt, srt, chat-vtt, audit, polls, polls-json, decisions or decisions-json");
  CLI::Option* out_opt = cmds.export_cmd->add_option("--out", ex.out_file, "File to write (default: stdout)");
  CLI::Option* verify_opt =
      cmds.export_cmd->add_option("--verify", ex.verify_file, "Check the hash chain of an audit export");
  verify_opt->excludes(ex.session_opt)->excludes(ex.format_opt)->excludes(out_opt);
  add_config_options(*cmds.export_cmd, ex.common);

  CLI::App* archive_cmd = app.add_subcommand("archive", "Archive maintenance");
  archive_cmd->require_subcommand(1);
  cmds.prune_cmd = archive_cmd->add_subcommand(
      "prune",
      "Delete comments, votes, logs and recordings of ended sessions past their retention "
      "(each session's own retention, or --older-than for all)");
  cmds.prune_cmd->add_option("--older-than", cmds.prune_options.older_than,
                             "Prune every session that ended longer ago than this, e.g. 365d, 12h");
  add_config_options(*cmds.prune_cmd, cmds.prune_options.common);
}

// ---- bridge ----

int bridge(const BridgeOptions& options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (int rc = pthread_sigmask(SIG_BLOCK, &signals, nullptr); rc != 0) {
    std::cerr << "error: cannot block signals: " << std::generic_category().message(rc) << "\n";
    return kFailure;
  }
  int exit_code = 0;
  std::optional<Config> loaded = base_config(options.common, &exit_code);
  if (!loaded) return exit_code;
  Config config = std::move(*loaded);
  if (Status s = validate(config); !s) return config_failure(s);
  const std::string main_url = options.main_url.empty() ? config.cluster_main_url : options.main_url;
  if (main_url.rfind("http://", 0) != 0 && main_url.rfind("https://", 0) != 0) {
    std::cerr << "error: give the main node's URL: --main-url http(s)://HOST:PORT (or [cluster] main_url)\n";
    return kUsageError;
  }
  // The token stays out of the command line (other users see it in ps).
  std::string token;
  if (!options.token_file.empty()) {
    std::ifstream in(options.token_file, std::ios::binary);
    std::getline(in, token);
    if (!in && token.empty()) {
      std::cerr << "error: cannot read " << options.token_file << "\n";
      return kUsageError;
    }
  } else if (const char* env = std::getenv("SABLA_API_TOKEN")) {
    token = env;
  }
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) {
    std::cerr << "error: give an API token (sabla token create …): SABLA_API_TOKEN or --token-file\n";
    return kUsageError;
  }
  std::vector<BridgeConfig> chosen;
  for (const BridgeConfig& b : config.bridges) {
    if (!options.kinds.empty() && std::find(options.kinds.begin(), options.kinds.end(), b.kind) == options.kinds.end())
      continue;
    if (b.kind == "webhook") {
      std::cerr << "note: webhook bridge " << b.name << " is served by the main node's `sabla serve`\n";
      continue;
    }
    chosen.push_back(b);
  }
  if (chosen.empty()) {
    std::cerr << "error: no polling bridge to run: add [[bridges]] of kind youtube, x, facebook or telegram\n";
    return kUsageError;
  }
  setup_logging(config);
  bridges::RemoteSink remote(main_url, token);
  bridges::Bridges running(chosen, remote.sink(), [] { return SystemClock().now_ms(); });
  if (Status s = running.start(); !s) {
    std::cerr << "error: " << s.message() << "\n";
    return kFailure;
  }
  std::cout << "bridging " << chosen.size() << " bridge(s) to " << main_url << std::endl;
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  running.stop();
  for (const auto& st : running.states())
    spdlog::info("bridge {}: {} stored, {} duplicates, {} refused", st.name, st.comments_in, st.duplicates, st.refused);
  return 0;
}

int run_archive_command(const ArchiveCommands& cmds, bool* handled) {
  *handled = true;
  if (cmds.export_cmd->parsed()) return export_session(cmds.export_options);
  if (cmds.prune_cmd->parsed()) return archive_prune(cmds.prune_options);
  *handled = false;
  return 0;
}

int run(int argc, char** argv) {
  if (!crypto::init()) {
    std::cerr << "error: libsodium initialisation failed\n";
    return kFailure;
  }

  CLI::App app{"Sabla: live-session comment server", "sabla"};
  app.set_version_flag("--version", "sabla " SABLA_VERSION);
  app.require_subcommand(1);

  ServeOptions serve_options;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run the server until SIGINT or SIGTERM");
  add_config_options(*serve_cmd, serve_options.common);
  // Given twice, the last one counts (a wrapper's defaults, then the operator's).
  serve_options.port_opt =
      serve_cmd->add_option("--port", serve_options.port, "Port (0 picks a free one)")->take_last();
  serve_options.bind_opt = serve_cmd->add_option("--bind", serve_options.bind, "Address to listen on")->take_last();
  serve_options.static_opt = serve_cmd->add_option("--static", serve_options.static_dir, "Static files directory");
  serve_options.tls_cert_opt = serve_cmd->add_option("--tls-cert", serve_options.tls_cert, "TLS certificate (PEM)");
  serve_options.tls_key_opt = serve_cmd->add_option("--tls-key", serve_options.tls_key, "TLS private key (PEM)");
  serve_options.redis_opt = serve_cmd->add_option("--redis", serve_options.redis,
                                                   "Join a cluster through Redis (redis://host:port)");
  serve_cmd->add_flag("--edge", serve_options.edge, "Run as an edge node: viewers and overlays only, no database");
  serve_options.main_url_opt =
      serve_cmd->add_option("--main-url", serve_options.main_url, "The main node's URL (edge nodes name it in errors)");
  serve_cmd->add_flag("--share-port", serve_options.share_port,
                      "Share the port with other Sabla processes (SO_REUSEPORT)");
  serve_options.tls_cert_opt->needs(serve_options.tls_key_opt);
  serve_options.tls_key_opt->needs(serve_options.tls_cert_opt);

  CLI::App* user_cmd = app.add_subcommand("user", "Manage staff accounts");
  user_cmd->require_subcommand(1);
  CredentialOptions user_options;
  CLI::App* user_add_cmd = user_cmd->add_subcommand("add", "Create an account and print its password once");
  add_credential_options(*user_add_cmd, user_options, "Account name");

  CLI::App* token_cmd = app.add_subcommand("token", "Manage API tokens (bridges, automation)");
  token_cmd->require_subcommand(1);
  CredentialOptions token_options;
  CLI::App* token_create_cmd = token_cmd->add_subcommand("create", "Create an API token and print it once");
  add_credential_options(*token_create_cmd, token_options, "Token name");

  CLI::App* overlay_cmd = app.add_subcommand("overlay", "Overlay tools");
  overlay_cmd->require_subcommand(1);
  OverlayRenderOptions render_options;
  CLI::App* overlay_render_cmd =
      overlay_cmd->add_subcommand("render", "Render an on-air state JSON to a PNG, as burned into the video");
  overlay_render_cmd->add_option("--state", render_options.state_file, "State JSON (as the server sends it)")
      ->required();
  overlay_render_cmd->add_option("--out", render_options.out_file, "PNG file to write")->required();
  overlay_render_cmd->add_option("--width", render_options.width, "Width in pixels (default 1920)")
      ->check(CLI::Range(16, 7680));
  overlay_render_cmd->add_option("--height", render_options.height, "Height in pixels (default 1080)")
      ->check(CLI::Range(16, 4320));

  BridgeOptions bridge_options;
  CLI::App* bridge_cmd = app.add_subcommand(
      "bridge", "Run the config's platform bridges apart, posting to a main node's ingest API (token: SABLA_API_TOKEN)");
  bridge_cmd->add_option("kind", bridge_options.kinds, "Only bridges of these kinds (youtube, x, facebook, telegram)")
      ->check(CLI::IsMember({"youtube", "x", "facebook", "telegram"}));
  add_config_options(*bridge_cmd, bridge_options.common);
  bridge_cmd->add_option("--main-url", bridge_options.main_url, "The main node's URL (default: [cluster] main_url)");
  bridge_cmd->add_option("--token-file", bridge_options.token_file, "A file holding the API token");

  ArchiveCommands archive_commands;
  add_archive_commands(app, archive_commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse error is a usage error.
    const int code = app.exit(e);
    return code == 0 ? 0 : kUsageError;
  }

  if (serve_cmd->parsed()) return serve(serve_options);
  if (user_add_cmd->parsed()) return user_add(user_options);
  if (token_create_cmd->parsed()) return token_create(token_options);
  if (bridge_cmd->parsed()) return bridge(bridge_options);
  if (overlay_render_cmd->parsed()) return overlay_render(render_options);
  bool archive_handled = false;
  const int archive_rc = run_archive_command(archive_commands, &archive_handled);
  if (archive_handled) return archive_rc;
  std::cerr << app.help();
  return kUsageError;
}

}  // namespace

int run_cli(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kFailure;
  } catch (...) {
    std::cerr << "error: unexpected failure\n";
    return kFailure;
  }
}

}  // namespace sabla
