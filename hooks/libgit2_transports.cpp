// stepgate reads local repositories with libgit2 and never opens a network transport through it.
// Debian's libgit2 starts both of its network stacks in git_libgit2_init(): mbedTLS (an entropy
// pool, a DRBG and the whole system CA bundle, ~53 million instructions) and libssh2 (which
// starts OpenSSL with its engines and error strings). A pre-push hook pays for both on every
// push, so when libgit2 is linked statically the build wraps libgit2's own entry points into
// them (-Wl,--wrap=..., see CMakeLists.txt): the two global inits do nothing, and any attempt to
// open an HTTPS stream or an SSH subtransport fails with a clear error, that is, fails closed.
// With nothing left referring to them, the mbedTLS stream and SSH objects are not linked at all.
#ifdef STEPGATE_WRAP_LIBGIT2_TRANSPORTS

#include <git2/errors.h>

extern "C" {
// NOLINTBEGIN(readability-identifier-naming,bugprone-reserved-identifier)
namespace {
int refuse_transport(const char* what) {
  git_error_set_str(GIT_ERROR_NET, what);
  return -1;
}
}  // namespace

int __wrap_git_mbedtls_stream_global_init() {
  return 0;
}
int __wrap_git_transport_ssh_global_init() {
  return 0;
}
int __wrap_git_mbedtls__set_cert_location(const char* /*file*/, const char* /*path*/) {
  return refuse_transport("stepgate: TLS is disabled in its libgit2");
}
int __wrap_git_mbedtls_stream_new(void** /*out*/, const char* /*host*/, const char* /*port*/) {
  return refuse_transport("stepgate: HTTPS transport is disabled in its libgit2");
}
int __wrap_git_mbedtls_stream_wrap(void** /*out*/, void* /*in*/, const char* /*host*/) {
  return refuse_transport("stepgate: HTTPS transport is disabled in its libgit2");
}
int __wrap_git_smart_subtransport_ssh(void** /*out*/, void* /*owner*/, void* /*param*/) {
  return refuse_transport("stepgate: SSH transport is disabled in its libgit2");
}
// NOLINTEND(readability-identifier-naming,bugprone-reserved-identifier)
}

#endif
