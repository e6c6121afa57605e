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
#include <optional>

#include "command.h"
#include "stepgate/action.h"
#include "stepgate/approvals.h"
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
  bool totp_given = false;
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

/// The exit code for a refused approval: 2 for bad input or an unreadable store, 1 for a refusal.
int refusal_exit_code(const ApprovalOutcome& out) {
  const ErrorCode code = approval_error_code(out.status).value_or(ErrorCode::kInternal);
  const bool setup = code == ErrorCode::kInvalidArgument || code == ErrorCode::kUnavailable ||
                     code == ErrorCode::kInternal;
  return setup ? 2 : 1;
}

int report_refusal(CommandContext& context, const ApprovalOutcome& out) {
  *context.io.err << "stepgate: " << out.message << "\n";
  return refusal_exit_code(out);
}

/// The approver's own TOTP code: --totp CODE, else asked for.
std::string approver_code(const ApproveOptions& o, CommandContext& context) {
  if (!o.totp_code.empty()) return o.totp_code;
  return read_answer(context, "Your TOTP code (" + o.approver + "): ", true);
}

/// A challenge named by its token, or by the short id of one this store holds. A token copied
/// with the sentence's final period still reads.
Result<std::string> challenge_token(std::string text, StateStore* store) {
  while (!text.empty() && (text.back() == '.' || text.back() == ',')) text.pop_back();
  if (text.rfind("sgc1.", 0) == 0) return text;
  if (store == nullptr)
    return invalid_argument("no state store to look up challenge `" + text + "`");
  auto record = store->get_challenge(text);
  if (!record) return record.error();
  if (!record->has_value()) {
    return invalid_argument("no challenge `" + text +
                            "` is held here; pass the whole challenge (sgc1....)");
  }
  return (*record)->token;
}

/// The TOTP path: the challenge is decided in this machine's state store with a code typed
/// here (the actor's own for a `totp` challenge, or a listed approver's); the held action passes
/// once when it is retried.
int approve_with_code(const ApproveOptions& o, CommandContext& context, Approvals& approvals,
                      const std::string& token) {
  auto registered = approvals.register_token(token, context.io.now());
  if (!registered) return report_error(context, registered.error());
  ApprovalRequest request;
  request.id = registered->record.id;
  request.approve = !o.deny;
  request.proof = {o.approver, approver_code(o, context), "", local_proof_source()};
  request.comment = o.comment;
  ApprovalOutcome out = approvals.decide(request, context.io.now());
  if (!out.ok()) return report_refusal(context, out);
  *context.io.err << "Challenge " << request.id << ": " << out.message << ".\n"
                  << (o.deny ? "The held action stays refused.\n"
                             : "Retry the held action now: it passes once.\n");
  return 0;
}

Result<std::chrono::seconds> grant_ttl(const ApproveOptions& o, const Policy* policy) {
  if (!o.ttl.empty()) return parse_duration(o.ttl);
  return policy != nullptr ? policy->grant_ttl : std::chrono::seconds(3600);
}

bool confirmed(const ApproveOptions& o, CommandContext& context) {
  if (o.yes) return true;
  std::string answer = read_answer(context, o.deny ? "Refuse? [y/N] " : "Approve? [y/N] ", false);
  return answer == "y" || answer == "Y" || answer == "yes";
}

int run_approve(ApproveOptions o, CommandContext& context) {
  Paths paths = context.io.paths();
  auto store = open_store(paths);
  auto token = challenge_token(o.challenge, store ? store->get() : nullptr);
  if (!token) return report_error(context, token.error());
  auto challenge = decode_challenge(*token);
  if (!challenge) return report_error(context, challenge.error());
  const Challenge& c = *challenge;
  UnixTime now = context.io.now();
  if (c.expires_at <= now) {
    return report_error(context,
                        invalid_argument("challenge expired at " + format_rfc3339(c.expires_at) +
                                         "; retry the action"));
  }
  if (o.approver.empty()) o.approver = default_principal("STEPGATE_APPROVER");
  if (Status ok = check_id(o.approver, "approver"); !ok) return report_error(context, ok.error());
  auto policy = find_policy(o.policy, context.io.cwd);
  if (!policy) return report_error(context, policy.error());
  auto key = load_approver_key(paths.secrets_dir, o.approver);
  // The actor's own code is what a `totp` challenge asks for; an approver without a key decides
  // with their code in this machine's store.
  const bool own_totp = o.approver == c.actor && c.requirement.method == StepUpMethod::kTotp;
  const bool by_code =
      own_totp || (!key && (o.totp_given || c.requirement.method == StepUpMethod::kTotp));
  describe_challenge(c, *context.io.err);
  if (by_code) {
    if (*policy == nullptr) {
      return report_error(context, invalid_argument("no policy found (pass --policy): who may "
                                                    "decide with a TOTP code comes from it"));
    }
    if (!store) return report_error(context, store.error());
    auto audit =
        AuditLog::open((*policy)->audit.path.empty() ? paths.audit_log : (*policy)->audit.path);
    Approvals approvals(**policy, **store, audit ? audit->get() : nullptr, paths,
                        ApprovalsOptions{"", "cli"});
    if (!confirmed(o, context)) {
      *context.io.err << "Not " << (o.deny ? "refused" : "approved") << ".\n";
      return 1;
    }
    return approve_with_code(o, context, approvals, *token);
  }
  if (!key) return report_error(context, key.error());
  if (*policy == nullptr) {
    *context.io.err << "note: no policy found here, so approver membership and require_totp "
                       "were not checked; the grant is checked where it is used.\n";
  }
  if (!confirmed(o, context)) {
    *context.io.err << "Not " << (o.deny ? "refused" : "approved") << ".\n";
    return 1;
  }
  std::optional<Approvals> approvals;
  if (*policy != nullptr) {
    if (!store) return report_error(context, store.error());
    approvals.emplace(**policy, **store, nullptr, paths, ApprovalsOptions{"", "cli"});
    ApprovalOutcome signer = approvals->check_signer(c, o.approver, *key, !o.deny);
    if (!signer.ok()) return report_refusal(context, signer);
    if (approvals->signer_needs_code(o.approver)) {
      ApprovalOutcome code =
          approvals->check_code(o.approver, approver_code(o, context), local_proof_source(), now);
      if (!code.ok()) return report_refusal(context, code);
    }
  }
  auto ttl = grant_ttl(o, policy->get());
  if (!ttl) return report_error(context, ttl.error());
  auto jti = random_id(16);
  if (!jti) return report_error(context, jti.error());
  Grant g{c.action_digest,    o.approver, c.actor,           now,
          now + ttl->count(), *jti,       c.policy_revision, o.deny ? "deny" : "approve"};
  auto signed_grant = sign_grant(g, *key);
  if (!signed_grant) return report_error(context, signed_grant.error());
  if (approvals && approvals->record_signed(c, !o.deny, o.approver, o.comment, *signed_grant)) {
    *context.io.err << "The waiting action has been told.\n";
  }
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
  *context.io.out << *signed_grant << "\n";
  *context.io.err << (o.deny ? "Refused" : "Approved") << "; the grant is valid until "
                  << format_rfc3339(g.exp) << " for this one action.\n";
  return 0;
}

void setup_approve(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<ApproveOptions>();
  auto* sub = app.add_subcommand("approve", "Approve (or refuse) a held action; prints the grant");
  sub->add_option("challenge", o->challenge, "The challenge (sgc1....) or its id")->required();
  sub->add_option("--approver", o->approver,
                  "Approver id (default: $STEPGATE_APPROVER, "
                  "$STEPGATE_ACTOR or the user name)");
  sub->add_flag("--yes,-y", o->yes, "Do not ask for confirmation");
  sub->add_flag("--deny", o->deny, "Refuse the action (signs a refusal)");
  sub->add_option("--comment", o->comment, "Why (goes to the audit log)");
  sub->add_option("--ttl", o->ttl, "How long the grant is valid (default: policy grant_ttl)");
  auto* totp = sub->add_option("--totp", o->totp_code,
                               "Decide with your TOTP code (asked for when not given here): the "
                               "actor's own for a totp challenge, or a listed approver's")
                   ->expected(0, 1);
  sub->add_option("--policy", o->policy, "Policy file (default: found from the directory)");
  sub->callback([o, totp, &context] {
    o->totp_given = totp->count() > 0;
    context.exit_code = run_approve(*o, context);
  });
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
  auto grant =
      verify_grant(o.grant, **policy, action_digest(*action), action->actor, context.io.now());
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
