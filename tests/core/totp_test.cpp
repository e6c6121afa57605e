#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>

#include "stepgate/paths.h"
#include "stepgate/stepup.h"
#include "test_util.h"

namespace stepgate {
namespace {

Bytes seed(std::string_view s) {
  return {s.begin(), s.end()};
}

const Bytes kSeed20 = seed("12345678901234567890");
const Bytes kSeed32 = seed("12345678901234567890123456789012");
const Bytes kSeed64 = seed("1234567890123456789012345678901234567890123456789012345678901234");

TEST_CASE("totp: RFC 4226 Appendix D HOTP values") {
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (uint64_t counter = 0; counter < 10; ++counter) {
    CAPTURE(counter);
    CHECK(hotp_code(kSeed20, counter, 6, HashAlg::kSha1) == expected[counter]);
  }
}

TEST_CASE("totp: RFC 6238 Appendix B values") {
  struct Case {
    UnixTime t;
    const char* sha1;
    const char* sha256;
    const char* sha512;
  };
  const Case cases[] = {
      {59, "94287082", "46119246", "90693936"},
      {1111111109, "07081804", "68084774", "25091201"},
      {1111111111, "14050471", "67062674", "99943326"},
      {1234567890, "89005924", "91819424", "93441116"},
      {2000000000, "69279037", "90698825", "38618901"},
      {20000000000, "65353130", "77737706", "47863826"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.t);
    CHECK(totp_code(kSeed20, c.t, {HashAlg::kSha1, 8, 30}) == c.sha1);
    CHECK(totp_code(kSeed32, c.t, {HashAlg::kSha256, 8, 30}) == c.sha256);
    CHECK(totp_code(kSeed64, c.t, {HashAlg::kSha512, 8, 30}) == c.sha512);
  }
}

TEST_CASE("totp: otpauth URI") {
  TotpEnrollment e{"alice smith@example.com", kSeed20, {HashAlg::kSha256, 8, 60}, false};
  CHECK(otpauth_uri(e) ==
        "otpauth://totp/stepgate:alice%20smith%40example.com?secret="
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=stepgate&algorithm=SHA256&digits=8&period=60");
}

TEST_CASE("totp: QR code renders with half blocks and a quiet zone") {
  auto qr = render_qr_utf8("otpauth://totp/stepgate:alice?secret=GEZDGNBVGY3TQOJQ");
  REQUIRE(qr.ok());
  CHECK(qr->find("\u2580") != std::string::npos);
  CHECK(qr->find("\u2584") != std::string::npos);
  // The first line is the quiet zone: light blocks only.
  std::string first = qr->substr(0, qr->find('\n'));
  CHECK(first.find(' ') == std::string::npos);
  CHECK(first.find("\u2580") == std::string::npos);
}

struct VerifyFixture {
  testing::TempDir dir;
  std::unique_ptr<StateStore> store = testing::open_test_store(dir);
  TotpEnrollment enrollment{"alice", kSeed20, {HashAlg::kSha1, 6, 30}, true};
  static constexpr UnixTime kNow = 1700000000;
  static constexpr UnixTime kMinute = 60;

  // Records the attempt in the store: logically non-const.
  // NOLINTNEXTLINE(readability-make-member-function-const)
  TotpCheck check(std::string_view code, UnixTime now = kNow) {
    auto r = verify_totp(*store, enrollment, code, now);
    REQUIRE(r.ok());
    return *r;
  }
  std::string code_at(int64_t steps, UnixTime now = kNow) const {
    return totp_code(enrollment.key, now + steps * 30, enrollment.params);
  }
};

TEST_CASE_FIXTURE(VerifyFixture, "totp: verify accepts ±1 step, refuses ±2 and malformed") {
  REQUIRE(store != nullptr);
  CHECK(check(code_at(-2)) == TotpCheck::kWrong);
  CHECK(check(code_at(2)) == TotpCheck::kWrong);
  CHECK(check("12345") == TotpCheck::kMalformed);
  CHECK(check("12345a") == TotpCheck::kMalformed);
  CHECK(check(code_at(-1)) == TotpCheck::kOk);
  CHECK(check(code_at(1)) == TotpCheck::kOk);
}

TEST_CASE_FIXTURE(VerifyFixture, "totp: a used code, or an older step, is refused") {
  REQUIRE(store != nullptr);
  CHECK(check(code_at(0)) == TotpCheck::kOk);
  CHECK(check(code_at(0)) == TotpCheck::kReplayed);
  CHECK(check(code_at(-1)) == TotpCheck::kReplayed);
  CHECK(check(code_at(0, kNow + 30), kNow + 30) == TotpCheck::kOk);
}

TEST_CASE_FIXTURE(VerifyFixture, "totp: 5 failures in 10 minutes lock out, and the lock expires") {
  REQUIRE(store != nullptr);
  std::string wrong = code_at(0) == "000000" ? "111111" : "000000";
  for (int i = 0; i < 5; ++i) CHECK(check(wrong, kNow + i * kMinute) == TotpCheck::kWrong);
  UnixTime t = kNow + 5 * kMinute;
  CHECK(check(code_at(0, t), t) == TotpCheck::kLockedOut);  // even the right code
  UnixTime later = kNow + 4 * kMinute + 600;
  CHECK(check(code_at(0, later), later) == TotpCheck::kOk);
}

TEST_CASE_FIXTURE(VerifyFixture, "totp: failures spread beyond 10 minutes do not lock out") {
  REQUIRE(store != nullptr);
  std::string wrong = code_at(0) == "000000" ? "111111" : "000000";
  constexpr UnixTime kGap = 200;  // six failures 200 s apart span more than 10 minutes
  for (int i = 0; i < 6; ++i) CHECK(check(wrong, kNow + i * kGap) == TotpCheck::kWrong);
  UnixTime t = kNow + 6 * kGap;
  CHECK(check(code_at(0, t), t) == TotpCheck::kOk);
}

TEST_CASE_FIXTURE(VerifyFixture, "totp: success clears earlier failures") {
  REQUIRE(store != nullptr);
  std::string wrong = code_at(0) == "000000" ? "111111" : "000000";
  for (int i = 0; i < 4; ++i) CHECK(check(wrong, kNow + i) == TotpCheck::kWrong);
  CHECK(check(code_at(0)) == TotpCheck::kOk);
  for (int i = 0; i < 4; ++i) CHECK(check(wrong, kNow + 10 + i) == TotpCheck::kWrong);
  UnixTime t = kNow + 30;
  CHECK(check(code_at(0, t), t) == TotpCheck::kOk);
}

TEST_CASE("totp: enrollment files round trip, refuse loose modes and report corruption") {
  testing::TempDir dir;
  TotpEnrollment e{"alice", kSeed32, {HashAlg::kSha256, 8, 30}, true};
  REQUIRE(save_totp_enrollment(dir.path(), e).ok());
  std::string path = dir.path() + "/totp/alice.json";
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto loaded = load_totp_enrollment(dir.path(), "alice");
  REQUIRE(loaded.ok());
  CHECK(loaded->key == e.key);
  CHECK(loaded->params.alg == HashAlg::kSha256);
  CHECK(loaded->params.digits == 8);
  CHECK(loaded->active);

  CHECK(load_totp_enrollment(dir.path(), "bob").error().code == ErrorCode::kNotFound);
  CHECK_FALSE(load_totp_enrollment(dir.path(), "../alice").ok());
  CHECK_FALSE(save_totp_enrollment(dir.path(), TotpEnrollment{"a/b", kSeed20, {}, false}).ok());

  chmod(path.c_str(), 0644);
  auto loose = load_totp_enrollment(dir.path(), "alice");
  REQUIRE_FALSE(loose.ok());
  CHECK(loose.error().message.find("chmod 600") != std::string::npos);

  { std::ofstream(path, std::ios::trunc) << "{\"secret\": 42"; }
  chmod(path.c_str(), 0600);
  auto corrupt = load_totp_enrollment(dir.path(), "alice");
  REQUIRE_FALSE(corrupt.ok());
  CHECK(corrupt.error().code == ErrorCode::kInvalidArgument);
  CHECK(corrupt.error().message.find("alice.json") != std::string::npos);
  CHECK(corrupt.error().message.find("corrupt") != std::string::npos);
}

TEST_CASE("totp: principal ids are safe file names") {
  for (const char* ok : {"alice", "a.b-c_d@example.com", "ci-bot"})
    CHECK(is_valid_principal_id(ok));
  for (const char* bad : {"", ".hidden", "../x", "a/b", "a b", "a\nb"}) {
    CHECK_FALSE(is_valid_principal_id(bad));
  }
}

}  // namespace
}  // namespace stepgate
