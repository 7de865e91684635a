// The Store's decisions register (migration 5): management's response to an
// approved comment, appended (never overwritten) with its audit row in one
// transaction, and the reads the start-up load needs. Writes run on the
// writer thread; callbacks after COMMIT.
#include "store/store.h"

#include <nlohmann/json.hpp>

#include "store/rows.h"
#include "store/writer.h"

namespace sabla::store {

bool Store::record_outcome(OutcomeRow outcome, std::function<void(Result<OutcomeRow>)> done) {
  return guard_submit([&] {
    auto body = [o = std::move(outcome)](Db& db) -> Result<OutcomeRow> {
      OutcomeRow out = o;
      std::string status;
      {
        Stmt sel(db, "SELECT session_id, status, viewer_id FROM comments WHERE id = ?");
        sel.bind(o.comment_id);
        if (!sel.step()) {
          if (!sel.status()) return sel.status();
          return Status::error("not_found", "no comment " + std::to_string(o.comment_id));
        }
        out.session_id = sel.i64(0);
        status = sel.text(1);
        out.viewer_id = sel.opt_i64(2);
      }
      // Only what the public saw: an approved comment (the head of a merged
      // group is one).
      if (status != "approved") return Status::error("conflict", "only approved comments get an outcome (it is " + status + ")");
      std::string before;
      {
        Stmt prev(db, "SELECT status FROM outcomes WHERE comment_id = ? ORDER BY id DESC LIMIT 1");
        prev.bind(o.comment_id);
        if (prev.step()) before = prev.text(0);
        if (!prev.status()) return prev.status();
      }
      Stmt ins(db,
               "INSERT INTO outcomes (comment_id, session_id, status, note_ar, note_en, owner, due, actor, at_ms) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id");
      ins.bind(o.comment_id).bind(out.session_id).bind(o.status).bind(o.note_ar).bind(o.note_en).bind(o.owner).bind(
          o.due).bind(o.actor).bind(o.at_ms);
      auto id = returning_id(ins);
      if (!id) return id.status();
      if (!*id) return Status::error("internal", "outcome insert returned no id");
      out.id = **id;
      // The audit row carries the whole outcome, so the hash-chained audit
      // export holds every change with its actor.
      ModerationEvent e;
      e.session_id = out.session_id;
      e.comment_id = o.comment_id;
      e.viewer_id = out.viewer_id;
      e.action = "outcome";
      e.actor = o.actor;
      e.reason = o.status;
      e.before_text = before;
      e.after_text = nlohmann::json{{"status", o.status},   {"note_ar", o.note_ar}, {"note_en", o.note_en},
                                    {"owner", o.owner},     {"due", o.due}}
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      e.at_ms = o.at_ms;
      if (Status s = insert_event(db, e); !s) return s;
      return out;
    };
    return impl_->submit(make_op<Result<OutcomeRow>>(true, std::move(body), std::move(done)));
  });
}

namespace {

OutcomeRow read_outcome(const Stmt& s) {
  OutcomeRow r;
  r.id = s.i64(0);
  r.comment_id = s.i64(1);
  r.session_id = s.i64(2);
  r.status = s.text(3);
  r.note_ar = s.text(4);
  r.note_en = s.text(5);
  r.owner = s.text(6);
  r.due = s.text(7);
  r.actor = s.text(8);
  r.at_ms = s.i64(9);
  r.viewer_id = s.opt_i64(10);
  return r;
}

#define OUTCOME_SELECT                                                                                  \
  "SELECT o.id, o.comment_id, o.session_id, o.status, o.note_ar, o.note_en, o.owner, o.due, o.actor, " \
  "o.at_ms, c.viewer_id FROM outcomes o JOIN comments c ON c.id = o.comment_id "

}  // namespace

// Called from load_state() inside its read transaction: the newest outcome
// of every comment that has an author (the viewer hears of it on welcome).
Status read_author_outcomes(Db& db, LoadedState& state) {
  Stmt st(db, OUTCOME_SELECT
          "WHERE c.viewer_id IS NOT NULL AND o.id = (SELECT max(id) FROM outcomes x WHERE x.comment_id = o.comment_id) "
          "ORDER BY o.id");
  while (st.step()) state.author_outcomes.push_back(read_outcome(st));
  return st.status();
}

Result<std::vector<OutcomeRow>> Store::outcome_history(int64_t comment_id) {
  return impl_->read<std::vector<OutcomeRow>>([&](Db& db) -> Result<std::vector<OutcomeRow>> {
    Stmt st(db, OUTCOME_SELECT "WHERE o.comment_id = ? ORDER BY o.id");
    st.bind(comment_id);
    std::vector<OutcomeRow> out;
    while (st.step()) out.push_back(read_outcome(st));
    if (!st.status()) return st.status();
    return out;
  });
}

}  // namespace sabla::store
