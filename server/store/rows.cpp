#include "store/rows.h"

namespace sabla::store {

std::string_view to_string(CommentStatus s) {
  switch (s) {
    case CommentStatus::pending: return "pending";
    case CommentStatus::approved: return "approved";
    case CommentStatus::rejected: return "rejected";
    case CommentStatus::hidden: return "hidden";
    case CommentStatus::merged: return "merged";
  }
  return "pending";
}

std::optional<CommentStatus> parse_comment_status(std::string_view s) {
  if (s == "pending") return CommentStatus::pending;
  if (s == "approved") return CommentStatus::approved;
  if (s == "rejected") return CommentStatus::rejected;
  if (s == "hidden") return CommentStatus::hidden;
  if (s == "merged") return CommentStatus::merged;
  return std::nullopt;
}

SessionRow read_session(const Stmt& s) {
  SessionRow r;
  r.id = s.i64(0);
  r.title_ar = s.text(1);
  r.title_en = s.text(2);
  r.status = s.text(3);
  r.created_at_ms = s.i64(4);
  r.live_at_ms = s.opt_i64(5);
  r.ended_at_ms = s.opt_i64(6);
  r.scheduled_at_ms = s.opt_i64(7);
  return r;
}

CommentRow read_comment(const Stmt& s) {
  CommentRow r;
  r.id = s.i64(0);
  r.session_id = s.i64(1);
  r.viewer_id = s.opt_i64(2);
  r.display_name = s.text(3);
  r.text = s.text(4);
  r.lang = s.text(5);
  r.direction = s.text(6);
  r.source = s.text(7);
  r.client_id = s.text(8);
  r.external_id = s.text(9);
  r.received_at_ms = s.i64(10);
  r.stream_offset_ms = s.opt_i64(11);
  r.status = parse_comment_status(s.text(12)).value_or(CommentStatus::pending);
  r.votes = s.i64(13);
  r.merged_into = s.opt_i64(14);
  r.merged_from = s.text(15);
  return r;
}

ViewerRow read_viewer(const Stmt& s) {
  ViewerRow r;
  r.id = s.i64(0);
  r.token_hash = s.text(1);
  r.display_name = s.text(2);
  r.banned_until_ms = s.i64(3);
  r.last_ip = s.text(4);
  r.created_at_ms = s.i64(5);
  return r;
}

ModerationEvent read_event(const Stmt& s) {
  ModerationEvent e;
  e.id = s.i64(0);
  e.session_id = s.opt_i64(1);
  e.comment_id = s.opt_i64(2);
  e.viewer_id = s.opt_i64(3);
  e.action = s.text(4);
  e.actor = s.text(5);
  e.reason = s.text(6);
  e.before_text = s.text(7);
  e.after_text = s.text(8);
  e.at_ms = s.i64(9);
  return e;
}

AccountRow read_account(const Stmt& s) {
  AccountRow r;
  r.id = s.i64(0);
  r.name = s.text(1);
  r.role = s.text(2);
  r.password_hash = s.text(3);
  r.created_at_ms = s.i64(4);
  return r;
}

ApiTokenRow read_api_token(const Stmt& s) {
  ApiTokenRow r;
  r.id = s.i64(0);
  r.name = s.text(1);
  r.role = s.text(2);
  r.token_hash = s.text(3);
  r.created_at_ms = s.i64(4);
  return r;
}

// One audit row (every write that changes what the public or the record sees).
Status insert_event(Db& db, const ModerationEvent& e) {
  Stmt st(db,
          "INSERT INTO moderation_events (session_id, comment_id, viewer_id, action, actor, "
          "reason, before_text, after_text, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(e.session_id)
      .bind(e.comment_id)
      .bind(e.viewer_id)
      .bind(e.action)
      .bind(e.actor)
      .bind(e.reason)
      .bind(e.before_text)
      .bind(e.after_text)
      .bind(e.at_ms);
  return st.run();
}

}  // namespace sabla::store
