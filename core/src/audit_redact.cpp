// Redaction before anything reaches the audit log: the secret scanner's rules on every string, and
// whole values under keys that name a credential.
#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <unordered_map>

#include "stepgate/audit.h"
#include "stepgate/secrets.h"

namespace stepgate {
namespace {

/// Keys whose value is a credential whatever it looks like, once lower-cased with '-' and '.'
/// turned into '_': any key containing one of these...
constexpr std::array<std::string_view, 9> kSecretKeyParts = {
    "password", "passwd", "secret",        "private_key", "privatekey",
    "api_key",  "apikey", "authorization", "credential"};
/// ...any key with one of these as a whole '_'-separated word ("access_token", not "max_tokens")...
constexpr std::array<std::string_view, 5> kSecretKeyWords = {"token", "totp", "otp", "pwd",
                                                             "cookie"};
/// ...and these exact keys (a bare "code" is an OTP or OAuth code; "exit_code" is not).
constexpr std::array<std::string_view, 5> kSecretKeys = {"code", "grant", "pin", "passcode",
                                                         "otp_code"};

std::string normalize_key(std::string_view key) {
  std::string k;
  k.reserve(key.size());
  for (std::size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    // camelCase → snake_case, so "accessToken" is "access_token".
    if (std::isupper(static_cast<unsigned char>(c)) != 0 && i > 0 &&
        std::islower(static_cast<unsigned char>(key[i - 1])) != 0) {
      k += '_';
    }
    k += (c == '-' || c == '.' || c == ' ')
             ? '_'
             : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return k;
}

bool has_word(std::string_view key, std::string_view word) {
  std::size_t start = 0;
  while (start <= key.size()) {
    std::size_t end = key.find('_', start);
    if (end == std::string_view::npos) end = key.size();
    if (key.substr(start, end - start) == word) return true;
    start = end + 1;
  }
  return false;
}

bool classify_key(std::string_view raw_key) {
  std::string key = normalize_key(raw_key);
  auto contains = [&](std::string_view part) { return key.find(part) != std::string::npos; };
  auto word = [&](std::string_view w) { return has_word(key, w); };
  auto exact = [&](std::string_view k) { return key == k; };
  return std::any_of(kSecretKeyParts.begin(), kSecretKeyParts.end(), contains) ||
         std::any_of(kSecretKeyWords.begin(), kSecretKeyWords.end(), word) ||
         std::any_of(kSecretKeys.begin(), kSecretKeys.end(), exact);
}

/// classify_key, remembered per thread: an audit record repeats the same few dozen keys (a
/// decision record has about forty), and classifying one is ~20 substring searches. The keys of
/// tool arguments come from outside, so the memory is bounded and simply starts over when full.
bool is_secret_key(std::string_view raw_key) {
  constexpr std::size_t kMaxRemembered = 256;
  constexpr std::size_t kMaxKeyBytes = 64;
  if (raw_key.size() > kMaxKeyBytes) return classify_key(raw_key);
  thread_local std::unordered_map<std::string, bool> remembered;
  thread_local std::string probe;
  probe.assign(raw_key);
  if (auto it = remembered.find(probe); it != remembered.end()) return it->second;
  if (remembered.size() >= kMaxRemembered) remembered.clear();
  const bool secret = classify_key(raw_key);
  remembered.emplace(probe, secret);
  return secret;
}

Value redact_value(const Value& value) {
  switch (value.type()) {
    case Value::Type::kString: {
      // Only rebuild the string when the scanner found something.
      if (!looks_like_secret(value.as_string())) return value;
      return redact_text(value.as_string());
    }
    case Value::Type::kList: {
      List out;
      out.reserve(value.as_list().size());
      for (const Value& v : value.as_list()) out.push_back(redact_value(v));
      return out;
    }
    case Value::Type::kMap: {
      Map out;
      for (const auto& [k, v] : value.as_map()) {
        bool whole = is_secret_key(k) && !v.is_null() && !v.is_bool();
        out.emplace(k, whole ? Value("[REDACTED:" + normalize_key(k) + "]") : redact_value(v));
      }
      return out;
    }
    default:
      return value;
  }
}

/// redact_value without the copy: only what is redacted is rebuilt (the audit append's path,
/// where the record is built to be written and then dropped).
void redact_in_place(Value& value) {
  switch (value.type()) {
    case Value::Type::kString:
      if (looks_like_secret(value.as_string())) value = Value(redact_text(value.as_string()));
      return;
    case Value::Type::kList:
      for (Value& v : value.as_list()) redact_in_place(v);
      return;
    case Value::Type::kMap:
      for (auto& [k, v] : value.as_map()) {
        if (is_secret_key(k) && !v.is_null() && !v.is_bool()) {
          v = Value("[REDACTED:" + normalize_key(k) + "]");
        } else {
          redact_in_place(v);
        }
      }
      return;
    default:
      return;
  }
}

}  // namespace

Value redact_secrets(const Value& value) {
  return redact_value(value);
}

void redact_secrets_in_place(Value& value) {
  redact_in_place(value);
}

bool looks_like_secret(std::string_view text) {
  // Most values of a record (ids, refs, paths, digests) hold none of the rules' literals: one
  // pass over them instead of the regular expressions, whose automaton a fresh hook process
  // would otherwise build first (~0.9 M instructions a record).
  if (!may_contain_secret(text)) return false;
  return !scan_secrets(text, {.allow_rules = {}, .honour_allow_marker = false}).empty();
}

}  // namespace stepgate
