// sabla::Server: wires the store, the Room and the network front together
// and runs the net thread.
#include <thread>

#include <spdlog/spdlog.h>

#include "bridges/bridges.h"
#include "cluster/edge_node.h"
#include "cluster/main_link.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "config/config.h"
#include "moderation/room.h"
#include "net/broadcast.h"
#include "net/net_server.h"
#include "sabla/server.h"
#include "store/store.h"

namespace sabla {

struct Server::Impl {
  Config config;
  SystemClock system_clock;
  const Clock* clock = &system_clock;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<net::NetServer> net;
  std::unique_ptr<moderation::Room> room;
  std::unique_ptr<net::Broadcast> broadcast;
  std::unique_ptr<cluster::MainLink> main_link;  // cluster main node
  std::unique_ptr<cluster::EdgeNode> edge;       // cluster edge node (no store, no room)
  std::unique_ptr<bridges::Bridges> bridges;     // [[bridges]]: platform comments in (issue 14)
  std::thread net_thread;
  std::string initial_password;
  bool stopped = false;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<Server> Server::start(const Config& config, std::string* error) {
  return start(config, error, nullptr);
}

std::unique_ptr<Server> Server::start(const Config& config, std::string* error, const Clock* clock) {
  if (!crypto::init()) {
    *error = "libsodium failed to initialise";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  if (clock) impl->clock = clock;
  Impl* raw = impl.get();
  if (config.clustered() && config.cluster_edge) return start_edge(std::move(impl), error);
  const store::Store::Options options = store::Store::options_from(config);
  // Store completions run on the net thread: the poster hands them over.
  auto store = store::Store::open(options, [raw](store::Task task) { raw->net->post(std::move(task)); });
  if (!store) {
    *error = "cannot open the store at " + options.path + ": " + store.status().message();
    return nullptr;
  }
  impl->store = std::move(*store);
  impl->net = std::make_unique<net::NetServer>(impl->config, *impl->clock);
  impl->room = std::make_unique<moderation::Room>(impl->config, *impl->store, *impl->clock, *impl->net);

  // First start: a producer account so the studio works straight away.
  auto accounts = impl->store->count_accounts();
  if (!accounts) {
    *error = "cannot read accounts: " + accounts.status().message();
    return nullptr;
  }
  if (*accounts == 0) {
    std::string password = crypto::random_secret(18);
    store::AccountRow producer{0, "producer", "producer", crypto::hash_password(password), impl->clock->now_ms()};
    impl->store->create_account(producer, [raw, password](Result<store::AccountRow> r) {
      if (r) raw->initial_password = password;
      else spdlog::error("could not create the first producer account: {}", r.status().message());
    });
  }
  if (Status s = impl->room->load(); !s) {
    *error = "cannot load state: " + s.message();
    return nullptr;
  }
  net::NetServer::Backend backend;
  backend.inbound = impl->room.get();
  backend.room = impl->room.get();
  backend.store = impl->store.get();
  if (config.clustered()) {
    impl->main_link = std::make_unique<cluster::MainLink>(impl->config, *impl->net, *impl->room, *impl->store);
    if (Status s = impl->main_link->start(); !s) {
      *error = s.message();
      return nullptr;
    }
    backend.broker = impl->main_link.get();
  }
  // Bridges: the bridge thread hands each comment to the net thread, where
  // it takes the ingest API's path (Room::bridge_comment) into the live
  // session; the answer goes back to the bridge thread through `done`.
  impl->bridges = std::make_unique<bridges::Bridges>(
      impl->config.bridges,
      [raw](bridges::IncomingComment c, bridges::FeedDone done) {
        raw->net->post([raw, c = std::move(c), done = std::move(done)] {
          auto session = raw->room->current_session_id();
          if (!session) return done(bridges::feed_result(409, false, "no session is live"));
          nlohmann::json body{{"source", c.source}, {"author", c.author}, {"text", c.text}, {"external_id", c.external_id}};
          raw->room->bridge_comment(moderation::Actor{"bridge:" + c.source, "bridge"}, *session, body,
                                    [done](moderation::ApiReply r) {
                                      const bool duplicate = r.body.is_object() && r.body.value("duplicate", false);
                                      std::string error;
                                      if (r.status >= 300 && r.body.is_object() && r.body.contains("error") &&
                                          r.body["error"].is_object())
                                        error = r.body["error"].value("message", "");
                                      done(bridges::feed_result(r.status, duplicate, std::move(error)));
                                    });
        });
      },
      [raw] { return raw->clock->now_ms(); });
  backend.bridges = impl->bridges.get();
  if (Status s = impl->net->start(backend); !s) {
    *error = s.message();
    return nullptr;
  }
  if (config.video_source != "off") {
    net::Broadcast::Events events;
    events.source_changed = [raw](bool live) { raw->room->set_source_live(live); };
    events.recording_opened = [raw](const std::string& path, int64_t start_running_ms) {
      raw->room->recording_opened(path, start_running_ms);
    };
    events.restarted = [raw] { raw->room->video_restarted(); };
    impl->broadcast = std::make_unique<net::Broadcast>(impl->config, *impl->net, std::move(events));
    if (Status s = impl->broadcast->start(impl->room->recording_name()); !s) {
      *error = s.message();
      return nullptr;
    }
    net::Broadcast* b = impl->broadcast.get();
    moderation::Room::VideoLink link;
    link.status = [b] { return b->status(); };
    link.overlay_changed = [b](const overlay::State& state) { b->overlay_changed(state); };
    link.running_time_ms = [b] { return b->running_time_ms(); };
    link.record_as = [b](const std::string& name) { b->record_as(name); };
    link.recording = config.recording;
    impl->room->attach_video(std::move(link));
  }
  // Start-up writes (first account, default session) commit before serving.
  impl->store->flush();
  impl->net->run_posted();
  spdlog::info("serving on port {} (data: {})", impl->net->port(), config.data_dir);
  impl->net_thread = std::thread([raw] { raw->net->run(); });
  if (Status s = impl->bridges->start(); !s) spdlog::error("bridges did not start: {}", s.message());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

// An edge node: the network front with the broker link behind it, nothing else.
std::unique_ptr<Server> Server::start_edge(std::unique_ptr<Impl> impl, std::string* error) {
  Impl* raw = impl.get();
  impl->net = std::make_unique<net::NetServer>(impl->config, *impl->clock);
  impl->edge = std::make_unique<cluster::EdgeNode>(impl->config, *impl->net);
  if (Status s = impl->edge->start(); !s) {
    *error = s.message();
    return nullptr;
  }
  net::NetServer::Backend backend;
  backend.inbound = impl->edge.get();
  backend.broker = impl->edge.get();
  if (Status s = impl->net->start(backend); !s) {
    *error = s.message();
    return nullptr;
  }
  impl->net->run_posted();
  if (!impl->config.bridges.empty())
    spdlog::warn("[[bridges]] are not run on an edge node: run them on the main node (or `sabla bridge`)");
  spdlog::info("edge node serving on port {}", impl->net->port());
  impl->net_thread = std::thread([raw] { raw->net->run(); });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::~Server() {
  // The bridge thread posts to the net thread: it stops first.
  if (impl_->bridges) impl_->bridges->stop();
  stop();
  wait();
  // The Redis threads post to the net server: they stop before it goes.
  if (impl_->main_link) impl_->main_link->stop();
  if (impl_->edge) impl_->edge->stop();
  // Order: the net loop has stopped; the store finishes its queue (its
  // completions are dropped with the net server: nobody is left to ack).
  if (impl_->broadcast) impl_->broadcast->stop();  // its events post to the net thread: stop it first
  if (impl_->store) impl_->store->flush();
  impl_->net.reset();  // closing connections calls into the room: it must still exist
  impl_->room.reset();
  impl_->broadcast.reset();
  impl_->main_link.reset();
  impl_->edge.reset();
  impl_->bridges.reset();
  impl_->store.reset();
}

int Server::port() const { return impl_->net->port(); }

void Server::stop() { impl_->net->stop(); }

void Server::wait() {
  if (impl_->net_thread.joinable()) impl_->net_thread.join();
}

const std::string& Server::initial_password() const { return impl_->initial_password; }

}  // namespace sabla
