// Integration: the Unicode abuse corpus against the real `sabla` binary.
// Bidi overrides, Zalgo, zero-width characters and 10 kB names go in through
// viewer sockets; what lands in the SQLite file must follow the sanitizer's
// rules (docs/protocol.md, server/moderation/text.h). Names that imitate a
// studio user, the speaker on the lower third or a configured name are
// refused with the error code "impersonation" and never stored.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <cstdio>
#include <string>
#include <vector>

#include "moderation/text.h"
#include "support/http_client.h"
#include "support/command.h"
#include "support/server_process.h"
#include "support/ws_client.h"

using namespace sabla::test;
using nlohmann::json;

namespace {

std::string cp(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

// Decoder independent of the server's (and of ICU): the rules are checked on
// code points the test reads itself.
std::vector<char32_t> decode(const std::string& s, bool* valid) {
  std::vector<char32_t> out;
  *valid = true;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    int n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) {
      *valid = false;
      return out;
    }
    char32_t c = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; k < n; ++k) {
      const auto t = static_cast<unsigned char>(s[i + k]);
      if ((t & 0xC0) != 0x80) {
        *valid = false;
        return out;
      }
      c = (c << 6) | (t & 0x3F);
    }
    out.push_back(c);
    i += n;
  }
  return out;
}

bool is_bidi_control(char32_t c) { return (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069); }
bool is_zero_width(char32_t c) {
  return (c >= 0x200B && c <= 0x200F) || (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF || c == 0x061C ||
         c == 0x180E || c == 0x00AD;
}
// The combining blocks the corpus uses.
bool is_mark(char32_t c) {
  return (c >= 0x0300 && c <= 0x036F) || (c >= 0x0483 && c <= 0x0489) || (c >= 0x064B && c <= 0x065F) ||
         c == 0x0670 || (c >= 0x20D0 && c <= 0x20FF);
}

// The rules docs/protocol.md and text.h promise for what is stored.
void check_stored_text(const std::string& stored, bool is_name, size_t max_name_chars) {
  INFO("stored: " << stored);
  bool valid = false;
  const auto cps = decode(stored, &valid);
  REQUIRE(valid);
  int marks = 0;
  int newlines = 0;
  for (char32_t c : cps) {
    CHECK_FALSE(is_bidi_control(c));
    CHECK(c != 0xFEFF);
    CHECK_FALSE(((c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE));  // noncharacters
    CHECK_FALSE(((c < 0x20 && c != '\n') || (c >= 0x7F && c < 0xA0)));
    if (is_name) {
      CHECK_FALSE(is_zero_width(c));
      CHECK(c != '\n');
    }
    marks = is_mark(c) ? marks + 1 : 0;
    CHECK(marks <= 2);
    newlines = c == '\n' ? newlines + 1 : 0;
    CHECK(newlines <= 2);
  }
  if (is_name) CHECK(cps.size() <= max_name_chars);
  if (!cps.empty()) {
    CHECK(cps.front() != ' ');
    CHECK(cps.back() != ' ');
  }
}

std::unique_ptr<WsClient> connect_viewer(int port) {
  WsOptions o;
  o.port = port;
  o.subprotocol = "sabla.viewer.v1";
  std::string err;
  auto c = WsClient::connect(o, &err);
  INFO(err);
  REQUIRE(c);
  REQUIRE(c->recv_type("welcome", 5000));
  return c;
}

std::string origin(int port) { return "http://127.0.0.1:" + std::to_string(port); }

std::unique_ptr<WsClient> connect_studio(int port, const std::string& name, const std::string& password) {
  auto r = http_post_json(port, "/api/v1/login", json{{"name", name}, {"password", password}},
                          {{"Origin", origin(port)}});
  INFO(r.status << " " << r.body);
  REQUIRE(r.status == 200);
  WsOptions o;
  o.port = port;
  o.subprotocol = "sabla.studio.v1";
  o.cookie = cookie_from(r, "sabla_session");
  o.origin = origin(port);
  std::string err;
  auto c = WsClient::connect(o, &err);
  INFO(err);
  REQUIRE(c);
  REQUIRE(c->recv_type("snapshot", 5000));
  return c;
}

// Sends hello with `name`; returns the error code ("" when none) and the name
// the following welcome carries.
std::pair<std::string, std::string> hello(WsClient& v, const std::string& name) {
  REQUIRE(v.send_json({{"type", "hello"}, {"name", name}}));
  std::string code;
  for (int i = 0; i < 4; ++i) {
    auto m = v.recv_until([](const json& j) { return j.value("type", "") == "welcome" || j.value("type", "") == "error"; },
                          5000);
    REQUIRE(m);
    if ((*m)["type"] == "error") {
      code = (*m).value("code", "");
      continue;
    }
    return {code, (*m).value("name", "")};
  }
  FAIL("no welcome after hello");
  return {};
}

// Posts one comment and waits for its ack; returns the comment id.
int64_t post(WsClient& v, const std::string& client_id, const std::string& text) {
  REQUIRE(v.send_json({{"type", "comment"}, {"client_id", client_id}, {"text", text}}));
  auto m = v.recv_until([&](const json& j) { return j.value("client_id", "") == client_id; }, 5000);
  REQUIRE(m);
  INFO(m->dump());
  REQUIRE((*m)["type"] == "ack");
  return (*m)["id"].get<int64_t>();
}

struct StoredComment {
  std::string name;
  std::string text;
};

StoredComment stored_comment(const std::string& db_path, int64_t id) {
  StoredComment out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT display_name, text FROM comments WHERE id = ?", -1, &st, nullptr) == SQLITE_OK) {
      sqlite3_bind_int64(st, 1, id);
      if (sqlite3_step(st) == SQLITE_ROW) {
        out.name = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        out.text = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
      }
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

std::vector<std::string> stored_viewer_names(const std::string& db_path) {
  std::vector<std::string> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT display_name FROM viewers", -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

struct Case {
  const char* label;
  std::string input;
};

// Hostile strings used both as display names and as comment texts.
std::vector<Case> abuse_corpus() {
  const std::string rlo = cp(0x202E);
  const std::string pdf = cp(0x202C);
  std::string zalgo;
  for (char c : std::string("Zalgo")) {
    zalgo += c;
    for (int i = 0; i < 120; ++i) zalgo += cp(0x0300 + (i % 0x70));
  }
  std::string arabic_zalgo = "سلام";
  for (int i = 0; i < 300; ++i) arabic_zalgo += cp(0x064B + (i % 8));
  std::string zero_width_mix;
  for (char32_t z : {0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF, 0x061C,
                     0x180E, 0x00AD}) {
    zero_width_mix += "x" + cp(z);
  }
  return {
      {"RLO file-name trick", "invoice" + rlo + "fdp.exe"},
      {"bidi embeddings and isolates", cp(0x202A) + "a" + cp(0x202B) + "b" + cp(0x202D) + "c" + cp(0x2066) + "d" +
                                           cp(0x2067) + "e" + cp(0x2068) + "f" + cp(0x2069) + pdf},
      {"RLO around Arabic", rlo + "مرحبا بالجميع" + pdf},
      {"Latin Zalgo (600 marks)", zalgo},
      {"Arabic tashkeel flood (300 marks)", arabic_zalgo},
      {"marks with nothing before them", repeat(cp(0x0301), 50) + "x"},
      {"every zero-width and invisible character", zero_width_mix},
      {"only zero-width characters around a word", cp(0x200B) + cp(0xFEFF) + "word" + cp(0x2060)},
      {"10 kB name", repeat("ن", 5000)},
      {"10 kB of emoji", repeat("😀", 2500)},
      {"controls, NEL and separators", "a\x01\x07\x1b[31mb" + cp(0x85) + "c" + cp(0x2028) + "d" + cp(0x2029) + "e"},
      {"newline flood", "top\n\n\n\n\n\n\nbottom\r\n\r\n\r\nend"},
      {"leading and trailing Unicode spaces", cp(0x3000) + cp(0x00A0) + " spaced " + cp(0x2003) + cp(0x205F)},
      {"noncharacters", "a" + cp(0xFDD0) + "b" + cp(0xFFFE) + "c" + cp(0x10FFFF)},
  };
}

}  // namespace

SCENARIO("the Unicode abuse corpus is stored as the sanitizer rules say", "[moderation][unicode][server]") {
  ServerProcess srv;
  std::string err;
  REQUIRE(srv.start(&err));
  INFO(srv.describe());
  const int port = srv.port();
  const std::string db = srv.data_dir() + "/sabla.db";
  const size_t max_name = 32;  // the default [limits] max_name_chars

  // One server for the whole corpus (a SECTION per case would restart it each time).
  auto corpus = abuse_corpus();
  int n = 0;
  for (const Case& c : corpus) {
    {
      INFO(c.label);
      // A fresh viewer per case: its own rate-limit bucket.
      auto v = connect_viewer(port);
      auto [code, shown] = hello(*v, c.input);
      CHECK(code.empty());
      const std::string expected_name = sabla::moderation::sanitize_name(c.input, max_name);
      CHECK(shown == expected_name);
      const std::string expected_text = sabla::moderation::sanitize_text(c.input);
      const bool postable = !expected_text.empty() && sabla::moderation::count_code_points(expected_text) <= 500;
      if (postable) {
        const int64_t id = post(*v, "u-" + std::to_string(n), c.input);
        const StoredComment row = stored_comment(db, id);
        CHECK(row.name == expected_name);
        CHECK(row.text == expected_text);
        check_stored_text(row.name, true, max_name);
        check_stored_text(row.text, false, max_name);
      } else {
        // Too long or empty after sanitizing: refused, not stored.
        REQUIRE(v->send_json({{"type", "comment"}, {"client_id", "x"}, {"text", c.input}}));
        auto m = v->recv_until([](const json& j) { return j.value("client_id", "") == "x"; }, 5000);
        REQUIRE(m);
        CHECK((*m)["type"] == "error");
        CHECK(((*m)["code"] == "too_long" || (*m)["code"] == "empty"));
      }
      check_stored_text(shown, true, max_name);
    }
    ++n;
  }
}

SCENARIO("names that imitate a moderator, the speaker or a configured name are refused", "[moderation][names][server]") {
  ServerProcess srv({}, {{"SABLA_PROTECTED_NAMES", "Sayyid Badr"}});
  std::string err;
  REQUIRE(srv.start(&err));
  INFO(srv.describe());
  const int port = srv.port();
  const std::string db = srv.data_dir() + "/sabla.db";
  const std::string producer_password = srv.initial_password(5000);
  REQUIRE_FALSE(producer_password.empty());

  // A moderator added while the server runs, who then logs in.
  const std::string amal_password =
      value_after(run_command(std::string(SABLA_BINARY) + " user add amal --role moderator --data " + srv.data_dir()),
                   "password: ");
  REQUIRE_FALSE(amal_password.empty());
  auto amal = connect_studio(port, "amal", amal_password);
  auto producer = connect_studio(port, "producer", producer_password);
  // The speaker, as the producer puts them on the lower third.
  REQUIRE(producer->send_json({{"type", "lower_third"}, {"name_ar", "بدر الحارثي"}, {"name_en", "Badr Al Harthy"}}));
  REQUIRE(producer->recv_until([](const json& j) { return j.value("type", "") == "ok"; }, 5000));

  auto v = connect_viewer(port);
  auto [code0, name0] = hello(*v, "Mariam");
  REQUIRE(code0.empty());
  REQUIRE(name0 == "Mariam");
  const int64_t first = post(*v, "i-0", "first comment");
  CHECK(stored_comment(db, first).name == "Mariam");

  const std::vector<std::string> imitations = {
      "amal",                                      // the moderator, exactly
      "AMAL",                                      // other case
      cp(0x0430) + "m" + cp(0x0430) + "l",         // Cyrillic а
      "a" + cp(0x200B) + "mal",                    // zero-width space inside
      "AmaI",                                      // capital I for l
      "Amal" + repeat(cp(0x0301), 30),             // Zalgo on the name
      cp(0x202E) + "lama" + cp(0x202C),            // RLO: not a match (reads "lama" in memory)
      "producer",                                  // the first-start producer account
      "pr" + cp(0x03BF) + "ducer",                 // Greek omicron
      "Badr Al Harthy",                            // the speaker, English
      "بدر الحارثى",                               // the speaker, Arabic with alef maksura
      "sayyid  badr!",                             // [session] protected_names
      "Sabla team",                                // staff word
      "amal (moderator)",                          // staff word
      "المشرف",                                    // staff word, Arabic
  };
  int refused = 0;
  for (size_t i = 0; i < imitations.size(); ++i) {
    const std::string& name = imitations[i];
    INFO("name: " << name);
    auto [code, shown] = hello(*v, name);
    // "lama" (the RLO case) is a different name once the override is gone.
    if (i == 6) {
      CHECK(code.empty());
      CHECK(shown == "lama");
      REQUIRE(hello(*v, "Mariam").first.empty());
      continue;
    }
    CHECK(code == "impersonation");
    CHECK(shown == "Mariam");  // the previous name stays
    refused += code == "impersonation";
  }
  CHECK(refused == static_cast<int>(imitations.size()) - 1);

  // Nothing imitating was stored: the viewer row and new comments keep the old name.
  const int64_t after = post(*v, "i-1", "second comment");
  CHECK(stored_comment(db, after).name == "Mariam");
  for (const std::string& stored : stored_viewer_names(db)) {
    CHECK(stored != "amal");
    CHECK(stored != "Sabla team");
  }

  // Ordinary names that share a prefix or a word stay allowed.
  for (const std::string name : {"Amalia", "Amal Said", "Badr", "بدر", "Sablawi", "producers united", "مشرفة"}) {
    INFO("name: " << name);
    auto [code, shown] = hello(*v, name);
    CHECK(code.empty());
    CHECK(shown == name);
  }
  const int64_t last = post(*v, "i-2", "third comment");
  CHECK(stored_comment(db, last).name == "مشرفة");
}
