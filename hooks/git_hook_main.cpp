// stepgate-git-hook: `stepgate hook pre-push|pre-receive` in a binary of its own, which the
// installed hook scripts run when it sits next to `stepgate`. git waits for it on every push, so
// it links only the engine and the git front-end: no cpp-httplib (whose OpenSSL initialisation
// alone costs a millisecond), no QR code or CI code, and the C++ runtime and OpenSSL statically.
#include <iostream>
#include <string>
#include <string_view>

#include "hook_run.h"
#include "process_io.h"

namespace {

constexpr const char* kUsage =
    "usage: stepgate-git-hook pre-push [--chained FILE] [--policy FILE] [--] [REMOTE [URL]]\n"
    "       stepgate-git-hook pre-receive [--chained FILE] [--policy FILE]\n"
    "       stepgate-git-hook --as-hook HOOK-PATH [REMOTE [URL]]  (as a hook's #! interpreter)\n";

/// `#!/path/stepgate-git-hook --as-hook` at the top of an installed hook: the kernel runs us with
/// the hook's path and git's arguments after it. The hook's file name says which hook it is, and
/// the hook kept from before sits beside it. git's arguments are taken as they are (no options).
bool parse_as_hook(int argc, char** argv, stepgate::HookOptions& options) {
  if (argc < 3) return false;
  const std::string path = argv[2];
  const std::string_view name = std::string_view(path).substr(path.rfind('/') + 1);
  if (name != "pre-push" && name != "pre-receive") return false;
  options.kind =
      name == "pre-push" ? stepgate::HookKind::kPrePush : stepgate::HookKind::kPreReceive;
  options.chained = path + std::string(stepgate::kChainedSuffix);
  const int rest = argc - 3;
  if (options.kind == stepgate::HookKind::kPreReceive ? rest != 0 : rest > 2) return false;
  if (rest >= 1) options.remote = argv[3];
  if (rest >= 2) options.url = argv[4];
  return true;
}

/// The same arguments `stepgate hook pre-push|pre-receive` takes; false on anything else.
bool parse(int argc, char** argv, stepgate::HookOptions& options) {
  if (argc < 2) return false;
  if (argv[1] == stepgate::kAsHookArg) return parse_as_hook(argc, argv, options);
  const std::string_view kind = argv[1];
  if (kind != "pre-push" && kind != "pre-receive") return false;
  options.kind =
      kind == "pre-push" ? stepgate::HookKind::kPrePush : stepgate::HookKind::kPreReceive;
  int positional = 0;
  bool options_done = false;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!options_done && arg == "--") {
      options_done = true;
    } else if (!options_done && (arg == "--chained" || arg == "--policy") && i + 1 < argc) {
      (arg == "--chained" ? options.chained : options.policy_path) = argv[++i];
    } else if ((options_done || arg.empty() || arg[0] != '-') &&
               options.kind == stepgate::HookKind::kPrePush && positional < 2) {
      (positional++ == 0 ? options.remote : options.url) = argv[i];
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  stepgate::HookOptions options;
  if (!parse(argc, argv, options)) {
    std::cerr << "stepgate-git-hook: bad arguments\n" << kUsage;
    return 2;  // git treats any non-zero exit as a refused push: fail closed
  }
  stepgate::CommandContext context{stepgate::process_io()};
  return stepgate::run_hook(options, context);
}
