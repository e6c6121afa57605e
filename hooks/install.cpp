#include "install.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>

#include "git_signals.h"
#include "hook_run.h"
#include "stepgate/paths.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMarker = "# stepgate-managed hook";

constexpr const char* kLeanHookBinary = "stepgate-git-hook";
constexpr const char* kDaemonClientBinary = "stepgate-hook";  // asks `stepgate daemon`

std::string self_binary() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

std::string expand_home(const std::string& path, const Env& env) {
  if (path.rfind("~/", 0) != 0) return path;
  return env.get("HOME") + path.substr(1);
}

/// The hooks directory: core.hooksPath (relative to the work tree, or the git dir when bare),
/// else <git dir>/hooks.
std::string hooks_dir(const GitRepo& repo, const Env& env) {
  std::string configured = expand_home(repo.config_string("core.hooksPath"), env);
  if (configured.empty()) return (fs::path(repo.git_dir()) / "hooks").lexically_normal().string();
  fs::path p(configured);
  if (p.is_relative()) p = fs::path(repo.is_bare() ? repo.git_dir() : repo.workdir()) / p;
  return p.lexically_normal().string();
}

Status write_executable(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".stepgate-tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  if (fd < 0) return make_error(ErrorCode::kFailedPrecondition, tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size());
  ok = ::fchmod(fd, 0755) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return make_error(ErrorCode::kFailedPrecondition, path + ": " + why);
  }
  return {};
}

struct Target {
  std::string hook;
  std::string path;
  std::string chained;
  std::unique_ptr<GitRepo> repo;
};

Result<Target> resolve_target(const InstallOptions& o, CommandContext& context) {
  auto repo = GitRepo::open_at(context.io.cwd, context.io.env);
  if (!repo.ok()) return invalid_argument("not in a git repository (" + repo.error().message + ")");
  Target t;
  t.hook = !o.hook.empty() ? o.hook : ((*repo)->is_bare() ? "pre-receive" : "pre-push");
  if (t.hook != "pre-push" && t.hook != "pre-receive") {
    return invalid_argument("--hook must be pre-push or pre-receive, not `" + t.hook + "`");
  }
  t.path = hooks_dir(**repo, context.io.env) + "/" + t.hook;
  t.chained = t.path + std::string(kChainedSuffix);
  t.repo = std::move(repo).value();
  return t;
}

/// A server-side hook reads grants from push options, which git only accepts from clients when
/// receive.advertisePushOptions is on: turn it on when unset, and say so when it is turned off.
void enable_push_options(GitRepo& repo, CommandContext& context) {
  constexpr const char* kKey = "receive.advertisePushOptions";
  const std::string current = repo.config_string(kKey);
  const std::optional<bool> on = repo.config_bool(kKey);
  if (current.empty() && !on) {
    if (Status s = repo.set_local_config(kKey, "true"); !s.ok()) {
      *context.io.err << "stepgate: warning: could not set " << kKey << ": " << s.error().message
                      << "; pushers cannot pass grants with `git push -o` until it is true\n";
      return;
    }
    *context.io.out << "set " << kKey << " true, so pushers can pass grants with "
                    << "`git push -o stepgate-grant=<grant>`\n";
  } else if (on != true) {
    *context.io.err << "stepgate: warning: " << kKey << " is `" << current
                    << "`: pushers cannot pass grants with `git push -o` until it is true\n";
  }
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Status rename_file(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) == 0) return {};
  return make_error(ErrorCode::kFailedPrecondition,
                    "cannot rename " + from + " to " + to + ": " + std::strerror(errno));
}

/// stepgate-git-hook next to `binary`, when it is there: the same hook in a binary that starts
/// faster (see hooks/git_hook_main.cpp).
std::string lean_hook_binary(const std::string& binary, const char* name = kLeanHookBinary) {
  const fs::path lean = fs::path(binary).parent_path() / name;
  return ::access(lean.c_str(), X_OK) == 0 ? lean.string() : std::string();
}

}  // namespace

std::string hook_script(const std::string& hook, const std::string& binary, bool daemon) {
  std::string program = lean_hook_binary(binary);
  if (const std::string client = lean_hook_binary(binary, kDaemonClientBinary);
      daemon && !program.empty() && !client.empty()) {
    program =
        client;  // the client takes the lean hook's arguments and runs it when no daemon answers
  }
  const std::string command =
      program.empty() ? shell_quote(binary, true) + " hook " : shell_quote(program, true) + " ";
  return "#!/bin/sh\n" + std::string(kMarker) +
         " (`stepgate hooks install`). `stepgate hooks uninstall` removes it\n" +
         "# and restores the hook that was here before, kept as " + hook +
         std::string(kChainedSuffix) + " and run first.\n" + "exec " + command + hook +
         " --chained \"$0" + std::string(kChainedSuffix) + "\" -- \"$@\"\n";
}

bool is_stepgate_script(const std::string& contents) {
  return contents.find(kMarker) != std::string::npos;
}

int run_hooks_install(const InstallOptions& o, CommandContext& context) {
  auto target = resolve_target(o, context);
  if (!target.ok()) return report_error(context, target.error());
  const std::string binary = self_binary();
  if (binary.empty())
    return report_error(context, invalid_argument("cannot resolve /proc/self/exe"));
  const bool daemon = o.daemon;
  std::error_code ec;
  fs::create_directories(fs::path(target->path).parent_path(), ec);
  if (exists(target->path)) {
    auto current = read_file(target->path, 1 << 20);
    if (current.ok() && is_stepgate_script(*current)) {
      const bool same = *current == hook_script(target->hook, binary, daemon);
      if (!o.force || same) {
        *context.io.out << "stepgate " << target->hook << " hook already installed at "
                        << target->path
                        << (same ? ""
                                 : " (it differs from what this install would write: add --force)")
                        << "\n";
        if (target->hook == "pre-receive") enable_push_options(*target->repo, context);
        return 0;
      }
    } else if (exists(target->chained)) {
      return report_error(
          context, invalid_argument(target->chained + " already exists; move it away first"));
    } else if (Status s = rename_file(target->path, target->chained); !s.ok()) {
      return report_error(context, s.error());
    } else {
      *context.io.out << "kept the existing hook as " << target->chained << " (runs first)\n";
    }
  }
  const std::string contents = hook_script(target->hook, binary, daemon);
  if (Status s = write_executable(target->path, contents); !s.ok()) {
    return report_error(context, s.error());
  }
  *context.io.out << "installed the stepgate " << target->hook << " hook at " << target->path
                  << "\n";
  if (std::error_code ec; fs::exists(fs::path(binary).parent_path() / "CMakeCache.txt", ec)) {
    *context.io.err << "stepgate: warning: " << binary
                    << " is in a build tree; the hook names it and breaks when the tree is cleaned "
                       "(install stepgate, then run `stepgate hooks install --force`)\n";
  }
  const bool has_client = !lean_hook_binary(binary, kDaemonClientBinary).empty();
  if (daemon && !has_client) {
    *context.io.err << "stepgate: warning: no " << kDaemonClientBinary << " beside " << binary
                    << ": the hook decides in-process\n";
  } else if (daemon && has_client) {
    *context.io.out << "the hook asks `stepgate daemon`; when none is running it decides "
                       "in-process and starts one (STEPGATE_DAEMON_AUTOSTART=0: never; "
                       "without --daemon: a hook that always decides in-process)\n";
  }
  if (target->hook == "pre-receive") enable_push_options(*target->repo, context);
  return 0;
}

int run_hooks_uninstall(const InstallOptions& o, CommandContext& context) {
  auto target = resolve_target(o, context);
  if (!target.ok()) return report_error(context, target.error());
  if (exists(target->path)) {
    auto current = read_file(target->path, 1 << 20);
    if (!current.ok() || !is_stepgate_script(*current)) {
      return report_error(
          context, invalid_argument(target->path + " was not installed by stepgate; left alone"));
    }
    if (::unlink(target->path.c_str()) != 0) {
      return report_error(context, make_error(ErrorCode::kFailedPrecondition,
                                              target->path + ": " + std::strerror(errno)));
    }
  }
  if (exists(target->chained)) {
    if (Status s = rename_file(target->chained, target->path); !s.ok()) {
      return report_error(context, s.error());
    }
    *context.io.out << "restored the previous hook at " << target->path << "\n";
    return 0;
  }
  *context.io.out << "removed the stepgate " << target->hook << " hook from " << target->path
                  << "\n";
  return 0;
}

}  // namespace stepgate
