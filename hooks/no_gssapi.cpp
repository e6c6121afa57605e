// Stand-ins for GSSAPI, linked into every executable that links libgit2 statically (see
// CMakeLists.txt). Debian's libgit2 links MIT Kerberos for HTTP "Negotiate" authentication,
// which pulls seven shared libraries (libgssapi_krb5, libkrb5, libk5crypto...) into every process
// that links libgit2, and they cost more to load and relocate than the git hook spends diffing a
// typical push. stepgate only reads local repositories with libgit2 and never opens a network
// transport through it, so it links these answers instead: every call fails (GSS_S_FAILURE),
// which libgit2 reports as Negotiate authentication being unavailable, that is, fail closed.
#include <cstdint>

namespace {
constexpr uint32_t kGssFailure = 13U << 16U;  // GSS_S_FAILURE
constexpr uint32_t kGssComplete = 0;          // GSS_S_COMPLETE

uint32_t fail(uint32_t* minor_status) {
  if (minor_status != nullptr) *minor_status = 0;
  return kGssFailure;
}
uint32_t done(uint32_t* minor_status) {
  if (minor_status != nullptr) *minor_status = 0;
  return kGssComplete;
}
}  // namespace

// Each takes `OM_uint32* minor_status` first; the remaining arguments are never read (the SysV
// x86-64 calling convention leaves them to the caller), so they are not declared.
extern "C" {
// NOLINTBEGIN(readability-identifier-naming)
uint32_t gss_init_sec_context(uint32_t* minor_status) {
  return fail(minor_status);
}
uint32_t gss_import_name(uint32_t* minor_status) {
  return fail(minor_status);
}
uint32_t gss_indicate_mechs(uint32_t* minor_status) {
  return fail(minor_status);
}
uint32_t gss_display_status(uint32_t* minor_status) {
  return fail(minor_status);
}
uint32_t gss_delete_sec_context(uint32_t* minor_status) {
  return done(minor_status);
}
uint32_t gss_release_buffer(uint32_t* minor_status) {
  return done(minor_status);
}
uint32_t gss_release_name(uint32_t* minor_status) {
  return done(minor_status);
}
uint32_t gss_release_oid_set(uint32_t* minor_status) {
  return done(minor_status);
}

// gss_OID GSS_C_NT_HOSTBASED_SERVICE: a pointer to an OID; this one is empty.
struct GssOidDesc {
  uint32_t length;
  void* elements;
};
GssOidDesc stepgate_no_gss_oid = {0, nullptr};
GssOidDesc* GSS_C_NT_HOSTBASED_SERVICE = &stepgate_no_gss_oid;
// NOLINTEND(readability-identifier-naming)
}
