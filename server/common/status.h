// Status results at module edges (leveldb style): no exceptions cross a
// module boundary or a C callback; errors carry a machine code and a message.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace sabla {

class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string code, std::string message) {
    Status s;
    s.code_ = std::move(code);
    s.message_ = std::move(message);
    return s;
  }
  bool is_ok() const { return code_.empty(); }
  explicit operator bool() const { return is_ok(); }
  // Machine-readable code, e.g. "conflict", "not_found", "io".
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  std::string code_;
  std::string message_;
};

// A value or an error Status.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status error) : v_(std::move(error)) {}  // NOLINT
  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sabla
