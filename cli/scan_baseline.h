#pragma once
// `stepgate scan --write-baseline FILE` / `--baseline FILE`: the findings a team has accepted,
// named so that the file does not give the secrets away. A finding is its rule and path in clear
// plus a fingerprint: PBKDF2-HMAC-SHA256 over rule, path and secret with a random salt per file
// and enough rounds that guessing a weak secret from a committed baseline is slow. Matching
// stays cheap: only a finding whose rule and path are in the file costs one derivation.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "stepgate/crypto.h"
#include "stepgate/result.h"
#include "stepgate/value.h"

namespace stepgate {

/// The format written today (version 1 held a truncated SHA-256 of the secret: refused).
inline constexpr int64_t kBaselineVersion = 2;
/// Rounds for a new baseline; a file may say more (up to kMaxBaselineIterations), never fewer
/// than kMinBaselineIterations.
inline constexpr int kBaselineIterations = 200'000;
inline constexpr int kMinBaselineIterations = 100'000;
inline constexpr int kMaxBaselineIterations = 10'000'000;

/// What a finding is, for the baseline.
struct BaselineFinding {
  std::string rule;
  std::string path;
  std::string secret;  // hashed, never stored
  int64_t line = 0;
  int64_t column = 0;
  std::string commit;
};

class ScanBaseline {
 public:
  /// An empty baseline with a fresh random salt; kUnavailable when the OS gives no randomness.
  static Result<ScanBaseline> create(int iterations = kBaselineIterations);
  /// Reads FILE. kInvalidArgument for a malformed file, a version-1 file (its plain hashes
  /// reveal weak secrets: it must be written again) or rounds outside the limits.
  static Result<ScanBaseline> read(const std::string& path);

  /// True when the baseline holds this finding (same rule, path and secret; the line may move).
  [[nodiscard]] bool accepts(const BaselineFinding& f) const;
  /// accepts() of each finding, the derivations spread over the machine's cores.
  [[nodiscard]] std::vector<bool> accepts_each(const std::vector<BaselineFinding>& findings) const;
  /// Records the finding (one derivation).
  Status add(const BaselineFinding& f);
  /// Records each finding, the derivations spread over the machine's cores.
  Status add_each(const std::vector<BaselineFinding>& findings);
  /// The file's text (JSON).
  [[nodiscard]] std::string to_json_text() const;
  [[nodiscard]] std::size_t size() const { return findings_.size(); }

 private:
  ScanBaseline(Bytes salt, int iterations) : salt_(std::move(salt)), iterations_(iterations) {}
  [[nodiscard]] Result<std::string> fingerprint(const BaselineFinding& f) const;
  void record(const BaselineFinding& f, const std::string& print);

  Bytes salt_;
  int iterations_;
  List findings_;                                     // as written to the file
  std::multimap<std::string, std::string> by_place_;  // rule '\0' path -> fingerprint
};

}  // namespace stepgate
