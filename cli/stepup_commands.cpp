// Step-up commands: enroll, totp verify, keygen, approve, grant verify, elevation list|drop.
//
// `approve` without a policy: the grant is still signed (the approver's key is all it needs) and
// stderr says that approver membership and require_totp could not be checked here; whoever
// verifies the grant checks membership against its own policy. With a policy, a non-listed
// approver, a key that does not match the listed public key, self-approval and require_totp
// are all enforced before anything is signed.
#include <pwd.h>
#include <unistd.h>

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

namespace stepgate {

namespace {

/// $STEPGATE_ACTOR, else the OS user name.
std::string default_principal(const char* first_env = nullptr) {
  if (first_env != nullptr) {
    std::string v = env_or_empty(first_env);
    if (!v.empty()) return v;
  }
  std::string actor = env_or_empty("STEPGATE_ACTOR");
  if (!actor.empty()) return actor;
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  return env_or_empty("USER");
}

Status check_id(const std::string& id, const char* what) {
  if (is_valid_principal_id(id)) return {};
  return invalid_argument(std::string("invalid ") + what + " id `" + id +
                          "` (use letters, digits, . _ @ -)");
}

Result<std::unique_ptr<StateStore>> open_store(const Paths& paths) {
  Status dir = ensure_private_dir(paths.state_dir);
  if (!dir) return dir.error();
  return StateStore::open(paths.state_db);
}

/// The policy found from the working directory (or --policy); nullptr when there is none.
Result<std::shared_ptr<const Policy>> find_policy(const std::string& explicit_path,
                                                  const std::string& cwd) {
  auto path = find_policy_path(explicit_path, cwd);
  if (!path) {
    if (path.error().code == ErrorCode::kNotFound && explicit_path.empty()) {
      return std::shared_ptr<const Policy>();
    }
    return path.error();
  }
  return load_policy_file(*path);
}

/// Audits to the policy's audit path when set, else the default; a failure is reported, not fatal.
void audit_event(CommandContext& context, const Paths& paths, const Policy* policy,
                 const std::string& type, const Value& fields) {
  std::string path =
      policy != nullptr && !policy->audit.path.empty() ? policy->audit.path : paths.audit_log;
  auto log = AuditLog::open(path);
  Status appended = log ? (*log)->append(type, fields) : Status(log.error());
  if (!appended)
    *context.io.err << "stepgate: warning: audit: " << appended.error().message << "\n";
}

/// One line from the person: the terminal when there is one, else stdin. "" on end of input.
std::string read_answer(CommandContext& context, const std::string& prompt, bool secret) {
  TerminalStepUpIo tty;
  if (tty.has_terminal() && isatty(STDIN_FILENO) != 0 && context.io.in == &std::cin) {
    if (secret) {
      auto line = tty.prompt_secret(prompt, std::chrono::seconds(120));
      return line ? *line : std::string();
    }
  }
  *context.io.err << prompt << std::flush;
  std::string line;
  if (!std::getline(*context.io.in, line)) return "";
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

// ---- enroll ---------------------------------------------------------------------------------

struct EnrollOptions {
  std::string actor;
  std::string algorithm = "sha1";
  int digits = 6;
  int period = 30;
  std::string code;
  bool no_qr = false;
  bool activate = false;
  bool force = false;
};

int activate_enrollment(const EnrollOptions& o, CommandContext& context, const Paths& paths,
                        TotpEnrollment enrollment) {
  std::string code = o.code;
  if (code.empty()) code = read_answer(context, "Code from your authenticator: ", true);
  if (code.empty()) {
    *context.io.err << "Not activated yet. When you have a code, run:\n  stepgate enroll --actor "
                    << enrollment.actor << " --activate --code CODE\n";
    return 0;
  }
  auto store = open_store(paths);
  if (!store) return report_error(context, store.error());
  auto check = verify_totp(**store, enrollment, code, unix_now());
  if (!check) return report_error(context, check.error());
  audit_event(context, paths, nullptr, "enroll",
              Map{{"actor", enrollment.actor},
                  {"outcome", *check == TotpCheck::kOk ? "activated" : "refused"}});
  if (*check != TotpCheck::kOk) {
    *context.io.err << "stepgate: " << totp_check_message(*check)
                    << "; the enrollment stays inactive (try again with --activate --code)\n";
    return 1;
  }
  enrollment.active = true;
  Status saved = save_totp_enrollment(paths.secrets_dir, enrollment);
  if (!saved) return report_error(context, saved.error());
  *context.io.err << "TOTP for `" << enrollment.actor << "` is active.\n";
  return 0;
}

Result<TotpEnrollment> new_enrollment(const EnrollOptions& o) {
  TotpEnrollment e;
  e.actor = o.actor;
  e.params.digits = o.digits;
  e.params.period = o.period;
  std::size_t seed_bytes = 20;
  if (o.algorithm == "sha256") {
    e.params.alg = HashAlg::kSha256;
    seed_bytes = 32;
  } else if (o.algorithm == "sha512") {
    e.params.alg = HashAlg::kSha512;
    seed_bytes = 64;
  } else if (o.algorithm != "sha1") {
    return invalid_argument("--algorithm must be sha1, sha256 or sha512");
  }
  if (o.digits != 6 && o.digits != 8) return invalid_argument("--digits must be 6 or 8");
  if (o.period < 1 || o.period > 300) return invalid_argument("--period must be 1-300 seconds");
  auto seed = random_bytes(seed_bytes);
  if (!seed) return seed.error();
  e.key = std::move(*seed);
  return e;
}

int run_enroll(EnrollOptions o, CommandContext& context) {
  if (o.actor.empty()) o.actor = default_principal();
  if (Status ok = check_id(o.actor, "actor"); !ok) return report_error(context, ok.error());
  Paths paths = Paths::from_environment();
  auto existing = load_totp_enrollment(paths.secrets_dir, o.actor);
  if (o.activate) {
    if (!existing) return report_error(context, existing.error());
    if (existing->active) {
      *context.io.err << "TOTP for `" << o.actor << "` is already active.\n";
      return 0;
    }
    return activate_enrollment(o, context, paths, *existing);
  }
  if (existing && existing->active && !o.force) {
    return report_error(context, invalid_argument("`" + o.actor +
                                                  "` already has an active TOTP enrollment; "
                                                  "pass --force to replace it"));
  }
  auto enrollment = new_enrollment(o);
  if (!enrollment) return report_error(context, enrollment.error());
  Status saved = save_totp_enrollment(paths.secrets_dir, *enrollment);
  if (!saved) return report_error(context, saved.error());
  std::string uri = otpauth_uri(*enrollment);
  *context.io.err << "Add this to your authenticator app (it holds the secret: do not share it):\n";
  *context.io.out << uri << "\n";
  if (!o.no_qr) {
    auto qr = render_qr_utf8(uri);
    if (qr) *context.io.out << *qr;
  }
  context.io.out->flush();
  return activate_enrollment(o, context, paths, *enrollment);
}

void setup_enroll(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<EnrollOptions>();
  auto* sub = app.add_subcommand("enroll", "Enroll an authenticator app (TOTP) for an actor");
  sub->add_option("--actor", o->actor, "Actor id (default: $STEPGATE_ACTOR or the user name)");
  sub->add_option("--algorithm", o->algorithm, "sha1 | sha256 | sha512")
      ->check(CLI::IsMember({"sha1", "sha256", "sha512"}));
  sub->add_option("--digits", o->digits, "6 or 8");
  sub->add_option("--period", o->period, "Seconds per code");
  sub->add_option("--code", o->code, "A current code, to activate without a prompt");
  sub->add_flag("--no-qr", o->no_qr, "Do not draw the QR code");
  sub->add_flag("--activate", o->activate, "Activate an enrollment made earlier");
  sub->add_flag("--force", o->force, "Replace an active enrollment");
  sub->callback([o, &context] { context.exit_code = run_enroll(*o, context); });
}

// ---- totp verify ------------------------------------------------------------------------------

struct TotpVerifyOptions {
  std::string actor;
  std::string code;
};

int run_totp_verify(TotpVerifyOptions o, CommandContext& context) {
  if (o.actor.empty()) o.actor = default_principal();
  Paths paths = Paths::from_environment();
  auto enrollment = load_totp_enrollment(paths.secrets_dir, o.actor);
  if (!enrollment) return report_error(context, enrollment.error());
  if (!enrollment->active) {
    return report_error(context,
                        invalid_argument("TOTP for `" + o.actor +
                                         "` is not activated (stepgate enroll --activate)"));
  }
  if (o.code.empty()) o.code = read_answer(context, "TOTP code: ", true);
  auto store = open_store(paths);
  if (!store) return report_error(context, store.error());
  auto check = verify_totp(**store, *enrollment, o.code, unix_now());
  if (!check) return report_error(context, check.error());
  bool ok = *check == TotpCheck::kOk;
  audit_event(context, paths, nullptr, "stepup",
              Map{{"actor", o.actor},
                  {"method", "totp"},
                  {"outcome", ok ? "satisfied" : "refused"},
                  {"problem", ok ? "" : totp_check_message(*check)}});
  if (!ok) {
    *context.io.err << "stepgate: " << totp_check_message(*check) << "\n";
    return 1;
  }
  *context.io.out << "ok: " << o.actor << "\n";
  return 0;
}

void setup_totp(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<TotpVerifyOptions>();
  auto* totp = app.add_subcommand("totp", "TOTP tools");
  totp->require_subcommand(1);
  auto* verify = totp->add_subcommand("verify", "Check a TOTP code (each code works once)");
  verify->add_option("--actor", o->actor, "Actor id (default: $STEPGATE_ACTOR or the user name)");
  verify->add_option("--code", o->code, "The code (asked on the terminal when absent)");
  verify->callback([o, &context] { context.exit_code = run_totp_verify(*o, context); });
}

// ---- keygen -----------------------------------------------------------------------------------

struct KeygenOptions {
  std::string approver;
  bool force = false;
};

int run_keygen(KeygenOptions o, CommandContext& context) {
  if (o.approver.empty()) o.approver = default_principal("STEPGATE_APPROVER");
  if (Status ok = check_id(o.approver, "approver"); !ok) return report_error(context, ok.error());
  Paths paths = Paths::from_environment();
  if (load_approver_key(paths.secrets_dir, o.approver) && !o.force) {
    return report_error(context,
                        invalid_argument("approver `" + o.approver +
                                         "` already has a key; pass --force to replace it"));
  }
  auto keys = ed25519_generate();
  if (!keys) return report_error(context, keys.error());
  Status saved = save_approver_key(paths.secrets_dir, o.approver, *keys);
  if (!saved) return report_error(context, saved.error());
  std::string pub = format_public_key(keys->public_key);
  *context.io.out << pub << "\n";
  *context.io.err << "Private key saved in " << paths.secrets_dir << "/keys/" << o.approver
                  << ".key (0600). Add this to the policy's approvers:\n";
  *context.io.out << "- id: " << o.approver << "\n  public_key: " << pub << "\n";
  return 0;
}

void setup_keygen(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<KeygenOptions>();
  auto* sub = app.add_subcommand("keygen", "Create an approver's Ed25519 signing key");
  sub->add_option("--approver", o->approver, "Approver id (default: $STEPGATE_ACTOR or user)");
  sub->add_flag("--force", o->force, "Replace an existing key");
  sub->callback([o, &context] { context.exit_code = run_keygen(*o, context); });
}

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

// ---- elevation list|drop ----------------------------------------------------------------------

struct ElevationOptions {
  std::string actor;
  bool drop = false;
};

int run_elevation(const ElevationOptions& o, CommandContext& context) {
  Paths paths = Paths::from_environment();
  auto store = open_store(paths);
  if (!store) return report_error(context, store.error());
  if (o.drop) {
    auto dropped = (*store)->drop_elevations(o.actor);
    if (!dropped) return report_error(context, dropped.error());
    *context.io.out << "dropped " << *dropped << " elevation(s)\n";
    return 0;
  }
  auto list = (*store)->list_elevations(unix_now());
  if (!list) return report_error(context, list.error());
  for (const Elevation& e : *list) {
    if (!o.actor.empty() && e.actor != o.actor) continue;
    *context.io.out << e.actor << "\t" << (e.device.empty() ? "-" : e.device) << "\t" << e.method
                    << "\tuntil " << format_rfc3339(e.expires_at) << "\n";
  }
  return 0;
}

void setup_elevation(CLI::App& app, CommandContext& context) {
  auto* elevation = app.add_subcommand("elevation", "Recent step-ups that skip the next prompt");
  elevation->require_subcommand(1);
  for (bool drop : {false, true}) {
    auto o = std::make_shared<ElevationOptions>();
    o->drop = drop;
    auto* sub = elevation->add_subcommand(
        drop ? "drop" : "list",
        drop ? "Forget elevations (all, or one actor's)" : "List active elevations");
    sub->add_option("--actor", o->actor, "Only this actor");
    sub->callback([o, &context] { context.exit_code = run_elevation(*o, context); });
  }
}

}  // namespace

void register_stepup_commands(CLI::App& app, CommandContext& context) {
  setup_enroll(app, context);
  setup_totp(app, context);
  setup_keygen(app, context);
  setup_approve(app, context);
  setup_grant_verify(app, context);
  setup_elevation(app, context);
}

}  // namespace stepgate
