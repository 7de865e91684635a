// The Store's live polls (migration 5): creating, opening/closing, deleting
// drafts and the viewers' ballots, plus the reads the start-up load and the
// export need. Writes run on the writer thread; callbacks after COMMIT.
#include "store/store.h"

#include "store/rows.h"
#include "store/writer.h"

namespace sabla::store {

namespace {

#define POLL_COLUMNS                                                                                  \
  "id, session_id, question_ar, question_en, options, multiple, max_choices, results, status, "     \
  "created_by, created_at_ms, opened_at_ms, opened_offset_ms, closed_at_ms, closed_offset_ms"

PollRow read_poll(const Stmt& s) {
  PollRow r;
  r.id = s.i64(0);
  r.session_id = s.i64(1);
  r.question_ar = s.text(2);
  r.question_en = s.text(3);
  r.options = s.text(4);
  r.multiple = s.i64(5) != 0;
  r.max_choices = s.i64(6);
  r.results = s.text(7);
  r.status = s.text(8);
  r.created_by = s.text(9);
  r.created_at_ms = s.i64(10);
  r.opened_at_ms = s.opt_i64(11);
  r.opened_offset_ms = s.opt_i64(12);
  r.closed_at_ms = s.opt_i64(13);
  r.closed_offset_ms = s.opt_i64(14);
  return r;
}

PollBallotRow read_ballot(const Stmt& s) {
  return PollBallotRow{s.i64(0), s.i64(1), s.text(2), s.text(3), s.i64(4)};
}

ModerationEvent poll_event(ModerationEvent e, const PollRow& p) {
  e.session_id = p.session_id;
  e.reason = "poll=" + std::to_string(p.id);
  return e;
}

}  // namespace

bool Store::create_poll(PollRow poll, ModerationEvent event, std::function<void(Result<PollRow>)> done) {
  return guard_submit([&] {
    auto body = [p = std::move(poll), event = std::move(event)](Db& db) -> Result<PollRow> {
      Stmt st(db,
              "INSERT INTO polls (session_id, question_ar, question_en, options, multiple, max_choices, results, "
              "status, created_by, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id");
      st.bind(p.session_id)
          .bind(p.question_ar)
          .bind(p.question_en)
          .bind(p.options)
          .bind(static_cast<int64_t>(p.multiple))
          .bind(p.max_choices)
          .bind(p.results)
          .bind(p.status)
          .bind(p.created_by)
          .bind(p.created_at_ms);
      auto id = returning_id(st);
      if (!id) return id.status();
      if (!*id) return Status::error("internal", "poll insert returned no id");
      PollRow out = p;
      out.id = **id;
      if (Status s = insert_event(db, poll_event(event, out)); !s) return s;
      return out;
    };
    return impl_->submit(make_op<Result<PollRow>>(true, std::move(body), std::move(done)));
  });
}

bool Store::update_poll(PollRow poll, ModerationEvent event, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [p = std::move(poll), event = std::move(event)](Db& db) -> Status {
      Stmt st(db,
              "UPDATE polls SET status = ?, opened_at_ms = ?, opened_offset_ms = ?, closed_at_ms = ?, "
              "closed_offset_ms = ? WHERE id = ? RETURNING id");
      st.bind(p.status).bind(p.opened_at_ms).bind(p.opened_offset_ms).bind(p.closed_at_ms).bind(
          p.closed_offset_ms).bind(p.id);
      auto id = returning_id(st);
      if (!id) return id.status();
      if (!*id) return Status::error("not_found", "no poll " + std::to_string(p.id));
      return insert_event(db, poll_event(event, p));
    };
    return impl_->submit(make_op<Status>(true, std::move(body), std::move(done)));
  });
}

bool Store::delete_poll(int64_t poll_id, ModerationEvent event, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [poll_id, event = std::move(event)](Db& db) -> Status {
      PollRow p;
      {
        Stmt sel(db, "SELECT " POLL_COLUMNS " FROM polls WHERE id = ?");
        sel.bind(poll_id);
        if (!sel.step()) {
          if (!sel.status()) return sel.status();
          return Status::error("not_found", "no poll " + std::to_string(poll_id));
        }
        p = read_poll(sel);
      }
      if (p.status != "draft") return Status::error("conflict", "only draft polls can be deleted");
      {
        // A draft has no ballots; the delete is belt and braces.
        Stmt del(db, "DELETE FROM poll_votes WHERE poll_id = ?");
        del.bind(poll_id);
        if (Status s = del.run(); !s) return s;
      }
      Stmt del(db, "DELETE FROM polls WHERE id = ?");
      del.bind(poll_id);
      if (Status s = del.run(); !s) return s;
      ModerationEvent e = poll_event(event, p);
      // The question stays in the audit log although the poll is gone.
      if (e.before_text.empty()) e.before_text = p.question_ar.empty() ? p.question_en : p.question_ar;
      return insert_event(db, e);
    };
    return impl_->submit(make_op<Status>(true, std::move(body), std::move(done)));
  });
}

bool Store::save_poll_ballot(PollBallotRow ballot, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [b = std::move(ballot)](Db& db) -> Status {
      Stmt st(db,
              "INSERT INTO poll_votes (poll_id, viewer_id, options, ip, at_ms) VALUES (?, ?, ?, ?, ?) "
              "ON CONFLICT(poll_id, viewer_id) DO UPDATE SET options = excluded.options, ip = excluded.ip, "
              "at_ms = excluded.at_ms");
      st.bind(b.poll_id).bind(b.viewer_id).bind(b.options).bind(b.ip).bind(b.at_ms);
      return st.run();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

// Called from load_state() inside its read transaction.
Status read_live_polls(Db& db, std::optional<int64_t> current_session, LoadedState& state) {
  {
    Stmt st(db,
            "SELECT " POLL_COLUMNS " FROM polls WHERE session_id = ? OR session_id IN "
            "(SELECT id FROM sessions WHERE status != 'ended') ORDER BY id");
    st.bind(current_session);
    while (st.step()) state.polls.push_back(read_poll(st));
    if (!st.status()) return st.status();
  }
  Stmt st(db,
          "SELECT v.poll_id, v.viewer_id, v.options, v.ip, v.at_ms FROM poll_votes v JOIN polls p ON p.id = v.poll_id "
          "WHERE p.session_id = ? OR p.session_id IN (SELECT id FROM sessions WHERE status != 'ended') "
          "ORDER BY v.poll_id, v.viewer_id");
  st.bind(current_session);
  while (st.step()) state.poll_ballots.push_back(read_ballot(st));
  return st.status();
}

Result<std::vector<PollRow>> Store::polls_of_session(int64_t session_id) {
  return impl_->read<std::vector<PollRow>>([&](Db& db) -> Result<std::vector<PollRow>> {
    Stmt st(db, "SELECT " POLL_COLUMNS " FROM polls WHERE session_id = ? ORDER BY id");
    st.bind(session_id);
    std::vector<PollRow> out;
    while (st.step()) out.push_back(read_poll(st));
    if (!st.status()) return st.status();
    return out;
  });
}

Result<std::vector<PollBallotRow>> Store::poll_ballots_of_session(int64_t session_id) {
  return impl_->read<std::vector<PollBallotRow>>([&](Db& db) -> Result<std::vector<PollBallotRow>> {
    Stmt st(db,
            "SELECT v.poll_id, v.viewer_id, v.options, v.ip, v.at_ms FROM poll_votes v JOIN polls p ON p.id = "
            "v.poll_id WHERE p.session_id = ? ORDER BY v.poll_id, v.viewer_id");
    st.bind(session_id);
    std::vector<PollBallotRow> out;
    while (st.step()) out.push_back(read_ballot(st));
    if (!st.status()) return st.status();
    return out;
  });
}

}  // namespace sabla::store
