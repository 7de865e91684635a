#include "archive/export.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <exception>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/decisions.h"
#include "common/crypto.h"
#include "store/archive_reader.h"

namespace sabla::archive {

using json = nlohmann::ordered_json;  // keys in the documented order
using store::ArchiveComment;
using store::ArchiveCursor;
using store::ArchiveOnAirEvent;
using store::ArchiveOrder;
using store::ModerationEvent;
using store::SessionRow;

namespace {

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Stored text can come from bridges or direct SQL; JSON is dumped with the
// replace handler, and the text formats get the same U+FFFD substitution so
// every format shows the same characters. The common case (valid UTF-8) is
// one pass and one copy.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string utf8_text(std::string_view s) {
  if (valid_utf8(s)) return std::string(s);
  // Round-trips through the JSON serializer's own replacement so both
  // agree byte for byte.
  const std::string quoted = json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
  return json::parse(quoted).get<std::string>();
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json opt(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }
json opt_iso(const std::optional<int64_t>& v) { return v ? json(iso8601_utc(*v)) : json(nullptr); }
json opt_offset(const std::optional<int64_t>& v) { return v ? json(format_offset(*v)) : json(nullptr); }

json session_json(const SessionRow& s) {
  return json{{"id", s.id},
              {"title_ar", s.title_ar},
              {"title_en", s.title_en},
              {"status", s.status},
              {"created_at", iso8601_utc(s.created_at_ms)},
              {"created_at_ms", s.created_at_ms},
              {"live_at", opt_iso(s.live_at_ms)},
              {"live_at_ms", opt(s.live_at_ms)},
              {"ended_at", opt_iso(s.ended_at_ms)},
              {"ended_at_ms", opt(s.ended_at_ms)}};
}

json event_json(const ModerationEvent& e) {
  return json{{"id", e.id},
              {"session", opt(e.session_id)},
              {"comment", opt(e.comment_id)},
              {"viewer", opt(e.viewer_id)},
              {"action", e.action},
              {"actor", e.actor},
              {"reason", e.reason},
              {"before_text", e.before_text},
              {"after_text", e.after_text},
              {"at", iso8601_utc(e.at_ms)},
              {"at_ms", e.at_ms}};
}

json detail_json(const std::string& text) {
  // The detail column is JSON written by the server; anything else is kept
  // verbatim as a string rather than dropped.
  json parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded()) return json(text);
  return parsed;
}

// Shared state of every format: the reader, the session, and the offset
// rule (stored offset, else time since the session went live).
struct Base {
  std::unique_ptr<store::ArchiveReader> reader;
  SessionRow session;
  // Merged comments (few): each one's head, and each head's merged comments.
  std::unordered_map<int64_t, int64_t> merged_into;
  std::unordered_map<int64_t, std::vector<int64_t>> merged;

  std::optional<int64_t> offset_of(const std::optional<int64_t>& stored, int64_t at_ms) const {
    if (stored) return stored;
    if (session.live_at_ms && at_ms >= *session.live_at_ms) return at_ms - *session.live_at_ms;
    return std::nullopt;
  }
};

}  // namespace

// ---- Exporter::Impl: one subclass per format ----

struct Exporter::Impl {
  Base base;
  Format format = Format::csv;
  Status status;
  bool finished = false;

  virtual ~Impl() = default;
  // Appends to *out until it has grown by kChunkBytes or the export ends
  // (*done). Returns an error to abort.
  virtual Status produce(std::string* out, size_t start, bool* done) = 0;
  virtual size_t peak() const = 0;
};

namespace {

bool room(const std::string* out, size_t start) { return out->size() - start < kChunkBytes; }

// The reader returns a null cursor only when it could not allocate one.
template <class... Cursors>
Status cursors_ok(const Cursors&... cursors) {
  if ((... && cursors)) return Status::ok();
  return Status::error("internal", "out of memory opening an export cursor");
}

template <class... Cursors>
size_t peak_of(const Cursors&... cursors) {
  size_t p = 0;
  ((p = std::max(p, cursors ? cursors->peak_buffered() : size_t{0})), ...);
  return p;
}

// ---- CSV ----

void csv_cell(std::string* out, std::string_view raw) {
  const std::string value = utf8_text(raw);
  // A leading = + - @ TAB or CR makes spreadsheets evaluate the cell; the
  // apostrophe makes them show it as text (OWASP "CSV injection").
  const bool neutralise = !value.empty() && (value[0] == '=' || value[0] == '+' || value[0] == '-' ||
                                             value[0] == '@' || value[0] == '\t' || value[0] == '\r');
  const bool quote = value.find_first_of(",\"\r\n") != std::string::npos;
  if (quote) out->push_back('"');
  if (neutralise) out->push_back('\'');
  if (quote) {
    for (char ch : value) {
      if (ch == '"') out->push_back('"');
      out->push_back(ch);
    }
    out->push_back('"');
  } else {
    out->append(value);
  }
}

struct CsvImpl final : Exporter::Impl {
  std::unique_ptr<ArchiveCursor<ArchiveComment>> comments;
  bool header_done = false;

  Status produce(std::string* out, size_t start, bool* done) override {
    if (!header_done) {
      // The BOM is what makes Excel read the file as UTF-8 (Arabic).
      out->append("\xEF\xBB\xBF");
      out->append(
          "id,received_at,stream_offset,author,source,text,status,decided_by,decided_at,reason,votes,aired,"
          "first_aired_at,merged_into\r\n");
      header_done = true;
      comments = base.reader->comments(base.session.id, ArchiveOrder::by_id);
      if (Status s = cursors_ok(comments); !s) return s;
    }
    while (room(out, start)) {
      const ArchiveComment* c = comments->next();
      if (!c) {
        *done = true;
        return comments->status();
      }
      const auto offset = base.offset_of(c->row.stream_offset_ms, c->row.received_at_ms);
      const auto cell = [&](std::string_view v, bool last = false) {
        csv_cell(out, v);
        out->append(last ? "\r\n" : ",");
      };
      cell(std::to_string(c->row.id));
      cell(iso8601_utc(c->row.received_at_ms));
      cell(offset ? format_offset(*offset) : "");
      cell(c->row.display_name);
      cell(c->row.source);
      cell(c->row.text);
      cell(store::to_string(c->row.status));
      cell(c->decided_by);
      cell(c->decided_at_ms ? iso8601_utc(*c->decided_at_ms) : "");
      cell(c->reason);
      cell(std::to_string(c->row.votes));
      cell(c->first_aired_at_ms ? "yes" : "no");
      cell(c->first_aired_at_ms ? iso8601_utc(*c->first_aired_at_ms) : "");
      auto head = base.merged_into.find(c->row.id);
      cell(head == base.merged_into.end() ? "" : std::to_string(head->second), true);
    }
    return Status::ok();
  }
  size_t peak() const override { return peak_of(comments); }
};

// ---- JSON ----

json comment_json(const Base& base, const ArchiveComment& c) {
  const auto offset = base.offset_of(c.row.stream_offset_ms, c.row.received_at_ms);
  return json{{"id", c.row.id},
              {"session", c.row.session_id},
              {"received_at", iso8601_utc(c.row.received_at_ms)},
              {"received_at_ms", c.row.received_at_ms},
              {"stream_offset", opt_offset(offset)},
              {"stream_offset_ms", opt(offset)},
              {"author", c.row.display_name},
              {"viewer", opt(c.row.viewer_id)},
              {"source", c.row.source},
              {"external_id", c.row.external_id},
              {"lang", c.row.lang},
              {"dir", c.row.direction},
              {"text", c.row.text},
              {"original_text", c.original_text ? json(*c.original_text) : json(nullptr)},
              {"status", store::to_string(c.row.status)},
              {"decision", c.decision_event_id ? json(c.decision_action) : json(nullptr)},
              {"decided_by", c.decision_event_id ? json(c.decided_by) : json(nullptr)},
              {"decided_at", opt_iso(c.decided_at_ms)},
              {"decided_at_ms", opt(c.decided_at_ms)},
              {"reason", c.reason},
              {"votes", c.row.votes},
              {"aired", c.first_aired_at_ms.has_value()},
              {"first_aired_at", opt_iso(c.first_aired_at_ms)},
              {"first_aired_at_ms", opt(c.first_aired_at_ms)},
              {"first_aired_offset_ms", opt(c.first_aired_offset_ms)},
              {"merged_into", base.merged_into.count(c.row.id) ? json(base.merged_into.at(c.row.id)) : json(nullptr)},
              {"merged", base.merged.count(c.row.id) ? json(base.merged.at(c.row.id)) : json::array()}};
}

json on_air_json(const Base& base, const ArchiveOnAirEvent& a) {
  const auto offset = base.offset_of(a.row.stream_offset_ms, a.row.at_ms);
  return json{{"id", a.row.id},
              {"kind", a.row.kind},
              {"comment", opt(a.row.comment_id)},
              {"actor", a.row.actor},
              {"at", iso8601_utc(a.row.at_ms)},
              {"at_ms", a.row.at_ms},
              {"stream_offset", opt_offset(offset)},
              {"stream_offset_ms", opt(offset)},
              {"detail", detail_json(a.row.detail)}};
}

// ---- Polls ----

// A poll with its counts and times; offsets as stored (the poll's own
// session clock), else derived like the comments'.
json poll_json(const Base& base, const store::ArchivePoll& p) {
  const auto opened_offset = p.row.opened_at_ms ? base.offset_of(p.row.opened_offset_ms, *p.row.opened_at_ms)
                                                : std::nullopt;
  const auto closed_offset = p.row.closed_at_ms ? base.offset_of(p.row.closed_offset_ms, *p.row.closed_at_ms)
                                                : std::nullopt;
  json options = json::array();
  for (size_t i = 0; i < p.options.size(); ++i)
    options.push_back(json{{"index", i}, {"ar", p.options[i].first}, {"en", p.options[i].second},
                           {"votes", p.counts[i]}});
  return json{{"id", p.row.id},
              {"session", p.row.session_id},
              {"question_ar", p.row.question_ar},
              {"question_en", p.row.question_en},
              {"status", p.row.status},
              {"results", p.row.results},
              {"multiple", p.row.multiple},
              {"max_choices", p.row.max_choices},
              {"options", std::move(options)},
              {"total", p.total},
              {"created_by", p.row.created_by},
              {"created_at", iso8601_utc(p.row.created_at_ms)},
              {"opened_at", opt_iso(p.row.opened_at_ms)},
              {"opened_at_ms", opt(p.row.opened_at_ms)},
              {"opened_offset", opt_offset(opened_offset)},
              {"opened_offset_ms", opt(opened_offset)},
              {"closed_at", opt_iso(p.row.closed_at_ms)},
              {"closed_at_ms", opt(p.row.closed_at_ms)},
              {"closed_offset", opt_offset(closed_offset)},
              {"closed_offset_ms", opt(closed_offset)}};
}

json polls_array(const Base& base, const std::vector<store::ArchivePoll>& polls) {
  json a = json::array();
  for (const auto& p : polls) a.push_back(poll_json(base, p));
  return a;
}

// polls (CSV): one row per option, so a spreadsheet sums and charts them.
// polls-json: {"format":"sabla-polls","version":1,"session":S,"polls":[...]}.
struct PollsImpl final : Exporter::Impl {
  bool csv = true;
  Status produce(std::string* out, size_t, bool* done) override {
    auto polls = base.reader->polls(base.session.id);
    if (!polls) return polls.status();
    *done = true;
    if (!csv) {
      out->append(dump(json{{"format", "sabla-polls"},
                            {"version", 1},
                            {"session", session_json(base.session)},
                            {"polls", polls_array(base, *polls)}}));
      out->push_back('\n');
      return Status::ok();
    }
    out->append("\xEF\xBB\xBF");
    out->append(
        "poll,question_ar,question_en,status,results,multiple,option,option_ar,option_en,votes,percent,total,"
        "opened_at,opened_offset,closed_at,closed_offset\r\n");
    for (const auto& p : *polls) {
      const json j = poll_json(base, p);
      const auto text_of = [](const json& v) { return v.is_string() ? v.get<std::string>() : std::string(); };
      for (size_t i = 0; i < p.options.size(); ++i) {
        const auto cell = [&](std::string_view v, bool last = false) {
          csv_cell(out, v);
          out->append(last ? "\r\n" : ",");
        };
        cell(std::to_string(p.row.id));
        cell(p.row.question_ar);
        cell(p.row.question_en);
        cell(p.row.status);
        cell(p.row.results);
        cell(p.row.multiple ? "yes" : "no");
        cell(std::to_string(i + 1));
        cell(p.options[i].first);
        cell(p.options[i].second);
        cell(std::to_string(p.counts[i]));
        cell(std::to_string(store::poll_percent(p.counts[i], p.total)));
        cell(std::to_string(p.total));
        cell(text_of(j["opened_at"]));
        cell(text_of(j["opened_offset"]));
        cell(text_of(j["closed_at"]));
        cell(text_of(j["closed_offset"]), true);
      }
    }
    return Status::ok();
  }
  size_t peak() const override { return 0; }
};

// ---- Decisions ----

// decisions (CSV): one row per answered question; decisions-json the same
// with the history. Both from archive/decisions.h (approved comments only).
struct DecisionsImpl final : Exporter::Impl {
  bool csv = true;
  Status produce(std::string* out, size_t, bool* done) override {
    auto rows = archive::decision_rows(base.reader->handle(), base.session.id);
    if (!rows) return rows.status();
    *done = true;
    if (!csv) {
      json list = json::array();
      for (const auto& d : *rows) {
        json history = json::array();
        for (const auto& [status, at] : d.history)
          history.push_back(json{{"status", status}, {"at", iso8601_utc(at)}, {"at_ms", at}});
        const auto offset = d.stream_offset_ms;
        list.push_back(json{{"comment", d.comment_id}, {"text", d.text}, {"author", d.author}, {"askers", d.askers},
                            {"votes", d.votes}, {"stream_offset", opt_offset(offset)}, {"status", d.status},
                            {"note_ar", d.note_ar}, {"note_en", d.note_en}, {"owner", d.owner}, {"due", d.due},
                            {"updated_at", iso8601_utc(d.updated_at_ms)}, {"history", std::move(history)}});
      }
      out->append(dump(json{{"format", "sabla-decisions"},
                            {"version", 1},
                            {"session", session_json(base.session)},
                            {"decisions", std::move(list)}}));
      out->push_back('\n');
      return Status::ok();
    }
    out->append("\xEF\xBB\xBF");
    out->append("comment,text,author,askers,votes,status,note_ar,note_en,owner,due,updated_at\r\n");
    for (const auto& d : *rows) {
      const auto cell = [&](std::string_view v, bool last = false) {
        csv_cell(out, v);
        out->append(last ? "\r\n" : ",");
      };
      cell(std::to_string(d.comment_id));
      cell(d.text);
      cell(d.author);
      cell(std::to_string(d.askers));
      cell(std::to_string(d.votes));
      cell(d.status);
      cell(d.note_ar);
      cell(d.note_en);
      cell(d.owner);
      cell(d.due);
      cell(iso8601_utc(d.updated_at_ms), true);
    }
    return Status::ok();
  }
  size_t peak() const override { return 0; }
};

// The document is written by hand around elements dumped one at a time, so
// only one element (and one page of rows) exists at once.
struct JsonImpl final : Exporter::Impl {
  enum class Phase { start, comments, events, on_air, end };
  Phase phase = Phase::start;
  bool first = true;
  std::unique_ptr<ArchiveCursor<ArchiveComment>> comments;
  std::unique_ptr<ArchiveCursor<ModerationEvent>> events;
  std::unique_ptr<ArchiveCursor<ArchiveOnAirEvent>> on_air;

  void element(std::string* out, const json& j) {
    out->append(first ? "\n" : ",\n");
    first = false;
    out->append(dump(j));
  }

  Status produce(std::string* out, size_t start, bool* done) override {
    while (room(out, start)) {
      switch (phase) {
        case Phase::start: {
          json head{{"format", "sabla-archive"}, {"version", 1}, {"session", session_json(base.session)}};
          std::string text = dump(head);
          text.pop_back();  // reopen the object to append the arrays
          out->append(text);
          out->append(",\"comments\":[");
          comments = base.reader->comments(base.session.id, ArchiveOrder::by_id);
          if (Status s = cursors_ok(comments); !s) return s;
          phase = Phase::comments;
          break;
        }
        case Phase::comments: {
          const ArchiveComment* c = comments->next();
          if (c) {
            element(out, comment_json(base, *c));
            break;
          }
          if (Status s = comments->status(); !s) return s;
          out->append(first ? "]" : "\n]");
          out->append(",\"moderation_events\":[");
          first = true;
          events = base.reader->moderation_events(base.session.id, ArchiveOrder::by_id);
          if (Status s = cursors_ok(events); !s) return s;
          phase = Phase::events;
          break;
        }
        case Phase::events: {
          const ModerationEvent* e = events->next();
          if (e) {
            element(out, event_json(*e));
            break;
          }
          if (Status s = events->status(); !s) return s;
          out->append(first ? "]" : "\n]");
          out->append(",\"on_air_events\":[");
          first = true;
          on_air = base.reader->on_air_events(base.session.id);
          if (Status s = cursors_ok(on_air); !s) return s;
          phase = Phase::on_air;
          break;
        }
        case Phase::on_air: {
          const ArchiveOnAirEvent* a = on_air->next();
          if (a) {
            element(out, on_air_json(base, *a));
            break;
          }
          if (Status s = on_air->status(); !s) return s;
          out->append(first ? "]" : "\n]");
          // Polls are few (a handful per session): one read, one array.
          auto polls = base.reader->polls(base.session.id);
          if (!polls) return polls.status();
          out->append(",\"polls\":");
          out->append(dump(polls_array(base, *polls)));
          out->append("}\n");
          phase = Phase::end;
          break;
        }
        case Phase::end:
          *done = true;
          return Status::ok();
      }
    }
    return Status::ok();
  }
  size_t peak() const override { return peak_of(comments, events, on_air); }
};

// ---- NDJSON ----

std::string event_name(const std::string& action) {
  static const std::unordered_map<std::string, std::string> names = {
      {"approve", "approved"}, {"auto_approve", "approved"}, {"reject", "rejected"},
      {"filter_reject", "rejected"}, {"hide", "hidden"}, {"edit", "edited"},
      {"filter_hold", "held"}, {"ban", "banned"}, {"unban", "unbanned"},
      {"prune", "pruned"}};
  auto it = names.find(action);
  return it == names.end() ? action : it->second;
}

// A time-ordered merge of three time-ordered cursors; ties go received <
// moderation < on-air (a comment is received before it is auto-approved in
// the same millisecond), then by id.
struct NdjsonImpl final : Exporter::Impl {
  std::unique_ptr<ArchiveCursor<ArchiveComment>> comments;
  std::unique_ptr<ArchiveCursor<ModerationEvent>> events;
  std::unique_ptr<ArchiveCursor<ArchiveOnAirEvent>> on_air;

  json line(const std::string& event, int64_t at_ms, const std::optional<int64_t>& offset,
            const std::optional<int64_t>& comment) {
    return json{{"event", event},         {"at", iso8601_utc(at_ms)}, {"at_ms", at_ms},
                {"offset", opt_offset(offset)}, {"offset_ms", opt(offset)}, {"comment", opt(comment)}};
  }

  Status produce(std::string* out, size_t start, bool* done) override {
    if (!comments) {
      comments = base.reader->comments(base.session.id, ArchiveOrder::by_time);
      events = base.reader->moderation_events(base.session.id, ArchiveOrder::by_time);
      on_air = base.reader->on_air_events(base.session.id);
      if (Status s = cursors_ok(comments, events, on_air); !s) return s;
    }
    while (room(out, start)) {
      const ArchiveComment* c = comments->peek();
      const ModerationEvent* e = events->peek();
      const ArchiveOnAirEvent* a = on_air->peek();
      for (const Status* s : {&comments->status(), &events->status(), &on_air->status()}) {
        if (!*s) return *s;
      }
      using Key = std::tuple<int64_t, int, int64_t>;
      std::optional<Key> best;
      int which = -1;
      const auto consider = [&](bool present, Key k, int w) {
        if (present && (!best || k < *best)) {
          best = k;
          which = w;
        }
      };
      consider(c != nullptr, c ? Key{c->row.received_at_ms, 0, c->row.id} : Key{}, 0);
      consider(e != nullptr, e ? Key{e->at_ms, 1, e->id} : Key{}, 1);
      consider(a != nullptr, a ? Key{a->row.at_ms, 2, a->row.id} : Key{}, 2);
      if (which < 0) {
        *done = true;
        return Status::ok();
      }
      json j;
      if (which == 0) {
        comments->next();
        j = line("received", c->row.received_at_ms, base.offset_of(c->row.stream_offset_ms, c->row.received_at_ms),
                 c->row.id);
        j["author"] = c->row.display_name;
        j["viewer"] = opt(c->row.viewer_id);
        j["source"] = c->row.source;
        j["text"] = c->original_text ? *c->original_text : c->row.text;
        j["status"] = store::to_string(c->row.status);
      } else if (which == 1) {
        events->next();
        j = line(event_name(e->action), e->at_ms, base.offset_of(std::nullopt, e->at_ms), e->comment_id);
        j["action"] = e->action;
        j["actor"] = e->actor;
        if (e->viewer_id) j["viewer"] = *e->viewer_id;
        if (!e->reason.empty()) j["reason"] = e->reason;
        if (!e->before_text.empty() || !e->after_text.empty()) {
          j["before_text"] = e->before_text;
          j["after_text"] = e->after_text;
        }
      } else {
        on_air->next();
        // 'edited' is also a moderation event name; the on-air one says the
        // screen changed, so it gets its own name.
        const std::string name = a->row.kind == "edited" ? "on_air_edited" : a->row.kind;
        j = line(name, a->row.at_ms, base.offset_of(a->row.stream_offset_ms, a->row.at_ms), a->row.comment_id);
        j["kind"] = a->row.kind;
        j["actor"] = a->row.actor;
        j["detail"] = detail_json(a->row.detail);
      }
      out->append(dump(j));
      out->push_back('\n');
    }
    return Status::ok();
  }
  size_t peak() const override { return peak_of(comments, events, on_air); }
};

// ---- Captions (vtt, srt, chat-vtt) ----

// Cue text cannot hold an empty line: it ends the cue. Each format then
// keeps a comment's line from reading as structure or markup:
//  - WebVTT: '<' and '&' start markup and "-->" would read as a timing
//    line; the entities &lt; &gt; &amp; say the same thing as text.
//  - SRT has no escapes, and readers are lenient: ffmpeg (and mpv) start a
//    new cue at any line with "-->" between timestamps, blank line or not;
//    some take a digits-only line for a cue number; <b>, <i>, <font ...>
//    (even "<b x>") become formatting, {\an8} and {y:i} are obeyed or
//    dropped, and \N \n \h reach ASS as breaks and hard spaces. So a
//    U+2060 WORD JOINER (zero width, invisible) goes before the '>' of an
//    arrow, before a digits-only line and after a backslash of \N \n \h,
//    and a '<' that could open a tag (before a letter, '/', '!', or a '<'
//    or '{' that may itself turn fullwidth) and every '{' become U+FF1C / U+FF5B
//    (fullwidth forms that read the same and that no reader parses; a
//    zero-width mark inside a tag would not survive readers that strip
//    anything between < and >). Other text, Arabic and punctuation (a < b,
//    50% > 40%, &) is written as it is. Readers also differ on what breaks
//    a line, so in SRT VT, FF, NEL, U+2028 and U+2029 break lines too.
constexpr std::string_view kWordJoiner = "\xE2\x81\xA0";       // U+2060
constexpr std::string_view kFullwidthLess = "\xEF\xBC\x9C";     // U+FF1C ＜
constexpr std::string_view kFullwidthBrace = "\xEF\xBD\x9B";    // U+FF5B ｛

// Bytes of the line break at raw[i] (0 when none).
size_t line_break_at(std::string_view raw, size_t i, bool vtt) {
  const char ch = raw[i];
  if (ch == '\r' || ch == '\n') return 1;
  if (vtt) return 0;
  if (ch == '\v' || ch == '\f') return 1;
  const std::string_view rest = raw.substr(i);
  if (rest.substr(0, 2) == "\xC2\x85") return 2;                                       // NEL
  if (rest.substr(0, 3) == "\xE2\x80\xA8" || rest.substr(0, 3) == "\xE2\x80\xA9") return 3;  // LS, PS
  return 0;
}

// What may follow the '<' of a tag for some reader: a letter (any script:
// naive readers strip anything between < and >), '/' or '!'.
bool opens_tag(char next) {
  return (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') || next == '/' || next == '!' ||
         static_cast<unsigned char>(next) >= 0x80;
}

void vtt_line(std::string_view line, std::string* out) {
  for (const char ch : line) {
    if (ch == '&') out->append("&amp;");
    else if (ch == '<') out->append("&lt;");
    else if (ch == '>') out->append("&gt;");
    else out->push_back(ch);
  }
}

void srt_line(std::string_view line, std::string* out) {
  const bool digits_only = line.find_first_not_of("0123456789 \t") == std::string_view::npos;
  if (digits_only) out->append(kWordJoiner);  // the line has a digit: blank lines never get here
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    const char next = i + 1 < line.size() ? line[i + 1] : '\0';
    // A '<' before another '<' or a '{' goes fullwidth too: the next one may
    // become a fullwidth form (non-ASCII), which some reader takes for a tag.
    if (ch == '<' && (opens_tag(next) || next == '<' || next == '{')) {
      out->append(kFullwidthLess);
    } else if (ch == '{') {
      out->append(kFullwidthBrace);
    } else if (ch == '>' && i > 0 && line[i - 1] == '-') {
      out->append(kWordJoiner);
      out->push_back('>');
    } else if (ch == '\\' && (next == 'N' || next == 'n' || next == 'h')) {
      out->push_back('\\');
      out->append(kWordJoiner);
    } else {
      out->push_back(ch);
    }
  }
}

std::string cue_text(const std::string& author, const std::string& text, bool vtt) {
  const std::string raw = utf8_text(author.empty() ? text : author + ": " + text);
  std::string out;
  size_t begin = 0;
  for (size_t i = 0; i <= raw.size();) {
    const size_t br = i < raw.size() ? line_break_at(raw, i, vtt) : 1;
    if (br == 0) {
      ++i;
      continue;
    }
    const std::string_view line = std::string_view(raw).substr(begin, i - begin);
    // A line of spaces or tabs is dropped: it would end the cue for most readers.
    if (line.find_first_not_of(" \t") != std::string_view::npos) {
      if (!out.empty()) out.push_back('\n');
      if (vtt) vtt_line(line, &out);
      else srt_line(line, &out);
    }
    i += br;
    begin = i;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
  if (out.empty()) out = "…";
  return out;
}

struct CaptionWriter {
  bool vtt = true;
  int64_t seq = 0;

  void cue(std::string* out, int64_t start, int64_t end, const std::string& text) {
    out->append(std::to_string(++seq));
    out->push_back('\n');
    out->append(format_offset(start, !vtt));
    out->append(" --> ");
    out->append(format_offset(end, !vtt));
    out->push_back('\n');
    out->append(text);
    out->append("\n\n");
  }
};

// Captions of what was on screen. A cue opens at 'aired' and closes at the
// comment's 'replaced' or 'cleared'. Cues are written in start order (WebVTT
// requires it), so a closed cue waits behind an earlier one still on screen;
// only the few comments on screen at once are held.
struct OnAirCaptionImpl final : Exporter::Impl {
  struct Cue {
    int64_t comment_id = 0;
    int64_t start = 0;
    std::optional<int64_t> end;
    std::string text;
  };
  // Bounds memory on a log where comments are aired and never cleared: past
  // this many waiting cues the oldest is closed at the current event.
  static constexpr size_t kMaxPending = 4096;

  CaptionWriter writer;
  bool header_done = false;
  std::unique_ptr<ArchiveCursor<ArchiveOnAirEvent>> on_air;
  std::deque<Cue> pending;
  std::unordered_map<int64_t, Cue*> open;  // deque elements keep their address on push_back/pop_front
  std::optional<int64_t> last_offset;

  void emit_ready(std::string* out) {
    while (!pending.empty() && pending.front().end) {
      const Cue& c = pending.front();
      // A comment aired and removed in the same millisecond was never
      // visible; WebVTT also forbids end <= start.
      if (*c.end > c.start) writer.cue(out, c.start, *c.end, c.text);
      pending.pop_front();
    }
  }

  void close_rest(std::string* out) {
    std::optional<int64_t> session_end;
    if (base.session.ended_at_ms && base.session.live_at_ms) {
      session_end = *base.session.ended_at_ms - *base.session.live_at_ms;
    }
    for (Cue& c : pending) {
      if (c.end) continue;
      if (session_end && *session_end > c.start) {
        c.end = session_end;
      } else if (last_offset && *last_offset > c.start) {
        c.end = last_offset;
      } else {
        c.end = c.start + kDefaultCueMs;
      }
    }
    open.clear();
    emit_ready(out);
  }

  void handle(const ArchiveOnAirEvent& a, std::string* out) {
    const auto offset = base.offset_of(a.row.stream_offset_ms, a.row.at_ms);
    if (offset && (!last_offset || *offset > *last_offset)) last_offset = offset;
    if (!a.row.comment_id) return;
    const int64_t id = *a.row.comment_id;
    if (a.row.kind == "aired") {
      // Without an offset the airing cannot be placed on the recording.
      if (!offset || open.count(id)) return;
      pending.push_back(Cue{id, *offset, std::nullopt, cue_text(a.author, a.text, writer.vtt)});
      open[id] = &pending.back();
      if (pending.size() > kMaxPending) {
        Cue& oldest = pending.front();
        oldest.end = *offset;
        open.erase(oldest.comment_id);
      }
    } else if (a.row.kind == "replaced" || a.row.kind == "cleared") {
      auto it = open.find(id);
      if (it == open.end()) return;
      it->second->end = offset ? *offset : it->second->start + kDefaultCueMs;
      open.erase(it);
    }
    emit_ready(out);
  }

  Status produce(std::string* out, size_t start, bool* done) override {
    if (!header_done) {
      if (writer.vtt) out->append("WEBVTT\n\n");
      header_done = true;
      on_air = base.reader->on_air_events(base.session.id);
      if (Status s = cursors_ok(on_air); !s) return s;
    }
    while (room(out, start)) {
      const ArchiveOnAirEvent* a = on_air->next();
      if (!a) {
        if (Status s = on_air->status(); !s) return s;
        close_rest(out);
        *done = true;
        return Status::ok();
      }
      handle(*a, out);
    }
    return Status::ok();
  }
  size_t peak() const override { return peak_of(on_air); }
};

// Every approved comment for 8 s from its stream offset, in received order
// (which is offset order: the offset is the time since going live).
struct ChatCaptionImpl final : Exporter::Impl {
  CaptionWriter writer;
  bool header_done = false;
  std::unique_ptr<ArchiveCursor<ArchiveComment>> comments;

  Status produce(std::string* out, size_t start, bool* done) override {
    if (!header_done) {
      out->append("WEBVTT\n\n");
      header_done = true;
      comments = base.reader->comments(base.session.id, ArchiveOrder::by_time);
      if (Status s = cursors_ok(comments); !s) return s;
    }
    while (room(out, start)) {
      const ArchiveComment* c = comments->next();
      if (!c) {
        *done = true;
        return comments->status();
      }
      if (c->row.status != store::CommentStatus::approved) continue;
      const auto offset = base.offset_of(c->row.stream_offset_ms, c->row.received_at_ms);
      if (!offset || *offset < 0) continue;  // not during the recording
      writer.cue(out, *offset, *offset + kDefaultCueMs, cue_text(c->row.display_name, c->row.text, true));
    }
    return Status::ok();
  }
  size_t peak() const override { return peak_of(comments); }
};

// ---- Audit ----

json audit_event_json(const ModerationEvent& e, const std::string& prev, int64_t seq) {
  json j{{"prev", prev}, {"seq", seq}};
  const json fields = event_json(e);  // named: items() refers into it
  for (const auto& [key, value] : fields.items()) j[key] = value;
  return j;
}

struct AuditImpl final : Exporter::Impl {
  bool header_done = false;
  bool end_done = false;
  std::string prev;  // hex SHA-256 of the last line written
  int64_t seq = 0;
  std::unique_ptr<ArchiveCursor<ModerationEvent>> events;

  void write_line(std::string* out, const json& j) {
    const std::string line = dump(j);
    prev = crypto::sha256_hex(line);
    out->append(line);
    out->push_back('\n');
  }

  Status produce(std::string* out, size_t start, bool* done) override {
    if (!header_done) {
      write_line(out, json{{"type", "header"},
                           {"format", "sabla-audit"},
                           {"version", 1},
                           {"session", session_json(base.session)}});
      header_done = true;
      events = base.reader->moderation_events(base.session.id, ArchiveOrder::by_id);
      if (Status s = cursors_ok(events); !s) return s;
    }
    while (room(out, start)) {
      const ModerationEvent* e = events->next();
      if (!e) {
        if (Status s = events->status(); !s) return s;
        // The end line makes a cut-off tail (the last lines removed) as
        // detectable as a change in the middle.
        write_line(out, json{{"prev", prev}, {"type", "end"}, {"count", seq}});
        *done = true;
        return Status::ok();
      }
      write_line(out, audit_event_json(*e, prev, ++seq));
    }
    return Status::ok();
  }
  size_t peak() const override { return peak_of(events); }
};

}  // namespace

// ---- public helpers ----

std::optional<Format> parse_format(std::string_view name) {
  if (name == "csv") return Format::csv;
  if (name == "json") return Format::json;
  if (name == "ndjson") return Format::ndjson;
  if (name == "vtt") return Format::vtt;
  if (name == "srt") return Format::srt;
  if (name == "chat-vtt") return Format::chat_vtt;
  if (name == "audit") return Format::audit;
  if (name == "polls") return Format::polls;
  if (name == "polls-json") return Format::polls_json;
  if (name == "decisions") return Format::decisions;
  if (name == "decisions-json") return Format::decisions_json;
  return std::nullopt;
}

std::string_view format_name(Format f) {
  switch (f) {
    case Format::csv: return "csv";
    case Format::json: return "json";
    case Format::ndjson: return "ndjson";
    case Format::vtt: return "vtt";
    case Format::srt: return "srt";
    case Format::chat_vtt: return "chat-vtt";
    case Format::audit: return "audit";
    case Format::polls: return "polls";
    case Format::polls_json: return "polls-json";
    case Format::decisions: return "decisions";
    case Format::decisions_json: return "decisions-json";
  }
  return "csv";
}

std::string iso8601_utc(int64_t ms) {
  // Civil-from-days (H. Hinnant): no time zone database or locale involved.
  const int64_t secs = floor_div(ms, 1000);
  const int64_t milli = ms - secs * 1000;
  int64_t days = floor_div(secs, 86400);
  const int64_t sod = secs - days * 86400;
  days += 719468;
  const int64_t era = floor_div(days, 146097);
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[160];  // room for any int64 fields, which keeps -Wformat-truncation quiet
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d), static_cast<long long>(sod / 3600),
                static_cast<long long>(sod / 60 % 60), static_cast<long long>(sod % 60),
                static_cast<long long>(milli));
  return buf;
}

std::string format_offset(int64_t ms, bool comma) {
  const bool negative = ms < 0;
  // Magnitude as unsigned so INT64_MIN does not overflow.
  const uint64_t v = negative ? 0 - static_cast<uint64_t>(ms) : static_cast<uint64_t>(ms);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%02llu:%02llu:%02llu%c%03llu", negative ? "-" : "",
                static_cast<unsigned long long>(v / 3600000), static_cast<unsigned long long>(v / 60000 % 60),
                static_cast<unsigned long long>(v / 1000 % 60), comma ? ',' : '.',
                static_cast<unsigned long long>(v % 1000));
  return buf;
}

// ---- Exporter ----

Exporter::Exporter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Exporter::~Exporter() = default;

Result<std::unique_ptr<Exporter>> Exporter::open(const std::string& db_path, int64_t session_id, Format format) {
  try {
    auto reader = store::ArchiveReader::open(db_path);
    if (!reader) return reader.status();
    auto session = (*reader)->session(session_id);
    if (!session) return session.status();
    if (!session->has_value()) return Status::error("not_found", "no session " + std::to_string(session_id));

    std::unique_ptr<Impl> impl;
    switch (format) {
      case Format::csv: impl = std::make_unique<CsvImpl>(); break;
      case Format::json: impl = std::make_unique<JsonImpl>(); break;
      case Format::ndjson: impl = std::make_unique<NdjsonImpl>(); break;
      case Format::vtt:
      case Format::srt: {
        auto captions = std::make_unique<OnAirCaptionImpl>();
        captions->writer.vtt = format == Format::vtt;
        impl = std::move(captions);
        break;
      }
      case Format::chat_vtt: impl = std::make_unique<ChatCaptionImpl>(); break;
      case Format::audit: impl = std::make_unique<AuditImpl>(); break;
      case Format::polls:
      case Format::polls_json: {
        auto polls = std::make_unique<PollsImpl>();
        polls->csv = format == Format::polls;
        impl = std::move(polls);
        break;
      }
      case Format::decisions:
      case Format::decisions_json: {
        auto decisions = std::make_unique<DecisionsImpl>();
        decisions->csv = format == Format::decisions;
        impl = std::move(decisions);
        break;
      }
    }
    if (!impl) return Status::error("invalid", "unknown export format");
    impl->format = format;
    impl->base.reader = std::move(reader.value());
    impl->base.session = std::move(**session);
    auto links = impl->base.reader->merged_links(session_id);
    if (!links) return links.status();
    for (const auto& [id, head] : *links) {
      impl->base.merged_into[id] = head;
      impl->base.merged[head].push_back(id);
    }
    return std::unique_ptr<Exporter>(new Exporter(std::move(impl)));
  } catch (const std::exception& e) {
    return Status::error("internal", std::string("export failed: ") + e.what());
  } catch (...) {
    return Status::error("internal", "export failed");
  }
}

bool Exporter::next(std::string* chunk) {
  if (!impl_ || impl_->finished || !impl_->status || !chunk) return false;
  const size_t start = chunk->size();
  bool done = false;
  Status s;
  try {
    s = impl_->produce(chunk, start, &done);
  } catch (const std::exception& e) {
    s = Status::error("internal", std::string("export failed: ") + e.what());
  } catch (...) {
    s = Status::error("internal", "export failed");
  }
  if (!s) {
    // A half-written row is worse than none: drop this chunk's bytes.
    chunk->resize(start);
    impl_->status = s;
    impl_->finished = true;
    return false;
  }
  if (done) impl_->finished = true;
  return chunk->size() > start || !done;
}

Status Exporter::status() const { return impl_ ? impl_->status : Status::error("internal", "no exporter"); }

std::string Exporter::content_type() const {
  switch (impl_->format) {
    case Format::csv: return "text/csv; charset=utf-8";
    case Format::json: return "application/json";
    case Format::ndjson: return "application/x-ndjson";
    case Format::vtt:
    case Format::chat_vtt: return "text/vtt; charset=utf-8";
    case Format::srt: return "application/x-subrip; charset=utf-8";
    case Format::audit: return "application/x-ndjson";
    case Format::polls: return "text/csv; charset=utf-8";
    case Format::polls_json: return "application/json";
    case Format::decisions: return "text/csv; charset=utf-8";
    case Format::decisions_json: return "application/json";
  }
  return "application/octet-stream";
}

std::string Exporter::file_name() const {
  const std::string base = "sabla-session-" + std::to_string(impl_->base.session.id);
  switch (impl_->format) {
    case Format::csv: return base + ".csv";
    case Format::json: return base + ".json";
    case Format::ndjson: return base + ".ndjson";
    case Format::vtt: return base + ".vtt";
    case Format::chat_vtt: return base + "-chat.vtt";
    case Format::srt: return base + ".srt";
    case Format::audit: return base + "-audit.jsonl";
    case Format::polls: return base + "-polls.csv";
    case Format::polls_json: return base + "-polls.json";
    case Format::decisions: return base + "-decisions.csv";
    case Format::decisions_json: return base + "-decisions.json";
  }
  return base;
}

size_t Exporter::peak_buffered_rows() const { return impl_ ? impl_->peak() : 0; }

// ---- verify_audit ----

namespace {

constexpr size_t kMaxAuditLine = 4 * 1024 * 1024;

// Reads one '\n'-terminated line (without it) of at most kMaxAuditLine
// bytes; false at end of input. *too_long when the limit was hit.
bool read_line(std::istream& in, std::string* line, bool* too_long) {
  line->clear();
  *too_long = false;
  std::streambuf* buf = in.rdbuf();
  if (!buf) return false;
  bool any = false;
  for (;;) {
    const int ch = buf->sbumpc();
    if (ch == std::char_traits<char>::eof()) return any;
    any = true;
    if (ch == '\n') return true;
    if (line->size() >= kMaxAuditLine) {
      *too_long = true;
      return true;
    }
    line->push_back(static_cast<char>(ch));
  }
}

Status bad(AuditCheck* check, size_t line, const std::string& why) {
  if (check) check->bad_line = line;
  return Status::error("invalid", "line " + std::to_string(line) + ": " + why);
}

Status verify_impl(std::istream& in, AuditCheck* check) {
  std::string line;
  std::string prev_hash;
  size_t n = 0;
  int64_t events = 0;
  bool ended = false;
  bool too_long = false;
  while (read_line(in, &line, &too_long)) {
    ++n;
    if (check) check->lines = n;
    if (too_long) return bad(check, n, "line too long");
    if (ended) return bad(check, n, "text after the end line");
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad(check, n, "not a JSON object");
    if (n == 1) {
      if (j.value("type", "") != "header" || j.value("format", "") != "sabla-audit") {
        return bad(check, n, "not a sabla audit header");
      }
    } else {
      const auto p = j.find("prev");
      if (p == j.end() || !p->is_string()) return bad(check, n, "no \"prev\" hash");
      if (p->get<std::string>() != prev_hash) {
        return bad(check, n, "chain broken: \"prev\" is not the SHA-256 of line " + std::to_string(n - 1) +
                                 " (that line or this one was changed, or a line was removed)");
      }
      if (j.contains("type")) {
        if (j["type"] != "end") return bad(check, n, "unexpected line type");
        const auto count = j.find("count");
        if (count == j.end() || !count->is_number_integer() || count->get<int64_t>() != events) {
          return bad(check, n, "end line count does not match the " + std::to_string(events) + " events");
        }
        ended = true;
      } else {
        const auto seq = j.find("seq");
        if (seq == j.end() || !seq->is_number_integer() || seq->get<int64_t>() != events + 1) {
          return bad(check, n, "sequence number is not " + std::to_string(events + 1));
        }
        ++events;
      }
    }
    prev_hash = crypto::sha256_hex(line);
  }
  if (n == 0) return bad(check, 1, "empty file");
  if (!ended) return bad(check, n + 1, "no end line (the file was cut short)");
  if (check) check->bad_line = 0;
  return Status::ok();
}

}  // namespace

Status verify_audit(std::istream& in, AuditCheck* check) {
  try {
    if (check) *check = AuditCheck{};
    return verify_impl(in, check);
  } catch (const std::exception& e) {
    return Status::error("internal", std::string("verify failed: ") + e.what());
  } catch (...) {
    return Status::error("internal", "verify failed");
  }
}

}  // namespace sabla::archive
