// Step-up commands for actors: enroll, totp verify, keygen, elevation list|drop (approve and
// grant verify are in cli/approve_commands.cpp).
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>

#include "command.h"
#include "stepgate/action.h"
#include "stepgate/audit.h"
#include "stepgate/authority.h"
#include "stepgate/crypto.h"
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
  std::string current_code;  // --force over an active enrollment: a code from the one replaced
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
  auto check = verify_totp(**store, enrollment, code, context.io.now());
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

/// A current code from the authenticator being replaced: --current-code, else asked on the
/// terminal. Never read from piped stdin: whatever runs the command must not answer for the
/// person who holds the authenticator.
std::string current_code(const EnrollOptions& o, CommandContext& context) {
  if (!o.current_code.empty()) return o.current_code;
  TerminalStepUpIo tty;
  if (!tty.has_terminal() || isatty(STDIN_FILENO) == 0 || context.io.in != &std::cin) return "";
  auto line = tty.prompt_secret("Current code from the authenticator being replaced: ",
                                std::chrono::seconds(120));
  return line ? *line : std::string();
}

/// `enroll --force` over an active enrollment: whoever replaces a factor proves they hold it
/// (else anyone running as the user could swap in a seed of their own and approve as the actor).
/// 0 when proven; else the exit code (3 without a code, 1 for a refused one). Audited both ways.
int authorize_replacement(const EnrollOptions& o, CommandContext& context, const Paths& paths,
                          const TotpEnrollment& existing) {
  const std::string code = current_code(o, context);
  if (code.empty()) {
    audit_event(context, paths, nullptr, "enroll",
                Map{{"actor", o.actor}, {"outcome", "replace_refused"}, {"problem", "no code"}});
    *context.io.err << "stepgate: `" << o.actor << "` has an active TOTP enrollment; replacing "
                    << "it needs a current code from that authenticator: run on a terminal, or "
                    << "pass --current-code CODE\n";
    return 3;
  }
  auto store = open_store(paths);
  if (!store) return report_error(context, store.error());
  auto check = verify_totp(**store, existing, code, context.io.now());
  if (!check) return report_error(context, check.error());
  const bool ok = *check == TotpCheck::kOk;
  audit_event(context, paths, nullptr, "enroll",
              Map{{"actor", o.actor},
                  {"outcome", ok ? "replace_authorized" : "replace_refused"},
                  {"problem", ok ? "" : totp_check_message(*check)}});
  if (ok) return 0;
  *context.io.err << "stepgate: " << totp_check_message(*check) << "; the active enrollment of `"
                  << o.actor << "` stays in place\n";
  return 1;
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
  Paths paths = context.io.paths();
  // With an authority the seeds are its own: a local seed would be one the gated party holds.
  if (auto authority = find_authority(paths); !authority.ok() || authority->has_value()) {
    return report_error(
        context, authority.ok() ? make_error(ErrorCode::kFailedPrecondition,
                                             "an authority is configured (" + (*authority)->source +
                                                 "): enrol with `stepgate authority enroll`")
                                : authority.error());
  }
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
  if (existing && existing->active) {
    if (int refused = authorize_replacement(o, context, paths, *existing); refused != 0) {
      return refused;
    }
  }
  auto enrollment = new_enrollment(o);
  if (!enrollment) return report_error(context, enrollment.error());
  Status saved = save_totp_enrollment(paths.secrets_dir, *enrollment);
  if (!saved) return report_error(context, saved.error());
  if (existing && existing->active) {
    // The old seed is gone: the steps its codes used (the one that just authorized this
    // included) must not make the new authenticator's first codes look replayed.
    auto store = open_store(paths);
    Status forgot = store ? (*store)->forget_totp_steps(o.actor) : Status(store.error());
    if (!forgot) return report_error(context, forgot.error());
  }
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
  sub->add_flag("--force", o->force,
                "Replace an active enrollment (needs a current code from it: asked on the "
                "terminal, or --current-code)");
  sub->add_option("--current-code", o->current_code,
                  "With --force: a current code from the authenticator being replaced");
  sub->callback([o, &context] { context.exit_code = run_enroll(*o, context); });
}

// ---- totp verify ------------------------------------------------------------------------------

struct TotpVerifyOptions {
  std::string actor;
  std::string code;
};

int run_totp_verify(TotpVerifyOptions o, CommandContext& context) {
  if (o.actor.empty()) o.actor = default_principal();
  Paths paths = context.io.paths();
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
  auto check = verify_totp(**store, *enrollment, o.code, context.io.now());
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
  bool show = false;
};

int run_keygen(KeygenOptions o, CommandContext& context) {
  if (o.approver.empty()) o.approver = default_principal("STEPGATE_APPROVER");
  if (Status ok = check_id(o.approver, "approver"); !ok) return report_error(context, ok.error());
  Paths paths = context.io.paths();
  if (o.show) {
    auto existing = load_approver_key(paths.secrets_dir, o.approver);
    if (!existing) return report_error(context, existing.error());
    auto public_key = ed25519_public_from_private(*existing);
    if (!public_key) return report_error(context, public_key.error());
    const std::string pub = format_public_key(*public_key);
    *context.io.out << pub << "\n- id: " << o.approver << "\n  public_key: " << pub << "\n";
    return 0;
  }
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
  sub->add_flag("--show", o->show, "Print the existing key's public half (creates nothing)")
      ->excludes("--force");
  sub->callback([o, &context] { context.exit_code = run_keygen(*o, context); });
}

// ---- elevation list|drop ----------------------------------------------------------------------

struct ElevationOptions {
  std::string actor;
  bool drop = false;
};

int run_elevation(const ElevationOptions& o, CommandContext& context) {
  Paths paths = context.io.paths();
  auto store = open_store(paths);
  if (!store) return report_error(context, store.error());
  if (o.drop) {
    auto dropped = (*store)->drop_elevations(o.actor);
    if (!dropped) return report_error(context, dropped.error());
    *context.io.out << "dropped " << *dropped << " elevation(s)\n";
    return 0;
  }
  auto list = (*store)->list_elevations(context.io.now());
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
  setup_elevation(app, context);
  register_approve_commands(app, context);
}

}  // namespace stepgate
