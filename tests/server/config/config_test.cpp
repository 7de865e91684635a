// Configuration sources: TOML file, SABLA_* environment, validation.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "config/config.h"

namespace {

// A private directory per scenario run, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sabla-config-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string write(const std::string& name, const std::string& content) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out << content;
    REQUIRE(out.good());
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

const char* const kFullFile = R"(# Sabla test configuration
[server]
port = 9090
bind = "127.0.0.1"
data_dir = "/var/lib/sabla"
allowed_origins = ["https://example.org", "http://localhost:3000"]
trusted_proxies = ["127.0.0.1", "::1"]
metrics_public = true
log_level = "debug"
log_json = true

[store]
synchronous = "full"
batch_max = 64
wal_autocheckpoint = 200

[limits]
max_connections_per_ip = 8
comment_burst = 3
comments_per_second = 0.25
poll_votes_per_ip = 3

[session]
default_title_ar = "جلسة الاختبار"
auth_session_hours = 2
)";

}  // namespace

SCENARIO("a TOML file overrides the defaults", "[config]") {
  TempDir dir;
  const std::string path = dir.write("sabla.toml", kFullFile);
  sabla::Config config;
  const sabla::Config defaults;

  const sabla::Status status = sabla::load_config_file(path, config);
  REQUIRE(status.is_ok());

  SECTION("keys present in the file change") {
    CHECK(config.port == 9090);
    CHECK(config.bind == "127.0.0.1");
    CHECK(config.data_dir == "/var/lib/sabla");
    CHECK(config.db_path() == "/var/lib/sabla/sabla.db");
    CHECK(config.allowed_origins == std::vector<std::string>{"https://example.org", "http://localhost:3000"});
    CHECK(config.trusted_proxies == std::vector<std::string>{"127.0.0.1", "::1"});
    CHECK(config.metrics_public);
    CHECK(config.log_level == "debug");
    CHECK(config.log_json);
    CHECK(config.synchronous_full);
    CHECK(config.batch_max == 64);
    CHECK(config.wal_autocheckpoint == 200);
    CHECK(config.max_connections_per_ip == 8);
    CHECK(config.comment_burst == Approx(3.0));  // an integer is accepted for a float field
    CHECK(config.comments_per_second == Approx(0.25));
    CHECK(config.poll_votes_per_ip == 3);
    CHECK(config.default_title_ar == "جلسة الاختبار");
    CHECK(config.auth_session_hours == 2);
  }
  SECTION("keys absent from the file keep their defaults") {
    CHECK(config.static_dir == defaults.static_dir);
    CHECK(config.tls_cert.empty());
    CHECK(config.batch_delay_ms == defaults.batch_delay_ms);
    CHECK(config.writer_queue == defaults.writer_queue);
    CHECK(config.max_frame_bytes == defaults.max_frame_bytes);
    CHECK(config.votes_per_second == Approx(defaults.votes_per_second));
    CHECK(config.default_title_en == defaults.default_title_en);
  }
  SECTION("the result is valid") { CHECK(sabla::validate(config).is_ok()); }
}

SCENARIO("the environment overrides the file", "[config]") {
  TempDir dir;
  sabla::Config config;
  REQUIRE(sabla::load_config_file(dir.write("sabla.toml", kFullFile), config).is_ok());

  SECTION("every SABLA_* variable lands in its field") {
    const std::map<std::string, std::string> env = {
        {"SABLA_PORT", "7070"},
        {"SABLA_BIND", "::1"},
        {"SABLA_DATA", "/srv/sabla"},
        {"SABLA_STATIC_DIR", "/srv/static"},
        {"SABLA_ALLOWED_ORIGINS", "https://a.example, https://b.example,,"},
        {"SABLA_TLS_CERT", "/etc/sabla/cert.pem"},
        {"SABLA_TLS_KEY", "/etc/sabla/key.pem"},
        {"SABLA_LOG_LEVEL", "warn"},
        {"SABLA_LOG_JSON", "false"},
        {"SABLA_SYNCHRONOUS", "normal"},
        {"SABLA_METRICS_PUBLIC", "0"},
        {"SABLA_MAX_CONNECTIONS_PER_IP", "3"},
        {"SABLA_COMMENTS_PER_SECOND", "2.5"},
        {"SABLA_COMMENT_BURST", "10"},
        {"SABLA_WAL_AUTOCHECKPOINT", "16"},
        {"SABLA_SOMETHING_ELSE", "ignored"},
        {"PATH", "/bin"},
    };
    const sabla::Status status = sabla::apply_environment(env, config);
    REQUIRE(status.is_ok());
    CHECK(config.port == 7070);
    CHECK(config.bind == "::1");
    CHECK(config.data_dir == "/srv/sabla");
    CHECK(config.static_dir == "/srv/static");
    CHECK(config.allowed_origins == std::vector<std::string>{"https://a.example", "https://b.example"});
    CHECK(config.tls_cert == "/etc/sabla/cert.pem");
    CHECK(config.tls_key == "/etc/sabla/key.pem");
    CHECK(config.log_level == "warn");
    CHECK_FALSE(config.log_json);
    CHECK_FALSE(config.synchronous_full);
    CHECK_FALSE(config.metrics_public);
    CHECK(config.max_connections_per_ip == 3);
    CHECK(config.comments_per_second == Approx(2.5));
    CHECK(config.comment_burst == Approx(10.0));
    CHECK(config.wal_autocheckpoint == 16);
    // Not named by any variable: still the file's value.
    CHECK(config.batch_max == 64);
    CHECK(sabla::validate(config).is_ok());
  }
  SECTION("a bad value names the variable and changes nothing") {
    const sabla::Config before = config;
    const auto [name, value] = GENERATE(table<std::string, std::string>({
        {"SABLA_PORT", "eighty"},
        {"SABLA_PORT", "80x"},
        {"SABLA_LOG_JSON", "maybe"},
        {"SABLA_METRICS_PUBLIC", "yes please"},
        {"SABLA_SYNCHRONOUS", "sometimes"},
        {"SABLA_COMMENTS_PER_SECOND", "fast"},
        {"SABLA_COMMENT_BURST", "nan"},
        {"SABLA_WAL_AUTOCHECKPOINT", "often"},
    }));
    // A valid variable sorted before the bad one must not half-apply.
    const sabla::Status status = sabla::apply_environment({{"SABLA_BIND", "10.0.0.1"}, {name, value}}, config);
    REQUIRE_FALSE(status.is_ok());
    CHECK(status.code() == "config");
    CHECK_THAT(status.message(), Catch::Contains(name));
    CHECK(config.port == before.port);
    CHECK(config.bind == before.bind);
  }
  SECTION("booleans accept 1/true/0/false") {
    REQUIRE(sabla::apply_environment({{"SABLA_LOG_JSON", "0"}, {"SABLA_METRICS_PUBLIC", "TRUE"}}, config).is_ok());
    CHECK_FALSE(config.log_json);
    CHECK(config.metrics_public);
    REQUIRE(sabla::apply_environment({{"SABLA_LOG_JSON", "1"}, {"SABLA_METRICS_PUBLIC", "false"}}, config).is_ok());
    CHECK(config.log_json);
    CHECK_FALSE(config.metrics_public);
  }
}

SCENARIO("mistakes in the file are reported with file, line and key", "[config]") {
  TempDir dir;
  sabla::Config config;
  const sabla::Config defaults;

  SECTION("an unknown key") {
    const std::string path = dir.write("typo.toml", "[server]\nport = 9000\nprot = 9001\n");
    const sabla::Status status = sabla::load_config_file(path, config);
    REQUIRE_FALSE(status.is_ok());
    CHECK(status.code() == "config");
    CHECK_THAT(status.message(), Catch::Contains("prot") && Catch::Contains("unknown key") &&
                                     Catch::Contains(path + ":3"));
    // Nothing of a rejected file is applied, not even the valid key before the typo.
    CHECK(config.port == defaults.port);
  }
  SECTION("a wrong type") {
    const std::string path = dir.write("type.toml", "[limits]\nfeed_size = 10\nmax_frame_bytes = \"64k\"\n");
    const sabla::Status status = sabla::load_config_file(path, config);
    REQUIRE_FALSE(status.is_ok());
    CHECK(status.code() == "config");
    CHECK_THAT(status.message(), Catch::Contains("max_frame_bytes") && Catch::Contains("integer") &&
                                     Catch::Contains("string") && Catch::Contains(path + ":3"));
    CHECK(config.feed_size == defaults.feed_size);
  }
  SECTION("an array with a non-string element") {
    const std::string path = dir.write("origins.toml", "[server]\nallowed_origins = [\"https://a.example\", 3]\n");
    const sabla::Status status = sabla::load_config_file(path, config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("allowed_origins"));
  }
  SECTION("an unknown synchronous mode") {
    const std::string path = dir.write("sync.toml", "[store]\nsynchronous = \"off\"\n");
    const sabla::Status status = sabla::load_config_file(path, config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("synchronous") && Catch::Contains("off"));
  }
  SECTION("an integer too large for the field") {
    const std::string path = dir.write("big.toml", "[store]\nwriter_queue = 99999999999\n");
    const sabla::Status status = sabla::load_config_file(path, config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("writer_queue") && Catch::Contains("range"));
  }
  SECTION("an unknown table") {
    const std::string path = dir.write("table.toml", "[server]\nport = 1\n\n[srever]\nport = 2\n");
    const sabla::Status status = sabla::load_config_file(path, config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("srever") && Catch::Contains(path + ":4"));
  }
  SECTION("a key outside any table") {
    const std::string path = dir.write("top.toml", "port = 1\n");
    const sabla::Status status = sabla::load_config_file(path, config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("port") && Catch::Contains("table"));
  }
  SECTION("a syntax error") {
    const std::string path = dir.write("syntax.toml", "[server]\nport = 80\nbind = \"unterminated\n");
    const sabla::Status status = sabla::load_config_file(path, config);
    REQUIRE_FALSE(status.is_ok());
    CHECK(status.code() == "config");
    CHECK_THAT(status.message(), Catch::StartsWith(path + ":3:"));
  }
  SECTION("a missing file") {
    const sabla::Status status = sabla::load_config_file(dir.write("x", "") + ".missing", config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("not found"));
  }
}

SCENARIO("validate rejects values out of range", "[config]") {
  sabla::Config config;
  REQUIRE(sabla::validate(config).is_ok());

  SECTION("port 70000") {
    config.port = 70000;
    const sabla::Status status = sabla::validate(config);
    REQUIRE_FALSE(status.is_ok());
    CHECK(status.code() == "config");
    CHECK_THAT(status.message(), Catch::Contains("port") && Catch::Contains("70000"));
  }
  SECTION("the ends of the port range are fine") {
    config.port = GENERATE(0, 65535);
    CHECK(sabla::validate(config).is_ok());
  }
  SECTION("a negative port") {
    config.port = -1;
    CHECK_FALSE(sabla::validate(config).is_ok());
  }
  SECTION("a trusted proxy that is not an IP address") {
    config.trusted_proxies = {"10.0.0.1", "nginx.local"};
    const sabla::Status status = sabla::validate(config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("trusted_proxies") && Catch::Contains("nginx.local"));
    config.trusted_proxies = {"10.0.0.1", "fd00::5"};
    CHECK(sabla::validate(config).is_ok());
  }
  SECTION("a limit that is not positive") {
    config.max_connections_per_ip = 0;
    const sabla::Status status = sabla::validate(config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("max_connections_per_ip"));
  }
  SECTION("a zero comment rate") {
    config.comments_per_second = 0;
    const sabla::Status status = sabla::validate(config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("comments_per_second"));
  }
  SECTION("a TLS certificate without its key") {
    config.tls_cert = "/etc/sabla/cert.pem";
    const sabla::Status status = sabla::validate(config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("tls_key"));
  }
  SECTION("an unknown log level") {
    config.log_level = "verbose";
    const sabla::Status status = sabla::validate(config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("log_level"));
  }
  SECTION("an origin with a path") {
    config.allowed_origins = {"https://example.org/"};
    const sabla::Status status = sabla::validate(config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("allowed_origins"));
  }
}

SCENARIO("sabla_environment returns the process's SABLA_* variables", "[config]") {
  // A name no real configuration uses, so other tests are unaffected.
  REQUIRE(setenv("SABLA_CONFIG_TEST_PROBE", "a=b", 1) == 0);
  const auto env = sabla::sabla_environment();
  unsetenv("SABLA_CONFIG_TEST_PROBE");

  REQUIRE(env.count("SABLA_CONFIG_TEST_PROBE") == 1);
  CHECK(env.at("SABLA_CONFIG_TEST_PROBE") == "a=b");  // only the first '=' separates
  for (const auto& [name, value] : env) CHECK_THAT(name, Catch::StartsWith("SABLA_"));
}

SCENARIO("the [cluster] table, its environment and its checks", "[config]") {
  TempDir dir;
  GIVEN("a file that makes an edge node") {
    const std::string path = dir.write("edge.toml",
                                       "[cluster]\n"
                                       "redis = \"redis://:pw@10.0.0.5:6380/2\"\n"
                                       "edge = true\n"
                                       "main_url = \"https://main.example\"\n"
                                       "node = \"edge-a\"\n"
                                       "share_port = true\n");
    sabla::Config c;
    REQUIRE(sabla::load_config_file(path, c).is_ok());
    THEN("every key lands and validates") {
      CHECK(c.clustered());
      CHECK(c.cluster_edge);
      CHECK(c.cluster_main_url == "https://main.example");
      CHECK(c.cluster_node == "edge-a");
      CHECK(c.cluster_share_port);
      CHECK(sabla::validate(c).is_ok());
      auto a = sabla::parse_redis_url(c.cluster_redis);
      REQUIRE(a.is_ok());
      CHECK(a->host == "10.0.0.5");
      CHECK(a->port == 6380);
      CHECK(a->password == "pw");
      CHECK(a->db == 2);
    }
  }
  GIVEN("the environment") {
    sabla::Config c;
    REQUIRE(sabla::apply_environment({{"SABLA_REDIS", "redis://127.0.0.1"}, {"SABLA_EDGE", "1"}}, c).is_ok());
    CHECK(c.cluster_redis == "redis://127.0.0.1");
    CHECK(c.cluster_edge);
    CHECK(sabla::parse_redis_url(c.cluster_redis)->port == 6379);
  }
  GIVEN("mistakes") {
    sabla::Config edge_alone;
    edge_alone.cluster_edge = true;
    CHECK(sabla::validate(edge_alone).message().find("needs Redis") != std::string::npos);
    sabla::Config bad_url;
    bad_url.cluster_redis = "http://127.0.0.1:6379";
    CHECK_FALSE(sabla::validate(bad_url).is_ok());
    bad_url.cluster_redis = "redis://127.0.0.1:99999";
    CHECK_FALSE(sabla::validate(bad_url).is_ok());
    sabla::Config bad_main;
    bad_main.cluster_redis = "redis://127.0.0.1";
    bad_main.cluster_main_url = "main.example";
    CHECK_FALSE(sabla::validate(bad_main).is_ok());
    sabla::Config default_node;
    CHECK(sabla::validate(default_node).is_ok());
    CHECK_FALSE(default_node.clustered());  // no redis: the one embedded node, as always
  }
}

SCENARIO("[session] default_language chooses the pages' language, ar or en", "[config]") {
  TempDir dir;
  sabla::Config config;
  CHECK(config.default_language == "ar");
  REQUIRE(sabla::load_config_file(dir.write("lang.toml", "[session]\ndefault_language = \"en\"\n"), config).is_ok());
  CHECK(config.default_language == "en");
  CHECK(sabla::validate(config).is_ok());
  REQUIRE(sabla::apply_environment({{"SABLA_DEFAULT_LANGUAGE", "ar"}}, config).is_ok());
  CHECK(config.default_language == "ar");
  config.default_language = "fr";
  const sabla::Status status = sabla::validate(config);
  REQUIRE_FALSE(status.is_ok());
  CHECK_THAT(status.message(), Catch::Contains("default_language") && Catch::Contains("fr"));
}

SCENARIO("[video] SRT security keys, their environment and their checks", "[config]") {
  TempDir dir;
  sabla::Config config;
  REQUIRE(sabla::load_config_file(dir.write("srt.toml",
                                            "[video]\nsource = \"srt://:9000\"\nsrt_passphrase = \"file-pass-123\"\n"
                                            "srt_pbkeylen = 32\nsrt_streamid = \"studio-a\"\n"),
                                  config)
              .is_ok());
  CHECK(config.srt_passphrase == "file-pass-123");
  CHECK(config.srt_pbkeylen == 32);
  CHECK(config.srt_streamid == "studio-a");
  CHECK(sabla::validate(config).is_ok());
  REQUIRE(sabla::apply_environment({{"SABLA_SRT_PASSPHRASE", "env-pass-4567"},
                                    {"SABLA_SRT_PBKEYLEN", "16"},
                                    {"SABLA_SRT_STREAMID", "studio-b"}},
                                   config)
              .is_ok());
  CHECK(config.srt_passphrase == "env-pass-4567");
  CHECK(config.srt_pbkeylen == 16);
  CHECK(config.srt_streamid == "studio-b");

  SECTION("a passphrase SRT would refuse is an error that does not echo it") {
    config.srt_passphrase = "short1";
    const sabla::Status status = sabla::validate(config);
    REQUIRE_FALSE(status.is_ok());
    CHECK_THAT(status.message(), Catch::Contains("10 to 79"));
    CHECK_THAT(status.message(), !Catch::Contains("short1"));
  }
  SECTION("a key length SRT does not have") {
    config.srt_pbkeylen = 20;
    CHECK_THAT(sabla::validate(config).message(), Catch::Contains("16, 24 or 32"));
  }
  SECTION("a passphrase without an SRT source") {
    config.video_source = "testcard";
    CHECK_THAT(sabla::validate(config).message(), Catch::Contains("srt:// video source"));
  }
}

SCENARIO("[[bridges]] tables: kinds, names, ids and credentials", "[config][bridges]") {
  TempDir dir;
  sabla::Config config;
  const std::string token_file = dir.write("fb.token", "fb-page-token-from-file\n");
  const std::string path = dir.write("bridges.toml", R"(
[[bridges]]
kind = "youtube"
video_id = "dQw4w9WgXcQ"
api_key = "yt-key-123"
api_base = "http://127.0.0.1:9/youtube/v3"
poll_interval_ms = 200

[[bridges]]
kind = "x"
name = "x-hashtag"
query = "#sabla -is:retweet"
token = "x-bearer-abc"

[[bridges]]
kind = "facebook"
live_video_id = "1234567890"
token_file = "fb.token"

[[bridges]]
kind = "telegram"
chat_id = -1001234567890

[[bridges]]
kind = "webhook"
name = "sms"
secret = "0123456789abcdef0123"
)");
  REQUIRE(sabla::load_config_file(path, config).is_ok());
  REQUIRE(config.bridges.size() == 5);
  const auto& yt = config.bridges[0];
  CHECK(yt.name == "youtube");  // name defaults to kind
  CHECK(yt.video_id == "dQw4w9WgXcQ");
  CHECK(yt.api_key == "yt-key-123");
  CHECK(yt.api_base == "http://127.0.0.1:9/youtube/v3");
  CHECK(yt.poll_interval_ms == 200);
  CHECK(config.bridges[1].name == "x-hashtag");
  CHECK(config.bridges[1].query == "#sabla -is:retweet");
  CHECK(config.bridges[2].token == "fb-page-token-from-file");  // read relative to the file, trimmed
  CHECK(config.bridges[3].chat_id == "-1001234567890");
  CHECK(config.bridges[3].token.empty());
  CHECK(config.bridges[4].secret == "0123456789abcdef0123");

  // The Telegram bot token comes from the environment only.
  CHECK_THAT(sabla::validate(config).message(),
             Catch::Contains("telegram") && Catch::Contains("SABLA_BRIDGE_TELEGRAM_TOKEN"));
  REQUIRE(sabla::apply_environment({{"SABLA_BRIDGE_TELEGRAM_TOKEN", "123456:bot-token"},
                                    {"SABLA_BRIDGE_X_HASHTAG_TOKEN", "x-bearer-from-env"}},
                                   config)
              .is_ok());
  CHECK(config.bridges[3].token == "123456:bot-token");
  CHECK(config.bridges[1].token == "x-bearer-from-env");  // the environment wins over the file
  REQUIRE(sabla::validate(config).is_ok());

  const auto invalid = [&](const std::function<void(sabla::Config&)>& change) {
    sabla::Config c = config;
    change(c);
    const sabla::Status s = sabla::validate(c);
    REQUIRE_FALSE(s.is_ok());
    // No error ever shows a credential.
    for (const char* secret : {"yt-key-123", "x-bearer-from-env", "fb-page-token-from-file", "123456:bot-token",
                               "0123456789abcdef0123"})
      CHECK_THAT(s.message(), !Catch::Contains(secret));
    return s.message();
  };
  SECTION("missing ids and credentials") {
    CHECK_THAT(invalid([](auto& c) { c.bridges[0].video_id.clear(); }), Catch::Contains("live_chat_id or video_id"));
    CHECK_THAT(invalid([](auto& c) { c.bridges[0].live_chat_id = "both"; }), Catch::Contains("one of them"));
    CHECK_THAT(invalid([](auto& c) { c.bridges[0].api_key.clear(); }), Catch::Contains("SABLA_BRIDGE_YOUTUBE_API_KEY"));
    CHECK_THAT(invalid([](auto& c) { c.bridges[1].query.clear(); }), Catch::Contains("needs query"));
    CHECK_THAT(invalid([](auto& c) { c.bridges[2].live_video_id.clear(); }), Catch::Contains("live_video_id"));
    CHECK_THAT(invalid([](auto& c) { c.bridges[4].secret = "short"; }), Catch::Contains("at least 16"));
  }
  SECTION("duplicate and bad names") {
    CHECK_THAT(invalid([](auto& c) { c.bridges[4].name = "youtube"; }), Catch::Contains("two bridges"));
    CHECK_THAT(invalid([](auto& c) { c.bridges[4].name = "web"; }), Catch::Contains("not \"web\""));
    CHECK_THAT(invalid([](auto& c) { c.bridges[4].name = "SMS Gateway"; }), Catch::Contains("a-z"));
  }
  SECTION("an api_base that is not a URL, a poll interval out of range, an id with a space") {
    CHECK_THAT(invalid([](auto& c) { c.bridges[0].api_base = "ftp://x"; }), Catch::Contains("api_base"));
    CHECK_THAT(invalid([](auto& c) { c.bridges[0].poll_interval_ms = 5; }), Catch::Contains("poll_interval_ms"));
    CHECK_THAT(invalid([](auto& c) { c.bridges[2].live_video_id = "12 34"; }), Catch::Contains("printable"));
  }
  SECTION("file mistakes") {
    const auto load = [&](const std::string& text) {
      sabla::Config c;
      const sabla::Status s = sabla::load_config_file(dir.write("bad.toml", text), c);
      REQUIRE_FALSE(s.is_ok());
      CHECK(c.bridges.empty());
      return s.message();
    };
    CHECK_THAT(load("[[bridges]]\nkind = \"tiktok\"\n"), Catch::Contains("unknown kind \"tiktok\"") &&
                                                            Catch::Contains("youtube, x, facebook, telegram or webhook"));
    CHECK_THAT(load("[[bridges]]\nname = \"yt\"\n"), Catch::Contains("kind must be given"));
    CHECK_THAT(load("[[bridges]]\nkind = \"x\"\nlive_chat_id = \"abc\"\n"),
               Catch::Contains("a bridge of kind x has no 'live_chat_id'") && Catch::Contains(":3"));
    CHECK_THAT(load("[[bridges]]\nkind = \"x\"\nqeury = \"#a\"\n"), Catch::Contains("unknown key 'qeury'"));
    CHECK_THAT(load("[bridges]\nkind = \"x\"\n"), Catch::Contains("[[bridges]]"));
    CHECK_THAT(load("[[bridges]]\nkind = \"x\"\ntoken = \"secret-abc\"\ntoken_file = \"f\"\n"),
               Catch::Contains("not both") && !Catch::Contains("secret-abc"));
    CHECK_THAT(load("[[bridges]]\nkind = \"x\"\ntoken_file = \"missing.token\"\n"),
               Catch::Contains("not a readable file") && Catch::Contains("missing.token"));
    CHECK_THAT(load("[[bridges]]\nkind = \"x\"\ntoken_file = \"/dev/zero\"\n"), Catch::Contains("not a readable file"));
  }
}
