#pragma once
/// Errors as values: Result<T> holds a T or an Error; Status is Result<void>.

#include <string>
#include <utility>
#include <variant>

namespace stepgate {

/// A small set of error codes, in the spirit of absl::StatusCode.
enum class ErrorCode {
  kInvalidArgument,   // bad input or configuration (exit code 2)
  kNotFound,          // a file, record or key that is not there
  kPermissionDenied,  // wrong file mode, refused proof
  kFailedPrecondition,
  kResourceExhausted,  // a size, depth or rate limit was hit
  kUnavailable,        // a peer or the state store could not be reached
  kInternal,
};

/// Name of an error code ("invalid_argument"...).
const char* error_code_name(ErrorCode code);

/// An error: a code plus one human-readable line (file:line:column first where known).
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

/// A value or an error; must be checked.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error)
      : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}
inline Error invalid_argument(std::string message) {
  return Error{ErrorCode::kInvalidArgument, std::move(message)};
}

/// Exit code per DESIGN.md for an error: 2 for bad input/configuration, 1 for refusals.
int exit_code_for(const Error& error);

}  // namespace stepgate
