// The Store's merges of similar comments (migration 5): a comment folded
// into another takes the status 'merged' with merged_into set and its
// earlier status kept in merged_from (unmerge restores it). Each change is
// one transaction with its audit row; callbacks run after COMMIT.
#include "store/store.h"

#include "store/rows.h"
#include "store/writer.h"

namespace sabla::store {

namespace {

struct Found {
  int64_t session_id = 0;
  std::string status;
  std::optional<int64_t> merged_into;
  std::string merged_from;
};

Result<std::optional<Found>> find(Db& db, int64_t id) {
  Stmt st(db, "SELECT session_id, status, merged_into, merged_from FROM comments WHERE id = ?");
  st.bind(id);
  if (!st.step()) {
    if (!st.status()) return st.status();
    return std::optional<Found>();
  }
  return std::optional<Found>(Found{st.i64(0), st.text(1), st.opt_i64(2), st.text(3)});
}

}  // namespace

bool Store::merge_comment(MergeChange change, std::function<void(Result<CommentStatus>)> done) {
  return guard_submit([&] {
    auto body = [c = std::move(change)](Db& db) -> Result<CommentStatus> {
      auto self = find(db, c.comment_id);
      if (!self) return self.status();
      if (!*self) return Status::error("not_found", "no comment " + std::to_string(c.comment_id));
      ModerationEvent e = c.event;
      e.comment_id = c.comment_id;
      e.session_id = (*self)->session_id;
      if (c.into) {
        if (*c.into == c.comment_id) return Status::error("invalid", "a comment cannot be merged into itself");
        auto target = find(db, *c.into);
        if (!target) return target.status();
        if (!*target) return Status::error("not_found", "no comment " + std::to_string(*c.into));
        if ((*target)->session_id != (*self)->session_id)
          return Status::error("invalid", "both comments must belong to the same session");
        if ((*target)->status != "pending" && (*target)->status != "approved")
          return Status::error("conflict", "the target is " + (*target)->status);
        if ((*self)->status != "pending" && (*self)->status != "approved")
          return Status::error("conflict", "the comment is " + (*self)->status);
        {
          // A group has one level: a comment others were merged into stays a head.
          Stmt heads(db, "SELECT 1 FROM comments WHERE merged_into = ? LIMIT 1");
          heads.bind(c.comment_id);
          if (heads.step()) return Status::error("conflict", "other comments were merged into this one; unmerge them first");
          if (!heads.status()) return heads.status();
        }
        Stmt upd(db, "UPDATE comments SET status = 'merged', merged_into = ?, merged_from = ? WHERE id = ?");
        upd.bind(*c.into).bind((*self)->status).bind(c.comment_id);
        if (Status s = upd.run(); !s) return s;
        e.action = "merge";
        e.reason = "into=" + std::to_string(*c.into);
        if (Status s = insert_event(db, e); !s) return s;
        return CommentStatus::merged;
      }
      if ((*self)->status != "merged") return Status::error("conflict", "the comment is not merged");
      const CommentStatus back = parse_comment_status((*self)->merged_from).value_or(CommentStatus::pending);
      Stmt upd(db, "UPDATE comments SET status = ?, merged_into = NULL, merged_from = '' WHERE id = ?");
      upd.bind(to_string(back)).bind(c.comment_id);
      if (Status s = upd.run(); !s) return s;
      e.action = "unmerge";
      e.reason = "from=" + ((*self)->merged_into ? std::to_string(*(*self)->merged_into) : std::string("?"));
      if (Status s = insert_event(db, e); !s) return s;
      return back;
    };
    return impl_->submit(make_op<Result<CommentStatus>>(true, std::move(body), std::move(done)));
  });
}

}  // namespace sabla::store
