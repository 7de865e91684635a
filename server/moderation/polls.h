// Live polls: the domain rules, without sockets or SQLite. The Room owns the
// polls (net thread) and persists every change through the Store first.
//
// Lifecycle: draft -> open -> closed -> (reopen) open ...; only drafts may be
// deleted. One ballot per viewer identity and poll; while the poll is open a
// viewer may vote again and the last ballot counts. `results` decides when
// the public (viewers, the overlay) sees the counts: live, after_close, or
// hidden (studios and exports only).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "sabla/overlay/state.h"

namespace sabla::moderation {

struct PollChoice {
  std::string ar, en;
};

// What a producer asks for in poll_create (already validated and sanitized).
struct PollSpec {
  std::string question_ar, question_en;
  std::vector<PollChoice> options;  // 2..6
  bool multiple = false;
  int max_choices = 1;
  std::string results = "live";  // live | after_close | hidden
  std::optional<int64_t> session_id;
};

inline constexpr size_t kPollMinOptions = 2;
inline constexpr size_t kPollMaxOptions = 6;
inline constexpr size_t kPollQuestionChars = 300;
inline constexpr size_t kPollOptionChars = 80;

// Validates a poll_create message; error codes are protocol codes (invalid).
Result<PollSpec> parse_poll_spec(const nlohmann::json& msg);

struct Poll {
  int64_t id = 0;
  int64_t session_id = 0;
  PollSpec spec;
  std::string status = "draft";  // draft | open | closed
  std::string created_by;
  int64_t created_at_ms = 0;
  std::optional<int64_t> opened_at_ms, opened_offset_ms;  // first opening
  std::optional<int64_t> closed_at_ms, closed_offset_ms;  // last closing

  // Counts, kept in step with `ballots`.
  std::vector<int64_t> counts;  // per option
  int64_t total = 0;            // ballots
  struct Ballot {
    std::vector<int> options;
    std::string ip;
  };
  std::unordered_map<int64_t, Ballot> ballots;  // viewer id -> their ballot
  std::unordered_map<std::string, int64_t> ballots_per_ip;

  // Viewers and the overlay may see the counts now.
  bool results_public() const;
  // Records `viewer`'s ballot (replacing their earlier one) and returns the
  // earlier one, so a failed commit can put it back with restore().
  std::optional<Ballot> cast(int64_t viewer, Ballot ballot);
  // Undoes cast(): `previous` is what cast() returned.
  void restore(int64_t viewer, std::optional<Ballot> previous);
  const Ballot* ballot_of(int64_t viewer) const;

  // The poll object of docs/protocol.md. Viewers get counts only when the
  // results are public; studios always, with the producer-only fields.
  nlohmann::json to_json(bool for_studio, bool on_air = false) const;
  // What the overlay draws (counts only when public).
  overlay::AiredPoll aired() const;
};

// Checks a viewer's ballot ({"options":[i,…]}) against the poll's rules.
// On failure returns the protocol error code and sets *why.
std::optional<const char*> check_ballot(const Poll& poll, const nlohmann::json& options, std::vector<int>* out,
                                        std::string* why);

// Options as stored (JSON text [{"ar","en"}]) and back.
std::string options_to_text(const std::vector<PollChoice>& options);
bool options_from_text(const std::string& text, std::vector<PollChoice>* out);

}  // namespace sabla::moderation
