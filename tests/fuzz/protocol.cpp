// Fuzz target: the /ws message decoder and the Room's dispatch, with any
// bytes as frames from any role. A fresh Room per input over a real SQLite
// store (":memory:", non-threaded, so completions run inline) and a manual
// clock, as tests/server/moderation/room_test.cpp drives it.
//
// Input: records separated by 0xFF bytes (never part of valid UTF-8, so
// text frames keep every other byte). A record's first byte is the control
// byte: `c % 10` picks who sends the rest of the record as one frame,
// `(c / 10)^2 * 100` ms is how far the clock moves first (0 .. 62.5 s, for
// rate limits, slow mode, bans and the on-air rotation). An input without
// 0xFF is one frame: first byte the role, the rest the frame.
//
//   0 viewer A   1 viewer B   2 studio producer   3 studio moderator
//   4 studio archivist (may not moderate)   5 overlay reconnects (frame unused:
//   overlays are read-only, the net front refuses their frames)
//   6 viewer A reconnects as a new connection, then sends the frame
//   7 tick (frame unused)   8 bridge API: the frame is the POST body
//   9 sessions API: the frame is a create body, the new session goes live;
//     an empty frame ends the current session
//
// Properties: nothing crashes or throws out of the Room; every frame it
// sends or publishes and every API reply is valid UTF-8, parses as a JSON
// object with a string "type" (replies: any JSON), and dumps with nlohmann's
// strict UTF-8 check; no U+FFFD appears unless the input had one (dump()'s
// replace handler would otherwise hide invalid UTF-8 reaching it).
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "config/config.h"
#include "fuzz_check.h"
#include "moderation/room.h"
#include "moderation/text.h"
#include "store/store.h"

using namespace sabla;
using namespace sabla::moderation;
using nlohmann::json;

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

bool input_has_replacement = false;

bool contains_replacement_escape(std::string_view s) {
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find("\\ufffd") != std::string::npos;
}

void check_json_text(std::string_view what, const std::string& text, bool needs_type) {
  FUZZ_CHECK(is_valid_utf8(text), what);
  FUZZ_CHECK(input_has_replacement || text.find(kReplacement) == std::string::npos,
             std::string(what) + ": U+FFFD without one in the input (invalid UTF-8 reached dump?): " + text);
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!j.is_discarded(), std::string(what) + ": not JSON: " + text);
  if (needs_type) {
    FUZZ_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), std::string(what) + ": no type: " + text);
  }
  try {
    (void)j.dump();
  } catch (const json::exception& e) {
    FUZZ_CHECK(false, std::string(what) + ": strict dump threw: " + e.what());
  }
}

struct CheckingOutbound final : Outbound {
  void send(ConnId, std::string frame) override { check_json_text("send", frame, true); }
  void publish(Audience, std::string frame) override { check_json_text("publish", frame, true); }
  void close(ConnId, int code, std::string reason) override {
    FUZZ_CHECK(code >= 1000 && code < 5000, "close code");
    FUZZ_CHECK(is_valid_utf8(reason) && reason.size() <= 123, "close reason must fit a control frame");
  }
  void flush(Audience) override {}
};

void check_reply(const ApiReply& reply) {
  FUZZ_CHECK(reply.status >= 200 && reply.status < 600, "API status");
  std::string text;
  try {
    text = reply.body.dump();
  } catch (const json::exception& e) {
    FUZZ_CHECK(false, std::string("API reply: strict dump threw: ") + e.what());
  }
  check_json_text("API reply", text, false);
}

constexpr ConnId kViewerA = 1, kViewerB = 2, kProducer = 10, kModerator = 11, kArchivist = 12, kOverlay = 20;
const Actor kProducerActor{"badr", "producer"};
const Actor kModeratorActor{"amal", "moderator"};
const Actor kArchivistActor{"rana", "archivist"};
const Actor kBridgeActor{"token:bridge", "producer"};

struct World {
  Config config;
  ManualClock clock;
  CheckingOutbound out;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Room> room;
  ConnId viewer_a = kViewerA;
  ConnId next_conn = 100;

  bool open() {
    store::Store::Options o;
    o.path = ":memory:";
    o.threaded = false;
    auto s = store::Store::open(o, [](store::Task t) { t(); });
    if (!s) return false;
    store = std::move(*s);
    room = std::make_unique<Room>(config, *store, clock, out);
    if (!room->load()) return false;
    room->viewer_connected(viewer_a, "10.0.0.1");
    room->viewer_connected(kViewerB, "10.0.0.2");
    room->studio_connected(kProducer, kProducerActor);
    room->studio_connected(kModerator, kModeratorActor);
    room->studio_connected(kArchivist, kArchivistActor);
    room->overlay_connected(kOverlay);
    return true;
  }

  void deliver(uint8_t control, std::string_view frame) {
    clock.advance(int64_t{control / 10} * (control / 10) * 100);
    switch (control % 10) {
      case 0: room->viewer_message(viewer_a, frame); break;
      case 1: room->viewer_message(kViewerB, frame); break;
      case 2: room->studio_message(kProducer, frame); break;
      case 3: room->studio_message(kModerator, frame); break;
      case 4: room->studio_message(kArchivist, frame); break;
      case 5:
        room->overlay_disconnected(kOverlay);
        room->overlay_connected(kOverlay);
        break;
      case 6:
        room->viewer_disconnected(viewer_a);
        viewer_a = next_conn++;
        room->viewer_connected(viewer_a, "10.0.0.1");
        room->viewer_message(viewer_a, frame);
        break;
      case 7: room->tick(); break;
      case 8: {
        const json body = json::parse(frame, nullptr, /*allow_exceptions=*/false);
        if (body.is_discarded()) break;
        room->bridge_comment(kBridgeActor, room->current_session_id().value_or(1), body, check_reply);
        break;
      }
      case 9: {
        if (frame.empty()) {
          room->end_session(kProducerActor, room->current_session_id().value_or(1), check_reply);
          break;
        }
        const json body = json::parse(frame, nullptr, /*allow_exceptions=*/false);
        if (body.is_discarded()) break;
        room->create_session(kProducerActor, body, [this](ApiReply reply) {
          check_reply(reply);
          if (reply.status == 201 && reply.body.contains("id") && reply.body["id"].is_number_integer())
            room->set_session_live(kProducerActor, reply.body["id"].get<int64_t>(), check_reply);
        });
        break;
      }
    }
    // Every message kind above must leave the Room able to serve newcomers.
    (void)room->list_sessions();
    (void)room->metrics();
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  crypto::init();
  // Per-input start-up lines ("created default session") would drown the
  // fuzzer's own output and cost time; failures abort with their own message.
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  input_has_replacement = input.find(kReplacement) != std::string_view::npos || contains_replacement_escape(input);

  World world;
  FUZZ_CHECK(world.open(), "could not open the in-memory store");
  size_t start = 0;
  while (start < input.size()) {
    size_t end = input.find('\xFF', start);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view record = input.substr(start, end - start);
    if (!record.empty()) world.deliver(static_cast<uint8_t>(record[0]), record.substr(1));
    start = end + 1;
  }
  // A connection leaving must be as safe as any frame.
  world.room->viewer_disconnected(world.viewer_a);
  world.room->studio_disconnected(kModerator);
  world.room->tick();
  return 0;
}
