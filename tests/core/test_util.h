#pragma once
// Helpers shared by the core tests: a temporary directory and a real state store in it.
#include <cstdlib>

#include <filesystem>
#include <memory>
#include <string>

#include "stepgate/store.h"

namespace stepgate::testing {

/// A fresh directory under /tmp, removed with its contents when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "stepgate-test-XXXXXX").string();
    char* made = mkdtemp(pattern.data());
    path_ = made != nullptr ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// A real StateStore in `dir`.
inline std::unique_ptr<StateStore> open_test_store(const TempDir& dir) {
  auto store = StateStore::open(dir.path() + "/state.db");
  if (!store) return nullptr;
  return std::move(*store);
}

}  // namespace stepgate::testing
