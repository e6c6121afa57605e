#pragma once
/// Where stepgate keeps its files. Every path has an environment override; STEPGATE_HOME moves
/// them all (tests set it so they never touch the real home directory).

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "stepgate/result.h"

namespace stepgate {

/// Environment lookup, injectable for tests.
using EnvFn = std::string (*)(const char* name);  // "" when unset

/// The directories stepgate uses:
///  config  = $STEPGATE_CONFIG_DIR | $STEPGATE_HOME/config | $XDG_CONFIG_HOME/stepgate |
///  ~/.config/stepgate state   = $STEPGATE_STATE_DIR  | $STEPGATE_HOME/state  |
///  $XDG_STATE_HOME/stepgate  | ~/.local/state/stepgate secrets = $STEPGATE_SECRETS_DIR | config
///  state.db = state/state.db ; audit = $STEPGATE_AUDIT | state/audit.jsonl
struct Paths {
  std::string config_dir;
  std::string state_dir;
  std::string secrets_dir;
  std::string state_db;
  std::string audit_log;

  static Paths from_environment();
};

/// Finds the policy that supplies the settings: the first of the layers find_policy_layers()
/// finds (policy_layers.h) — the system's, else the user's (`explicit_path`, $STEPGATE_POLICY,
/// config_dir/policy.yaml), else the repository's. kNotFound when none exists. The gate evaluates
/// every layer; this is for commands that need one policy's settings (approvers, on_error).
Result<std::string> find_policy_path(const std::string& explicit_path, const std::string& cwd);

/// Creates a directory (and parents) with mode 0700 when it does not exist.
Status ensure_private_dir(const std::string& path);

/// Reads a secret file, refusing one readable or writable by group/others ("chmod 600 PATH").
Result<std::string> read_secret_file(const std::string& path);

/// Writes a secret file atomically with mode 0600.
Status write_secret_file(const std::string& path, const std::string& contents);

/// Reads a whole file (with a size limit, kResourceExhausted past it).
Result<std::string> read_file(const std::string& path,
                              std::size_t max_bytes = std::size_t{64} * 1024 * 1024);

/// One write(2) to a pipe whose reader may be gone (a child that exits without reading its
/// input): EPIPE or a short count, never the SIGPIPE that would kill this process. SIGPIPE is
/// blocked for the calling thread during the write, and one the write raised (Linux raises it
/// for a short count too) is taken off before it is unblocked; other threads are not touched.
ssize_t write_to_pipe(int fd, const char* data, std::size_t size);

/// Getenv that returns "" when unset.
std::string env_or_empty(const char* name);

/// The user this process runs as: the password database's name for the effective uid, else
/// $USER, else "uid:N".
std::string os_user_name();

/// `text` as one word for a POSIX shell: in single quotes (each ' as '\'') when it holds anything
/// but letters, digits and `_-./:=@%+,`, or always with `always`. For the commands stepgate
/// writes for others to run (hook scripts, settings.json); stepgate itself never runs a shell.
std::string shell_quote(std::string_view text, bool always = false);

/// Who acts when nothing more specific says so: $STEPGATE_ACTOR, else os_user_name().
std::string default_actor();

}  // namespace stepgate
