#include "mcp_wrap.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "stepgate/gate.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

const std::string kPolicy = std::string(STEPGATE_SOURCE_DIR) + "/policies/agent-tools.yaml";

/// A real gate on the agent-tools pack, with its state in a temporary directory.
struct WrapEnv {
  std::string root;
  std::string workspace;
  std::unique_ptr<Gate> gate;
  PendingRequests pending;

  WrapEnv() {
    char tmpl[] = "/tmp/sg-mcp-wrap-XXXXXX";
    root = mkdtemp(tmpl);
    workspace = root + "/ws";
    std::filesystem::create_directories(workspace);
    setenv("STEPGATE_HOME", (root + "/sg").c_str(), 1);
    setenv("HOME", root.c_str(), 1);
    GateOptions options;
    options.policy_path = kPolicy;
    options.cwd = workspace;
    options.paths = Paths::from_environment(Env());
    options.front_end = "mcp-wrap";
    Result<std::unique_ptr<Gate>> opened = Gate::open(options);
    REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
    gate = std::move(*opened);
  }
  ~WrapEnv() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
  ClientPump pump() {
    ToolCallGate fn = [this](const ToolCall& call) {
      return gate_tool_call(*gate, call, "dev", {}, "http://127.0.0.1:8750", unix_now(), "d");
    };
    return {"fs", "test-session", workspace, fn, "http://127.0.0.1:8750", pending};
  }
};

/// A JSON-RPC `tools/call` request line.
std::string tools_call(int id, const std::string& tool, const std::string& args) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"tools/call","params":{"name":")" + tool + R"(","arguments":)" + args + "}}";
}

}  // namespace

TEST_CASE("LineSplitter returns whole lines across partial reads") {
  LineSplitter lines;
  std::string line;
  lines.feed("{\"a\":");
  CHECK_FALSE(lines.next_line(line));
  lines.feed("1}\n{\"b\"");
  REQUIRE(lines.next_line(line));
  CHECK(line == "{\"a\":1}");
  CHECK_FALSE(lines.next_line(line));
  const std::string big(std::size_t{300} * 1024, 'x');
  lines.feed(":2}\n" + big);
  REQUIRE(lines.next_line(line));
  CHECK(line == "{\"b\":2}");
  lines.feed(big + "\n\ntail");
  REQUIRE(lines.next_line(line));
  CHECK(line.size() == 2 * big.size());
  REQUIRE(lines.next_line(line));
  CHECK(line.empty());
  CHECK_FALSE(lines.next_line(line));
  CHECK(lines.take_rest() == "tail");
  CHECK(lines.take_rest().empty());
}

TEST_CASE("response_ids finds the ids of responses only") {
  CHECK(response_ids(R"({"jsonrpc":"2.0","id":7,"result":{}})") == std::vector<std::string>{"7"});
  CHECK(response_ids(R"({"jsonrpc":"2.0","id":"a-1","error":{"code":1,"message":"x"}})") ==
        std::vector<std::string>{"\"a-1\""});
  CHECK(response_ids(R"({"jsonrpc":"2.0","id":3,"method":"sampling/createMessage"})").empty());
  CHECK(response_ids(R"({"jsonrpc":"2.0","method":"notifications/progress"})").empty());
  CHECK(response_ids(R"([{"id":1,"result":{}},{"id":2,"result":{}}])") ==
        std::vector<std::string>{"1", "2"});
  CHECK(response_ids("not json").empty());
}

TEST_CASE("error responses keep the request id's type") {
  Result<Value> tool = parse_json(tool_error_result("\"req-9\"", "no \"way\""));
  REQUIRE(tool.ok());
  CHECK(tool->get_string("id") == "req-9");
  const Value& result = *tool->find("result");
  CHECK(result.get_bool("isError"));
  CHECK(result.find("content")->as_list().at(0).get_string("text") == "no \"way\"");

  Result<Value> internal =
      parse_json(internal_error_response("12", "MCP server exited with code 3"));
  REQUIRE(internal.ok());
  CHECK(internal->get_int("id") == 12);
  CHECK(internal->find("error")->get_int("code") == -32603);
  CHECK(internal->find("error")->get_string("message") == "MCP server exited with code 3");
}

TEST_CASE("PendingRequests tracks ids until answered") {
  PendingRequests pending;
  CHECK(pending.empty());
  pending.add("1");
  pending.add("\"x\"");
  pending.remove("1");
  CHECK(pending.take_all() == std::vector<std::string>{"\"x\""});
  CHECK(pending.empty());
}

TEST_CASE("ClientPump forwards allowed traffic unchanged and answers refused tools/call") {
  WrapEnv env;
  ClientPump pump = env.pump();
  const std::string init =
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test-client","version":"1"}}})";
  ClientLineResult r = pump.handle_line(init);
  CHECK(r.forward == init);
  CHECK(r.reply.empty());
  CHECK(pump.client_name() == "test-client");

  const std::string note = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";
  CHECK(pump.handle_line(note).forward == note);

  const std::string read =
      tools_call(1, "read_text_file", R"({"path":")" + env.workspace + R"(/notes.txt"})");
  r = pump.handle_line(read);
  CHECK(r.forward == read);
  CHECK(r.reply.empty());

  const std::string write_env =
      tools_call(2, "write_file", R"({"path":")" + env.workspace + R"(/.env","content":"A=1"})");
  r = pump.handle_line(write_env);
  CHECK(r.forward.empty());
  Result<Value> reply = parse_json(r.reply);
  REQUIRE(reply.ok());
  CHECK(reply->get_int("id") == 2);
  CHECK(reply->find("result")->get_bool("isError"));
  const std::string text =
      reply->find("result")->find("content")->as_list().at(0).get_string("text");
  CHECK(text.find("sensitive-paths") != std::string::npos);
  // The model is given the short id and the inbox entry, never the token.
  const std::string command = "Ask the user to approve it: stepgate approve ";
  const std::size_t at = text.find(command);
  REQUIRE(at != std::string::npos);
  const std::string id = text.substr(at + command.size(), 8);
  CHECK(text.find("Challenge " + id + ".") != std::string::npos);
  CHECK(text.find("http://127.0.0.1:8750/approvals#" + id) != std::string::npos);
  CHECK(text.find("sgc1.") == std::string::npos);

  CHECK(env.pending.take_all() == std::vector<std::string>{"0", "1"});
  // What cannot be read cannot be gated: answered with a parse error, never forwarded.
  for (const std::string& line :
       {std::string("garbage{"),
        std::string(
            R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"write_file",)"
            R"("arguments":{"path":"x"},"_meta":{"x":"\ud800"}}})"),
        std::string(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"w",)") +
            "\xff" + R"("}})"}) {
    CAPTURE(line);
    r = pump.handle_line(line);
    CHECK(r.forward.empty());
    Result<Value> refused = parse_json(r.reply);
    REQUIRE(refused.ok());
    CHECK(refused->find("error")->get_int("code") == -32700);
  }
  CHECK(pump.handle_line("  ").forward == "  ");  // a blank line holds no message
}

TEST_CASE("ClientPump splits a batch: allowed members go on, refused ones are answered") {
  WrapEnv env;
  ClientPump pump = env.pump();
  const std::string ok = tools_call(1, "list_directory", R"({"path":")" + env.workspace + R"("})");
  const std::string bad =
      tools_call(2, "read_text_file", R"({"path":")" + env.root + R"(/.ssh/id_rsa"})");
  ClientLineResult r = pump.handle_line("[" + ok + "," + bad + "]");
  Result<Value> forwarded = parse_json(r.forward);
  REQUIRE(forwarded.ok());
  REQUIRE(forwarded->as_list().size() == 1);
  CHECK(forwarded->as_list()[0].get_int("id") == 1);
  Result<Value> replies = parse_json(r.reply);
  REQUIRE(replies.ok());
  REQUIRE(replies->as_list().size() == 1);
  CHECK(replies->as_list()[0].get_int("id") == 2);
  CHECK(env.pending.take_all() == std::vector<std::string>{"1"});

  const std::string both =
      "[" + ok + "," + tools_call(3, "list_directory", R"({"path":"."})") + "]";
  r = pump.handle_line(both);
  CHECK(r.forward == both);
  CHECK(r.reply.empty());
}

}  // namespace stepgate

namespace stepgate {

TEST_CASE("ClientPump answers a call nested past the limit instead of forwarding it ungated") {
  WrapEnv env;
  ClientPump pump = env.pump();
  for (std::size_t depth : {std::size_t{65}, std::size_t{50000}}) {
    CAPTURE(depth);
    const std::string deep = tools_call(
        7, "write_file",
        R"({"path":".env","content":)" + std::string(depth, '[') + std::string(depth, ']') + "}");
    ClientLineResult r = pump.handle_line(deep);
    CHECK(r.forward.empty());
    Result<Value> reply = parse_json(r.reply);
    REQUIRE(reply.ok());
    CHECK(reply->find("error")->get_int("code") == -32600);
    CHECK(reply->find("error")->get_string("message").find("limit of 64 levels") !=
          std::string::npos);
  }
  // Within the limit the call is gated as usual (refused: it writes .env).
  const std::string shallow =
      tools_call(8, "write_file",
                 R"({"path":")" + env.workspace + R"(/.env","content":"A=1","x":)" +
                     std::string(50, '[') + std::string(50, ']') + "}");
  ClientLineResult r = pump.handle_line(shallow);
  CHECK(r.forward.empty());
  CHECK(r.reply.find("sensitive-paths") != std::string::npos);
}

}  // namespace stepgate
