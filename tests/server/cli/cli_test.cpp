// The real `sabla` binary, run through the shell: output lines, exit codes,
// and that secrets reach the database only as hashes.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "common/crypto.h"

namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sabla-cli-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') {
      out += "'\\''";
    } else {
      out += ch;
    }
  }
  return out + "'";
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Lines that start with `prefix`, with the prefix removed.
std::vector<std::string> values_after(const std::string& text, const std::string& prefix) {
  std::vector<std::string> values;
  for (const std::string& line : lines_of(text)) {
    if (line.rfind(prefix, 0) == 0) values.push_back(line.substr(prefix.size()));
  }
  return values;
}

struct Run {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `sabla <args>`; stderr goes to a file in `dir` so both streams are kept apart.
Run run_sabla(const TempDir& dir, const std::string& args) {
  const std::filesystem::path err_file = dir.path() / "stderr.txt";
  const std::string command = quote(SABLA_BINARY) + " " + args + " 2>" + quote(err_file.string());
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  Run run;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = read_file(err_file);
  INFO("sabla " << args << "\nstdout:\n" << run.out << "stderr:\n" << run.err);
  return run;
}

std::string data_arg(const TempDir& dir) { return "--data " + quote((dir.path() / "data").string()); }

// Every text or blob value in every table of the database.
std::vector<std::string> all_stored_values(const std::filesystem::path& db_path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::vector<std::string> tables;
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &stmt, nullptr) ==
          SQLITE_OK);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  }
  sqlite3_finalize(stmt);
  REQUIRE_FALSE(tables.empty());

  std::vector<std::string> values;
  for (const std::string& table : tables) {
    const std::string sql = "SELECT * FROM \"" + table + "\"";
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const int type = sqlite3_column_type(stmt, i);
        if (type != SQLITE_TEXT && type != SQLITE_BLOB) continue;
        const auto* bytes = static_cast<const char*>(sqlite3_column_blob(stmt, i));
        values.emplace_back(bytes ? bytes : "", static_cast<size_t>(sqlite3_column_bytes(stmt, i)));
      }
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return values;
}

// The raw bytes of the database and its WAL, where a plain-text secret would
// show up even in a column this test does not know about.
std::string raw_database_bytes(const std::filesystem::path& data_dir) {
  std::string bytes;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir)) {
    if (entry.is_regular_file()) bytes += read_file(entry.path());
  }
  return bytes;
}

const std::regex kBase64Url("[A-Za-z0-9_-]+");

}  // namespace

SCENARIO("sabla --version prints the version", "[cli]") {
  TempDir dir;
  const Run run = run_sabla(dir, "--version");
  CHECK(run.exit_code == 0);
  CHECK(std::regex_match(run.out, std::regex("sabla [0-9]+\\.[0-9]+\\.[0-9]+\n")));
}

SCENARIO("sabla user add creates an account once", "[cli]") {
  REQUIRE(sabla::crypto::init());
  TempDir dir;
  const Run first = run_sabla(dir, "user add alice --role moderator " + data_arg(dir));
  REQUIRE(first.exit_code == 0);
  const std::vector<std::string> passwords = values_after(first.out, "password: ");
  REQUIRE(passwords.size() == 1);
  const std::string& password = passwords[0];
  CHECK(password.size() == 24);  // 18 random bytes, base64url without padding
  CHECK(std::regex_match(password, kBase64Url));
  CHECK(first.err.find(password) == std::string::npos);  // never logged

  SECTION("the same name again fails with exit 1 and prints no password") {
    const Run second = run_sabla(dir, "user add alice --role producer " + data_arg(dir));
    CHECK(second.exit_code == 1);
    CHECK_THAT(second.err, Catch::Contains("error: account alice exists"));
    CHECK(values_after(second.out, "password: ").empty());
  }
  SECTION("only the password's Argon2id hash is stored") {
    const std::filesystem::path data = dir.path() / "data";
    const std::vector<std::string> values = all_stored_values(data / "sabla.db");
    bool hash_found = false;
    for (const std::string& value : values) {
      CHECK(value.find(password) == std::string::npos);
      if (value.rfind("$argon2id$", 0) == 0 && sabla::crypto::verify_password(value, password)) hash_found = true;
    }
    CHECK(hash_found);
    CHECK(raw_database_bytes(data).find(password) == std::string::npos);
  }
}

SCENARIO("sabla user add rejects bad input with exit 2", "[cli]") {
  TempDir dir;
  SECTION("an unknown role") {
    const Run run = run_sabla(dir, "user add bob --role admin " + data_arg(dir));
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::Contains("role"));
    CHECK(values_after(run.out, "password: ").empty());
  }
  SECTION("a missing role") {
    const Run run = run_sabla(dir, "user add bob " + data_arg(dir));
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::Contains("--role"));
  }
  SECTION("a name with forbidden characters") {
    const std::string name = GENERATE(as<std::string>{}, "bad name", "x/y", "سبلة", std::string(33, 'a'), "''");
    const Run run = run_sabla(dir, "user add " + quote(name) + " --role moderator " + data_arg(dir));
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::Contains("name"));
    CHECK(values_after(run.out, "password: ").empty());
  }
}

SCENARIO("sabla token create prints a token stored only as its SHA-256", "[cli]") {
  REQUIRE(sabla::crypto::init());
  TempDir dir;
  const Run run = run_sabla(dir, "token create youtube-bridge --role producer " + data_arg(dir));
  REQUIRE(run.exit_code == 0);
  const std::vector<std::string> tokens = values_after(run.out, "token: ");
  REQUIRE(tokens.size() == 1);
  const std::string& token = tokens[0];
  CHECK(token.size() == 43);  // 32 random bytes, base64url without padding
  CHECK(std::regex_match(token, kBase64Url));
  CHECK(run.err.find(token) == std::string::npos);

  const std::filesystem::path data = dir.path() / "data";
  const std::string hash = sabla::crypto::sha256_hex(token);
  bool hash_found = false;
  for (const std::string& value : all_stored_values(data / "sabla.db")) {
    CHECK(value.find(token) == std::string::npos);
    hash_found = hash_found || value == hash;
  }
  CHECK(hash_found);
  CHECK(raw_database_bytes(data).find(token) == std::string::npos);

  SECTION("a bad role exits 2") {
    const Run bad = run_sabla(dir, "token create other --role root " + data_arg(dir));
    CHECK(bad.exit_code == 2);
    CHECK(values_after(bad.out, "token: ").empty());
  }
}

SCENARIO("sabla serve reports configuration errors before starting", "[cli]") {
  TempDir dir;
  SECTION("a port out of range") {
    const Run run = run_sabla(dir, "serve --port 70000 " + data_arg(dir));
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::Contains("port"));
  }
  SECTION("an unknown key in the config file") {
    const std::filesystem::path file = dir.path() / "sabla.toml";
    std::ofstream(file) << "[server]\nprot = 1\n";
    const Run run = run_sabla(dir, "serve --config " + quote(file.string()) + " " + data_arg(dir));
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::Contains("prot"));
  }
  SECTION("a TLS certificate without a key") {
    const Run run = run_sabla(dir, "serve --tls-cert cert.pem " + data_arg(dir));
    CHECK(run.exit_code == 2);
  }
}

SCENARIO("sabla serve prints where it listens and stops on SIGTERM", "[cli]") {
  TempDir dir;
  const std::filesystem::path err_file = dir.path() / "stderr.txt";
  // `exec` keeps the shell's pid, which is printed first so the test can signal it.
  const std::string command = "echo $$; exec " + quote(SABLA_BINARY) + " serve --port 0 --bind 127.0.0.1 " +
                              data_arg(dir) + " 2>" + quote(err_file.string());
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);

  std::vector<std::string> lines;
  char buffer[4096];
  std::smatch listening;
  const std::regex kListening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
  // A failed REQUIRE below must not leave a server running.
  struct KillOnExit {
    pid_t pid = 0;
    ~KillOnExit() {
      if (pid > 0) kill(pid, SIGKILL);
    }
  } guard;
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) {
    std::string line(buffer);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    lines.push_back(line);
    if (lines.size() == 1) guard.pid = std::stoi(line);
    if (std::regex_match(lines.back(), listening, kListening)) break;
  }
  INFO("stdout:\n" << [&] {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
  }() << "stderr:\n" << read_file(err_file));
  REQUIRE(lines.size() >= 2);
  REQUIRE(listening.size() == 2);
  CHECK(std::stoi(listening[1].str()) > 0);
  // The first start may create the producer account; its password line then
  // follows the account line directly.
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].rfind("password: ", 0) == 0) CHECK(lines[i - 1] == "producer account: producer");
  }

  REQUIRE(kill(guard.pid, SIGTERM) == 0);
  guard.pid = 0;
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) {
  }
  const int status = pclose(pipe);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
