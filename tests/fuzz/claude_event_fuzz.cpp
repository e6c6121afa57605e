// A Claude Code hook event on stdin: parse_claude_hook_event, then the tool call the gate would
// see. Errors are fine; crashes, sanitizer reports and hangs are not.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "claude_hook.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto event = stepgate::parse_claude_hook_event(text);
  if (!event.ok()) return 0;
  (void)stepgate::tool_call_from_claude_event(*event);
  return 0;
}
