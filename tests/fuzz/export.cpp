// Fuzz target: the archive exporters (server/archive/export.h) over a
// session whose comment texts, authors, deciders and offsets come from the
// input, written through the real Store into a real SQLite file in a
// temporary directory (one file per process, one new session per input).
//
// Input: records separated by 0xFF bytes, one comment each (at most 16):
//   byte 0: bits 0-1 status (pending, approved, rejected, hidden),
//           bit 2 aired, bit 3 taken off air by "replaced" (else "cleared"),
//           bit 4 the comment has a stored stream offset (else it is derived
//           from its receive time), bit 5 from a viewer (else a bridge),
//           bit 6 the offset is negative, bit 7 the offset is shifted left 24
//   byte 1: bit 0 left on air (no end event), bit 1 the on-air events carry
//           no stored offset, bit 2 the session has ended
//   bytes 2-5: offset in ms (little endian), bytes 6-7: time on air / 10 ms
//   rest: author, a 0x00 byte, text (without 0x00: no author, all text).
// On-air events follow one another in time, as the server writes them.
//
// Properties: no crash; CSV has the BOM, parses (RFC 4180) back to a header
// plus one row of 13 fields per comment, and the text and author cells read
// back as stored (valid UTF-8 text; with the formula-injection apostrophe);
// VTT / SRT / chat-VTT are valid UTF-8 made of well-formed cues in start
// order with end > start; a strict SRT reader (tests/support/srt_reader.h)
// finds exactly one cue per airing that was on screen (aired, and left on
// air or taken off after more than 0 ms), no cue text that would read as a
// cue number, timing line or markup; JSON parses.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "archive/export.h"
#include "fuzz_check.h"
#include "moderation/text.h"
#include "store/store.h"
#include "support/csv_reader.h"
#include "support/srt_reader.h"

using namespace sabla;
using namespace sabla::store;
using archive::Exporter;
using archive::Format;
using moderation::is_valid_utf8;

namespace {

namespace fs = std::filesystem;

constexpr int64_t kLiveAt = 1'764'400'000'000;  // 2025-11-29T07:06:40.000Z
constexpr size_t kMaxComments = 16;
// A fresh database now and then keeps inserts and lookups as fast as at the start.
constexpr int kInputsPerDatabase = 2000;

fs::path temp_dir;
std::unique_ptr<Store> store;
int inputs_on_this_db = 0;
int databases = 0;

std::string db_path() { return (temp_dir / ("fuzz-" + std::to_string(databases) + ".db")).string(); }

void remove_temp_dir() {
  store.reset();
  std::error_code ec;
  fs::remove_all(temp_dir, ec);
}

Store& fresh_enough_store() {
  if (store && inputs_on_this_db++ < kInputsPerDatabase) return *store;
  if (store) {
    store.reset();
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db_path() + suffix, ec);
    ++databases;
  }
  inputs_on_this_db = 0;
  Store::Options o;
  o.path = db_path();
  o.threaded = false;
  auto s = Store::open(o, [](Task t) { t(); });
  FUZZ_CHECK(s.is_ok(), "could not open the store: " + s.status().message());
  store = std::move(s.value());
  return *store;
}

// Writes complete inline (non-threaded store); this unwraps them.
template <class R, class Call>
R write(Call call) {
  std::optional<R> out;
  FUZZ_CHECK(call([&](R r) { out = std::move(r); }), "the store refused a write");
  store->flush();
  FUZZ_CHECK(out.has_value(), "a write did not complete");
  return std::move(*out);
}

struct Fuzzed {
  uint8_t flags = 0;
  uint8_t more = 0;
  int64_t offset_ms = 0;
  int64_t on_air_ms = 0;
  std::string author;
  std::string text;
};

Fuzzed decode(std::string_view record) {
  Fuzzed f;
  auto byte = [&](size_t i) { return i < record.size() ? static_cast<uint8_t>(record[i]) : uint8_t{0}; };
  f.flags = byte(0);
  f.more = byte(1);
  uint64_t offset = byte(2) | byte(3) << 8 | byte(4) << 16 | uint64_t{byte(5)} << 24;
  if (f.flags & 0x80) offset <<= 24;
  f.offset_ms = f.flags & 0x40 ? -static_cast<int64_t>(offset) : static_cast<int64_t>(offset);
  f.on_air_ms = (byte(6) | byte(7) << 8) * 10;
  const std::string_view rest = record.size() > 8 ? record.substr(8) : std::string_view();
  const size_t nul = rest.find('\0');
  if (nul == std::string_view::npos) {
    f.text = std::string(rest);
  } else {
    f.author = std::string(rest.substr(0, nul));
    f.text = std::string(rest.substr(nul + 1));
  }
  return f;
}

std::string export_all(int64_t session, Format format) {
  auto ex = Exporter::open(db_path(), session, format);
  FUZZ_CHECK(ex.is_ok(), "export open failed: " + ex.status().message());
  std::string bytes;
  while ((*ex)->next(&bytes)) {
  }
  FUZZ_CHECK((*ex)->status().is_ok(), "export failed: " + (*ex)->status().message());
  return bytes;
}

// What a CSV cell must read back as for a stored valid UTF-8 value.
std::string csv_expected(const std::string& value) {
  const bool formula = !value.empty() && (value[0] == '=' || value[0] == '+' || value[0] == '-' ||
                                          value[0] == '@' || value[0] == '\t' || value[0] == '\r');
  return formula ? "'" + value : value;
}

bool is_timestamp(std::string_view s, char fraction) {
  // [-]HH+:MM:SS.mmm (hours may grow past two digits)
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon < 2) return false;
  for (size_t i = 0; i < colon; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  const std::string_view tail = s.substr(colon);
  if (tail.size() != 10 || tail[3] != ':' || tail[6] != fraction) return false;
  for (size_t i : {1, 2, 4, 5, 7, 8, 9})
    if (tail[i] < '0' || tail[i] > '9') return false;
  return tail[1] < '6' && tail[4] < '6';
}

int64_t timestamp_ms(std::string_view s) {
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  const size_t colon = s.find(':');
  // Hours that overflow cannot come from an int64 of ms; is_timestamp ran first.
  const int64_t hours = std::strtoll(std::string(s.substr(0, colon)).c_str(), nullptr, 10);
  const std::string_view t = s.substr(colon);
  const int64_t rest = ((t[1] - '0') * 10 + (t[2] - '0')) * 60000 + ((t[4] - '0') * 10 + (t[5] - '0')) * 1000 +
                       (t[7] - '0') * 100 + (t[8] - '0') * 10 + (t[9] - '0');
  const int64_t ms = static_cast<int64_t>(static_cast<uint64_t>(hours) * 3600000 + static_cast<uint64_t>(rest));
  return negative ? -ms : ms;
}

// Cues: "N\nSTART --> END\ntext line\n...\n\n"; returns how many.
size_t check_cues(std::string_view doc, bool vtt, std::string_view what) {
  FUZZ_CHECK(is_valid_utf8(doc), std::string(what) + ": invalid UTF-8");
  if (vtt) {
    FUZZ_CHECK(doc.substr(0, 8) == "WEBVTT\n\n", std::string(what) + ": no WEBVTT header");
    doc.remove_prefix(8);
  }
  const char fraction = vtt ? '.' : ',';
  size_t cues = 0;
  std::optional<int64_t> last_start;
  while (!doc.empty()) {
    const size_t end = doc.find("\n\n");
    FUZZ_CHECK(end != std::string_view::npos, std::string(what) + ": a cue does not end with a blank line");
    std::string_view block = doc.substr(0, end);
    doc.remove_prefix(end + 2);
    std::vector<std::string_view> lines;
    for (size_t nl; (nl = block.find('\n')) != std::string_view::npos; block.remove_prefix(nl + 1))
      lines.push_back(block.substr(0, nl));
    lines.push_back(block);
    FUZZ_CHECK(lines.size() >= 3, std::string(what) + ": a cue needs number, timing and text");
    FUZZ_CHECK(lines[0] == std::to_string(++cues), std::string(what) + ": cue numbers");
    const size_t arrow = lines[1].find(" --> ");
    FUZZ_CHECK(arrow != std::string_view::npos, std::string(what) + ": timing line");
    const std::string_view start = lines[1].substr(0, arrow), stop = lines[1].substr(arrow + 5);
    FUZZ_CHECK(is_timestamp(start, fraction) && is_timestamp(stop, fraction),
               std::string(what) + ": timestamps: " + std::string(lines[1]));
    FUZZ_CHECK(timestamp_ms(stop) > timestamp_ms(start), std::string(what) + ": a cue ends before it starts");
    FUZZ_CHECK(!last_start || timestamp_ms(start) >= *last_start, std::string(what) + ": cues out of start order");
    last_start = timestamp_ms(start);
    for (size_t i = 2; i < lines.size(); ++i) {
      FUZZ_CHECK(!lines[i].empty(), std::string(what) + ": an empty text line");
      if (vtt) FUZZ_CHECK(lines[i].find("-->") == std::string_view::npos, std::string(what) + ": --> in cue text");
    }
  }
  return cues;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // the store's notes would drown the fuzzer's output
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/sabla-fuzz-export-XXXXXX";
  FUZZ_CHECK(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
  temp_dir = pattern;
  std::atexit(remove_temp_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<Fuzzed> comments;
  for (size_t start = 0; start < input.size() && comments.size() < kMaxComments;) {
    size_t end = input.find('\xFF', start);
    if (end == std::string_view::npos) end = input.size();
    comments.push_back(decode(input.substr(start, end - start)));
    start = end + 1;
  }
  Store& st = fresh_enough_store();
  const bool ended = !comments.empty() && (comments[0].more & 4);

  SessionRow session;
  session.title_ar = "جلسة";
  session.title_en = "Fuzz";
  session.status = ended ? "ended" : "live";
  session.created_at_ms = kLiveAt - 60'000;
  session.live_at_ms = kLiveAt;
  if (ended) session.ended_at_ms = kLiveAt + 3'600'000;
  const auto created = write<Result<SessionRow>>([&](auto cb) { return st.create_session(session, cb); });
  FUZZ_CHECK(created.is_ok(), "create_session: " + created.status().message());
  const int64_t sid = created->id;

  std::vector<int64_t> ids;
  size_t airings_on_screen = 0;  // cues the SRT must hold
  int64_t air_clock = 0;  // on-air events move forward only, as on a real studio
  for (const Fuzzed& f : comments) {
    CommentRow row;
    row.session_id = sid;
    if (f.flags & 0x20) row.viewer_id = 1;
    else row.source = "bridge";
    row.display_name = f.author;
    row.text = f.text;
    row.lang = "ar";
    row.direction = "rtl";
    // Saturating: a receive time is a real clock reading, never past int64.
    row.received_at_ms = f.offset_ms > 0 && kLiveAt > INT64_MAX - f.offset_ms ? INT64_MAX : kLiveAt + f.offset_ms;
    if (f.flags & 0x10) row.stream_offset_ms = f.offset_ms;
    const auto inserted =
        write<Result<InsertedComment>>([&](auto cb) { return st.insert_comment(row, std::nullopt, cb); });
    FUZZ_CHECK(inserted.is_ok(), "insert_comment: " + inserted.status().message());
    const int64_t id = inserted->id;
    ids.push_back(id);

    if (const int status = f.flags & 3; status != 0) {
      Decision d;
      d.comment_id = id;
      d.new_status = status == 1 ? CommentStatus::approved : status == 2 ? CommentStatus::rejected : CommentStatus::hidden;
      d.event.session_id = sid;
      d.event.comment_id = id;
      d.event.action = status == 1 ? "approve" : status == 2 ? "reject" : "hide";
      d.event.actor = f.author;  // decided_by: another fuzzed cell
      d.event.reason = f.text.substr(0, 16);
      d.event.at_ms = kLiveAt + air_clock;
      const Status s = write<Status>([&](auto cb) { return st.apply_decision(d, cb); });
      FUZZ_CHECK(s.is_ok(), "apply_decision: " + s.message());
    }
    if (f.flags & 4) {
      std::vector<OnAirEventRow> events;
      auto event = [&](const char* kind) {
        OnAirEventRow e;
        e.session_id = sid;
        e.at_ms = kLiveAt + air_clock;
        if (!(f.more & 2)) e.stream_offset_ms = air_clock;
        e.kind = kind;
        e.comment_id = id;
        e.actor = f.author;
        e.detail = R"({"mode":"air"})";
        events.push_back(e);
      };
      event("aired");
      // Both offset forms place the airing at air_clock; one left on air
      // always gets an end after its start (session end, last event or 8 s).
      if ((f.more & 1) || f.on_air_ms > 0) ++airings_on_screen;
      air_clock += f.on_air_ms;
      if (!(f.more & 1)) event(f.flags & 8 ? "replaced" : "cleared");
      const Status s = write<Status>([&](auto cb) { return st.record_on_air(events, nlohmann::json(nullptr), cb); });
      FUZZ_CHECK(s.is_ok(), "record_on_air: " + s.message());
    }
  }

  // CSV: header + one row per comment, 14 cells each, text and author intact.
  const std::string csv = export_all(sid, Format::csv);
  FUZZ_CHECK(csv.substr(0, 3) == "\xEF\xBB\xBF", "CSV without BOM");
  FUZZ_CHECK(is_valid_utf8(csv), "CSV: invalid UTF-8");
  const auto rows = test::parse_csv(std::string_view(csv).substr(3));
  FUZZ_CHECK(rows.size() == comments.size() + 1, "CSV rows: " + std::to_string(rows.size()) + " for " +
                                                     std::to_string(comments.size()) + " comments");
  for (size_t i = 0; i < rows.size(); ++i) FUZZ_CHECK(rows[i].size() == 14, "CSV row " + std::to_string(i));
  for (size_t i = 0; i < comments.size(); ++i) {
    FUZZ_CHECK(rows[i + 1][0] == std::to_string(ids[i]), "CSV id cell");
    if (is_valid_utf8(comments[i].text))
      FUZZ_CHECK(rows[i + 1][5] == csv_expected(comments[i].text), "CSV text cell does not read back");
    if (is_valid_utf8(comments[i].author))
      FUZZ_CHECK(rows[i + 1][3] == csv_expected(comments[i].author), "CSV author cell does not read back");
  }

  check_cues(export_all(sid, Format::vtt), true, "VTT");
  const std::string srt = export_all(sid, Format::srt);
  check_cues(srt, false, "SRT");
  const test::SrtDocument parsed = test::parse_srt_strict(srt);
  FUZZ_CHECK(parsed.ok(), "SRT: " + parsed.error);
  FUZZ_CHECK(parsed.cues.size() == airings_on_screen, "SRT: " + std::to_string(parsed.cues.size()) + " cues for " +
                                                         std::to_string(airings_on_screen) + " airings");
  check_cues(export_all(sid, Format::chat_vtt), true, "chat VTT");
  FUZZ_CHECK(!nlohmann::json::parse(export_all(sid, Format::json), nullptr, false).is_discarded(), "JSON export");
  return 0;
}
