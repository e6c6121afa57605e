// Step-up commands for approvers: approve (and --deny), grant verify.
//
// `approve` without a policy: the grant is still signed (the approver's key is all it needs) and
// stderr says that approver membership and require_totp could not be checked here; whoever
// verifies the grant checks membership against its own policy. With a policy, a non-listed
// approver, a key that does not match the listed public key, self-approval and require_totp
// are all enforced before anything is signed.
#include <CLI/CLI.hpp>
#include <ctime>
#include <iostream>
#include <memory>

#include "command.h"
#include "stepgate/action.h"
#include "stepgate/audit.h"
#include "stepgate/gate.h"
#include "stepgate/json.h"
#include "stepgate/paths.h"
#include "stepgate/policy.h"
#include "stepgate/stepup.h"
#include "stepgate/store.h"
#include "stepup_support.h"

namespace stepgate {

namespace {

using namespace stepup_cli;

// ---- approve ----------------------------------------------------------------------------------

struct ApproveOptions {
  std::string challenge;
  std::string approver;
  bool yes = false;
  bool deny = false;
  std::string comment;
  std::string ttl;
  std::string totp_code;
  std::string policy;
};

std::string value_text(const Value& v) {
  return v.is_string() ? v.as_string() : to_json(v);
}

void describe_challenge(const Challenge& c, std::ostream& err) {
  err << "Action waiting for step-up (challenge " << c.id << "):\n"
      << "  kind:      " << c.kind << "\n"
      << "  resource:  " << c.resource << "\n"
      << "  actor:     " << c.actor << "\n"
      << "  score:     " << c.score << "\n"
      << "  needs:     " << method_name(c.requirement.method);
  if (c.requirement.method == StepUpMethod::kApproval) {
    err << " by " << c.requirement.approvers << " approver(s)";
  }
  err << "\n";
  for (const auto& reason : c.reasons) err << "  reason:    " << reason << "\n";
  if (c.signals.is_map()) {
    for (const auto& [name, value] : c.signals.as_map()) {
      err << "  signal:    " << name << " = " << value_text(value) << "\n";
    }
  }
  err << "  digest:    " << c.action_digest << "\n"
      << "  expires:   " << format_rfc3339(c.expires_at) << "\n";
}

// With a policy: the approver must be listed with this key, not approve themselves (unless
// allowed), and give their own TOTP when the policy says so.
Status check_approver(const ApproveOptions& o, CommandContext& context, const Policy& policy,
                      const Challenge& c, const Bytes& private_key) {
  const Approver* approver = policy.find_approver(o.approver);
  if (approver == nullptr) {
    return invalid_argument("`" + o.approver + "` is not an approver in " + policy.source_path +
                            " (run `stepgate keygen` and add the printed snippet)");
  }
  auto listed = parse_public_key(approver->public_key);
  auto mine = ed25519_public_from_private(private_key);
  if (!listed || !mine || *listed != *mine) {
    return invalid_argument("the key of `" + o.approver + "` does not match its public_key in " +
                            policy.source_path);
  }
  if (!o.deny && o.approver == c.actor && !policy.allow_self_approval) {
    return make_error(ErrorCode::kPermissionDenied,
                      "`" + o.approver +
                          "` cannot approve their own action "
                          "(allow_self_approval is off); ask another approver");
  }
  if (!approver->require_totp) return {};
  Paths paths = Paths::from_environment();
  auto enrollment = load_totp_enrollment(paths.secrets_dir, o.approver);
  if (!enrollment) return enrollment.error();
  if (!enrollment->active)
    return invalid_argument("the TOTP of `" + o.approver + "` is not active");
  std::string code = o.totp_code;
  if (code.empty()) code = read_answer(context, "Your TOTP code (" + o.approver + "): ", true);
  auto store = open_store(paths);
  if (!store) return store.error();
  auto check = verify_totp(**store, *enrollment, code, unix_now());
  if (!check) return check.error();
  if (*check != TotpCheck::kOk) {
    return make_error(ErrorCode::kPermissionDenied,
                      std::string("approver TOTP: ") + totp_check_message(*check));
  }
  return {};
}

Result<std::chrono::seconds> grant_ttl(const ApproveOptions& o, const Policy* policy) {
  if (!o.ttl.empty()) return parse_duration(o.ttl);
  return policy != nullptr ? policy->grant_ttl : std::chrono::seconds(3600);
}

// Tells a pending challenge record (shim inbox, CI --wait) about the decision, when there is one.
void record_decision(CommandContext& context, const Paths& paths, const ApproveOptions& o,
                     const Challenge& c, const std::string& grant) {
  auto store = open_store(paths);
  if (!store) return;
  auto record = (*store)->get_challenge(c.id);
  if (!record || !record->has_value() || (*record)->state != ChallengeState::kPending) return;
  if ((*record)->action_digest != c.action_digest) return;
  auto decided =
      (*store)->decide_challenge(c.id, o.deny ? ChallengeState::kDenied : ChallengeState::kApproved,
                                 o.approver, o.comment, grant);
  if (decided && *decided) *context.io.err << "The waiting action has been told.\n";
}

bool confirmed(const ApproveOptions& o, CommandContext& context) {
  if (o.yes) return true;
  std::string answer = read_answer(context, o.deny ? "Refuse? [y/N] " : "Approve? [y/N] ", false);
  return answer == "y" || answer == "Y" || answer == "yes";
}

int run_approve(ApproveOptions o, CommandContext& context) {
  auto challenge = decode_challenge(o.challenge);
  if (!challenge) return report_error(context, challenge.error());
  const Challenge& c = *challenge;
  UnixTime now = unix_now();
  if (c.expires_at <= now) {
    return report_error(context,
                        invalid_argument("challenge expired at " + format_rfc3339(c.expires_at) +
                                         "; retry the action"));
  }
  if (o.approver.empty()) o.approver = default_principal("STEPGATE_APPROVER");
  if (Status ok = check_id(o.approver, "approver"); !ok) return report_error(context, ok.error());
  Paths paths = Paths::from_environment();
  auto key = load_approver_key(paths.secrets_dir, o.approver);
  if (!key) return report_error(context, key.error());
  auto policy = find_policy(o.policy, context.io.cwd);
  if (!policy) return report_error(context, policy.error());
  describe_challenge(c, *context.io.err);
  if (*policy == nullptr) {
    *context.io.err << "note: no policy found here, so approver membership and require_totp "
                       "were not checked; the grant is checked where it is used.\n";
  }
  if (!confirmed(o, context)) {
    *context.io.err << "Not " << (o.deny ? "refused" : "approved") << ".\n";
    return 1;
  }
  if (*policy != nullptr) {
    Status ok = check_approver(o, context, **policy, c, *key);
    if (!ok) return report_error(context, ok.error());
  }
  auto ttl = grant_ttl(o, policy->get());
  if (!ttl) return report_error(context, ttl.error());
  auto jti = random_id(16);
  if (!jti) return report_error(context, jti.error());
  Grant g{c.action_digest,    o.approver, c.actor,           now,
          now + ttl->count(), *jti,       c.policy_revision, o.deny ? "deny" : "approve"};
  auto token = sign_grant(g, *key);
  if (!token) return report_error(context, token.error());
  record_decision(context, paths, o, c, *token);
  audit_event(context, paths, policy->get(), "approval",
              Map{{"action_digest", c.action_digest},
                  {"challenge", c.id},
                  {"kind", c.kind},
                  {"actor", c.actor},
                  {"approver", o.approver},
                  {"decision", g.decision},
                  {"comment", o.comment},
                  {"jti", g.jti},
                  {"expires_at", g.exp}});
  *context.io.out << *token << "\n";
  *context.io.err << (o.deny ? "Refused" : "Approved") << "; the grant is valid until "
                  << format_rfc3339(g.exp) << " for this one action.\n";
  return 0;
}

void setup_approve(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<ApproveOptions>();
  auto* sub = app.add_subcommand("approve", "Approve (or refuse) a held action; prints the grant");
  sub->add_option("challenge", o->challenge, "The challenge (sgc1....)")->required();
  sub->add_option("--approver", o->approver,
                  "Approver id (default: $STEPGATE_APPROVER, "
                  "$STEPGATE_ACTOR or the user name)");
  sub->add_flag("--yes,-y", o->yes, "Do not ask for confirmation");
  sub->add_flag("--deny", o->deny, "Refuse the action (signs a refusal)");
  sub->add_option("--comment", o->comment, "Why (goes to the audit log)");
  sub->add_option("--ttl", o->ttl, "How long the grant is valid (default: policy grant_ttl)");
  sub->add_option("--totp", o->totp_code, "Your TOTP code when the policy requires it");
  sub->add_option("--policy", o->policy, "Policy file (default: found from the directory)");
  sub->callback([o, &context] { context.exit_code = run_approve(*o, context); });
}

// ---- grant verify -----------------------------------------------------------------------------

struct GrantVerifyOptions {
  std::string action_file;
  std::string grant;
  std::string policy;
};

int run_grant_verify(const GrantVerifyOptions& o, CommandContext& context) {
  auto text = read_file(o.action_file, std::size_t{16} * 1024 * 1024);
  if (!text) return report_error(context, text.error());
  auto action = parse_action(*text);
  if (!action) return report_error(context, action.error());
  auto policy = find_policy(o.policy, context.io.cwd);
  if (!policy) return report_error(context, policy.error());
  if (*policy == nullptr) {
    return report_error(context, invalid_argument("no policy found (pass --policy): the approvers "
                                                  "and their keys come from it"));
  }
  auto grant = verify_grant(o.grant, **policy, action_digest(*action), action->actor, unix_now());
  if (!grant) return report_error(context, grant.error());
  *context.io.out << "valid: approved by " << grant->approver << " for " << action->kind << " on "
                  << action->resource << " until " << format_rfc3339(grant->exp) << "\n";
  return 0;
}

void setup_grant_verify(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<GrantVerifyOptions>();
  auto* grant = app.add_subcommand("grant", "Grant tools");
  grant->require_subcommand(1);
  auto* verify =
      grant->add_subcommand("verify", "Check a grant against an action (does not use it up)");
  verify->add_option("--action", o->action_file, "Action JSON file")->required();
  verify->add_option("grant", o->grant, "The grant")->required();
  verify->add_option("--policy", o->policy, "Policy file (default: found from the directory)");
  verify->callback([o, &context] { context.exit_code = run_grant_verify(*o, context); });
}

}  // namespace

void register_approve_commands(CLI::App& app, CommandContext& context) {
  setup_approve(app, context);
  setup_grant_verify(app, context);
}

}  // namespace stepgate
