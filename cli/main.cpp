#include "command.h"
#include "process_io.h"

int main(int argc, char** argv) {
  stepgate::CommandContext context{stepgate::process_io()};
  return stepgate::run_cli(argc, argv, context);
}
