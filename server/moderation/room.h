// The Room: the comment domain of the live session. It owns, on the net
// thread only (no locks inside), the in-memory moderation state: viewers,
// the current session, every comment of it with its status and votes, the
// approved feed, the settings and the on-air state.
//
// Every change is written through the Store first; broadcasts and acks
// happen in the store's completion callbacks, i.e. after COMMIT. Frames go
// out through Outbound (the network front implements it); viewer- and
// overlay-bound messages go through Outbound::publish, the one fan-out
// interface (in cluster mode it also carries them to the edge nodes).
//
// One class, its sources by concern:
//   room.cpp           construction, load(), tick(), metrics()
//   room_viewers.cpp   viewer connections, identities and names, welcome, votes
//   room_comments.cpp  comments coming in (viewers and bridges), the ack after COMMIT
//   room_studio.cpp    studio connections, snapshot, decisions, bans, settings
//   room_on_air.cpp    on-air commands and their persistence, overlay clients
//   room_sessions.cpp  sessions and the HTTP session API, the video link and program clock
//   room_polls.cpp     live polls: studio commands, viewers' ballots, coalesced pushes
//   room_merge.cpp     similar comments (SimilarityIndex) and merge/unmerge
//   room_outcomes.cpp  the decisions register: outcomes, the author's push
//   room_internal.h    helpers shared by those files only
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "moderation/front.h"
#include "moderation/names.h"
#include "moderation/polls.h"
#include "moderation/rate_limiter.h"
#include "moderation/settings.h"
#include "moderation/similarity.h"
#include "moderation/text.h"
#include "protocol/messages.h"
#include "sabla/overlay/on_air.h"
#include "sabla/overlay/state.h"
#include "sabla/pipeline/program_clock.h"
#include "store/store.h"

namespace sabla::moderation {

// An HTTP answer for the API routes the Room serves.
struct ApiReply {
  int status = 200;
  nlohmann::json body;
};
using ApiDone = std::function<void(ApiReply)>;

struct RoomMetrics {
  uint64_t comments_received = 0;  // comment frames and bridge posts that passed parsing
  uint64_t comments_acked = 0;     // acks sent after commit
  uint64_t comments_rejected_input = 0;  // refused before storing (empty, too long, rate...)
  uint64_t comments_approved = 0;
  uint64_t comments_rejected = 0;
  uint64_t comments_hidden = 0;
  uint64_t votes = 0;
  uint64_t viewers_connected = 0;
  uint64_t studios_connected = 0;
  uint64_t overlays_connected = 0;
  uint64_t pending = 0;
};

class Room final : public Inbound {
 public:
  Room(const Config& config, store::Store& store, const Clock& clock, Outbound& out);

  // Loads the stored state. If there is no session at all, creates the
  // default one and makes it live (completes through the store's poster).
  Status load();

  // ---- Viewers (sabla.viewer.v1) ----
  void viewer_connected(ConnId conn, const std::string& ip) override;
  Verdict viewer_message(ConnId conn, std::string_view frame) override;
  void viewer_disconnected(ConnId conn) override;
  // A viewer an edge node welcomed itself (cluster): the identity comes from
  // the signed token it handed out, and no welcome is sent (the viewer has
  // one). A token that does not verify gets a fresh identity and a welcome.
  void viewer_joined(ConnId conn, const std::string& ip, const std::string& token);
  // The secret that signs viewer tokens across nodes ("" outside a cluster):
  // a token signed with it names its viewer here as well (docs/cluster.md).
  void set_token_secret(std::string secret) { token_secret_ = std::move(secret); }
  // The welcome a brand-new viewer gets, without "viewer", "token", "name"
  // and "viewers", which an edge fills in itself.
  std::string welcome_template() const;
  // The highest edge number in a stored viewer id (ids from edges are
  // number << 32 | k; protocol.h kEdgeViewerIdBase), 0 without any.
  int64_t highest_edge_number() const { return highest_edge_number_; }

  // ---- Studios (sabla.studio.v1); the actor is already authenticated ----
  void studio_connected(ConnId conn, const Actor& actor) override;
  Verdict studio_message(ConnId conn, std::string_view frame) override;
  void studio_disconnected(ConnId conn) override;

  // ---- Overlays (sabla.overlay.v1) ----
  void overlay_connected(ConnId conn) override;
  void overlay_disconnected(ConnId conn) override;

  // ---- HTTP API ----
  ApiReply list_sessions() const;
  void create_session(const Actor& actor, const nlohmann::json& body, ApiDone done);
  // PATCH /api/v1/sessions/{id}: new titles and/or planned start (producers).
  void rename_session(const Actor& actor, int64_t session_id, const nlohmann::json& body, ApiDone done);
  void set_session_live(const Actor& actor, int64_t session_id, ApiDone done);
  void end_session(const Actor& actor, int64_t session_id, ApiDone done);
  void bridge_comment(const Actor& actor, int64_t session_id, const nlohmann::json& body, ApiDone done);
  // POST /api/v1/comments/{id}/outcome and the studio's "outcome" (producers).
  void record_outcome(const Actor& actor, int64_t comment_id, const nlohmann::json& body, ApiDone done);

  // Periodic work on the net thread: advances the on-air rotation, sends the
  // video status to studios (1 s) and the viewer count to viewers (5 s).
  void tick() override;
  // The store has room for a parked frame's writes.
  bool can_accept() const override;

  // The video pipeline as the Room sees it (wired by sabla::Server).
  struct VideoLink {
    // The studio's pipeline message body (any thread may serve it).
    std::function<nlohmann::json()> status;
    // Every committed on-air state (net thread), and the current one at attach.
    std::function<void(const overlay::State&)> overlay_changed;
    // The program's running time in ms, -1 while it is not playing (any thread).
    std::function<int64_t()> running_time_ms;
    // Continue the recording in files named <name>-NNN.mkv: "session-<id>"
    // while a session is live, "" for the off-air files (net thread).
    std::function<void(const std::string& name)> record_as;
    bool recording = false;
  };
  void attach_video(VideoLink link);
  // The input went live, or to the slate (net thread).
  void set_source_live(bool live);
  // A recording file opened; its first frame is at `start_running_ms` of the
  // program's running time (net thread). The session's stream offsets count
  // from its first file.
  void recording_opened(const std::string& path, int64_t start_running_ms);
  // The pipeline was rebuilt after an error: its running time restarts, so
  // the session's timeline continues from the wall clock (net thread).
  void video_restarted();
  // The recording file name for now: "session-<id>" while a session is live,
  // "" (off air) otherwise. The pipeline starts with it.
  std::string recording_name() const;

  RoomMetrics metrics() const;
  // The pipeline's status (as studios get it), or null without video.
  nlohmann::json video_status() const { return video_.status ? video_.status() : nlohmann::json(); }
  const ModerationSettings& settings() const { return settings_; }
  std::optional<int64_t> current_session_id() const { return current_session_; }

 private:
  struct Viewer {
    Viewer(int64_t viewer_id, TokenBucket comments, TokenBucket votes)
        : id(viewer_id), comment_bucket(comments), vote_bucket(votes) {}
    int64_t id = 0;
    std::string token_hash;
    std::string name;
    int64_t banned_until_ms = 0;
    std::string last_ip;
    int64_t created_at_ms = 0;
    bool persisted = false;
    int connections = 0;
    TokenBucket comment_bucket;
    TokenBucket vote_bucket;
    int64_t last_comment_steady_ms = 0;
    bool has_commented = false;
    // client_id key -> (comment id, acked status); recent ones only, the
    // store's unique index is the real guarantee.
    std::map<std::string, std::pair<int64_t, std::string>> recent_client_ids;
    // A list, not a deque: a libstdc++ deque allocates ~600 bytes as soon as
    // it exists, and every connected viewer has a Viewer, most of them never
    // commenting (bench/README.md, hold; as NetServer::Conn's queues).
    std::list<std::string> recent_order;
  };
  struct Comment {
    store::CommentRow row;  // row.votes: its own plus those of the comments merged into it
    std::string reason;
    std::unordered_set<int64_t> voters;
    int64_t own_votes = 0;          // the stored count of this comment alone
    std::vector<int64_t> merged;    // comments merged into this one
    std::vector<int64_t> similar;   // earlier similar comments when it arrived
  };
  struct ViewerConn {
    int64_t viewer_id = 0;
    std::string ip;
  };
  struct StudioConn {
    Actor actor;
  };

  // The comment a studio action names by "id", or null after replying with the error.
  Comment* comment_for_action(ConnId conn, const std::string& type, const nlohmann::json& msg);
  // Viewer messages.
  void handle_hello(ConnId conn, ViewerConn& vc, const nlohmann::json& msg);
  Verdict handle_comment(ConnId conn, ViewerConn& vc, const protocol::CommentFrame& msg);
  Verdict handle_vote(ConnId conn, ViewerConn& vc, const nlohmann::json& msg);
  // Studio messages.
  Verdict handle_decision(ConnId conn, const StudioConn& sc, const std::string& type, const nlohmann::json& msg);
  Verdict handle_ban(ConnId conn, const StudioConn& sc, bool ban, const nlohmann::json& msg);
  Verdict handle_settings(ConnId conn, const StudioConn& sc, const nlohmann::json& msg);
  Verdict handle_on_air(ConnId conn, const StudioConn& sc, const std::string& type, const nlohmann::json& msg);
  // Persists on-air events with the saved state, then pushes the overlay to
  // every client (and replies to `conn` when given).
  void commit_on_air(std::vector<overlay::OnAirEvent> events, const std::string& actor, ConnId conn,
                     const nlohmann::json& msg, const std::string& action, bool rotation_changed);
  nlohmann::json rotation_json() const;

  // Similar comments and merges (room_merge.cpp).
  void index_similar(Comment& c);
  nlohmann::json studio_comment(const Comment& c) const;
  void load_merges();
  void publish_head(const Comment& head);
  Verdict handle_merge(ConnId conn, const StudioConn& sc, const std::string& type, const nlohmann::json& msg);

  // The decisions register (room_outcomes.cpp).
  Verdict handle_outcome(ConnId conn, const StudioConn& sc, const nlohmann::json& msg);
  void load_outcomes(const store::LoadedState& st);
  nlohmann::json viewer_outcomes_json(int64_t viewer_id) const;

  // Polls (room_polls.cpp).
  Verdict handle_poll_command(ConnId conn, const StudioConn& sc, const std::string& type, const nlohmann::json& msg);
  Verdict handle_poll_vote(ConnId conn, ViewerConn& vc, const nlohmann::json& msg);
  void load_polls(const store::LoadedState& st);
  // Counts changed: pushed at once, or on a later tick so that no poll is
  // pushed more than twice a second whatever the vote rate. `now`: a
  // producer's change (status, on air), pushed at once.
  void poll_changed(int64_t poll_id, bool now = false);
  void push_due_polls();
  void push_poll(const Poll& poll);
  bool poll_visible_to_viewers(const Poll& poll) const;
  nlohmann::json viewer_polls_json(int64_t viewer_id) const;
  nlohmann::json studio_polls_json() const;

  // Stores a new comment (from a viewer or a bridge) and completes `done`
  // after COMMIT with the stored id/status.
  using InsertDone = std::function<void(Result<store::InsertedComment>)>;
  void store_comment(store::CommentRow row, InsertDone done);
  void on_comment_stored(const store::CommentRow& row, const store::InsertedComment& inserted,
                         const std::string& reason);

  Viewer& new_viewer(int64_t id);
  void persist_viewer(Viewer& v);
  void release_viewer(int64_t viewer_id);
  void send_welcome(ConnId conn, const Viewer& v, const std::string& token);
  nlohmann::json welcome_json(const Viewer* v) const;
  // Switches a connection to the identity a token names (one this node
  // issued, or one signed with the cluster secret); false when it names none.
  bool take_identity(ViewerConn& vc, const std::string& token);
  nlohmann::json snapshot_json(const Actor& actor) const;
  nlohmann::json feed_json() const;
  nlohmann::json viewer_settings_json() const;
  nlohmann::json overlay_message() const;
  void broadcast_comment_change(const Comment& c, const std::string& action, const std::string& by,
                                bool was_visible);
  // `went_live_now`: the session goes live in this run (its recording starts
  // at offset 0), rather than being resumed after a restart.
  void switch_session(std::optional<int64_t> session_id, bool went_live_now);
  // Puts the session's stream clock on the pipeline's timeline (see
  // ProgramClock); `split_recording`: start the session's own recording file.
  void align_clock_to_video(bool went_live_now, bool split_recording);
  const store::SessionRow* current_session_row() const;
  void reply_ok(ConnId conn, const nlohmann::json& msg, const std::string& action, std::optional<int64_t> id);
  void reply_error(ConnId conn, const nlohmann::json& msg, const char* code, const std::string& message);
  std::optional<int64_t> stream_offset(int64_t at_ms) const;
  // What `name` imitates ("" when it may be used); refreshes the studio
  // accounts from the store first when they are older than a few seconds.
  std::string imitated_name(const std::string& name);
  void load_protected_names();
  bool ip_banned(const std::string& ip, int64_t now_ms, int64_t* until) const;

  const Config& config_;
  store::Store& store_;
  const Clock& clock_;
  Outbound& out_;

  ModerationSettings settings_;
  BlockedWords blocked_;
  NameGuard names_;
  int64_t names_loaded_steady_ms_ = 0;
  bool names_loaded_ = false;
  std::map<int64_t, store::SessionRow> sessions_;
  std::optional<int64_t> current_session_;
  pipeline::ProgramClock program_clock_;
  int64_t clock_held_since_ms_ = 0;  // when program_clock_ began to wait for the recording

  std::unordered_map<int64_t, Viewer> viewers_;
  std::unordered_map<std::string, int64_t> viewer_by_token_;
  int64_t next_viewer_id_ = 1;  // ids below kEdgeViewerIdBase; edges number theirs above
  int64_t highest_edge_number_ = 0;
  std::string token_secret_;
  std::unordered_map<std::string, int64_t> ip_bans_;  // ip -> until ms

  std::map<int64_t, Comment> comments_;  // current session, by id
  std::deque<int64_t> feed_;             // approved ids in approval order (bounded)
  mutable std::optional<nlohmann::json> feed_cache_;
  // Reused for every comment frame (net thread), so its strings keep their
  // capacity.
  protocol::CommentFrame comment_scratch_;
  // (viewer id, client_id key) -> connections waiting for the ack
  std::map<std::pair<int64_t, std::string>, std::vector<ConnId>> in_flight_;

  std::unordered_map<ConnId, ViewerConn> viewer_conns_;
  std::unordered_map<ConnId, StudioConn> studio_conns_;
  std::unordered_set<ConnId> overlay_conns_;

  overlay::OnAir on_air_;

  // viewer id -> (comment id -> its current outcome), for the author's welcome.
  std::unordered_map<int64_t, std::map<int64_t, nlohmann::json>> outcomes_by_viewer_;
  SimilarityIndex similar_;  // the current session's open comments
  std::map<int64_t, Poll> polls_;  // of unended sessions and the current one, by id
  std::unordered_set<int64_t> polls_dirty_;                 // changed since their last push
  std::unordered_map<int64_t, int64_t> poll_pushed_steady_ms_;  // last push per poll

  VideoLink video_;
  bool source_live_ = false;
  int64_t last_status_push_ms_ = 0;
  int64_t last_count_push_ms_ = 0;
  uint64_t last_count_pushed_ = 0;
  uint64_t viewers_peak_ = 0;        // of the current session, in memory
  uint64_t viewers_peak_saved_ = 0;  // what the store has

  RoomMetrics metrics_;
};

}  // namespace sabla::moderation
