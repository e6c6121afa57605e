// StepUp::satisfy: tries grants, approved challenges, elevations and a TOTP prompt, in that order.
#include <algorithm>
#include <map>
#include <set>

#include "stepgate/stepup.h"

namespace stepgate {

namespace {

constexpr int kTotpTries = 3;
constexpr std::chrono::seconds kPromptTimeout{60};

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ",";
    out += item;
  }
  return out;
}

}  // namespace

std::vector<std::string> split_grants(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  for (char c : text) {
    if (c == ' ' || c == ',' || c == '\n' || c == '\t' || c == '\r') {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
      continue;
    }
    current.push_back(c);
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

StepUp::StepUp(const Policy& policy, StateStore& store, AuditLog* audit, Paths paths)
    : policy_(policy), store_(store), audit_(audit), paths_(std::move(paths)) {}

namespace {

// Everything one satisfy() call needs while it walks the proofs.
struct Attempt {
  const StepUpRequest& request;
  Requirement requirement;
  std::string digest;
  std::set<std::string> approvers;  // distinct approvers whose grants verified
  StepUpResult result;
};

class StepUpSteps {
 public:
  StepUpSteps(const Policy& policy, StateStore& store, AuditLog* audit, const Paths& paths,
              Attempt& attempt)
      : policy_(policy), store_(store), audit_(audit), paths_(paths), a_(attempt) {}

  void audit(const std::string& method, bool ok, const std::string& identity,
             const std::string& problem, bool lockout = false) {
    if (!ok && !problem.empty()) a_.result.problems.push_back(problem);
    if (audit_ == nullptr) return;
    Map fields{{"action_digest", a_.digest},
               {"kind", a_.request.action.kind},
               {"actor", a_.request.action.actor},
               {"method", method},
               {"requirement", method_name(a_.requirement.method)},
               {"outcome", ok ? "satisfied" : "refused"},
               {"identity", identity}};
    if (!problem.empty()) fields["problem"] = problem;
    if (lockout) fields["lockout"] = true;  // typed, so `stepgate report` need not read problem
    if (!a_.request.device.empty()) fields["device"] = a_.request.device;
    Status appended = audit_->append("stepup", Value(std::move(fields)));
    if (!appended) a_.result.problems.push_back("audit: " + appended.error().message);
  }

  bool enough_approvers() const {
    return static_cast<int>(a_.approvers.size()) >= std::max(1, a_.requirement.approvers);
  }

  // Verifies one grant; a good one waits in `pending_` until enough approvers are there, so a
  // partial set of grants is not used up.
  bool accept_grant(const std::string& token, const std::string& method) {
    auto grant = verify_grant(token, policy_, a_.digest, a_.request.action.actor, a_.request.now);
    if (!grant) {
      audit(method, false, "", grant.error().message);
      return false;
    }
    if (pending_.contains(grant->approver) || a_.approvers.contains(grant->approver)) {
      audit(method, false, grant->approver,
            "a second grant from `" + grant->approver +
                "` does not count: approvers must be distinct");
      return false;
    }
    std::string approver = grant->approver;
    pending_.emplace(std::move(approver), PendingGrant{std::move(*grant), method});
    return true;
  }

  // Consumes the jtis of the pending grants; true when enough distinct approvers remain.
  bool commit_grants() {
    for (auto& [approver, pending] : pending_) {
      auto fresh = store_.consume_jti(pending.grant.jti, pending.grant.exp);
      if (!fresh || !*fresh) {
        audit(pending.method, false, approver,
              fresh ? "grant already used (each grant works once)" : fresh.error().message);
        continue;
      }
      a_.approvers.insert(approver);
      audit(pending.method, true, approver, "");
    }
    pending_.clear();
    return enough_approvers();
  }

  bool try_grants() {
    for (const std::string& token : a_.request.grants) {
      if (!token.empty()) accept_grant(token, "grant");
    }
    if (!enough_pending()) return false;
    if (!commit_grants()) return false;
    retire_stored_approval();
    return finish("grant", join(a_.approvers));
  }

  // A grant and the inbox record it came from are one approval: using either retires both.
  void retire_stored_approval() {
    auto record = store_.find_challenge_by_digest(a_.digest, a_.request.now);
    if (record && record->has_value() && (*record)->state == ChallengeState::kApproved) {
      (void)store_.consume_challenge((*record)->id);
    }
  }

  // True when the grant stored with an approved challenge was not used yet (and now is).
  bool consume_stored_grant(const ChallengeRecord& c) {
    if (c.grant.empty()) return true;
    auto grant = verify_grant(c.grant, policy_, a_.digest, a_.request.action.actor, a_.request.now);
    if (!grant) return true;  // not a usable grant: the TOTP-verified approval stands on its own
    auto fresh = store_.consume_jti(grant->jti, grant->exp);
    return fresh && *fresh;
  }

  bool enough_pending() const {
    int count = static_cast<int>(a_.approvers.size());
    for (const auto& entry : pending_) count += a_.approvers.contains(entry.first) ? 0 : 1;
    return count >= std::max(1, a_.requirement.approvers);
  }

  bool try_approved_challenge() {
    auto record = store_.find_challenge_by_digest(a_.digest, a_.request.now);
    if (!record) {
      audit("challenge", false, "", record.error().message);
      return false;
    }
    if (!record->has_value() || (*record)->state != ChallengeState::kApproved) return false;
    const ChallengeRecord& c = **record;
    if (a_.requirement.method == StepUpMethod::kApproval) {
      // An approval needs an approver's signature; the actor's own TOTP in the inbox is not one.
      if (c.grant.empty() || !accept_grant(c.grant, "challenge")) return false;
      if (!enough_pending() || !commit_grants()) return false;
    } else if (!consume_stored_grant(c)) {
      (void)store_.consume_challenge(c.id);
      audit("challenge", false, c.decided_by, "approval already used (each approval works once)");
      return false;
    }
    auto consumed = store_.consume_challenge(c.id);
    if (!consumed || !*consumed) {
      audit(
          "challenge", false, c.decided_by,
          consumed ? "approval already used (each approval works once)" : consumed.error().message);
      return false;
    }
    audit("challenge", true, c.decided_by, "");
    std::string identity = a_.approvers.empty() ? c.decided_by : join(a_.approvers);
    return finish("challenge", identity);
  }

  bool try_elevation() {
    if (a_.requirement.max_age.count() <= 0 || a_.request.approvals_only) return false;
    // An approval is bound to one action: an earlier step-up never stands in for it.
    if (a_.requirement.method == StepUpMethod::kApproval) return false;
    const std::string& actor = a_.request.action.actor;
    auto found = store_.find_elevation(actor, a_.request.device, a_.request.now);
    if (!found) {
      audit("elevation", false, actor, found.error().message);
      return false;
    }
    if (!found->has_value()) return false;
    const Elevation& e = **found;
    if (a_.request.now - e.granted_at > a_.requirement.max_age.count()) return false;
    // Agent hooks tell the model how long the elevation still covers it.
    a_.result.elevation_ends =
        std::min(e.expires_at, e.granted_at + a_.requirement.max_age.count());
    audit("elevation", true, actor, "");
    return finish("elevation", actor);
  }

  bool try_totp(StepUpIo& io) {
    if (a_.requirement.method != StepUpMethod::kTotp || !a_.request.allow_interactive ||
        a_.request.approvals_only) {
      return false;
    }
    if (!io.has_terminal()) return false;
    const std::string& actor = a_.request.action.actor;
    auto enrollment = load_totp_enrollment(paths_.secrets_dir, actor);
    if (!enrollment) {
      audit("totp", false, actor, enrollment.error().message);
      return false;
    }
    if (!enrollment->active) {
      audit("totp", false, actor,
            "the TOTP enrollment of `" + actor +
                "` is not activated (run `stepgate enroll --activate`)");
      return false;
    }
    io.notice("stepgate: " + a_.request.action.kind + " on " + a_.request.action.resource +
              " needs a code from " + actor + "'s authenticator");
    for (int i = 0; i < kTotpTries; ++i) {
      auto code = io.prompt_secret("TOTP code: ", kPromptTimeout);
      if (!code) {
        audit("totp", false, actor, code.error().message);
        return false;
      }
      auto check = verify_totp(store_, *enrollment, *code, a_.request.now);
      if (!check) {
        audit("totp", false, actor, check.error().message);
        return false;
      }
      if (*check == TotpCheck::kOk) return totp_succeeded(actor);
      audit("totp", false, actor, totp_check_message(*check), *check == TotpCheck::kLockedOut);
      io.notice(std::string("stepgate: ") + totp_check_message(*check));
      if (*check == TotpCheck::kLockedOut) return false;
    }
    return false;
  }

  void build_challenge() {
    const StepUpRequest& r = a_.request;
    auto challenge = make_challenge(r.action, r.decision, policy_, r.signals, r.now);
    if (!challenge) {
      a_.result.problems.push_back(challenge.error().message);
      return;
    }
    a_.result.challenge = std::move(*challenge);
    a_.result.challenge_token = encode_challenge(a_.result.challenge);
    a_.result.instructions = instructions();
  }

 private:
  bool finish(const std::string& method, const std::string& identity) {
    a_.result.satisfied = true;
    a_.result.method = method;
    a_.result.identity = identity;
    return true;
  }

  bool totp_succeeded(const std::string& actor) {
    const StepUpRequest& r = a_.request;
    if (a_.requirement.max_age.count() > 0) {
      Status added = store_.add_elevation(
          Elevation{actor, r.device, r.now, r.now + a_.requirement.max_age.count(), "totp"});
      if (!added) a_.result.problems.push_back("elevation: " + added.error().message);
      if (added) a_.result.elevation_ends = r.now + a_.requirement.max_age.count();
    }
    audit("totp", true, actor, "");
    return finish("totp", actor);
  }

  std::string instructions() const {
    const StepUpRequest& r = a_.request;
    const std::string& token = a_.result.challenge_token;
    const int n = std::max(1, a_.requirement.approvers);
    std::string retry;
    if (!r.grant_retry.empty()) {
      retry = r.grant_retry;
      constexpr std::string_view kOne = "<grant>";
      constexpr std::string_view kSeveral = "<grant1>,<grant2>...";
      for (std::size_t at = retry.find(kOne); n > 1 && at != std::string::npos;
           at = retry.find(kOne, at + kSeveral.size())) {
        retry.replace(at, kOne.size(), kSeveral);
      }
    } else {
      retry = (n > 1 ? "STEPGATE_GRANT=\"<grant1> <grant2>...\" " : "STEPGATE_GRANT=<grant> ") +
              (r.retry_command.empty() ? std::string("<the same command>") : r.retry_command);
    }
    std::string text;
    if (a_.requirement.method == StepUpMethod::kApproval) {
      text = "This action needs approval from " + std::to_string(n) + " approver" +
             (n > 1 ? "s (each a different person)" : "") + ".\n";
    } else if (!r.approvals_only) {
      text = "This action needs a TOTP code from " + r.action.actor +
             "'s authenticator: run it again from a terminal to be asked for the code.\n"
             "Or have an approver approve it.\n";
    } else {
      text = "This action needs a TOTP code from " + r.action.actor +
             "'s authenticator, which cannot be asked for here: have an approver approve it.\n";
    }
    text += "An approver runs:\n  stepgate approve " + token + "\n";
    text += "then retry with the grant it prints:\n  " + retry + "\n";
    if (!r.server_url.empty()) text += "or approve at " + r.server_url + "/approvals\n";
    return text;
  }

  struct PendingGrant {
    Grant grant;
    std::string method;
  };

  const Policy& policy_;
  StateStore& store_;
  AuditLog* audit_;
  const Paths& paths_;
  Attempt& a_;
  std::map<std::string, PendingGrant> pending_;
};

}  // namespace

StepUpResult StepUp::satisfy(const StepUpRequest& request, StepUpIo& io) {
  Attempt attempt{request, request.decision.requirement.value_or(policy_.step_up), {}, {}, {}};
  attempt.digest = request.decision.action_digest.empty() ? action_digest(request.action)
                                                          : request.decision.action_digest;
  StepUpSteps steps(policy_, store_, audit_, paths_, attempt);
  if (steps.try_grants() || steps.try_approved_challenge() || steps.try_elevation() ||
      steps.try_totp(io)) {
    return std::move(attempt.result);
  }
  steps.build_challenge();
  return std::move(attempt.result);
}

}  // namespace stepgate
