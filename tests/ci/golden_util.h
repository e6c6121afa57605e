#pragma once
// Golden-file comparison for the CI report tests: exact byte comparison against
// tests/ci/golden/NAME. STEPGATE_UPDATE_GOLDEN=1 rewrites the files (review the diff!).
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace stepgate::ci::testing {

inline std::string golden_path(const std::string& name) {
  return std::string(STEPGATE_SOURCE_DIR) + "/tests/ci/golden/" + name;
}

inline void check_golden(const std::string& name, const std::string& actual) {
  const std::string path = golden_path(name);
  if (const char* update = std::getenv("STEPGATE_UPDATE_GOLDEN");
      update != nullptr && *update == '1') {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << actual;
  }
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing golden file " << path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  CHECK_MESSAGE(buffer.str() == actual, "golden " << name << " differs; actual:\n" << actual);
}

}  // namespace stepgate::ci::testing
