// The hook daemon's wire format (hookd/protocol.h): a frame body decoded as a request and as a
// response; whatever decodes must encode and decode back to the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol.h"  // hookd/

namespace {

/// A frame without its 4-byte length prefix, as decode takes it.
std::string_view body_of(const std::string& frame) {
  return std::string_view(frame).substr(4);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  stepgate::hookd::Request request;
  if (stepgate::hookd::decode(body, request)) {
    stepgate::hookd::Request again;
    if (!stepgate::hookd::decode(body_of(stepgate::hookd::encode(request)), again)) std::abort();
    if (again.args != request.args || again.env != request.env || again.cwd != request.cwd ||
        again.input != request.input || again.flags != request.flags)
      std::abort();
  }
  stepgate::hookd::Response response;
  if (stepgate::hookd::decode(body, response)) {
    stepgate::hookd::Response again;
    if (!stepgate::hookd::decode(body_of(stepgate::hookd::encode(response)), again)) std::abort();
    if (again.exit_code != response.exit_code || again.out != response.out ||
        again.err != response.err)
      std::abort();
  }
  return 0;
}
