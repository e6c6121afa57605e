#pragma once
// The authority's listeners: the Unix socket (identity by SO_PEERCRED) and the loopback HTTP
// approvals inbox.

#include <atomic>
#include <ostream>

#include "service.h"

namespace stepgate::authority {

/// Serves `authority` on its socket (and its inbox when configured) until `stop` turns true.
/// The socket is created mode 0666: anyone may connect, the kernel tells who did, and unmapped
/// uids are refused per request. kUnavailable when the socket cannot be bound.
Status serve(Authority& authority, const std::atomic<bool>& stop, std::ostream& log);

/// Starts the HTTP inbox on a thread; returns a handle that stops it when destroyed.
class Inbox {
 public:
  static Result<std::unique_ptr<Inbox>> start(Authority& authority);
  ~Inbox();
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

 private:
  struct Impl;
  explicit Inbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepgate::authority
