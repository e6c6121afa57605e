// Enrolment through the authority: the seeds live only in its store. A new actor needs the
// administrator (a uid in `admins`) or a one-time code the administrator issued; replacing an
// active factor needs a current code from it.
#include <map>
#include <sstream>

#include "service.h"
#include "stepgate/crypto.h"
#include "stepgate/files.h"
#include "stepgate/gate.h"
#include "stepgate/stepup.h"

namespace stepgate::authority {
namespace {

constexpr int64_t kEnrollCodeLedgerTtl = int64_t{10} * 365 * 24 * 3600;
// An expired code's line is kept this long past its expiry, so that using it is refused as
// expired rather than as unknown.
constexpr int64_t kExpiredCodeKept = int64_t{7} * 24 * 3600;

std::string code_key(const std::string& actor, const std::string& code) {
  return sha256_hex(actor + ":" + code);
}

/// The issued codes' file: key -> issue time (the authority's clock). A line that does not read
/// is skipped (the file is the authority's own, written whole by write_secret_file).
std::map<std::string, UnixTime> read_issued_codes(const std::string& path) {
  std::map<std::string, UnixTime> out;
  auto text = read_secret_file(path);
  if (!text.ok()) return out;
  std::istringstream lines(*text);
  std::string key;
  UnixTime at = 0;
  while (lines >> key >> at) out[key] = at;
  return out;
}

Error denied(std::string message) {
  return make_error(ErrorCode::kPermissionDenied, std::move(message));
}

}  // namespace

Value Authority::enroll_code(const Value& request, const Peer& peer) {
  const std::string actor = request.get_string("actor");
  if (!peer.admin) {
    return refuse("enroll_code", peer,
                  denied("only the administrator issues enrolment codes (uid " +
                         std::to_string(peer.uid) + " is not in `admins`)"));
  }
  if (!is_valid_principal_id(actor)) {
    return refuse("enroll_code", peer, invalid_argument("invalid actor `" + actor + "`"));
  }
  auto code = random_id(10);
  if (!code.ok()) return refuse("enroll_code", peer, code.error());
  std::lock_guard lock(mu_);
  // Only hashes are kept, with the issue time by the authority's clock; lines long expired go.
  const UnixTime issued_at = now();
  std::string text;
  for (const auto& [key, at] : read_issued_codes(config_.enroll_codes_file())) {
    if (at + config_.enroll_code_ttl.count() + kExpiredCodeKept > issued_at) {
      text += key + " " + std::to_string(at) + "\n";
    }
  }
  text += code_key(actor, *code) + " " + std::to_string(issued_at) + "\n";
  if (Status s = write_secret_file(config_.enroll_codes_file(), text); !s.ok()) {
    return Value(Map{
        {"ok", false},
        {"error", Map{{"code", error_code_name(s.error().code)}, {"message", s.error().message}}}});
  }
  (void)audit(
      "enrollment",
      Map{{"event", "code_issued"}, {"actor", actor}, {"uid", static_cast<int64_t>(peer.uid)}});
  return Value(Map{{"ok", true}, {"actor", actor}, {"code", *code}});
}

Value Authority::audit_token(const Peer& peer) {
  if (!peer.admin) {
    return refuse("audit_token", peer,
                  denied("only the administrator issues audit tokens (uid " +
                         std::to_string(peer.uid) + " is not in `admins`)"));
  }
  auto secret = random_bytes(32);
  if (!secret.ok()) return refuse("audit_token", peer, secret.error());
  const std::string token = "sgat_" + base64url_encode(*secret);
  std::lock_guard lock(mu_);
  // Only the hash is kept: the file tells nobody a token, and a check hashes what it is shown.
  auto existing = read_secret_file(config_.audit_tokens_file());
  std::string text = existing.ok() ? *existing : std::string();
  text += sha256_hex(token) + "\n";
  if (Status s = write_secret_file(config_.audit_tokens_file(), text); !s.ok()) {
    return Value(Map{
        {"ok", false},
        {"error", Map{{"code", error_code_name(s.error().code)}, {"message", s.error().message}}}});
  }
  (void)audit("audit_token", Map{{"event", "issued"}, {"uid", static_cast<int64_t>(peer.uid)}});
  return Value(Map{{"ok", true}, {"token", token}});
}

bool Authority::audit_token_valid(std::string_view token) const {
  if (token.empty()) return false;
  auto text = read_secret_file(config_.audit_tokens_file());
  if (!text.ok()) return false;
  const std::string presented = sha256_hex(token);
  bool found = false;
  std::size_t start = 0;
  while (start < text->size()) {
    std::size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    // Every line is compared, in constant time, whatever matched before.
    found |= constant_time_equal(std::string_view(*text).substr(start, end - start), presented);
    start = end + 1;
  }
  return found;
}

Value Authority::enroll(const Value& request, const Peer& peer) {
  const std::string target = request.get_string("actor", peer.actor);
  if (!peer.admin && target != peer.actor) {
    return refuse("enroll", peer,
                  denied("`" + peer.actor + "` cannot enroll another actor (`" + target + "`)"));
  }
  if (!is_valid_principal_id(target)) {
    return refuse("enroll", peer, invalid_argument("invalid actor `" + target + "`"));
  }
  std::unique_lock lock(mu_);
  auto existing = load_totp_enrollment(config_.secrets_dir(), target);
  const bool active = existing.ok() && existing->active;
  if (!peer.admin) {
    if (active) {
      const std::string current = request.get_string("current_code");
      auto check = current.empty() ? Result<TotpCheck>(TotpCheck::kMalformed)
                                   : verify_totp(*store_, *existing, current, now());
      if (!check.ok() || *check != TotpCheck::kOk) {
        lock.unlock();
        return refuse("enroll", peer,
                      denied("`" + target + "` has an active factor: replacing it needs a " +
                             "current code from it"));
      }
    } else {
      const std::string code = request.get_string("enrollment_code");
      const std::string key = code_key(target, code);
      const auto codes = read_issued_codes(config_.enroll_codes_file());
      const auto found = code.empty() ? codes.end() : codes.find(key);
      if (found != codes.end() && now() >= found->second + config_.enroll_code_ttl.count()) {
        lock.unlock();
        return refuse(
            "enroll", peer,
            denied("the enrolment code for `" + target + "` has expired (codes are good " + "for " +
                   std::to_string(config_.enroll_code_ttl.count()) +
                   " s); ask the administrator for a new one"));
      }
      auto fresh = found != codes.end()
                       ? store_->consume_jti("enroll:" + key, now() + kEnrollCodeLedgerTtl)
                       : Result<bool>(false);
      if (!fresh.ok() || !*fresh) {
        lock.unlock();
        return refuse("enroll", peer,
                      denied("enrolling `" + target + "` needs the administrator or a one-time " +
                             "enrolment code the administrator issued (missing, wrong or used)"));
      }
    }
  }
  auto key = random_bytes(20);
  if (!key.ok()) {
    lock.unlock();
    return refuse("enroll", peer, key.error());
  }
  TotpEnrollment enrollment;
  enrollment.actor = target;
  enrollment.key = std::move(*key);
  enrollment.active = false;
  if (Status s = save_totp_enrollment(config_.secrets_dir(), enrollment); !s.ok()) {
    lock.unlock();
    return refuse("enroll", peer, s.error());
  }
  (void)audit("enrollment", Map{{"event", active ? "replaced" : "enrolled"},
                                {"actor", target},
                                {"uid", static_cast<int64_t>(peer.uid)},
                                {"by", peer.admin ? "administrator" : "actor"}});
  return Value(Map{{"ok", true},
                   {"actor", target},
                   {"secret", base32_encode(enrollment.key)},
                   {"uri", otpauth_uri(enrollment)}});
}

Value Authority::activate(const Value& request, const Peer& peer) {
  const std::string target = request.get_string("actor", peer.actor);
  if (!peer.admin && target != peer.actor) {
    return refuse("activate", peer,
                  denied("`" + peer.actor + "` cannot activate another actor's factor"));
  }
  std::unique_lock lock(mu_);
  auto enrollment = load_totp_enrollment(config_.secrets_dir(), target);
  if (!enrollment.ok()) {
    lock.unlock();
    return refuse("activate", peer, enrollment.error());
  }
  auto check = verify_totp(*store_, *enrollment, request.get_string("code"), now());
  if (!check.ok() || *check != TotpCheck::kOk) {
    lock.unlock();
    return refuse("activate", peer,
                  denied(check.ok() ? totp_check_message(*check) : check.error().message));
  }
  enrollment->active = true;
  if (Status s = save_totp_enrollment(config_.secrets_dir(), *enrollment); !s.ok()) {
    lock.unlock();
    return refuse("activate", peer, s.error());
  }
  (void)audit("enrollment", Map{{"event", "activated"}, {"actor", target}});
  return Value(Map{{"ok", true}, {"actor", target}, {"active", true}});
}

}  // namespace stepgate::authority
