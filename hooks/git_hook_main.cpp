// stepgate-git-hook: `stepgate hook pre-push|pre-receive` in a binary of its own, which the
// installed hook scripts run when it sits next to `stepgate`. git waits for it on every push, so
// it links only the engine and the git front-end: no cpp-httplib (whose OpenSSL initialisation
// alone costs a millisecond), no QR code or CI code, and the C++ runtime and OpenSSL statically.
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "git_signals.h"
#include "hook_run.h"
#include "stepgate/gate_failure.h"

namespace {

constexpr const char* kUsage =
    "usage: stepgate-git-hook pre-push [--chained FILE] [--policy FILE] [--] [REMOTE [URL]]\n"
    "       stepgate-git-hook pre-receive [--chained FILE] [--policy FILE]\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--version") {  // `stepgate doctor` compares it
    std::cout << "stepgate-git-hook " STEPGATE_VERSION "\n";
    return 0;
  }
  stepgate::HookOptions options;
  if (!stepgate::parse_hook_args(std::vector<std::string>(argv + 1, argv + argc), options)) {
    std::cerr << "stepgate-git-hook: bad arguments\n" << kUsage;
    return 2;  // git treats any non-zero exit as a refused push: fail closed
  }
  stepgate::keep_repositories_until_exit();  // one hook run, then exit
  stepgate::allocate_for_one_run();
  try {
    stepgate::CommandContext context{stepgate::this_process()};
    return stepgate::run_hook(options, context);
  } catch (...) {
    std::cerr << "stepgate: " << stepgate::describe_exception(std::current_exception())
              << "; push blocked (fail closed)\n";
    return 2;  // git treats any non-zero exit as a refused push
  }
}
