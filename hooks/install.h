#pragma once
// `stepgate hooks install` / `stepgate hooks uninstall`: put a small hook in the repository's
// hooks directory (core.hooksPath respected) that runs this installation's hook programs; a hook
// already there is kept as <hook>.stepgate-chained, run first, and restored byte for byte by
// uninstall.

#include <string>

#include "stepgate/process_context.h"

namespace stepgate {

struct InstallOptions {
  std::string hook;    // "pre-push" | "pre-receive"; "" = pre-receive in a bare repo, else pre-push
  bool force = false;  // rewrite a stepgate script already installed (e.g. the binary moved)
  /// Run the stepgate-hook client, which asks `stepgate daemon` first (and starts one). Off by
  /// default: the lean in-process hook adds less to a push than a no-op hook manager does
  /// (bench/README.md); a server whose administrator runs the daemon as a service opts in.
  bool daemon = false;
};

/// Installs; a second install is a no-op. Exit 0, or 2 with one "stepgate: ..." line.
int run_hooks_install(const InstallOptions& options, CommandContext& context);
/// Removes the script and restores the chained hook, if any. Exit 0, or 2.
int run_hooks_uninstall(const InstallOptions& options, CommandContext& context);

/// The one hook `hooks install` writes, as lefthook and pre-commit do: a short /bin/sh script that
/// execs ONE program with git's arguments, never a command string. The program is the lean
/// stepgate-git-hook beside `binary` (absolute path), or `binary hook` without it; with `daemon`,
/// the `stepgate-hook` client beside it (same arguments; it asks `stepgate daemon` and runs the
/// lean hook when none answers).
std::string hook_script(const std::string& hook, const std::string& binary, bool daemon = false);
/// True when `contents` is a hook written by hook_script().
bool is_stepgate_script(const std::string& contents);

}  // namespace stepgate
