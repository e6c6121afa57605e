// The shim's requestState key (2026-07-28 held calls): stored once, 0600, and shared by every
// later shim, so a state survives a restart; a bad key file is refused by name.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../core/test_util.h"
#include "shim_elicit.h"
#include "stepgate/crypto.h"

namespace stepgate {
namespace {

using testing::TempDir;

constexpr UnixTime kNow = 1'800'000'000;

std::string key_path(const TempDir& dir) {
  return dir.path() + "/shim/request-state.key";
}

void write_key_file(const TempDir& dir, const std::string& text, mode_t mode) {
  std::filesystem::create_directories(dir.path() + "/shim");
  std::ofstream(key_path(dir)) << text;
  ::chmod(key_path(dir).c_str(), mode);
}

}  // namespace

TEST_CASE("requestState key: made once (0600, 32 bytes) and read back by the next shim") {
  TempDir dir;
  auto first = load_request_state_key(dir.path());
  REQUIRE(first.ok());
  CHECK(first->size() == 32);
  struct stat st {};
  REQUIRE(::stat(key_path(dir).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = load_request_state_key(dir.path());
  REQUIRE(again.ok());
  CHECK(*again == *first);
  TempDir other;
  auto elsewhere = load_request_state_key(other.path());
  REQUIRE(elsewhere.ok());
  CHECK(*elsewhere != *first);  // OS randomness, not a constant
}

TEST_CASE("requestState key: shims starting together agree on one key") {
  TempDir dir;
  std::vector<Bytes> keys(8);
  std::vector<std::thread> threads;
  for (auto& key : keys) {
    threads.emplace_back([&dir, &key] {
      auto loaded = load_request_state_key(dir.path());
      if (loaded.ok()) key = *loaded;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& key : keys) CHECK(key == keys.front());
  CHECK(keys.front().size() == 32);
}

TEST_CASE("requestState key: a state outlives the shim that signed it, not a changed key") {
  TempDir dir;
  const std::string digest = "sha256:" + std::string(64, 'a');
  auto key = load_request_state_key(dir.path());
  REQUIRE(key.ok());
  use_request_state_key(*key);
  const std::string state = sign_request_state(digest, "k3x9q2ab", kNow + 600);

  // A restarted shim loads the stored key again: the state it issued still verifies.
  auto restarted = load_request_state_key(dir.path());
  REQUIRE(restarted.ok());
  use_request_state_key(*restarted);
  auto checked = verify_request_state(state, digest, kNow);
  REQUIRE(checked.ok());
  CHECK(checked->challenge_id == "k3x9q2ab");

  // Under another key (a fresh per-process one, as before) it is refused.
  auto fresh = random_bytes(32);
  REQUIRE(fresh.ok());
  use_request_state_key(*fresh);
  auto refused = verify_request_state(state, digest, kNow);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("signature") != std::string::npos);
}

TEST_CASE("requestState key: a key file that is not private or not a key is refused by name") {
  struct Case {
    const char* what;
    const char* text;
    mode_t mode;
    ErrorCode code;
  };
  const Case cases[] = {
      {"group-readable", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", 0640,
       ErrorCode::kPermissionDenied},
      {"others-writable", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", 0602,
       ErrorCode::kPermissionDenied},
      {"too short", "AAAA\n", 0600, ErrorCode::kFailedPrecondition},
      {"not base64url", "!!!! not a key !!!!\n", 0600, ErrorCode::kFailedPrecondition},
      {"empty", "", 0600, ErrorCode::kFailedPrecondition},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    TempDir dir;
    write_key_file(dir, c.text, c.mode);
    auto key = load_request_state_key(dir.path());
    REQUIRE_FALSE(key.ok());
    CHECK(key.error().code == c.code);
    CHECK(key.error().message.find(key_path(dir)) != std::string::npos);
  }
  // 43 base64url characters are the 32 bytes a valid key holds.
  TempDir dir;
  write_key_file(dir, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", 0600);
  auto key = load_request_state_key(dir.path());
  REQUIRE(key.ok());
  CHECK(*key == Bytes(32, 0));
}

}  // namespace stepgate
