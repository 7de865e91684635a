// Read-only checks against the server's SQLite file after a run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sabla::load {

struct CommentCount {
  int64_t total = 0;        // rows in `comments`
  int64_t with_prefix = 0;  // rows whose client_id starts with the run's prefix
};

// Opens `path` read-only and counts rows; nullopt (and *error) on failure.
std::optional<CommentCount> count_comments(const std::string& path, const std::string& client_id_prefix,
                                           std::string* error);

}  // namespace sabla::load
