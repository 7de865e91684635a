// The Store's studio identities: accounts, API tokens and login sessions,
// their writes (through the writer) and their reads.
#include "store/store.h"

#include "store/rows.h"
#include "store/writer.h"

namespace sabla::store {

bool Store::create_account(AccountRow account, std::function<void(Result<AccountRow>)> done) {
  return guard_submit([&] {
    auto body = [a = std::move(account)](Db& db) -> Result<AccountRow> {
      Stmt st(db,
              "INSERT INTO accounts (name, role, password_hash, created_at_ms) VALUES (?, ?, ?, ?) "
              "RETURNING id");
      st.bind(a.name).bind(a.role).bind(a.password_hash).bind(a.created_at_ms);
      auto id = returning_id(st);
      if (!id) return recode(id.status(), "conflict", "exists");
      if (!*id) return Status::error("internal", "account insert returned no id");
      AccountRow out = a;
      out.id = **id;
      return out;
    };
    return impl_->submit(make_op<Result<AccountRow>>(false, std::move(body), std::move(done)));
  });
}

bool Store::create_api_token(ApiTokenRow token, std::function<void(Result<ApiTokenRow>)> done) {
  return guard_submit([&] {
    auto body = [t = std::move(token)](Db& db) -> Result<ApiTokenRow> {
      Stmt st(db,
              "INSERT INTO api_tokens (name, role, token_hash, created_at_ms) VALUES (?, ?, ?, ?) "
              "RETURNING id");
      st.bind(t.name).bind(t.role).bind(t.token_hash).bind(t.created_at_ms);
      auto id = returning_id(st);
      if (!id) return recode(id.status(), "conflict", "exists");
      if (!*id) return Status::error("internal", "api token insert returned no id");
      ApiTokenRow out = t;
      out.id = **id;
      return out;
    };
    return impl_->submit(make_op<Result<ApiTokenRow>>(false, std::move(body), std::move(done)));
  });
}

bool Store::save_auth_session(AuthSessionRow session, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [s = std::move(session)](Db& db) -> Status {
      Stmt st(db,
              "INSERT INTO auth_sessions (token_hash, account_id, expires_at_ms) VALUES (?, ?, ?) "
              "ON CONFLICT(token_hash) DO UPDATE SET account_id = excluded.account_id, "
              "expires_at_ms = excluded.expires_at_ms");
      st.bind(s.token_hash).bind(s.account_id).bind(s.expires_at_ms);
      return st.run();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

bool Store::delete_auth_session(std::string token_hash, std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [h = std::move(token_hash)](Db& db) -> Status {
      Stmt st(db, "DELETE FROM auth_sessions WHERE token_hash = ?");
      st.bind(h);
      return st.run();
    };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

Result<std::optional<AccountRow>> Store::find_account(std::string_view name) {
  return impl_->read<std::optional<AccountRow>>([&](Db& db) -> Result<std::optional<AccountRow>> {
    Stmt st(db, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE name = ?");
    st.bind(name);
    std::optional<AccountRow> out;
    if (st.step()) out = read_account(st);
    if (!st.status()) return st.status();
    return out;
  });
}

Result<std::optional<AccountRow>> Store::find_account_by_id(int64_t id) {
  return impl_->read<std::optional<AccountRow>>([&](Db& db) -> Result<std::optional<AccountRow>> {
    Stmt st(db, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE id = ?");
    st.bind(id);
    std::optional<AccountRow> out;
    if (st.step()) out = read_account(st);
    if (!st.status()) return st.status();
    return out;
  });
}

Result<int64_t> Store::count_accounts() {
  return impl_->read<int64_t>([](Db& db) -> Result<int64_t> {
    Stmt st(db, "SELECT count(*) FROM accounts");
    int64_t n = 0;
    if (st.step()) n = st.i64(0);
    if (!st.status()) return st.status();
    return n;
  });
}

Result<std::vector<std::string>> Store::account_names() {
  return impl_->read<std::vector<std::string>>([](Db& db) -> Result<std::vector<std::string>> {
    Stmt st(db, "SELECT name FROM accounts ORDER BY id");
    std::vector<std::string> out;
    while (st.step()) out.push_back(st.text(0));
    if (!st.status()) return st.status();
    return out;
  });
}

Result<std::optional<ApiTokenRow>> Store::find_api_token(std::string_view token_hash) {
  return impl_->read<std::optional<ApiTokenRow>>([&](Db& db) -> Result<std::optional<ApiTokenRow>> {
    Stmt st(db, "SELECT " API_TOKEN_COLUMNS " FROM api_tokens WHERE token_hash = ?");
    st.bind(token_hash);
    std::optional<ApiTokenRow> out;
    if (st.step()) out = read_api_token(st);
    if (!st.status()) return st.status();
    return out;
  });
}

Result<std::optional<AuthSessionRow>> Store::find_auth_session(std::string_view token_hash) {
  return impl_->read<std::optional<AuthSessionRow>>(
      [&](Db& db) -> Result<std::optional<AuthSessionRow>> {
        // Expired rows are returned too: expiry is the caller's policy.
        Stmt st(db,
                "SELECT token_hash, account_id, expires_at_ms FROM auth_sessions WHERE token_hash = ?");
        st.bind(token_hash);
        std::optional<AuthSessionRow> out;
        if (st.step()) out = AuthSessionRow{st.text(0), st.i64(1), st.i64(2)};
        if (!st.status()) return st.status();
        return out;
      });
}

}  // namespace sabla::store
