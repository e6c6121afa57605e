// run_process against real children: what they print, their exit status, and input they never
// read (which must not kill the caller with SIGPIPE).
#include "subprocess.h"

#include <doctest/doctest.h>

#include <string>

namespace stepgate {
namespace {

TEST_CASE("run_process: output, exit status, and input a child never reads") {
  ProcessOptions options;
  options.input = "one\ntwo\n";
  auto echoed = run_process({"sh", "-c", "cat; echo err >&2; exit 3"}, options);
  REQUIRE(echoed.ok());
  CHECK(echoed->out == "one\ntwo\n");
  CHECK(echoed->err == "err\n");
  CHECK(echoed->exit_code == 3);

  // 4 MiB is more than a pipe holds: the write meets a reader that is gone (EPIPE), which is not
  // this process's death by SIGPIPE, and the child's status still comes back.
  options.input = std::string(std::size_t{4} << 20, 'x');
  auto ignored = run_process({"sh", "-c", "exit 5"}, options);
  REQUIRE(ignored.ok());
  CHECK(ignored->exit_code == 5);
}

}  // namespace
}  // namespace stepgate
