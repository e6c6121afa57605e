#pragma once
// `stepgate hooks install` / `stepgate hooks uninstall`: put a small hook in the repository's
// hooks directory (core.hooksPath respected) that runs this installation's hook programs; a hook
// already there is kept as <hook>.stepgate-chained, run first, and restored byte for byte by
// uninstall.

#include <optional>
#include <string>

#include "command.h"

namespace stepgate {

struct InstallOptions {
  std::string hook;    // "pre-push" | "pre-receive"; "" = pre-receive in a bare repo, else pre-push
  bool force = false;  // rewrite a stepgate script already installed (e.g. the binary moved)
  bool direct = false;  // the lean binary as the hook's #! interpreter, when its path allows
  bool script = false;  // a /bin/sh script rather than the executable hook (hook_exec.h)
  /// Run the stepgate-hook client, which asks `stepgate daemon` first (and starts one): unset,
  /// the client for pre-push (a developer's machine) and the lean hook for pre-receive (a server,
  /// where an administrator runs the daemon as a service and installs with --daemon).
  std::optional<bool> daemon;
};

/// Whether `hook` is installed with the daemon client, given what was asked for.
bool install_with_daemon(const InstallOptions& options, const std::string& hook);

/// Installs; a second install is a no-op. Exit 0, or 2 with one "stepgate: ..." line.
int run_hooks_install(const InstallOptions& options, CommandContext& context);
/// Removes the script and restores the chained hook, if any. Exit 0, or 2.
int run_hooks_uninstall(const InstallOptions& options, CommandContext& context);

/// The script installed for `hook`: a /bin/sh script that execs the lean stepgate-git-hook beside
/// `binary` (absolute path), or `binary hook` without it, with argv, never a command string. With
/// `direct`, when the lean binary is there and its path fits a `#!` line, that binary is the
/// script's interpreter instead (`#!/path/stepgate-git-hook --as-hook`).
/// With `daemon`, the `stepgate-hook` client beside it stands in for the lean binary (it takes
/// the same arguments, asks a running `stepgate daemon`, and runs the lean binary otherwise).
std::string hook_script(const std::string& hook, const std::string& binary, bool direct = false,
                        bool daemon = false);
/// The executable hook (hook_exec.h) set up to run the stepgate-hook client (`daemon`) or the
/// lean stepgate-git-hook beside `binary`; empty where it cannot be: no image for this platform,
/// no lean binary, or a directory too long for the image's configuration block.
std::string executable_hook(const std::string& binary, bool daemon);
/// What `hooks install` writes for `hook`: the executable hook, unless `options` asks for the
/// script (or --direct) or there cannot be one; then hook_script().
std::string hook_file(const std::string& hook, const std::string& binary,
                      const InstallOptions& options, bool daemon);
/// True when `contents` is a hook written by hook_file().
bool is_stepgate_script(const std::string& contents);

}  // namespace stepgate
