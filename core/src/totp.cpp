// TOTP (RFC 4226 / RFC 6238): codes, otpauth URIs, enrollment files and verification with replay
// protection and lockout.
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "stepgate/approvals.h"
#include "stepgate/json.h"
#include "stepgate/stepup.h"

namespace stepgate {

namespace {

constexpr int kMaxFailures = 5;
constexpr UnixTime kFailureWindow = 600;
constexpr UnixTime kLockoutSeconds = 600;
constexpr int kMaxRemoteFailures = 20;

/// The store keys wrong codes are counted under. A local code counts under the actor's id (as
/// before sources existed, so existing lockouts still hold); a remote one under "ACTOR#<hash of
/// its source>" and under "ACTOR#remote". '#' is not allowed in a principal id, so no key of one
/// actor can collide with another actor's.
struct FailureKeys {
  std::string source;
  std::string remote;  // "" for a local code
};

FailureKeys failure_keys(const std::string& actor, const ProofSource& source) {
  if (!source.remote) return {actor, ""};
  return {actor + "#" + sha256_hex(source.id).substr(0, 32), actor + "#remote"};
}

Status count_failure(StateStore& store, const std::string& key, int limit, UnixTime now) {
  if (Status recorded = store.record_totp_failure(key, now); !recorded) return recorded;
  auto failures = store.totp_failures_since(key, now - kFailureWindow);
  if (!failures) return failures.error();
  if (*failures < limit) return {};
  return store.set_lockout(key, now + kLockoutSeconds);
}

const char* alg_uri_name(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1:
      return "SHA1";
    case HashAlg::kSha256:
      return "SHA256";
    case HashAlg::kSha512:
      return "SHA512";
  }
  return "SHA1";
}

Result<HashAlg> parse_alg(std::string_view name) {
  std::string upper;
  for (char c : name) {
    if (c != '-') upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  if (upper == "SHA1") return HashAlg::kSha1;
  if (upper == "SHA256") return HashAlg::kSha256;
  if (upper == "SHA512") return HashAlg::kSha512;
  return invalid_argument("unknown TOTP algorithm `" + std::string(name) +
                          "` (sha1, sha256 or sha512)");
}

// RFC 3986 unreserved characters stay; everything else is %XX.
std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
      continue;
    }
    out.push_back('%');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

std::string enrollment_path(const std::string& secrets_dir, const std::string& actor) {
  return secrets_dir + "/totp/" + actor + ".json";
}

bool valid_params(const TotpParams& p) {
  return (p.digits == 6 || p.digits == 8) && p.period >= 1 && p.period <= 300;
}

Result<TotpEnrollment> enrollment_from_value(const Value& v, const std::string& path) {
  auto bad = [&](const std::string& what) {
    return invalid_argument(path + ": corrupt TOTP enrollment: " + what +
                            " (run `stepgate enroll` again)");
  };
  if (!v.is_map()) return bad("not a JSON object");
  const Value* secret = v.find("secret");
  if (secret == nullptr || !secret->is_string()) return bad("missing `secret`");
  auto key = base32_decode(secret->as_string());
  if (!key || key->size() < 10) return bad("`secret` is not base32 of at least 80 bits");
  auto alg = parse_alg(v.get_string("algorithm", "SHA1"));
  if (!alg) return bad(alg.error().message);
  TotpEnrollment e;
  e.actor = v.get_string("actor");
  e.key = std::move(*key);
  e.params.alg = *alg;
  e.params.digits = static_cast<int>(v.get_int("digits", 6));
  e.params.period = static_cast<int>(v.get_int("period", 30));
  e.active = v.get_bool("active", false);
  if (!valid_params(e.params)) return bad("digits must be 6 or 8 and period 1-300 seconds");
  return e;
}

bool all_digits(std::string_view code) {
  for (char c : code) {
    if (c < '0' || c > '9') return false;
  }
  return !code.empty();
}

}  // namespace

bool is_valid_principal_id(std::string_view id) {
  if (id.empty() || id.size() > 128 || id.front() == '.') return false;
  return std::ranges::all_of(id, [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) != 0 || c == '.' || c == '_' || c == '@' || c == '-';
  });
}

std::string hotp_code(const Bytes& key, uint64_t counter, int digits, HashAlg alg) {
  char msg[8];
  for (int i = 7; i >= 0; --i) {
    msg[i] = static_cast<char>(counter & 0xFF);
    counter >>= 8;
  }
  Bytes mac = hmac(alg, key, std::string_view(msg, sizeof msg));
  int offset = mac.back() & 0x0F;
  uint32_t binary = (uint32_t{mac[offset]} & 0x7F) << 24 | uint32_t{mac[offset + 1]} << 16 |
                    uint32_t{mac[offset + 2]} << 8 | uint32_t{mac[offset + 3]};
  uint32_t modulus = digits == 8 ? 100000000u : 1000000u;
  char out[16];
  std::snprintf(out, sizeof out, "%0*u", digits == 8 ? 8 : 6, binary % modulus);
  return out;
}

std::string totp_code(const Bytes& key, UnixTime t, const TotpParams& params) {
  auto step = static_cast<uint64_t>(t / params.period);
  return hotp_code(key, step, params.digits, params.alg);
}

std::string otpauth_uri(const TotpEnrollment& enrollment) {
  std::string uri = "otpauth://totp/stepgate:" + percent_encode(enrollment.actor);
  uri += "?secret=" + base32_encode(enrollment.key);
  uri += "&issuer=stepgate";
  uri += std::string("&algorithm=") + alg_uri_name(enrollment.params.alg);
  uri += "&digits=" + std::to_string(enrollment.params.digits);
  uri += "&period=" + std::to_string(enrollment.params.period);
  return uri;
}

Result<TotpEnrollment> load_totp_enrollment(const std::string& secrets_dir,
                                            const std::string& actor) {
  if (!is_valid_principal_id(actor)) {
    return invalid_argument("invalid actor id `" + actor + "` (use letters, digits, . _ @ -)");
  }
  std::string path = enrollment_path(secrets_dir, actor);
  auto text = read_secret_file(path);
  if (!text) {
    if (text.error().code == ErrorCode::kNotFound) {
      return make_error(
          ErrorCode::kNotFound,
          "no TOTP enrolled for `" + actor + "` (run `stepgate enroll --actor " + actor + "`)");
    }
    // A loose file mode is a configuration problem to fix (exit 2), not a refused proof.
    if (text.error().code == ErrorCode::kPermissionDenied) {
      return invalid_argument(text.error().message);
    }
    return text.error();
  }
  auto value = parse_json(*text);
  if (!value)
    return invalid_argument(path + ": corrupt TOTP enrollment: " + value.error().message +
                            " (run `stepgate enroll` again)");
  auto e = enrollment_from_value(*value, path);
  if (e && e->actor != actor) {
    return invalid_argument(path + ": corrupt TOTP enrollment: it names actor `" + e->actor + "`");
  }
  return e;
}

Status save_totp_enrollment(const std::string& secrets_dir, const TotpEnrollment& enrollment) {
  if (!is_valid_principal_id(enrollment.actor)) {
    return invalid_argument("invalid actor id `" + enrollment.actor +
                            "` (use letters, digits, . _ @ -)");
  }
  if (!valid_params(enrollment.params)) {
    return invalid_argument("TOTP digits must be 6 or 8 and period 1-300 seconds");
  }
  Status dir = ensure_private_dir(secrets_dir + "/totp");
  if (!dir) return dir;
  Map m;
  m["version"] = 1;
  m["actor"] = enrollment.actor;
  m["secret"] = base32_encode(enrollment.key);
  m["algorithm"] = alg_uri_name(enrollment.params.alg);
  m["digits"] = enrollment.params.digits;
  m["period"] = enrollment.params.period;
  m["active"] = enrollment.active;
  return write_secret_file(enrollment_path(secrets_dir, enrollment.actor),
                           to_pretty_json(Value(std::move(m))) + "\n");
}

const char* totp_check_message(TotpCheck check) {
  switch (check) {
    case TotpCheck::kOk:
      return "code accepted";
    case TotpCheck::kWrong:
      return "wrong code";
    case TotpCheck::kReplayed:
      return "this code was already used; wait for the next one";
    case TotpCheck::kLockedOut:
      return "too many wrong codes: locked out for 10 minutes";
    case TotpCheck::kMalformed:
      return "a code is 6 or 8 digits";
  }
  return "wrong code";
}

Result<TotpCheck> verify_totp(StateStore& store, const TotpEnrollment& enrollment,
                              std::string_view code, UnixTime now) {
  return verify_totp(store, enrollment, code, now, local_proof_source());
}

Result<TotpCheck> verify_totp(StateStore& store, const TotpEnrollment& enrollment,
                              std::string_view code, UnixTime now, const ProofSource& source) {
  const std::string& actor = enrollment.actor;
  const FailureKeys keys = failure_keys(actor, source);
  for (const std::string* key : {&keys.source, &keys.remote}) {
    if (key->empty()) continue;
    auto locked = store.lockout_until(*key);
    if (!locked) return locked.error();
    if (*locked > now) return TotpCheck::kLockedOut;
  }
  if (code.size() != static_cast<std::size_t>(enrollment.params.digits) || !all_digits(code)) {
    return TotpCheck::kMalformed;
  }
  const int64_t step = now / enrollment.params.period;
  int64_t matched = -1;
  // Every candidate is computed and compared, so timing does not tell which step matched.
  for (int64_t delta = -1; delta <= 1; ++delta) {
    std::string expected = hotp_code(enrollment.key, static_cast<uint64_t>(step + delta),
                                     enrollment.params.digits, enrollment.params.alg);
    if (constant_time_equal(expected, code)) matched = step + delta;
  }
  if (matched >= 0) {
    auto fresh = store.use_totp_step(actor, matched);  // clears the local source's failures
    if (!fresh) return fresh.error();
    if (*fresh && keys.source != actor) {
      if (Status cleared = store.clear_totp_failures(keys.source); !cleared) {
        return cleared.error();
      }
    }
    return *fresh ? TotpCheck::kOk : TotpCheck::kReplayed;
  }
  if (Status s = count_failure(store, keys.source, kMaxFailures, now); !s) return s.error();
  if (!keys.remote.empty()) {
    if (Status s = count_failure(store, keys.remote, kMaxRemoteFailures, now); !s) {
      return s.error();
    }
  }
  return TotpCheck::kWrong;
}

}  // namespace stepgate
