// The Store's reads of the live session and the archive's basics: the state
// loaded at start, sessions, a session's comments, audit log and on-air
// events. They run on the caller's thread on the read connection.
#include "store/store.h"

#include "store/rows.h"
#include "store/schema.h"
#include "store/writer.h"

namespace sabla::store {

namespace {

Status read_sessions(Db& db, std::vector<SessionRow>& out) {
  Stmt st(db, "SELECT " SESSION_COLUMNS " FROM sessions ORDER BY id");
  while (st.step()) out.push_back(read_session(st));
  return st.status();
}

Status read_comments(Db& db, int64_t session_id, std::vector<CommentRow>& out) {
  Stmt st(db, "SELECT " COMMENT_COLUMNS " FROM comments WHERE session_id = ? ORDER BY id");
  st.bind(session_id);
  while (st.step()) out.push_back(read_comment(st));
  return st.status();
}

}  // namespace

Result<LoadedState> Store::load_state() {
  return impl_->read<LoadedState>([](Db& db) -> Result<LoadedState> {
    ReadTxn txn(db);
    if (!txn.status()) return txn.status();
    LoadedState state;
    if (Status s = read_sessions(db, state.sessions); !s) return s;
    {
      Stmt st(db, "SELECT id FROM sessions WHERE status = 'live' ORDER BY id DESC LIMIT 1");
      if (st.step()) state.current_session_id = st.i64(0);
      if (!st.status()) return st.status();
    }
    if (state.current_session_id) {
      const int64_t sid = *state.current_session_id;
      if (Status s = read_comments(db, sid, state.comments); !s) return s;
      Stmt st(db,
              "SELECT v.comment_id, v.viewer_id FROM votes v JOIN comments c ON c.id = v.comment_id "
              "WHERE c.session_id = ? ORDER BY v.comment_id, v.viewer_id");
      st.bind(sid);
      while (st.step()) state.votes.emplace_back(st.i64(0), st.i64(1));
      if (!st.status()) return st.status();
    }
    if (Status s = read_live_polls(db, state.current_session_id, state); !s) return s;
    if (Status s = read_author_outcomes(db, state); !s) return s;
    {
      Stmt st(db, "SELECT " VIEWER_COLUMNS " FROM viewers ORDER BY id");
      while (st.step()) state.viewers.push_back(read_viewer(st));
      if (!st.status()) return st.status();
    }
    {
      // Every ban, expired or not: the caller judges expiry with its own clock.
      Stmt st(db, "SELECT ip, until_ms FROM ip_bans ORDER BY ip");
      while (st.step()) state.ip_bans.push_back(IpBan{st.text(0), st.i64(1)});
      if (!st.status()) return st.status();
    }
    {
      Stmt st(db, "SELECT value FROM settings WHERE key = ?");
      st.bind(kSettingsKey);
      if (st.step()) {
        auto parsed = nlohmann::json::parse(st.text(0), nullptr, false);
        // A corrupt value must not keep the server from starting; defaults apply.
        if (!parsed.is_discarded()) state.settings = std::move(parsed);
      }
      if (!st.status()) return st.status();
    }
    {
      Stmt st(db, "SELECT value FROM settings WHERE key = ?");
      st.bind(kOnAirKey);
      if (st.step()) {
        auto parsed = nlohmann::json::parse(st.text(0), nullptr, false);
        if (!parsed.is_discarded()) state.on_air = std::move(parsed);
      }
      if (!st.status()) return st.status();
    }
    return state;
  });
}

Result<std::vector<SessionRow>> Store::list_sessions() {
  return impl_->read<std::vector<SessionRow>>([](Db& db) -> Result<std::vector<SessionRow>> {
    std::vector<SessionRow> out;
    if (Status s = read_sessions(db, out); !s) return s;
    return out;
  });
}

Result<std::vector<CommentRow>> Store::comments_of_session(int64_t session_id) {
  return impl_->read<std::vector<CommentRow>>([&](Db& db) -> Result<std::vector<CommentRow>> {
    std::vector<CommentRow> out;
    if (Status s = read_comments(db, session_id, out); !s) return s;
    return out;
  });
}

Result<std::vector<ModerationEvent>> Store::moderation_events(int64_t session_id) {
  return impl_->read<std::vector<ModerationEvent>>(
      [&](Db& db) -> Result<std::vector<ModerationEvent>> {
        Stmt st(db, "SELECT " EVENT_COLUMNS " FROM moderation_events WHERE session_id = ? ORDER BY id");
        st.bind(session_id);
        std::vector<ModerationEvent> out;
        while (st.step()) out.push_back(read_event(st));
        if (!st.status()) return st.status();
        return out;
      });
}

Result<std::vector<OnAirEventRow>> Store::on_air_events(int64_t session_id) {
  return impl_->read<std::vector<OnAirEventRow>>([&](Db& db) -> Result<std::vector<OnAirEventRow>> {
    Stmt st(db,
            "SELECT id, session_id, at_ms, stream_offset_ms, kind, comment_id, actor, detail "
            "FROM on_air_events WHERE session_id = ? ORDER BY id");
    st.bind(session_id);
    std::vector<OnAirEventRow> out;
    while (st.step()) {
      OnAirEventRow r;
      r.id = st.i64(0);
      r.session_id = st.opt_i64(1);
      r.at_ms = st.i64(2);
      r.stream_offset_ms = st.opt_i64(3);
      r.kind = st.text(4);
      r.comment_id = st.opt_i64(5);
      r.actor = st.text(6);
      r.detail = st.text(7);
      out.push_back(std::move(r));
    }
    if (!st.status()) return st.status();
    return out;
  });
}

Result<int64_t> Store::schema_version() {
  return impl_->read<int64_t>([](Db& db) -> Result<int64_t> { return schema::read_user_version(db.get()); });
}

}  // namespace sabla::store
