// Poll exports (polls CSV with BOM, polls-json, and "polls" in the JSON
// export) from a real SQLite file written through the real Store, and the
// real `sabla export` binary.
#include <catch2/catch.hpp>

#include <stdio.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "archive/export.h"
#include "support/csv_reader.h"
#include "support/server_process.h"
#include "support/store_helpers.h"
#include "store/store.h"

using namespace sabla;
using namespace sabla::store;
using archive::Exporter;
using archive::Format;
using nlohmann::json;

namespace {

constexpr int64_t kLiveAt = 1'764'400'000'000;  // 2025-11-29T07:06:40.000Z

std::string export_all(const std::string& db, int64_t session, Format f) {
  auto ex = Exporter::open(db, session, f);
  INFO(ex.status().message());
  REQUIRE(ex.is_ok());
  std::string out, chunk;
  while ((*ex)->next(&chunk)) {
    out += chunk;
    chunk.clear();
  }
  INFO((*ex)->status().message());
  REQUIRE((*ex)->status().is_ok());
  return out;
}

struct Fixture {
  test::TempDir dir{"sabla-polls-export"};
  std::string db = dir.path() + "/sabla.db";
  int64_t session = 0;
  int64_t poll = 0;
  int64_t draft = 0;

  Fixture() {
    auto store = test::open_test_store(db);
    SessionRow s;
    s.title_ar = "جلسة الميزانية";
    s.title_en = "Budget hearing";
    s.status = "live";
    s.created_at_ms = kLiveAt - 60'000;
    s.live_at_ms = kLiveAt;
    session = test::await_store<Result<SessionRow>>(*store, [&](auto cb) { return store->create_session(s, cb); })->id;

    PollRow p;
    p.session_id = session;
    p.question_ar = "ما أولوية الميزانية؟";
    p.question_en = "=Budget, priority?";  // a formula-looking, comma-holding cell
    p.options = R"([{"ar":"الطرق","en":"Roads"},{"ar":"المدارس","en":"Schools"},{"ar":"الصحة","en":"Health"}])";
    p.created_by = "producer";
    p.created_at_ms = kLiveAt + 1000;
    ModerationEvent ev;
    ev.action = "poll_create";
    ev.actor = "producer";
    ev.at_ms = p.created_at_ms;
    auto created = test::await_store<Result<PollRow>>(*store, [&](auto cb) { return store->create_poll(p, ev, cb); });
    REQUIRE(created.is_ok());
    poll = created->id;
    PollRow d = p;
    d.question_en = "Draft";
    draft = test::await_store<Result<PollRow>>(*store, [&](auto cb) { return store->create_poll(d, ev, cb); })->id;

    PollRow opened = *created;
    opened.status = "closed";
    opened.opened_at_ms = kLiveAt + 60'000;
    opened.opened_offset_ms = 60'000;
    opened.closed_at_ms = kLiveAt + 125'500;
    opened.closed_offset_ms = 125'500;
    ev.action = "poll_close";
    REQUIRE(test::await_store<Status>(*store, [&](auto cb) { return store->update_poll(opened, ev, cb); }).is_ok());
    // Viewer 3 changed their vote: only the last ballot counts.
    const std::pair<int64_t, const char*> ballots[] = {{1, "[0]"}, {2, "[1]"}, {3, "[0]"}, {3, "[1]"}, {4, "[1]"}};
    for (const auto& [viewer, options] : ballots) {
      PollBallotRow b{poll, viewer, options, "127.0.0.1", kLiveAt + 70'000};
      REQUIRE(test::await_store<Status>(*store, [&](auto cb) { return store->save_poll_ballot(b, cb); }).is_ok());
    }
  }
};

}  // namespace

SCENARIO("polls export as CSV with BOM and as JSON, with counts, times and offsets", "[archive][polls]") {
  Fixture fx;
  CHECK(archive::parse_format("polls") == Format::polls);
  CHECK(archive::parse_format("polls-json") == Format::polls_json);
  CHECK(archive::format_name(Format::polls_json) == "polls-json");

  WHEN("the polls CSV is exported") {
    const std::string csv = export_all(fx.db, fx.session, Format::polls);
    THEN("it starts with a BOM and has one row per option, the last ballot counting") {
      REQUIRE(csv.rfind("\xEF\xBB\xBF", 0) == 0);
      auto rows = test::parse_csv(csv.substr(3));
      REQUIRE(rows.size() == 1 + 3 + 3);  // header, the closed poll's options, the draft's
      CHECK(rows[0][0] == "poll");
      CHECK(rows[0][9] == "votes");
      CHECK(rows[1][0] == std::to_string(fx.poll));
      CHECK(rows[1][1] == "ما أولوية الميزانية؟");
      CHECK(rows[1][2] == "'=Budget, priority?");  // neutralised, quoted
      CHECK(rows[1][3] == "closed");
      CHECK(rows[1][7] == "الطرق");
      CHECK(rows[1][9] == "1");
      CHECK(rows[2][9] == "3");
      CHECK(rows[3][9] == "0");
      CHECK(rows[2][10] == "75");
      CHECK(rows[1][11] == "4");
      CHECK(rows[1][12] == "2025-11-29T07:07:40.000Z");
      CHECK(rows[1][13] == "00:01:00.000");
      CHECK(rows[1][15] == "00:02:05.500");
      CHECK(rows[4][3] == "draft");
      CHECK(rows[4][12].empty());
    }
  }
  WHEN("polls-json and the full JSON export are taken") {
    const json doc = json::parse(export_all(fx.db, fx.session, Format::polls_json));
    const json full = json::parse(export_all(fx.db, fx.session, Format::json));
    THEN("both list the polls with their options, counts and offsets") {
      CHECK(doc["format"] == "sabla-polls");
      REQUIRE(doc["polls"].size() == 2);
      const json& p = doc["polls"][0];
      CHECK(p["question_ar"] == "ما أولوية الميزانية؟");
      CHECK(p["total"] == 4);
      CHECK(p["options"][1]["en"] == "Schools");
      CHECK(p["options"][1]["votes"] == 3);
      CHECK(p["opened_offset_ms"] == 60'000);
      CHECK(p["closed_offset"] == "00:02:05.500");
      CHECK(doc["polls"][1]["opened_at"].is_null());
      REQUIRE(full["polls"].size() == 2);
      CHECK(full["polls"][0] == p);
      CHECK(full["comments"].empty());
    }
  }
  WHEN("the CLI exports the polls") {
    const std::string cmd = std::string(SABLA_BINARY) + " export --session " + std::to_string(fx.session) +
                            " --format polls --data '" + fx.dir.path() + "' 2>/dev/null";
    FILE* pipe = popen(cmd.c_str(), "r");
    REQUIRE(pipe);
    std::string out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
    const int status = pclose(pipe);
    THEN("it writes the same CSV") {
      CHECK(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 0);
      CHECK(out == export_all(fx.db, fx.session, Format::polls));
    }
  }
}
