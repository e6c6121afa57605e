// Hold mode for the stdio wrapper: one waiting thread per held tools/call.
#include "mcp_wrap_hold.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>

#include "claude_hook.h"
#include "json_input.h"
#include "stepgate/approvals.h"
#include "stepgate/gate.h"

namespace stepgate {

using nlohmann::json;

struct HeldCalls::Entry {
  HeldCall held;
  std::thread thread;
  bool cancelled = false;  // the client cancelled it: no answer
  bool answering = false;  // its thread has an outcome and answers it
  bool done = false;       // its thread is about to return
};

HeldCalls::HeldCalls(HoldSettings settings, ChallengePoll poll, ToolRecheck recheck,
                     HoldSinks sinks)
    : settings_(std::move(settings)),
      poll_(std::move(poll)),
      recheck_(std::move(recheck)),
      sinks_(std::move(sinks)) {}

HeldCalls::~HeldCalls() {
  stop(nullptr);
}

bool HeldCalls::hold(HeldCall call) {
  if (call.answer.challenge_token.empty() || settings_.timeout.count() <= 0) return false;
  const std::string notice =
      "stepgate: holding " + call.call.server + "/" + call.call.tool + " (request " + call.id_json +
      ") up to " +
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(settings_.timeout).count()) +
      " s for approval of challenge " + call.answer.challenge_id + ": " +
      (call.answer.approve_url.empty() ? "" : "approve it at " + call.answer.approve_url + " or ") +
      "run: " + call.answer.approve_command;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    reap_locked();
    if (entries_.contains(call.id_json)) return false;  // a reused id is answered at once
    auto entry = std::make_shared<Entry>();
    entry->held = std::move(call);
    entries_[entry->held.id_json] = entry;
    entry->thread = std::thread([this, entry] { wait(entry); });
  }
  if (sinks_.notice) sinks_.notice(notice);
  return true;
}

bool HeldCalls::cancel(const std::string& id_json) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id_json);
  if (it == entries_.end() || it->second->done || it->second->answering) return false;
  it->second->cancelled = true;
  cv_.notify_all();
  return true;
}

void HeldCalls::stop(const Farewell& farewell) {
  std::vector<std::shared_ptr<Entry>> all;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [id, entry] : entries_) all.push_back(entry);
    entries_.clear();
  }
  cv_.notify_all();
  for (auto& entry : all) {
    if (entry->thread.joinable()) entry->thread.join();
  }
  if (!farewell) return;
  for (auto& entry : all) {
    if (entry->answering || entry->cancelled) continue;
    const std::string line = farewell(entry->held);
    if (!line.empty()) sinks_.to_client(line);
  }
}

// Called with mu_ held. A done thread no longer needs the lock, so joining it here is quick.
void HeldCalls::reap_locked() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!it->second->done) {
      ++it;
      continue;
    }
    if (it->second->thread.joinable()) it->second->thread.join();
    it = entries_.erase(it);
  }
}

void HeldCalls::wait(const std::shared_ptr<Entry>& entry) {
  bool gone = false;
  HoldPoll outcome = wait_for_decision(entry, gone);
  if (!gone) finish(entry->held, outcome);
  std::lock_guard lock(mu_);
  entry->done = true;
}

HoldPoll HeldCalls::wait_for_decision(const std::shared_ptr<Entry>& entry, bool& gone) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + settings_.timeout;
  const bool progress = !entry->held.progress_token_json.empty();
  auto next_beat = start;
  int beat = 0;
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_ || entry->cancelled) {
      gone = true;  // stop() answers it, or the client cancelled it
      return {};
    }
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (progress && now >= next_beat) {
      lock.unlock();
      send_progress(entry->held, beat++);
      lock.lock();
      next_beat += settings_.beat;
      continue;
    }
    cv_.wait_until(lock, std::min(now + settings_.poll, deadline));
    if (stopping_ || entry->cancelled) continue;
    lock.unlock();
    HoldPoll seen = poll_(entry->held);
    lock.lock();
    if (seen.state != HoldPoll::State::kPending) {
      entry->answering = true;
      return seen;
    }
  }
  entry->answering = true;
  HoldPoll timed_out;
  timed_out.state = HoldPoll::State::kAnswered;
  timed_out.text = hold_timeout_text(entry->held, settings_.server_url, settings_.timeout);
  return timed_out;
}

void HeldCalls::finish(const HeldCall& held, const HoldPoll& outcome) {
  if (outcome.state == HoldPoll::State::kAnswered) {
    sinks_.to_client(tool_error_result(held.id_json, outcome.text));
    return;
  }
  // Decided: the gate checks the identical call again, so the approval is verified (and used
  // up) exactly as for a retried call.
  ToolGateAnswer answer = recheck_(held.call, outcome.grants);
  if (!answer.forward) {
    sinks_.to_client(tool_error_result(
        held.id_json, agent_refusal_text(held.call, answer, settings_.server_url)));
    return;
  }
  if (!sinks_.to_server(held)) {
    sinks_.to_client(internal_error_response(held.id_json, "the MCP server is gone"));
  }
}

void HeldCalls::send_progress(const HeldCall& held, int beat) const {
  json note = {{"jsonrpc", "2.0"},
               {"method", "notifications/progress"},
               {"params",
                {{"progressToken", json::parse(held.progress_token_json, nullptr, false)},
                 {"progress", beat},
                 {"message", "waiting for approval of challenge " + held.answer.challenge_id}}}};
  sinks_.to_client(note.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string hold_timeout_text(const HeldCall& held, const std::string& server_url,
                              std::chrono::milliseconds held_for) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(held_for).count();
  return agent_refusal_text(held.call, held.answer, server_url) +
         "\n(stepgate held this call for " + std::to_string(seconds) + " s without a decision.)";
}

namespace {

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// The inbox's view of a challenge that this process's store still has pending.
HoldPoll remote_poll(const std::string& server_url, const HeldCall& held) {
  httplib::Client client(server_url);
  client.set_connection_timeout(0, 500000);
  client.set_read_timeout(2, 0);
  const std::string& id = held.answer.challenge_id;
  auto res = client.Get("/v1/challenges/" + id);
  if (!res || res->status != 200) return {};
  const json record = parse_outside_json(res->body);
  if (!record.is_object()) return {};
  const auto state = parse_challenge_state(str(record, "state"));
  HoldPoll out;
  if (state == ChallengeState::kApproved && !str(record, "grant").empty()) {
    out.state = HoldPoll::State::kDecided;
    out.grants.push_back(str(record, "grant"));
  } else if (state == ChallengeState::kApproved) {
    // An answer over loopback HTTP is no proof: only a signed grant lets the call through.
    out.state = HoldPoll::State::kAnswered;
    out.text = "stepgate: challenge " + id + " was approved at " + server_url +
               " without a signed grant, and this wrapper's state store does not hold the "
               "approval. Start the shim with --authority-key, or let both use one STEPGATE_HOME.";
  } else if (state == ChallengeState::kDenied) {
    // A refusal needs no proof: it only keeps the call from running.
    const std::string by = str(record, "decided_by");
    const std::string comment = str(record, "comment");
    out.state = HoldPoll::State::kAnswered;
    out.text = "stepgate: this call was refused by " + (by.empty() ? "an approver" : by) + " at " +
               server_url + " (challenge " + id + ")" + (comment.empty() ? "" : ": " + comment) +
               ". Do not retry it.";
  }
  return out;
}

}  // namespace

ChallengePoll store_challenge_poll(StateStore& store, std::string server_url,
                                   std::function<UnixTime()> clock) {
  return [&store, url = std::move(server_url),
          clock = std::move(clock)](const HeldCall& held) -> HoldPoll {
    auto record = store.get_challenge(held.answer.challenge_id);
    HoldPoll decided;
    decided.state = HoldPoll::State::kDecided;  // the re-check says what became of it
    if (!record.ok() || !record->has_value()) return decided;
    if ((*record)->state != ChallengeState::kPending || (*record)->expires_at <= clock()) {
      return decided;
    }
    return url.empty() ? HoldPoll{} : remote_poll(url, held);
  };
}

}  // namespace stepgate
