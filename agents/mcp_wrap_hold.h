#pragma once
// Hold mode for `stepgate mcp-wrap`: a tools/call that needs approval stays open while the human
// decides, like the shim's hold. Each held call waits on its own thread, so the wrapper keeps
// copying every other message both ways; responses to later requests may overtake the held one
// (JSON-RPC matches responses by id). While it waits the client gets notifications/progress when
// the call carried a progressToken (its request timeout restarts on each); then the call goes to
// the server unchanged (approved) or is answered with an isError result (refused, timed out).

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mcp_wrap.h"
#include "stepgate/store.h"

namespace stepgate {

struct HoldSettings {
  std::chrono::milliseconds timeout{0};  // how long a call is held at most
  std::chrono::milliseconds poll{250};   // how often the challenge is looked at
  std::chrono::milliseconds beat{1000};  // how often progress is sent
  std::string server_url;                // the inbox named in texts (may be empty)
};

/// What a look at a held call's challenge found.
struct HoldPoll {
  enum class State { kPending, kDecided, kAnswered };
  State state = State::kPending;
  std::vector<std::string> grants;  // kDecided: grants for the re-check (from a remote inbox)
  std::string text;                 // kAnswered: the isError text to send
};

/// Looks at the challenge of a held call (the state store, or an inbox's API).
using ChallengePoll = std::function<HoldPoll(const HeldCall&)>;
/// Runs the gate on the call again, with extra grants.
using ToolRecheck =
    std::function<ToolGateAnswer(const ToolCall&, const std::vector<std::string>& grants)>;

struct HoldSinks {
  std::function<void(const std::string& line)> to_client;  // one JSON-RPC line, no '\n'
  std::function<bool(const HeldCall&)> to_server;  // forwards the call; false: the server is gone
  std::function<void(const std::string& text)> notice;  // for the human (stderr)
};

/// The calls held open; answers each one exactly once (or never, when the client cancelled it).
class HeldCalls : public CallHolder {
 public:
  using Farewell = std::function<std::string(const HeldCall&)>;

  HeldCalls(HoldSettings settings, ChallengePoll poll, ToolRecheck recheck, HoldSinks sinks);
  ~HeldCalls() override;
  HeldCalls(const HeldCalls&) = delete;
  HeldCalls& operator=(const HeldCalls&) = delete;

  /// Holds calls waiting for approval (a challenge token and no other held call with its id).
  bool hold(HeldCall call) override;
  bool cancel(const std::string& id_json) override;
  /// Stops waiting and joins: each call still waiting gets the line `farewell` returns (none when
  /// it returns ""). Later calls to hold() answer at once. Safe to call more than once.
  void stop(const Farewell& farewell);

 private:
  struct Entry;
  void wait(const std::shared_ptr<Entry>& entry);
  HoldPoll wait_for_decision(const std::shared_ptr<Entry>& entry, bool& gone);
  void finish(const HeldCall& held, const HoldPoll& outcome);
  void send_progress(const HeldCall& held, int beat) const;
  void reap_locked();

  HoldSettings settings_;
  ChallengePoll poll_;
  ToolRecheck recheck_;
  HoldSinks sinks_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, std::shared_ptr<Entry>> entries_;  // by id_json
};

/// The usual ChallengePoll: the challenge's record in `store` (shared with `stepgate approve`
/// and any shim on the same STEPGATE_HOME), then, while it is pending there and `server_url` is
/// set, that inbox's GET /v1/challenges/ID: a decision there counts only with a signed grant
/// (which the re-check verifies); a refusal there is passed on.
/// `clock` is the wrapper's (its ProcessContext::now).
ChallengePoll store_challenge_poll(StateStore& store, std::string server_url,
                                   std::function<UnixTime()> clock);

/// The text for a held call that timed out: the refusal plus how long it was held.
std::string hold_timeout_text(const HeldCall& held, const std::string& server_url,
                              std::chrono::milliseconds held_for);

}  // namespace stepgate
