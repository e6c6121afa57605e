// Secret scanner throughput over ~10 MB of code-like added lines with a few secrets planted.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "stepgate/secrets.h"

namespace {

// Lines of the kind a diff adds: C++, Python, YAML, JS, with the odd keyword that makes the
// prefilter stop (token, password, secret in identifiers and comments).
const char* const kLines[] = {
    "  for (std::size_t i = 0; i < items.size(); ++i) {",
    "    result.push_back(transform(items[i], options));",
    "def load_config(path: str) -> dict:",
    "    with open(path, encoding=\"utf-8\") as handle:",
    "        return yaml.safe_load(handle) or {}",
    "  timeout_seconds: 30",
    "  retries: 3",
    "const server = http.createServer((req, res) => { res.end('ok'); });",
    "// Refresh the session token before it expires.",
    "    token = session.refresh_token(user_id)",
    "  if (!password_matches(stored_hash, candidate)) return false;",
    "import { readFile } from 'node:fs/promises';",
    "    logger.info(\"processed %d records in %.2f s\", count, elapsed)",
    "  <div className=\"card\">{children}</div>",
    "SELECT id, name, created_at FROM users WHERE org_id = $1 ORDER BY created_at DESC;",
    "      - run: npm ci && npm test",
    "#include <unordered_map>",
    "    return Status::InvalidArgument(\"bad header at line \" + std::to_string(n));",
    "",
    "}",
};

std::string make_corpus(std::size_t target_bytes) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<std::size_t> pick(0, std::size(kLines) - 1);
  std::string text;
  text.reserve(target_bytes + 256);
  std::size_t line = 0;
  while (text.size() < target_bytes) {
    if (++line % 50000 == 0) {
      // Built at run time so this source holds no secret-shaped literal.
      text += "aws_key = \"AKIA" + std::string("Q3EGRTY5LWJ7NXZP") + "\"\n";
      text += "api_token: \"" + std::string("f9Kq2LmZ8vR4tW1x") + "Yb7N\"\n";
    }
    text += kLines[pick(rng)];
    text += '\n';
  }
  return text;
}

void BM_ScanSecrets(benchmark::State& state) {
  const std::string corpus = make_corpus(static_cast<std::size_t>(state.range(0)) << 20);
  std::size_t found = 0;
  for (auto _ : state) {
    auto findings = stepgate::scan_secrets(corpus);
    found = findings.size();
    benchmark::DoNotOptimize(findings);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(corpus.size()));
  state.counters["findings"] = static_cast<double>(found);
}
BENCHMARK(BM_ScanSecrets)->Arg(10)->Unit(benchmark::kMillisecond);

// Real code: the C and C++ headers under /usr/include (up to `target_bytes`), the text the push
// bench (bench/scan_throughput_bench.sh) adds, without the repository reads around it.
std::string real_code(std::size_t target_bytes) {
  namespace fs = std::filesystem;
  std::string text;
  std::error_code ec;
  for (fs::recursive_directory_iterator it("/usr/include", ec), end; it != end && !ec;
       it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->path().extension() != ".h") continue;
    std::ifstream in(it->path(), std::ios::binary);
    text.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (text.size() >= target_bytes) break;
  }
  return text;
}

void BM_ScanSecretsRealCode(benchmark::State& state) {
  const std::string corpus = real_code(static_cast<std::size_t>(state.range(0)) << 20);
  std::size_t found = 0;
  for (auto _ : state) {
    auto findings = stepgate::scan_secrets_windowed(corpus);
    found = findings.size();
    benchmark::DoNotOptimize(findings);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(corpus.size()));
  state.counters["findings"] = static_cast<double>(found);
}
BENCHMARK(BM_ScanSecretsRealCode)->Arg(20)->Unit(benchmark::kMillisecond);

void BM_RedactText(benchmark::State& state) {
  const std::string corpus = make_corpus(1 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(stepgate::redact_text(corpus));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(corpus.size()));
}
BENCHMARK(BM_RedactText)->Unit(benchmark::kMillisecond);

}  // namespace
