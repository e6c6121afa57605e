// Challenge and grant tokens, as an approver pastes them or a CI job passes them: the first
// input byte picks the decoder, the rest is the token. decode_challenge and verify_grant (against
// a policy with one listed approver) may refuse anything; they must not crash or hang.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "stepgate/crypto.h"
#include "stepgate/policy.h"
#include "stepgate/stepup.h"

namespace {

constexpr std::size_t kChallengeChecksumBytes = 12;  // as core/src/challenge.cpp seals a challenge

const stepgate::Policy& policy() {
  static const auto loaded = [] {
    auto keys = stepgate::ed25519_generate();
    const std::string text =
        "version: 1\nname: fuzz\nthresholds: {step_up: 50, deny: 100}\n"
        "approvers:\n  - {id: bob, public_key: \"" +
        stepgate::format_public_key(keys->public_key) + "\"}\nrules: []\n";
    return stepgate::load_policy_text(text, "fuzz.yaml").value();
  }();
  return *loaded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view token(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 3 == 1) {
    auto challenge = stepgate::decode_challenge(token);
    if (challenge.ok()) (void)stepgate::encode_challenge(*challenge);
  } else if (data[0] % 3 == 2) {
    // The rest as a challenge's body, sealed with a correct checksum: the fuzzer would never
    // guess one, and what lies behind it (the body's JSON and its fields) is what must hold.
    stepgate::Bytes digest = stepgate::sha256(token);
    digest.resize(kChallengeChecksumBytes);
    const std::string sealed =
        "sgc1." + stepgate::base64url_encode(token) + "." + stepgate::base64url_encode(digest);
    auto challenge = stepgate::decode_challenge(sealed);
    if (challenge.ok()) (void)stepgate::encode_challenge(*challenge);
  } else {
    (void)stepgate::verify_grant(token, policy(), std::string(64, 'a'), "alice", 1700000000);
  }
  return 0;
}
