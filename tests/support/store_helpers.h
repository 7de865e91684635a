// Helpers for tests that drive the real Store: open one on a file, and wait
// for a write's completion (flush() returns after it was posted).
#pragma once
#include <catch2/catch.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "store/store.h"

namespace sabla::test {

// A store on `path` whose completions run inline on the writer or caller.
inline std::unique_ptr<store::Store> open_test_store(const std::string& path, bool threaded = false) {
  store::Store::Options o;
  o.path = path;
  o.threaded = threaded;
  auto r = store::Store::open(o, [](store::Task t) { t(); });
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  return std::move(r.value());
}

// Runs `call(callback)` (a Store write) and returns what the callback got.
template <class R, class Call>
R await_store(store::Store& store, Call call) {
  std::mutex m;
  std::optional<R> out;
  const bool accepted = call([&](R r) {
    std::lock_guard lk(m);
    out = std::move(r);
  });
  REQUIRE(accepted);
  store.flush();
  std::lock_guard lk(m);
  REQUIRE(out.has_value());
  return std::move(*out);
}

}  // namespace sabla::test
