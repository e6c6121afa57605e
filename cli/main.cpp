#include <exception>
#include <iostream>

#include "command.h"
#include "stepgate/gate_failure.h"

int main(int argc, char** argv) {
  // An exception that escapes a command is a failure, never an abort: exit 2 blocks the action
  // for every front-end run through `stepgate` (git treats any non-zero exit as a refused push;
  // Claude Code reads 2 as "block"; CI fails the step).
  try {
    stepgate::CommandContext context{stepgate::this_process()};
    return stepgate::run_cli(argc, argv, context);
  } catch (...) {
    std::cerr << "stepgate: " << stepgate::describe_exception(std::current_exception())
              << "; action blocked (fail closed)\n";
    return 2;
  }
}
