#pragma once
// A small HTTP/1.1 client for plain-HTTP MCP upstreams, run on the shim's request thread itself:
// the request goes out in one write on a keep-alive connection taken from this thread's pool, and
// the response is read as the handler (or its content provider) asks for it. No thread hand-off
// and no lock on the request path; https:// upstreams go through cpp-httplib's client instead.

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "stepgate/result.h"

namespace stepgate {

struct Upstream;

/// Limits on what an upstream may send back (it is configured by the user, but still bounded).
inline constexpr std::size_t kMaxUpstreamHeaderBytes = std::size_t{64} * 1024;
inline constexpr std::size_t kMaxUpstreamBufferedBody = std::size_t{64} * 1024 * 1024;

/// One request and its response on a pooled connection. The connection goes back to the calling
/// thread's pool when the response was read to its end and both sides keep it alive.
class UpstreamCall {
 public:
  /// Sends the request and reads the status line and headers. A pooled connection the upstream
  /// closed meanwhile is replaced once. kUnavailable when the upstream cannot be reached or
  /// answers with something that is not HTTP/1.x (the message says what).
  static Result<std::unique_ptr<UpstreamCall>> start(const Upstream& upstream,
                                                     const std::string& method,
                                                     const httplib::Headers& headers,
                                                     const std::string& body,
                                                     std::chrono::seconds read_timeout);
  ~UpstreamCall();
  UpstreamCall(const UpstreamCall&) = delete;
  UpstreamCall& operator=(const UpstreamCall&) = delete;

  [[nodiscard]] int status() const { return status_; }
  [[nodiscard]] const httplib::Headers& headers() const { return headers_; }
  /// True once the body has been read to its end.
  [[nodiscard]] bool finished() const;

  /// Appends what arrives of the body within `wait` (nothing when the upstream is quiet that long;
  /// the caller checks finished()). kUnavailable when the upstream fails or times out.
  Status read_some(std::string& out, std::chrono::milliseconds wait);

  /// The whole body. kUnavailable as read_some, kResourceExhausted past `limit` bytes.
  Result<std::string> read_all(std::size_t limit = kMaxUpstreamBufferedBody);

  struct Connection;
  enum class Framing { kNone, kLength, kChunked, kUntilClose };

 private:
  UpstreamCall() = default;
  Status read_head();
  Status fill(std::chrono::milliseconds wait, bool& got);
  bool decode(std::string& out);
  bool decode_chunked(std::string& out);

  std::unique_ptr<Connection> conn_;
  std::string origin_;
  std::chrono::seconds read_timeout_{300};
  int status_ = 0;
  httplib::Headers headers_;
  bool keep_alive_ = true;
  Framing framing_ = Framing::kNone;
  std::size_t remaining_ = 0;  // kLength: body bytes left; kChunked: bytes left in this chunk
  int chunk_state_ = 0;        // kChunked: 0 size line, 1 data, 2 CRLF after data, 3 trailers
  bool done_ = false;
  bool failed_ = false;
  bool closed_early_ = false;  // the upstream closed or reset the connection (not a timeout)
  std::string buf_;            // read from the socket, not yet decoded
  std::size_t pos_ = 0;
};

/// ASCII case-insensitive equality (HTTP header names and tokens).
bool equals_ignoring_case(std::string_view a, std::string_view b);

}  // namespace stepgate
