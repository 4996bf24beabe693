#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace strom {

/// Error codes; each maps one-to-one to a gRPC status code.
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,  // the object is not in a state that allows the operation
  kInternal = 13,
  kUnavailable = 14,
  kCorruption = 15,  // gRPC DATA_LOSS
  kIOError = 16,     // mapped to gRPC UNKNOWN(2) by the adapter
};

/// Return the name of `code`, such as "InvalidArgument".
std::string_view statusCodeName(StatusCode code);

/// The outcome of an operation: OK, or an error code with a message that names the object
/// that is wrong ("checkpoint 42: _metadata checksum mismatch"). OK holds one null pointer,
/// so success costs nothing. Value type; not thread-safe to mutate concurrently.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : state_(code == StatusCode::kOk ? nullptr
                                       : std::make_unique<State>(State{code, std::move(message)})) {
  }
  Status(const Status& other)
      : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}
  Status& operator=(const Status& other) {
    state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status ok() { return Status(); }
  static Status invalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status notFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status alreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status ioError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status deadlineExceeded(std::string m) {
    return {StatusCode::kDeadlineExceeded, std::move(m)};
  }
  static Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status resourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status failedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool isOk() const { return state_ == nullptr; }
  explicit operator bool() const { return isOk(); }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  const std::string& message() const {
    static const std::string kEmpty;
    return state_ ? state_->message : kEmpty;
  }
  /// Return "Code: message", or "OK".
  std::string toString() const;
  /// Return a copy whose message is `context + ": " + message()`; OK stays OK.
  Status withContext(std::string_view context) const;

 private:
  struct State {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<State> state_;
};

/// A value or an error Status (never an OK status).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(data_).isOk()) {
      data_ = Status::internal("Result constructed from an OK status without a value");
    }
  }

  bool isOk() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return isOk(); }
  const Status& status() const {
    static const Status kOk;
    return isOk() ? kOk : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T valueOr(T fallback) const& { return isOk() ? value() : std::move(fallback); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace strom

#define STROM_CONCAT_IMPL(a, b) a##b
#define STROM_CONCAT(a, b) STROM_CONCAT_IMPL(a, b)

/// Return the Status of `expr` from the enclosing function if it is an error.
#define STROM_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::strom::Status _strom_status = (expr);          \
    if (!_strom_status.isOk()) return _strom_status; \
  } while (0)

#define STROM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.isOk()) return tmp.status();             \
  lhs = std::move(tmp).value()

/// Evaluate `expr` (a Result<T>); return its error, or assign its value to `lhs`.
#define STROM_ASSIGN_OR_RETURN(lhs, expr) \
  STROM_ASSIGN_OR_RETURN_IMPL(STROM_CONCAT(_strom_result_, __LINE__), lhs, expr)
