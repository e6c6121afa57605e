#pragma once
// A tiny MCP server over Streamable HTTP (JSON responses) for the demo: tools `echo` and
// `run_shell` (which only counts calls: it never runs anything).

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace stepgate {

class DemoUpstream {
 public:
  DemoUpstream();
  ~DemoUpstream();
  DemoUpstream(const DemoUpstream&) = delete;
  DemoUpstream& operator=(const DemoUpstream&) = delete;

  /// Starts listening on a free loopback port; false on failure.
  bool start();
  /// http://127.0.0.1:PORT/mcp
  [[nodiscard]] std::string url() const;
  /// How many times a tool was called.
  [[nodiscard]] int calls(const std::string& tool) const;

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> echo_calls_{0};
  std::atomic<int> shell_calls_{0};
};

/// A loopback TCP port that was free a moment ago.
int pick_free_port();

}  // namespace stepgate
