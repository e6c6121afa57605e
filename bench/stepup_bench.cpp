// Step-up verification costs: one TOTP check (3 HMACs, constant-time compares, the state store's
// replay/lockout look-ups) and one grant check (parse, JSON, Ed25519 verify). Targets: ≤ 50 µs.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "stepgate/stepup.h"

namespace stepgate {
namespace {

void BM_TotpCode(benchmark::State& state) {
  Bytes key(20, 7);
  TotpParams params;
  UnixTime t = 1700000000;
  for (auto _ : state) benchmark::DoNotOptimize(totp_code(key, t++, params));
}
BENCHMARK(BM_TotpCode);

// The full verify_totp path against a real store, success path: lockout look-up, three
// candidates compared, the used step recorded (replay protection) and failures cleared. Each
// iteration moves one time-step on, so every code is fresh.
void BM_VerifyTotp(benchmark::State& state) {
  std::string dir = (std::filesystem::temp_directory_path() / "stepgate-bench-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  auto store = StateStore::open(dir + "/state.db");
  if (!store) {
    state.SkipWithError(store.error().message.c_str());
    return;
  }
  TotpEnrollment e{"alice", Bytes(20, 7), {}, true};
  UnixTime now = 1700000000;
  for (auto _ : state) {
    auto r = verify_totp(**store, e, totp_code(e.key, now, e.params), now);
    benchmark::DoNotOptimize(r);
    now += 30;
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_VerifyTotp)->Unit(benchmark::kMicrosecond);

void BM_VerifyGrant(benchmark::State& state) {
  auto keys = ed25519_generate();
  Policy policy;
  policy.approvers = {{"carol", format_public_key(keys->public_key), false}};
  std::string digest(64, 'a');
  Grant g{digest, "carol", "alice", 1700000000, 1700003600, "jti123", "sha256:x", "approve"};
  auto token = sign_grant(g, keys->private_key);
  for (auto _ : state) {
    auto r = verify_grant(*token, policy, digest, "alice", 1700000100);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_VerifyGrant)->Unit(benchmark::kMicrosecond);

void BM_ChallengeRoundTrip(benchmark::State& state) {
  Challenge c;
  c.id = "abcd2345";
  c.kind = "git.push";
  c.resource = "refs/heads/main";
  c.actor = "alice";
  c.action_digest = std::string(64, 'c');
  c.signals = Map{{"force", true}};
  for (auto _ : state) benchmark::DoNotOptimize(decode_challenge(encode_challenge(c)));
}
BENCHMARK(BM_ChallengeRoundTrip)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace stepgate
