// Approver grants: compact JWS (EdDSA / Ed25519) bound to one action digest, and approver keys.
#include <ctime>

#include "stepgate/approvals.h"
#include "stepgate/gate.h"
#include "stepgate/json.h"
#include "stepgate/stepup.h"

namespace stepgate {

namespace {

constexpr std::string_view kPublicKeyPrefix = "ed25519:";
constexpr std::string_view kGrantType = "stepgate-grant+jwt";
constexpr int64_t kClockSkew = 60;
constexpr std::size_t kMaxGrantBytes = std::size_t{16} * 1024;

Error refused(std::string message) {
  return make_error(ErrorCode::kPermissionDenied, std::move(message));
}
Error malformed(const std::string& what) {
  return invalid_argument("malformed grant: " + what);
}

std::string bytes_to_string(const Bytes& b) {
  return {b.begin(), b.end()};
}

Result<Value> decode_json_part(std::string_view part, const char* name) {
  auto raw = base64url_decode(part);
  if (!raw) return malformed(std::string(name) + " is not base64url");
  JsonLimits limits;
  limits.max_bytes = kMaxGrantBytes;
  auto value = parse_json(bytes_to_string(*raw), limits);
  if (!value || !value->is_map()) return malformed(std::string(name) + " is not a JSON object");
  return value;
}

Result<Grant> claims_from_value(const Value& v) {
  static constexpr const char* kStrings[] = {"dig", "sub", "act", "jti", "dec"};
  for (const char* key : kStrings) {
    const Value* field = v.find(key);
    if (field == nullptr || !field->is_string()) {
      return malformed(std::string("claim `") + key + "` is missing or not a string");
    }
  }
  for (const char* key : {"iat", "exp"}) {
    const Value* field = v.find(key);
    if (field == nullptr || !field->is_int()) {
      return malformed(std::string("claim `") + key + "` is missing or not an integer");
    }
  }
  Grant g;
  g.action_digest = v.get_string("dig");
  g.approver = v.get_string("sub");
  g.actor = v.get_string("act");
  g.jti = v.get_string("jti");
  g.decision = v.get_string("dec");
  g.policy_revision = v.get_string("rev");
  g.iat = v.get_int("iat");
  g.exp = v.get_int("exp");
  return g;
}

struct SplitToken {
  std::string_view header, payload, signature;
};

Result<SplitToken> split_token(std::string_view token) {
  if (token.size() > kMaxGrantBytes) return malformed("too long");
  auto first = token.find('.');
  if (first == std::string_view::npos) return malformed("expected 3 dot-separated parts");
  auto second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return malformed("expected 3 dot-separated parts");
  }
  SplitToken parts{token.substr(0, first), token.substr(first + 1, second - first - 1),
                   token.substr(second + 1)};
  if (parts.header.empty() || parts.payload.empty() || parts.signature.empty()) {
    return malformed("expected 3 non-empty parts");
  }
  return parts;
}

// Checks the header and the signature; returns the approver it was signed by.
Result<const Approver*> check_signature(const SplitToken& parts, const Policy& policy) {
  auto header = decode_json_part(parts.header, "header");
  if (!header) return header.error();
  std::string alg = header->get_string("alg");
  if (alg != "EdDSA") {
    return refused("grant uses alg `" + alg + "`; only EdDSA (Ed25519) grants are accepted");
  }
  if (header->get_string("typ") != kGrantType) return malformed("typ is not stepgate-grant+jwt");
  std::string kid = header->get_string("kid");
  const Approver* approver = policy.find_approver(kid);
  if (approver == nullptr) {
    return refused("grant is signed by `" + kid + "`, who is not an approver in the policy");
  }
  auto public_key = parse_public_key(approver->public_key);
  if (!public_key) {
    return invalid_argument("approver `" + kid + "` has an invalid public_key in the policy: " +
                            public_key.error().message);
  }
  auto signature = base64url_decode(parts.signature);
  if (!signature) return malformed("signature is not base64url");
  std::string signed_part = std::string(parts.header) + "." + std::string(parts.payload);
  if (!ed25519_verify(*public_key, signed_part, *signature)) {
    return refused("grant signature does not verify with approver `" + kid +
                   "`'s key (tampered or signed by another key)");
  }
  return approver;
}

}  // namespace

Result<std::string> sign_grant(const Grant& grant, const Bytes& private_key) {
  Map header{{"alg", "EdDSA"}, {"kid", grant.approver}, {"typ", std::string(kGrantType)}};
  Map claims{{"dig", grant.action_digest},
             {"sub", grant.approver},
             {"act", grant.actor},
             {"iat", grant.iat},
             {"exp", grant.exp},
             {"jti", grant.jti},
             {"rev", grant.policy_revision},
             {"dec", grant.decision}};
  std::string signing_input =
      base64url_encode(to_json(Value(header))) + "." + base64url_encode(to_json(Value(claims)));
  auto signature = ed25519_sign(private_key, signing_input);
  if (!signature) return signature.error();
  return signing_input + "." + base64url_encode(*signature);
}

Result<Grant> verify_grant_claims(std::string_view token, const Policy& policy,
                                  const std::string& action_digest, const std::string& actor,
                                  UnixTime now) {
  auto parts = split_token(token);
  if (!parts) return parts.error();
  auto approver = check_signature(*parts, policy);
  if (!approver) return approver.error();
  auto payload = decode_json_part(parts->payload, "payload");
  if (!payload) return payload.error();
  auto grant = claims_from_value(*payload);
  if (!grant) return grant.error();
  const std::string& who = (*approver)->id;
  if (grant->approver != who)
    return refused("grant subject `" + grant->approver + "` does not match its signing key `" +
                   who + "`");
  if (!constant_time_equal(grant->action_digest, action_digest)) {
    return refused("grant is for a different action (digest " + grant->action_digest.substr(0, 12) +
                   "..., this action is " + action_digest.substr(0, 12) + "...)");
  }
  if (grant->exp <= now) return refused("grant expired at " + format_rfc3339(grant->exp));
  if (grant->iat > now + kClockSkew) {
    return refused("grant is issued in the future (" + format_rfc3339(grant->iat) +
                   "); check the clocks");
  }
  if (who == actor && !policy.allow_self_approval) {
    return refused("`" + who + "` cannot approve their own action (allow_self_approval is off)");
  }
  if (grant->decision != "approve" && grant->decision != "deny") {
    return malformed("claim `dec` is not approve or deny");
  }
  return grant;
}

Result<Grant> verify_grant(std::string_view token, const Policy& policy,
                           const std::string& action_digest, const std::string& actor,
                           UnixTime now) {
  auto grant = verify_grant_claims(token, policy, action_digest, actor, now);
  if (!grant) return grant.error();
  if (grant->decision == "deny") {
    return refused("approver `" + grant->approver + "` refused this action");
  }
  return grant;
}

Status save_approver_key(const std::string& secrets_dir, const std::string& approver,
                         const Ed25519KeyPair& keys) {
  if (!is_valid_principal_id(approver)) {
    return invalid_argument("invalid approver id `" + approver +
                            "` (use letters, digits, . _ @ -)");
  }
  Status dir = ensure_private_dir(secrets_dir + "/keys");
  if (!dir) return dir;
  return write_secret_file(secrets_dir + "/keys/" + approver + ".key",
                           base64url_encode(keys.private_key) + "\n");
}

Result<Bytes> load_approver_key(const std::string& secrets_dir, const std::string& approver) {
  if (!is_valid_principal_id(approver)) {
    return invalid_argument("invalid approver id `" + approver +
                            "` (use letters, digits, . _ @ -)");
  }
  std::string path = secrets_dir + "/keys/" + approver + ".key";
  auto text = read_secret_file(path);
  if (!text) {
    if (text.error().code == ErrorCode::kNotFound) {
      return make_error(ErrorCode::kNotFound, "no key for approver `" + approver + "` at " + path +
                                                  " (run `stepgate keygen --approver " + approver +
                                                  "`)");
    }
    // A loose file mode is a configuration problem to fix (exit 2), not a refused proof.
    if (text.error().code == ErrorCode::kPermissionDenied) {
      return invalid_argument(text.error().message);
    }
    return text.error();
  }
  std::string body = *text;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) {
    body.pop_back();
  }
  auto key = base64url_decode(body);
  if (!key || key->size() != 32) {
    return invalid_argument(path + ": corrupt approver key (expected base64url of 32 bytes)");
  }
  return key;
}

std::string format_public_key(const Bytes& public_key) {
  return std::string(kPublicKeyPrefix) + base64url_encode(public_key);
}

Result<Bytes> parse_public_key(std::string_view text) {
  if (text.substr(0, kPublicKeyPrefix.size()) != kPublicKeyPrefix) {
    return invalid_argument("a public key is \"ed25519:<base64url>\"");
  }
  auto key = base64url_decode(text.substr(kPublicKeyPrefix.size()));
  if (!key || key->size() != 32) {
    return invalid_argument("an ed25519 public key is base64url of 32 bytes");
  }
  return key;
}

}  // namespace stepgate
