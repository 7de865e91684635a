// The Store's lifecycle: opening (migrations, the writer), closing, the
// back-pressure check, metrics and flush. Its writes are in writes.cpp and
// auth.cpp, its reads in reads.cpp and auth.cpp; the writer in writer.cpp.
#include "store/store.h"

#include <exception>

#include <spdlog/spdlog.h>

#include "store/writer.h"

namespace sabla::store {

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  try {
    if (impl_) impl_->shutdown();
  } catch (...) {
    // A destructor must not throw; the connections close with impl_ anyway.
  }
}

Store::Options Store::options_from(const Config& config) {
  Options options;
  options.path = config.db_path();
  options.synchronous_full = config.synchronous_full;
  options.max_batch = static_cast<size_t>(config.batch_max);
  options.max_batch_delay_ms = config.batch_delay_ms;
  options.queue_capacity = static_cast<size_t>(config.writer_queue);
  options.wal_autocheckpoint = config.wal_autocheckpoint;
  return options;
}

Result<std::unique_ptr<Store>> Store::open(const Options& options, Poster post_completion) {
  try {
    auto impl = std::make_unique<Impl>(options, std::move(post_completion));
    if (Status s = impl->open(); !s) return s;
    return std::unique_ptr<Store>(new Store(std::move(impl)));
  } catch (const std::exception& e) {
    return Status::error("internal", std::string("store open threw: ") + e.what());
  } catch (...) {
    return Status::error("internal", "store open threw");
  }
}

bool Store::can_accept(size_t n) const {
  try {
    return impl_->can_accept(n);
  } catch (...) {
    return false;
  }
}

StoreMetrics Store::metrics() const {
  try {
    return impl_->metrics();
  } catch (...) {
    return {};
  }
}

bool Store::after_commit(std::function<void(Status)> done) {
  return guard_submit([&] {
    auto body = [](Db&) -> Status { return Status::ok(); };
    return impl_->submit(make_op<Status>(false, std::move(body), std::move(done)));
  });
}

void Store::flush() {
  try {
    impl_->flush();
  } catch (const std::exception& e) {
    spdlog::error("store: flush failed: {}", e.what());
  } catch (...) {
    spdlog::error("store: flush failed");
  }
}

}  // namespace sabla::store
