#include "demo_upstream.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace stepgate {
namespace {

using nlohmann::json;

json tool_list() {
  json schema = {{"type", "object"}};
  return {
      {"tools",
       {{{"name", "echo"}, {"description", "Echo a message"}, {"inputSchema", schema}},
        {{"name", "run_shell"}, {"description", "Run a shell command"}, {"inputSchema", schema}}}}};
}

json text_result(const std::string& text) {
  return {{"content", {{{"type", "text"}, {"text", text}}}}, {"isError", false}};
}

}  // namespace

DemoUpstream::DemoUpstream() : server_(std::make_unique<httplib::Server>()) {}

DemoUpstream::~DemoUpstream() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

bool DemoUpstream::start() {
  server_->Post("/mcp", [this](const httplib::Request& req, httplib::Response& res) {
    json msg = json::parse(req.body, nullptr, false);
    if (msg.is_discarded() || !msg.is_object()) {
      res.status = 400;
      return;
    }
    if (!msg.contains("id")) {
      res.status = 202;  // a notification
      return;
    }
    const std::string method = msg.value("method", "");
    json result = json::object();
    if (method == "initialize") {
      result = {{"protocolVersion", "2025-06-18"},
                {"capabilities", {{"tools", json::object()}}},
                {"serverInfo", {{"name", "stepgate-demo-upstream"}, {"version", "1"}}}};
    } else if (method == "tools/list") {
      result = tool_list();
    } else if (method == "tools/call") {
      const json params = msg.value("params", json::object());
      const std::string tool = params.value("name", "");
      if (tool == "run_shell") {
        ++shell_calls_;
        result = text_result("(the demo upstream never runs commands)");
      } else {
        ++echo_calls_;
        result =
            text_result("Echo: " + params.value("arguments", json::object()).value("message", ""));
      }
    }
    json reply = {{"jsonrpc", "2.0"}, {"id", msg["id"]}, {"result", result}};
    res.set_content(reply.dump(), "application/json");
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) return false;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return true;
}

std::string DemoUpstream::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/mcp";
}

int DemoUpstream::calls(const std::string& tool) const {
  return tool == "run_shell" ? shell_calls_.load() : echo_calls_.load();
}

int pick_free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace stepgate
