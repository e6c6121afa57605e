#include "stepgate/process_context.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "stepgate/gate.h"

namespace stepgate {

UnixTime ProcessContext::now() const {
  return clock ? clock() : unix_now();
}

Paths ProcessContext::paths() const {
  return Paths::from_environment(env);
}

ProcessContext this_process() {
  ProcessContext context;
  context.in = &std::cin;
  context.out = &std::cout;
  context.err = &std::cerr;
  context.err_is_tty = ::isatty(STDERR_FILENO) != 0;
  std::error_code ec;
  context.cwd = std::filesystem::current_path(ec).string();
  return context;
}

int report_error(CommandContext& context, const Error& error) {
  *context.io.err << "stepgate: " << error.message << "\n";
  return exit_code_for(error);
}

}  // namespace stepgate
