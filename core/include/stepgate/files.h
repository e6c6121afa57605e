#pragma once
/// File helpers: private directories, secret files, bounded reads, pipe writes.

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "stepgate/result.h"

namespace stepgate {

/// Creates a directory (and parents) with mode 0700 when it does not exist.
Status ensure_private_dir(const std::string& path);

/// Reads a secret file, refusing one readable or writable by group/others ("chmod 600 PATH").
Result<std::string> read_secret_file(const std::string& path);

/// Writes a secret file atomically with mode 0600.
Status write_secret_file(const std::string& path, const std::string& contents);

/// Reads a whole file (with a size limit, kResourceExhausted past it).
Result<std::string> read_file(const std::string& path,
                              std::size_t max_bytes = std::size_t{64} * 1024 * 1024);

/// One write(2) to a pipe whose reader may be gone (a child that exits without reading its
/// input): EPIPE or a short count, never the SIGPIPE that would kill this process. SIGPIPE is
/// blocked for the calling thread during the write, and one the write raised (Linux raises it
/// for a short count too) is taken off before it is unblocked; other threads are not touched.
ssize_t write_to_pipe(int fd, const char* data, std::size_t size);

}  // namespace stepgate
