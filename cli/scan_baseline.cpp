#include "scan_baseline.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "stepgate/files.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

constexpr std::size_t kMaxBaselineBytes = std::size_t{16} << 20;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kFingerprintBytes = 32;
constexpr const char* kKdf = "pbkdf2-hmac-sha256";

std::string place(const std::string& rule, const std::string& path) {
  return rule + '\0' + path;
}

Error bad(const std::string& path, const std::string& what) {
  return invalid_argument(path + ": " + what);
}

/// Runs work(i) for i in [0, n) on up to one thread per core: each derivation is tens of
/// milliseconds of CPU, and a scan may have many.
template <typename Work>
void for_each_index(std::size_t n, Work work) {
  const std::size_t threads =
      std::min<std::size_t>({n, std::max(1U, std::thread::hardware_concurrency()), 16});
  std::atomic<std::size_t> next{0};
  auto run = [&] {
    for (std::size_t i = next++; i < n; i = next++) work(i);
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(run);
  run();
  for (std::thread& t : pool) t.join();
}

}  // namespace

Result<ScanBaseline> ScanBaseline::create(int iterations) {
  auto salt = random_bytes(kSaltBytes);
  if (!salt.ok()) return salt.error();
  return ScanBaseline(std::move(salt).value(), iterations);
}

Result<ScanBaseline> ScanBaseline::read(const std::string& path) {
  auto text = read_file(path, kMaxBaselineBytes);
  if (!text.ok()) return text.error();
  auto doc = parse_json(*text);
  if (!doc.ok()) return bad(path, doc.error().message);
  const Value* findings = doc->is_map() ? doc->find("findings") : nullptr;
  if (findings == nullptr || !findings->is_list()) {
    return bad(path,
               "a baseline is the file `stepgate scan --write-baseline FILE` writes (an object "
               "with a `findings` list)");
  }
  const Value* version = doc->find("version");
  const Value* kdf = doc->find("fingerprint");
  if (version == nullptr || !version->is_int() || version->as_int() != kBaselineVersion ||
      kdf == nullptr) {
    return bad(path,
               "this baseline was written by an older stepgate: its fingerprints are plain "
               "SHA-256 hashes of the secrets, from which a weak secret can be guessed. Write it "
               "again with `stepgate scan --write-baseline FILE`, and if the old file was shared, "
               "treat the secrets it lists as exposed");
  }
  if (!kdf->is_map() || kdf->get_string("kdf") != kKdf) {
    return bad(path, "key `fingerprint.kdf`: must be \"" + std::string(kKdf) + "\"");
  }
  const Value* rounds = kdf->find("iterations");
  if (rounds == nullptr || !rounds->is_int() || rounds->as_int() < kMinBaselineIterations ||
      rounds->as_int() > kMaxBaselineIterations) {
    return bad(path, "key `fingerprint.iterations`: must be an integer from " +
                         std::to_string(kMinBaselineIterations) + " to " +
                         std::to_string(kMaxBaselineIterations));
  }
  auto salt = base64url_decode(kdf->get_string("salt"));
  if (!salt.ok() || salt->size() < kSaltBytes) {
    return bad(path, "key `fingerprint.salt`: must be the base64url of at least 16 bytes");
  }
  ScanBaseline baseline(std::move(salt).value(), static_cast<int>(rounds->as_int()));
  for (const Value& item : findings->as_list()) {
    const Value* print = item.is_map() ? item.find("fingerprint") : nullptr;
    const Value* rule = item.is_map() ? item.find("rule") : nullptr;
    const Value* file = item.is_map() ? item.find("path") : nullptr;
    if (print == nullptr || !print->is_string() || rule == nullptr || !rule->is_string() ||
        file == nullptr || !file->is_string()) {
      return bad(path, "every finding needs `rule`, `path` and `fingerprint` strings");
    }
    baseline.by_place_.emplace(place(rule->as_string(), file->as_string()), print->as_string());
    baseline.findings_.push_back(item);
  }
  return baseline;
}

Result<std::string> ScanBaseline::fingerprint(const BaselineFinding& f) const {
  auto derived = pbkdf2_sha256(f.rule + '\0' + f.path + '\0' + f.secret, salt_, iterations_,
                               kFingerprintBytes);
  if (!derived.ok()) return derived.error();
  return base64url_encode(*derived);
}

bool ScanBaseline::accepts(const BaselineFinding& f) const {
  auto [first, last] = by_place_.equal_range(place(f.rule, f.path));
  if (first == last) return false;  // nothing to derive: a finding in a new place is new
  auto print = fingerprint(f);
  if (!print.ok()) return false;
  bool found = false;
  for (auto it = first; it != last; ++it) found = constant_time_equal(it->second, *print) || found;
  return found;
}

std::vector<bool> ScanBaseline::accepts_each(const std::vector<BaselineFinding>& findings) const {
  std::vector<char> accepted(findings.size(), 0);  // not vector<bool>: one byte per thread's slot
  for_each_index(findings.size(), [&](std::size_t i) { accepted[i] = accepts(findings[i]); });
  return {accepted.begin(), accepted.end()};
}

Status ScanBaseline::add(const BaselineFinding& f) {
  auto print = fingerprint(f);
  if (!print.ok()) return print.error();
  record(f, *print);
  return {};
}

Status ScanBaseline::add_each(const std::vector<BaselineFinding>& findings) {
  std::vector<Result<std::string>> prints(findings.size(), Result<std::string>(std::string()));
  for_each_index(findings.size(), [&](std::size_t i) { prints[i] = fingerprint(findings[i]); });
  for (std::size_t i = 0; i < findings.size(); ++i) {
    if (!prints[i].ok()) return prints[i].error();
    record(findings[i], *prints[i]);
  }
  return {};
}

void ScanBaseline::record(const BaselineFinding& f, const std::string& print) {
  Map m{{"rule", Value(f.rule)},
        {"path", Value(f.path)},
        {"line", Value(f.line)},
        {"column", Value(f.column)},
        {"fingerprint", Value(print)}};
  if (!f.commit.empty()) m.emplace("commit", Value(f.commit));
  by_place_.emplace(place(f.rule, f.path), print);
  findings_.emplace_back(std::move(m));
}

std::string ScanBaseline::to_json_text() const {
  const Map kdf{{"kdf", Value(kKdf)},
                {"iterations", Value(static_cast<int64_t>(iterations_))},
                {"salt", Value(base64url_encode(salt_))}};
  const Map doc{{"version", Value(kBaselineVersion)},
                {"fingerprint", Value(kdf)},
                {"findings", Value(findings_)}};
  return to_pretty_json(Value(doc)) + "\n";
}

}  // namespace stepgate
