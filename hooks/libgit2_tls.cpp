// Debian's libgit2 is built with mbedTLS, and git_libgit2_init() parses the whole system CA bundle
// (/etc/ssl/certs/ca-certificates.crt: ~53 million instructions, more than everything else a
// pre-push hook does). stepgate only reads local repositories with libgit2 and never opens a
// network transport through it, so when libgit2 is linked statically the build wraps the one
// mbedTLS call that loads the bundle (-Wl,--wrap=mbedtls_x509_crt_parse_file) and answers "no
// file". libgit2 then starts with an empty trust store: any HTTPS use through it would fail
// certificate verification, that is, fail closed.
#ifdef STEPGATE_WRAP_LIBGIT2_TLS

extern "C" {
// mbedtls_x509_crt *chain, const char *path; MBEDTLS_ERR_X509_FILE_IO_ERROR is -0x2900.
int __wrap_mbedtls_x509_crt_parse_file(void* /*chain*/, const char* /*path*/) {  // NOLINT
  return -0x2900;
}
}

#endif
