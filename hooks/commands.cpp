// The git front-end's commands: `stepgate hook pre-push|pre-receive` (what git runs) and
// `stepgate hooks install|uninstall` (how a repository gets them).
#include <CLI/CLI.hpp>

#include <memory>

#include "hook_run.h"
#include "hooks_commands.h"
#include "install.h"

namespace stepgate {
namespace {

void setup_hook_pre_push(CLI::App& hook, CommandContext& context) {
  auto o = std::make_shared<HookOptions>();
  o->kind = HookKind::kPrePush;
  auto* sub = hook.add_subcommand("pre-push", "Gate a push (git runs this; refs on stdin)");
  sub->add_option("remote", o->remote, "Remote name (or URL); pre-commit: $PRE_COMMIT_REMOTE_NAME");
  sub->add_option("url", o->url, "Remote URL");
  sub->add_option("--chained", o->chained, "The previous hook, run first with the same stdin");
  sub->add_option("--policy", o->policy_path,
                  "Policy file (default: the layers in effect; see `stepgate policy explain`)");
  sub->callback([o, &context] { context.exit_code = run_hook(*o, context); });
}

void setup_hook_pre_receive(CLI::App& hook, CommandContext& context) {
  auto o = std::make_shared<HookOptions>();
  o->kind = HookKind::kPreReceive;
  auto* sub = hook.add_subcommand("pre-receive", "Gate a receive on the server (refs on stdin)");
  sub->add_option("--chained", o->chained, "The previous hook, run first with the same stdin");
  sub->add_option("--policy", o->policy_path,
                  "Policy file (default: the layers in effect; see `stepgate policy explain`)");
  sub->callback([o, &context] { context.exit_code = run_hook(*o, context); });
}

void setup_hooks_install(CLI::App& hooks, CommandContext& context, bool install) {
  auto o = std::make_shared<InstallOptions>();
  auto* sub = install
                  ? hooks.add_subcommand("install", "Install the stepgate hook in this repository")
                  : hooks.add_subcommand("uninstall", "Remove it and restore the previous hook");
  sub->add_option("--hook", o->hook, "pre-push (default) or pre-receive (default when bare)")
      ->check(CLI::IsMember({"pre-push", "pre-receive"}));
  if (install) {
    sub->add_flag("--force", o->force, "Rewrite an installed stepgate hook");
    auto* daemon = sub->add_flag_callback(
        "--daemon", [o] { o->daemon = true; },
        "Run the stepgate-hook client, which asks `stepgate daemon` (and starts one when none "
        "runs); the push is decided in-process when none answers");
    auto* no_daemon = sub->add_flag_callback(
        "--no-daemon", [o] { o->daemon = false; },
        "Run the lean hook, which decides in-process every time (the default)");
    daemon->excludes(no_daemon);
  }
  sub->callback([o, &context, install] {
    context.exit_code = install ? run_hooks_install(*o, context) : run_hooks_uninstall(*o, context);
  });
}

}  // namespace

void register_hooks_commands(CLI::App& app, CommandContext& context) {
  auto* hook = app.add_subcommand("hook", "Run a git hook (called by the installed scripts)");
  hook->require_subcommand(1);
  setup_hook_pre_push(*hook, context);
  setup_hook_pre_receive(*hook, context);
  auto* hooks = app.add_subcommand("hooks", "Install or uninstall the git hooks");
  hooks->require_subcommand(1);
  setup_hooks_install(*hooks, context, true);
  setup_hooks_install(*hooks, context, false);
}

}  // namespace stepgate
