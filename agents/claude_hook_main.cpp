// stepgate-claude-hook: `stepgate agent-hook claude` in a binary of its own. Claude Code runs the
// hook before every tool call, so it links only the engine and the tool-call gate: no libgit2,
// no cpp-httplib (whose OpenSSL initialisation alone costs more than a decision), no CLI11.
#include <iostream>
#include <string>
#include <string_view>

#include "claude_hook.h"
#include "host_hook.h"
#include "stepgate/gate_failure.h"

namespace {

int run(int argc, char** argv) {
  stepgate::CommandContext context{stepgate::this_process()};
  stepgate::ClaudeHookOptions options;
  const stepgate::HostAdapter* host = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--version" && argc == 2) {  // `stepgate doctor` compares it
      std::cout << "stepgate-claude-hook " STEPGATE_VERSION "\n";
      return 0;
    }
    if (arg == "--print-config") {
      options.print_config = true;
    } else if (arg == "--host" && i + 1 < argc) {
      // Another agent host's hook (host_hook.h), run by the same lean binary.
      host = stepgate::find_host_adapter(argv[++i]);
      if (host == nullptr) {
        std::cerr << "stepgate-claude-hook: unknown host " << argv[i] << "\n";
        return 2;
      }
    } else if ((arg == "--policy" || arg == "--server") && i + 1 < argc) {
      (arg == "--policy" ? options.policy_path : options.server_url) = argv[++i];
    } else {
      // Exit 2: Claude Code treats it as a blocking error (fail closed).
      std::cerr << "stepgate-claude-hook: unknown argument " << arg
                << " (usage: stepgate-claude-hook [--policy FILE] [--server URL] "
                   "[--host HOST] [--print-config])\n";
      return 2;
    }
  }
  if (host != nullptr) {
    stepgate::run_host_hook(*host, options, context);
  } else {
    stepgate::run_claude_hook(options, context);
  }
  return context.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  // Claude Code runs the tool when a hook dies of a signal (a non-blocking error): an exception
  // becomes exit 2, which blocks the call.
  try {
    return run(argc, argv);
  } catch (...) {
    std::cerr << "stepgate: " << stepgate::describe_exception(std::current_exception())
              << "; tool call blocked (fail closed)\n";
    return 2;
  }
}
