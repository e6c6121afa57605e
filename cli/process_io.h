#pragma once
// The real process's I/O for a CommandContext; inline so the lean hook binaries, which link no
// CLI library, share it with `stepgate`.

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "command.h"

namespace stepgate {

/// stdin/stdout/stderr of this process, and its working directory.
inline CommandIo process_io() {
  CommandIo io;
  io.in = &std::cin;
  io.out = &std::cout;
  io.err = &std::cerr;
  io.err_is_tty = isatty(STDERR_FILENO) != 0;
  std::error_code ec;
  io.cwd = std::filesystem::current_path(ec).string();
  return io;
}

}  // namespace stepgate
