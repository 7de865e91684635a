// The Room: the decisions register. A producer records management's response
// to an approved comment (the studio's "outcome" message or POST
// /api/v1/comments/{id}/outcome); the store appends it with its audit row;
// after COMMIT studios hear of it, and so does the comment's author, now on
// every connection holding their token, or on their next welcome. Runs on
// the net thread.
#include "moderation/room.h"

#include <spdlog/spdlog.h>

#include "moderation/room_internal.h"

namespace sabla::moderation {

using namespace room_internal;

namespace {

constexpr size_t kOutcomeNoteChars = 1000;
constexpr size_t kOutcomeOwnerChars = 120;

bool valid_date(const std::string& d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (d[i] < '0' || d[i] > '9') return false;
  const int y = std::stoi(d.substr(0, 4)), m = std::stoi(d.substr(5, 2)), day = std::stoi(d.substr(8, 2));
  static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 2000 || m < 1 || m > 12 || day < 1 || day > days[m - 1]) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return !(m == 2 && day == 29 && !leap);
}

// An outcome message or request body, checked and sanitized; error codes
// are protocol codes (invalid).
Result<store::OutcomeRow> parse_outcome(const json& msg) {
  auto invalid = [](std::string m) { return Status::error(code::kInvalid, std::move(m)); };
  store::OutcomeRow o;
  auto status = string_field(msg, "status");
  if (!status || (*status != "received" && *status != "studying" && *status != "accepted" &&
                  *status != "implemented" && *status != "declined"))
    return invalid("status must be received, studying, accepted, implemented or declined");
  o.status = *status;
  std::string* fields[] = {&o.note_ar, &o.note_en, &o.owner, &o.due};
  const char* keys[] = {"note_ar", "note_en", "owner", "due"};
  for (int i = 0; i < 4; ++i) {
    auto it = msg.find(keys[i]);
    if (it == msg.end() || it->is_null()) continue;
    if (!it->is_string() || !is_valid_utf8(it->get_ref<const std::string&>()))
      return invalid(std::string(keys[i]) + " must be a string");
    const std::string& v = it->get_ref<const std::string&>();
    if (i < 2) *fields[i] = sanitize_text(v);
    else *fields[i] = sanitize_name(v, i == 2 ? kOutcomeOwnerChars : 10);
    if (i < 2 && count_code_points(*fields[i]) > kOutcomeNoteChars)
      return invalid(std::string(keys[i]) + " is longer than 1000 characters");
  }
  if (!o.due.empty() && !valid_date(o.due)) return invalid("due must be a date YYYY-MM-DD");
  return o;
}

json outcome_json(const store::OutcomeRow& o) {
  return json{{"status", o.status}, {"note_ar", o.note_ar}, {"note_en", o.note_en},
              {"owner", o.owner},   {"due", o.due},         {"at", o.at_ms}};
}

}  // namespace

void Room::load_outcomes(const store::LoadedState& st) {
  for (const auto& o : st.author_outcomes)
    if (o.viewer_id) outcomes_by_viewer_[*o.viewer_id][o.comment_id] = outcome_json(o);
}

json Room::viewer_outcomes_json(int64_t viewer_id) const {
  json out = json::array();
  auto it = outcomes_by_viewer_.find(viewer_id);
  if (it == outcomes_by_viewer_.end()) return out;
  for (const auto& [comment, outcome] : it->second) out.push_back(json{{"id", comment}, {"outcome", outcome}});
  return out;
}

void Room::record_outcome(const Actor& actor, int64_t comment_id, const json& body, ApiDone done) {
  if (!actor.can_produce()) return done(api_error(403, code::kForbidden, "only producers record outcomes"));
  if (!body.is_object()) return done(api_error(400, code::kInvalid, "body must be a JSON object"));
  auto parsed = parse_outcome(body);
  if (!parsed) return done(api_error(400, code::kInvalid, parsed.status().message()));
  if (!store_.can_accept()) return done(api_error(503, code::kBusy, "the store is busy, try again"));
  store::OutcomeRow row = *parsed;
  row.comment_id = comment_id;
  row.actor = actor.name;
  row.at_ms = clock_.now_ms();
  store_.record_outcome(std::move(row), [this, done](Result<store::OutcomeRow> r) {
    if (!r) {
      const Status failure = r.status();
      const std::string& c = failure.code();
      const int status = c == "not_found" ? 404 : c == "conflict" ? 409 : 500;
      return done(api_error(status, status == 500 ? code::kInternal : c.c_str(), failure.message()));
    }
    const json outcome = outcome_json(*r);
    out_.publish(Audience::studios, dump(json{{"type", "outcome"}, {"id", r->comment_id}, {"outcome", outcome},
                                              {"by", r->actor}}));
    if (r->viewer_id) {
      outcomes_by_viewer_[*r->viewer_id][r->comment_id] = outcome;
      // Only the author's own connections: this is a direct reply, not a broadcast.
      const std::string frame = dump(json{{"type", "outcome"}, {"id", r->comment_id}, {"outcome", outcome}});
      for (const auto& [conn, vc] : viewer_conns_)
        if (vc.viewer_id == *r->viewer_id) out_.send(conn, frame);
    }
    done(ApiReply{200, json{{"id", r->comment_id}, {"outcome", outcome}, {"outcome_id", r->id}}});
  });
}

Verdict Room::handle_outcome(ConnId conn, const StudioConn& sc, const json& msg) {
  auto id = int_field(msg, "id");
  if (!id) {
    reply_error(conn, msg, code::kInvalid, "outcome needs an integer id");
    return Verdict::handled;
  }
  if (!store_.can_accept()) return Verdict::busy;
  json msg_copy = msg;
  record_outcome(sc.actor, *id, msg, [this, conn, msg_copy](ApiReply r) {
    if (r.status != 200) {
      const json& e = r.body["error"];
      reply_error(conn, msg_copy, e.value("code", "internal").c_str(), e.value("message", ""));
      return;
    }
    json j = {{"type", "ok"}, {"action", "outcome"}, {"id", r.body["id"]}, {"outcome", r.body["outcome"]}};
    if (auto op = msg_copy.find("op"); op != msg_copy.end()) j["op"] = *op;
    out_.send(conn, dump(j));
  });
  return Verdict::handled;
}

}  // namespace sabla::moderation
