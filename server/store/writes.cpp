// The Store's writes for the live session: comments, decisions, votes,
// viewers, bans, the audit log, settings, on-air changes and sessions. Each
// builds one operation for the writer (writer.h); the callback runs after
// COMMIT on the owner thread.
#include "store/store.h"

#include "store/rows.h"
#include "store/writer.h"

namespace sabla::store {

namespace {

int64_t wall_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The stored row that made an insert a no-op, looked up by the same key
// order the unique indexes use.
Result<InsertedComment> find_duplicate(Db& db, const CommentRow& row) {
  if (row.viewer_id && !row.client_id.empty()) {
    // `client_id != ''` lets the planner use the partial unique index.
    Stmt st(db,
            "SELECT id, status FROM comments WHERE viewer_id = ? AND client_id = ? "
            "AND client_id != ''");
    st.bind(row.viewer_id).bind(row.client_id);
    if (st.step()) {
      return InsertedComment{st.i64(0), parse_comment_status(st.text(1)).value_or(CommentStatus::pending),
                             true};
    }
    if (!st.status()) return st.status();
  }
  if (!row.external_id.empty()) {
    Stmt st(db,
            "SELECT id, status FROM comments WHERE source = ? AND external_id = ? "
            "AND external_id != ''");
    st.bind(row.source).bind(row.external_id);
    if (st.step()) {
      return InsertedComment{st.i64(0), parse_comment_status(st.text(1)).value_or(CommentStatus::pending),
                             true};
    }
    if (!st.status()) return st.status();
  }
  return Status::error("internal", "comment insert was ignored but no duplicate row was found");
}

}  // namespace

bool Store::insert_comment(CommentRow row, std::optional<ModerationEvent> event,
                           std::function<void(Result<InsertedComment>)> done) {
  return guard_submit([&] {
    const bool savepoint = event.has_value();
    auto body = [row = std::move(row), event = std::move(event)](Db& db) -> Result<InsertedComment> {
      // DO NOTHING covers both idempotency indexes (the only other unique
      // key is the rowid, which is never bound), so a retry writes nothing.
      Stmt ins(db,
               "INSERT INTO comments (session_id, viewer_id, display_name, text, lang, direction, "
               "source, client_id, external_id, received_at_ms, stream_offset_ms, status, votes) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id");
      ins.bind(row.session_id)
          .bind(row.viewer_id)
          .bind(row.display_name)
          .bind(row.text)
          .bind(row.lang)
          .bind(row.direction)
          .bind(row.source)
          .bind(row.client_id)
          .bind(row.external_id)
          .bind(row.received_at_ms)
          .bind(row.stream_offset_ms)
          .bind(to_string(row.status))
          .bind(row.votes);
      auto id = returning_id(ins);
      if (!id) return id.status();
      if (!*id) return find_duplicate(db, row);
      InsertedComment out{**id, row.status, false};
      if (event) {
        ModerationEvent e = *event;
        e.comment_id = out.id;
        if (!e.session_id) e.session_id = row.session_id;
        if (Status s = insert_event(db, e); !s) return s;
      }
      return out;
    };
    return impl_->submit(make_op<Result<InsertedComment>>(savepoint, std::move(body), std::move(done)));
  });
}

bool Store::apply_decision(Decision decision, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [d = std::move(decision)](Db& db) -> Status {
      int64_t session_id = 0;
      std::string old_text;
      {
        Stmt sel(db, "SELECT session_id, text FROM comments WHERE id = ?");
        sel.bind(d.comment_id);
        if (!sel.step()) {
          if (!sel.status()) return sel.status();
          return Status::error("not_found", "no comment " + std::to_string(d.comment_id));
        }
        session_id = sel.i64(0);
        old_text = sel.text(1);
      }
      {
        Stmt upd(db, "UPDATE comments SET status = ?, text = coalesce(?, text) WHERE id = ?");
        upd.bind(to_string(d.new_status));
        if (d.new_text) {
          upd.bind(*d.new_text);
        } else {
          upd.bind_null();
        }
        upd.bind(d.comment_id);
        if (Status s = upd.run(); !s) return s;
      }
      ModerationEvent e = d.event;
      e.comment_id = d.comment_id;
      if (!e.session_id) e.session_id = session_id;
      // The store is the one place that knows the text being replaced, so an
      // edit's audit row is complete even when the caller left it out.
      if (d.new_text) {
        if (e.before_text.empty()) e.before_text = old_text;
        if (e.after_text.empty()) e.after_text = *d.new_text;
      }
      return insert_event(db, e);
    };
    return impl_->submit(make_op<Status>(true, std::move(body), std::move(done)));
  });
}

bool Store::add_vote(int64_t comment_id, int64_t viewer_id,
                     std::function<void(Result<std::pair<int64_t, bool>>)> done) {
  return guard_submit([&] {
    auto body = [comment_id, viewer_id](Db& db) -> Result<std::pair<int64_t, bool>> {
      int64_t votes = 0;
      {
        Stmt sel(db, "SELECT votes FROM comments WHERE id = ?");
        sel.bind(comment_id);
        if (!sel.step()) {
          if (!sel.status()) return sel.status();
          return Status::error("not_found", "no comment " + std::to_string(comment_id));
        }
        votes = sel.i64(0);
      }
      bool inserted = false;
      {
        Stmt ins(db,
                 "INSERT INTO votes (comment_id, viewer_id, at_ms) VALUES (?, ?, ?) "
                 "ON CONFLICT DO NOTHING RETURNING 1");
        ins.bind(comment_id).bind(viewer_id).bind(wall_now_ms());
        auto r = returning_id(ins);
        if (!r) return r.status();
        inserted = r->has_value();
      }
      if (inserted) {
        Stmt upd(db, "UPDATE comments SET votes = votes + 1 WHERE id = ? RETURNING votes");
        upd.bind(comment_id);
        auto r = returning_id(upd);
        if (!r) return r.status();
        votes = r->value_or(votes + 1);
      }
      return std::pair<int64_t, bool>{votes, inserted};
    };
    return impl_->submit(make_op<Result<std::pair<int64_t, bool>>>(true, std::move(body), std::move(done)));
  });
}

bool Store::save_viewer(ViewerRow viewer, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [v = std::move(viewer)](Db& db) -> Status {
      // created_at_ms is kept from the first save: it is when the viewer
      // first appeared, not when it was last updated.
      Stmt st(db,
              "INSERT INTO viewers (" VIEWER_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?) "
              "ON CONFLICT(id) DO UPDATE SET token_hash = excluded.token_hash, "
              "display_name = excluded.display_name, banned_until_ms = excluded.banned_until_ms, "
              "last_ip = excluded.last_ip");
      st.bind(v.id).bind(v.token_hash).bind(v.display_name).bind(v.banned_until_ms).bind(v.last_ip).bind(
          v.created_at_ms);
      return st.run();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::set_ip_ban(IpBan ban, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [b = std::move(ban)](Db& db) -> Status {
      if (b.until_ms == 0) {
        Stmt st(db, "DELETE FROM ip_bans WHERE ip = ?");
        st.bind(b.ip);
        return st.run();
      }
      Stmt st(db,
              "INSERT INTO ip_bans (ip, until_ms) VALUES (?, ?) "
              "ON CONFLICT(ip) DO UPDATE SET until_ms = excluded.until_ms");
      st.bind(b.ip).bind(b.until_ms);
      return st.run();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::record_event(ModerationEvent event, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [e = std::move(event)](Db& db) -> Status { return insert_event(db, e); };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::save_settings(nlohmann::json settings, std::optional<ModerationEvent> event,
                          std::function<void(Status)> done) {
  return guard_submit([&] {
    // Serialised here, on the caller's thread, so a bad value is refused
    // before it is queued. `replace` turns invalid UTF-8 into U+FFFD instead
    // of throwing.
    std::string value = settings.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const bool savepoint = event.has_value();
    auto body = [value = std::move(value), event = std::move(event)](Db& db) -> Status {
      {
        Stmt st(db,
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
        st.bind(kSettingsKey).bind(value);
        if (Status s = st.run(); !s) return s;
      }
      if (event) return insert_event(db, *event);
      return Status::ok();
    };
    return impl_->submit(make_op<Status>(savepoint, std::move(body), std::move(done)));
  });
}

bool Store::record_on_air(std::vector<OnAirEventRow> events, nlohmann::json saved_state,
                          std::function<void(Status)> done) {
  return guard_submit([&] {
    std::string value = saved_state.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto body = [value = std::move(value), events = std::move(events)](Db& db) -> Status {
      for (const auto& e : events) {
        Stmt st(db,
                "INSERT INTO on_air_events (session_id, at_ms, stream_offset_ms, kind, comment_id, actor, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)");
        st.bind(e.session_id).bind(e.at_ms).bind(e.stream_offset_ms).bind(e.kind).bind(e.comment_id).bind(e.actor).bind(
            e.detail);
        if (Status s = st.run(); !s) return s;
      }
      Stmt st(db,
              "INSERT INTO settings (key, value) VALUES (?, ?) "
              "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
      st.bind(kOnAirKey).bind(value);
      return st.run();
    };
    return impl_->submit(make_op<Status>(true, std::move(body), std::move(done)));
  });
}

bool Store::create_session(SessionRow session, std::function<void(Result<SessionRow>)> done) {
  return guard_submit([&] {
    auto body = [s = std::move(session)](Db& db) -> Result<SessionRow> {
      Stmt st(db,
              "INSERT INTO sessions (title_ar, title_en, status, created_at_ms, live_at_ms, "
              "ended_at_ms, scheduled_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id");
      st.bind(s.title_ar).bind(s.title_en).bind(s.status).bind(s.created_at_ms).bind(s.live_at_ms).bind(
          s.ended_at_ms).bind(s.scheduled_at_ms);
      auto id = returning_id(st);
      if (!id) return id.status();
      if (!*id) return Status::error("internal", "session insert returned no id");
      SessionRow out = s;
      out.id = **id;
      return out;
    };
    return impl_->submit(make_op<Result<SessionRow>>(false, std::move(body), std::move(done)));
  });
}

bool Store::update_session(SessionRow session, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [s = std::move(session)](Db& db) -> Status {
      // created_at_ms is immutable: it records when the session was made.
      Stmt st(db, "UPDATE sessions SET status = ?, live_at_ms = ?, ended_at_ms = ? WHERE id = ? RETURNING id");
      st.bind(s.status).bind(s.live_at_ms).bind(s.ended_at_ms).bind(s.id);
      auto id = returning_id(st);
      if (!id) return id.status();
      if (!*id) return Status::error("not_found", "no session " + std::to_string(s.id));
      return Status::ok();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::rename_session(int64_t session_id, std::string title_ar, std::string title_en,
                           std::optional<int64_t> scheduled_at_ms, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [session_id, ar = std::move(title_ar), en = std::move(title_en), scheduled_at_ms](Db& db) -> Status {
      Stmt st(db, "UPDATE sessions SET title_ar = ?, title_en = ?, scheduled_at_ms = ? WHERE id = ? RETURNING id");
      st.bind(ar).bind(en).bind(scheduled_at_ms).bind(session_id);
      auto id = returning_id(st);
      if (!id) return id.status();
      if (!*id) return Status::error("not_found", "no session " + std::to_string(session_id));
      return Status::ok();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::record_viewers_peak(int64_t session_id, int64_t peak, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [session_id, peak](Db& db) -> Status {
      Stmt st(db, "UPDATE sessions SET viewers_peak = max(viewers_peak, ?) WHERE id = ? RETURNING id");
      st.bind(peak).bind(session_id);
      auto id = returning_id(st);
      if (!id) return id.status();
      if (!*id) return Status::error("not_found", "no session " + std::to_string(session_id));
      return Status::ok();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::set_retention(int64_t session_id, std::optional<int64_t> days, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [session_id, days](Db& db) -> Status {
      if (days && *days < 0) return Status::error("invalid", "retention days must not be negative");
      Stmt st(db, "UPDATE sessions SET retention_days = ? WHERE id = ? RETURNING id");
      st.bind(days).bind(session_id);
      auto id = returning_id(st);
      if (!id) return id.status();
      if (!*id) return Status::error("not_found", "no session " + std::to_string(session_id));
      return Status::ok();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

}  // namespace sabla::store
