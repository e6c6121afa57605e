#pragma once
/// The environment a command runs in, and the helpers that read it. Commands read variables
/// through an Env (ProcessContext::env), never getenv, so the hook daemon can serve each request
/// in its client's environment without touching its own.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stepgate {

/// A set of environment variables: this process's (the default) or NAME=VALUE entries handed in.
/// Copies share the entries; an Env is immutable, so threads may share one.
class Env {
 public:
  Env() = default;
  /// The given entries; one without '=' (or starting with it) is ignored, a later one wins.
  explicit Env(const std::vector<std::string>& entries);
  /// The value of `name`; "" when unset.
  [[nodiscard]] std::string get(std::string_view name) const;
  /// True when this is the process's own environment.
  [[nodiscard]] bool is_process() const { return vars_ == nullptr; }

 private:
  std::shared_ptr<const std::map<std::string, std::string, std::less<>>> vars_;
};

/// The one STEPGATE_NO_TTY rule: any value but "" and "0" says no terminal may be asked. Inline
/// and free of the rest, so the stepgate-hook client (no engine) applies the same rule.
inline bool no_tty_value(std::string_view value) {
  return !value.empty() && value != "0";
}
/// no_tty_value() of $STEPGATE_NO_TTY in `env`.
inline bool no_tty_requested(const Env& env) {
  return no_tty_value(env.get("STEPGATE_NO_TTY"));
}

/// The process's getenv, "" when unset. Prefer an injected Env.
std::string env_or_empty(const char* name);

/// The user this process runs as: the password database's name for the effective uid, else
/// $USER, else "uid:N".
std::string os_user_name(const Env& env = {});

/// Who acts when nothing more specific says so: $STEPGATE_ACTOR, else os_user_name().
std::string default_actor(const Env& env = {});

/// `text` as one word for a POSIX shell: in single quotes (each ' as '\'') when it holds anything
/// but letters, digits and `_-./:=@%+,`, or always with `always`. For the commands stepgate
/// writes for others to run (hook scripts, settings.json); stepgate itself never runs a shell.
std::string shell_quote(std::string_view text, bool always = false);

}  // namespace stepgate
