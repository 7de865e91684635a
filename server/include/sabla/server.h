// Sabla server: public entry points used by main and by tests.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace sabla {

struct Config;
class Clock;

// Runs the sabla command line (serve, user add, token create, --version).
// Returns the process exit code.
int run_cli(int argc, char** argv);

// A running server: its own net thread and store writer. Used by `serve`
// and by in-process integration tests.
class Server {
 public:
  // Opens the store, loads state, binds and starts serving.
  // On failure returns null and sets *error.
  static std::unique_ptr<Server> start(const Config& config, std::string* error);
  // Tests: the same with an injected clock (must outlive the server).
  static std::unique_ptr<Server> start(const Config& config, std::string* error, const Clock* clock);
  ~Server();  // stops serving, drains the store
  int port() const;   // the bound port (useful with port 0)
  void stop();        // idempotent; safe from any thread or a signal watcher
  void wait();        // until stopped
  // First-start producer password, if one was created (printed once).
  const std::string& initial_password() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  static std::unique_ptr<Server> start_edge(std::unique_ptr<Impl> impl, std::string* error);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sabla
