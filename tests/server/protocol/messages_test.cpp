// The comment frame's fast parse (no json tree) against the json parse it
// stands in for, and the hand-built frames against dump().
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "protocol/messages.h"

using namespace sabla;
using nlohmann::json;
using protocol::CommentFrame;

namespace {

// What parse_incoming() + the Room's field reads make of a frame, in
// CommentFrame form; false when it is not a comment with a string, integer
// or missing client_id.
bool via_tree(const std::string& frame, CommentFrame* out) {
  out->clear();
  std::string why;
  auto in = protocol::parse_incoming(frame, &why);
  if (!in || in->type != "comment") return false;
  if (auto it = in->body.find("client_id"); it != in->body.end()) {
    if (it->is_string()) {
      out->id = CommentFrame::Id::string;
      out->client_id = it->get<std::string>();
    } else if (it->is_number_integer()) {
      out->id = CommentFrame::Id::integer;
      out->client_id_int = it->get<int64_t>();
    } else {
      return false;
    }
  }
  if (auto it = in->body.find("text"); it != in->body.end() && it->is_string()) {
    out->text_is_string = true;
    out->text = it->get<std::string>();
  }
  return true;
}

bool nested(const std::string& frame) {
  auto j = json::parse(frame, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  for (auto& [k, v] : j.items())
    if (v.is_structured()) return true;
  return false;
}

}  // namespace

SCENARIO("parse_comment_frame reads what the json parse reads, or declines", "[protocol][parse]") {
  const std::vector<std::string> frames = {
      R"({"type":"comment","client_id":"c-1","text":"مرحبا بكم"})",
      R"({"text":"first","client_id":7,"type":"comment"})",
      R"({"type":"comment","client_id":-9223372036854775808,"text":"min"})",
      R"({"type":"comment","client_id":18446744073709551615,"text":"unsigned max"})",
      R"({"type":"comment","client_id":"","text":"empty id"})",
      R"({"type":"comment","text":"no id"})",
      R"({"type":"comment","client_id":"a"})",
      R"({"type":"comment","client_id":"a","text":5})",
      R"({"type":"comment","client_id":"a","text":null})",
      R"({"type":"comment","client_id":"a","text":"x","text":7})",
      R"({"type":"comment","client_id":"a","text":7,"text":"last wins"})",
      R"({"type":"comment","client_id":1.5,"client_id":"b","text":"x"})",
      R"({"type":"comment","client_id":"b","client_id":true,"text":"x"})",
      R"({"type":"comment","client_id":1.5,"text":"x"})",
      R"({"type":"comment","client_id":null,"text":"x"})",
      R"({"type":"comment","client_id":{"a":1},"text":"x"})",
      R"({"type":"comment","client_id":"a","text":["x"]})",
      R"({"type":"comment","client_id":"a","text":"x","extra":{"deep":[1,2]}})",
      R"({"type":"comment","client_id":"a","text":"x","extra":false,"n":1e5})",
      R"({"type":"vote","id":3})",
      R"({"type":"comment","type":"vote","client_id":"a","text":"x"})",
      R"({"type":5,"type":"comment","client_id":"a","text":"x"})",
      R"({"type":"comment","type":5,"client_id":"a","text":"x"})",
      R"({"client_id":"a","text":"x"})",
      R"({"type":"Comment","client_id":"a","text":"x"})",
      R"({"type":"comment","client_id":"a","text":"esc \" \\ \/ \n \t \u0001 \u0645 \ud83d\ude00"})",
      R"({"type":"comment","client_id":"a","text":"\ud800"})",
      R"({"type":"comment","client_id":"a","text":"x"} trailing)",
      R"({"type":"comment","client_id":"a","text":"x")",
      R"({"type":"comment","client_id":"a","text":"x",})",
      "{\"type\":\"comment\",\"client_id\":\"a\",\"text\":\"raw\ncontrol\"}",
      "{\"type\":\"comment\",\"client_id\":\"a\",\"text\":\"bad \xC3\x28 utf8\"}",
      "{\"type\":\"comment\",\"client_id\":\"a\",\"text\":\"cut \xD9\"}",
      R"(["comment"])",
      R"("comment")",
      R"(42)",
      "",
      "   ",
      R"({})",
      "\xEF\xBB\xBF{\"type\":\"comment\",\"client_id\":\"bom\",\"text\":\"x\"}",
      "  {\"type\" : \"comment\" , \"client_id\" : \"sp\" , \"text\" : \" spaced \" }  ",
  };
  for (const std::string& frame : frames) {
    CAPTURE(frame);
    CommentFrame fast;
    CommentFrame tree;
    const bool fast_ok = protocol::parse_comment_frame(frame, &fast);
    const bool tree_ok = via_tree(frame, &tree);
    if (fast_ok) {
      // Whatever the fast path accepts, the json path reads the same way.
      REQUIRE(tree_ok);
      CHECK(static_cast<int>(fast.id) == static_cast<int>(tree.id));
      CHECK(fast.client_id == tree.client_id);
      CHECK(fast.client_id_int == tree.client_id_int);
      CHECK(fast.text_is_string == tree.text_is_string);
      CHECK(fast.text == tree.text);
    } else if (tree_ok) {
      // It declines only nested values; the caller's json path takes them.
      CHECK(nested(frame));
    }
  }
}

SCENARIO("parse_comment_frame takes the common frame and declines the rest", "[protocol][parse]") {
  CommentFrame f;
  REQUIRE(protocol::parse_comment_frame(R"({"type":"comment","client_id":"c-1","text":"مرحبا"})", &f));
  CHECK(f.id == CommentFrame::Id::string);
  CHECK(f.client_id == "c-1");
  CHECK(f.text == "مرحبا");
  REQUIRE(protocol::parse_comment_frame(R"({"type":"comment","client_id":42,"text":"x"})", &f));
  CHECK(f.id == CommentFrame::Id::integer);
  CHECK(f.client_id_int == 42);
  CHECK(f.client_id.empty());  // nothing left over from the frame before
  REQUIRE(protocol::parse_comment_frame(R"({"type":"comment","text":5})", &f));
  CHECK(f.id == CommentFrame::Id::missing);
  CHECK_FALSE(f.text_is_string);
  CHECK_FALSE(protocol::parse_comment_frame(R"({"type":"comment","client_id":1.5,"text":"x"})", &f));
  CHECK_FALSE(protocol::parse_comment_frame(R"({"type":"hello","token":"t"})", &f));
  CHECK_FALSE(protocol::parse_comment_frame("{not json", &f));
  CHECK_FALSE(protocol::parse_comment_frame(std::string(20, '[') + std::string(20, ']'), &f));
}

SCENARIO("hand-built frames are byte-identical to dump()", "[protocol][frames]") {
  std::vector<std::string> strings = {"", "c-1", "مرحبا بكم", "quote \" backslash \\ slash /", "\b\f\n\r\t",
                                      "emoji 😀 zwj 👩‍💻", "\x7F del", "a\u2028b"};
  for (int c = 0; c < 0x20; ++c) strings.push_back(std::string("ctl ") + static_cast<char>(c) + " end");
  for (const std::string& s : strings) {
    CAPTURE(s);
    std::string out;
    protocol::append_json_string(out, s);
    CHECK(out == protocol::dump(json(s)));
    CHECK(protocol::ack_frame(out, 42, "pending") ==
          protocol::dump(json{{"type", "ack"}, {"client_id", s}, {"id", 42}, {"status", "pending"}}));
  }
  CHECK(protocol::ack_frame("-7", 9007199254740993, "approved") ==
        protocol::dump(json{{"type", "ack"}, {"client_id", -7}, {"id", 9007199254740993}, {"status", "approved"}}));
}

SCENARIO("comment_frame is byte-identical to the json it replaces", "[protocol][frames]") {
  store::CommentRow row;
  row.id = 42;
  row.session_id = 3;
  row.viewer_id = 17;
  row.display_name = "أمل \"A\" \\ ";
  row.text = "ما هي خطة تطوير الطرق؟\nline two\t😀";
  row.lang = "ar";
  row.direction = "rtl";
  row.source = "web";
  row.received_at_ms = 1765000000123;
  row.votes = 5;
  for (auto status : {store::CommentStatus::pending, store::CommentStatus::approved, store::CommentStatus::rejected}) {
    row.status = status;
    for (bool offset : {false, true}) {
      row.stream_offset_ms = offset ? std::optional<int64_t>(-250) : std::nullopt;
      for (bool for_studio : {false, true}) {
        for (const std::string reason : {"", "blocked word: x"}) {
          for (bool has_viewer : {false, true}) {
            row.viewer_id = has_viewer ? std::optional<int64_t>(17) : std::nullopt;
            CAPTURE(offset, for_studio, reason, has_viewer);
            CHECK(protocol::comment_frame("pending", row, for_studio, reason) ==
                  protocol::dump(json{{"type", "pending"}, {"comment", protocol::comment_json(row, for_studio, reason)}}));
          }
        }
      }
    }
  }
  // Not UTF-8 (never from the sanitizer): the same replacement as dump().
  row.text = "cut \xD9";
  CHECK(protocol::comment_frame("comment", row, false) ==
        protocol::dump(json{{"type", "comment"}, {"comment", protocol::comment_json(row, false)}}));
}
