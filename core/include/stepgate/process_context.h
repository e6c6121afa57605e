#pragma once
/// The process around a command: its standard streams, working directory, environment, clock and
/// whether stderr is a terminal. Injected into every run_x and, through the front-end, into the
/// gate, so tests and the hook daemon run commands without a process of their own (the daemon
/// serves each request in its client's context, touching nothing process-wide).

#include <functional>
#include <iosfwd>
#include <string>

#include "stepgate/env.h"
#include "stepgate/paths.h"
#include "stepgate/result.h"
#include "stepgate/store.h"

namespace stepgate {

struct ProcessContext {
  std::istream* in = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool err_is_tty = false;
  std::string cwd = ".";
  Env env;                          // default: this process's environment
  std::function<UnixTime()> clock;  // empty: the system clock

  /// Unix time now by `clock`.
  [[nodiscard]] UnixTime now() const;
  /// The stepgate directories `env` names (Paths::from_environment).
  [[nodiscard]] Paths paths() const;
};

/// The name front-ends used for the context before it moved to core.
using CommandIo = ProcessContext;

/// A command's context and the exit code its run function set.
struct CommandContext {
  ProcessContext io;
  int exit_code = 0;
};

/// This process's stdin/stdout/stderr, working directory and environment, and the system clock.
ProcessContext this_process();

/// Prints "stepgate: MESSAGE" on stderr and returns the exit code for the error (2 or 1).
int report_error(CommandContext& context, const Error& error);

}  // namespace stepgate
