#include "mcp_wrap_hold.h"

#include <doctest/doctest.h>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "../core/test_util.h"
#include "stepgate/gate.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

using namespace std::chrono_literals;

const char* const kHoldPolicy = R"(
version: 1
name: hold-unit
step_up: { method: totp, max_age: "0", approvers: 1 }
agents:
  step_up_response: hold
  hold: 30s
rules:
  - id: sums-need-a-human
    on: tool.call
    when: signals.tool == "get-sum"
    effect: step_up
    message: "get-sum needs a human"
)";

bool eventually(const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// A real gate on a hold policy, a ClientPump with HeldCalls, and the lines each side received.
struct HoldEnv {
  testing::TempDir dir;
  std::unique_ptr<Gate> gate;
  PendingRequests pending;
  std::mutex mu;
  std::vector<std::string> to_client, to_server;
  std::unique_ptr<HeldCalls> held;
  std::unique_ptr<ClientPump> pump;

  explicit HoldEnv(std::chrono::milliseconds timeout = 30s) {
    setenv("STEPGATE_HOME", (dir.path() + "/sg").c_str(), 1);
    std::ofstream(dir.path() + "/policy.yaml") << kHoldPolicy;
    GateOptions options;
    options.policy_path = dir.path() + "/policy.yaml";
    options.cwd = dir.path();
    options.paths = Paths::from_environment(Env());
    auto opened = Gate::open(options);
    REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
    gate = std::move(*opened);
    ToolRecheck recheck = [this](const ToolCall& call, const std::vector<std::string>& grants) {
      return gate_tool_call(*gate, call, "alice", grants, "", unix_now(), "d");
    };
    HoldSinks sinks;
    sinks.to_client = [this](const std::string& line) { add(to_client, line); };
    sinks.to_server = [this](const HeldCall& h) {
      add(to_server, h.message);
      return true;
    };
    HoldSettings settings{timeout, 10ms, 50ms, ""};
    held = std::make_unique<HeldCalls>(settings, store_challenge_poll(gate->store(), "", unix_now),
                                       recheck, sinks);
    pump = std::make_unique<ClientPump>(
        "srv", "s", dir.path(), [recheck](const ToolCall& c) { return recheck(c, {}); }, "",
        pending);
    pump->set_holder(held.get());
  }

  void add(std::vector<std::string>& lines, const std::string& line) {
    std::lock_guard lock(mu);
    lines.push_back(line);
  }
  std::vector<std::string> client_lines() {
    std::lock_guard lock(mu);
    return to_client;
  }
  std::vector<std::string> server_lines() {
    std::lock_guard lock(mu);
    return to_server;
  }
  /// The response to `id` the client got, or null.
  Value answer(int64_t id) {
    for (const std::string& line : client_lines()) {
      Result<Value> v = parse_json(line);
      if (v.ok() && v->find("method") == nullptr && v->get_int("id") == id) return *v;
    }
    return {};
  }
  [[nodiscard]] std::string pending_challenge() const {
    auto list = gate->store().list_challenges(ChallengeState::kPending, unix_now());
    return list.ok() && !list->empty() ? list->back().id : std::string();
  }
  static std::string sum(int id, const std::string& meta = "") {
    return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
           R"(,"method":"tools/call","params":{"name":"get-sum","arguments":{"a":)" +
           std::to_string(id) + "}" + meta + "}}";
  }
};

std::string text_of(const Value& response) {
  return response.find("result")->find("content")->as_list().at(0).get_string("text");
}

}  // namespace

TEST_CASE("a held call sends progress and goes to the server unchanged once approved") {
  HoldEnv env;
  const std::string line = HoldEnv::sum(1, R"(,"_meta":{"progressToken":"p"})");
  ClientLineResult r = env.pump->handle_line(line);
  CHECK(r.forward.empty());
  CHECK(r.reply.empty());
  const std::string challenge = env.pending_challenge();
  REQUIRE_FALSE(challenge.empty());
  REQUIRE(eventually([&] { return env.client_lines().size() >= 2; }));
  Result<Value> note = parse_json(env.client_lines().at(0));
  REQUIRE(note.ok());
  CHECK(note->get_string("method") == "notifications/progress");
  CHECK(note->find("params")->get_string("progressToken") == "p");
  CHECK(note->find("params")->get_string("message").find(challenge) != std::string::npos);

  // Other traffic keeps flowing meanwhile.
  const std::string ping = R"({"jsonrpc":"2.0","id":2,"method":"ping"})";
  CHECK(env.pump->handle_line(ping).forward == ping);

  auto decided =
      env.gate->store().decide_challenge(challenge, ChallengeState::kApproved, "alice", "", "");
  REQUIRE(decided.ok());
  REQUIRE(eventually([&] { return !env.server_lines().empty(); }));
  CHECK(env.server_lines() == std::vector<std::string>{line});
  CHECK(env.answer(1).is_null());
}

TEST_CASE("held calls: refused, cancelled, and stopped") {
  HoldEnv env;
  env.pump->handle_line(HoldEnv::sum(2));
  const std::string refused = env.pending_challenge();
  REQUIRE(env.gate->store()
              .decide_challenge(refused, ChallengeState::kDenied, "bob", "no sums today", "")
              .ok());
  REQUIRE(eventually([&] { return !env.answer(2).is_null(); }));
  CHECK(env.answer(2).find("result")->get_bool("isError"));
  CHECK(text_of(env.answer(2)).find("refused by bob") != std::string::npos);
  CHECK(text_of(env.answer(2)).find("no sums today") != std::string::npos);

  env.pump->handle_line(HoldEnv::sum(3));
  const std::string cancel =
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}})";
  ClientLineResult r = env.pump->handle_line(cancel);
  CHECK(r.forward.empty());  // the server never saw request 3
  const std::string other =
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}})";
  CHECK(env.pump->handle_line(other).forward == other);

  env.pump->handle_line(HoldEnv::sum(4));
  env.held->stop([](const HeldCall& h) { return internal_error_response(h.id_json, "bye"); });
  CHECK(env.answer(3).is_null());
  CHECK(env.answer(4).find("error")->get_string("message") == "bye");
  CHECK(env.server_lines().empty());

  // Once stopped, a call needing approval is answered at once.
  r = env.pump->handle_line(HoldEnv::sum(5));
  CHECK_FALSE(r.reply.empty());
}

TEST_CASE("a held call is answered when the hold runs out; batches hold their members") {
  HoldEnv env(1s);
  const std::string ping = R"({"jsonrpc":"2.0","id":6,"method":"ping"})";
  ClientLineResult r = env.pump->handle_line("[" + ping + "," + HoldEnv::sum(7) + "]");
  Result<Value> forwarded = parse_json(r.forward);
  REQUIRE(forwarded.ok());
  REQUIRE(forwarded->as_list().size() == 1);
  CHECK(forwarded->as_list()[0].get_int("id") == 6);
  CHECK(r.reply.empty());
  REQUIRE(eventually([&] { return !env.answer(7).is_null(); }));
  CHECK(text_of(env.answer(7)).find("held this call for 1 s without a decision") !=
        std::string::npos);
  CHECK(env.client_lines().size() == 1);  // no progressToken: no progress
}

}  // namespace stepgate
