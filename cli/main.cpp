#include "command.h"

int main(int argc, char** argv) {
  stepgate::CommandContext context{stepgate::this_process()};
  return stepgate::run_cli(argc, argv, context);
}
