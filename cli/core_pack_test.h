#pragma once
// `stepgate policy test`: runs the test cases that sit beside a policy (`policy.tests.yaml`
// next to `policy.yaml`) or beside the shipped packs (`DIR/tests/*.yaml`).

#include <iosfwd>
#include <string>
#include <string_view>

namespace stepgate {

/// Runs every DIR/tests/*.yaml (each names its pack, a file in DIR, and lists cases) and prints
/// PASS/FAIL per case, then "N passed, M failed". Returns 0 when all pass, 1 when a case fails,
/// 2 when a pack or test file cannot be loaded.
int run_pack_tests(const std::string& dir, std::ostream& out, std::ostream& err);

/// `policy test [FILE|DIR]`: a DIR with tests/ runs as packs; a DIR with policy.tests.yaml, a
/// tests file X.tests.yaml (for X.yaml, or its `policy:`) or a policy file X.yaml (with
/// X.tests.yaml beside it) runs those cases. Empty: .stepgate/ under `cwd` when it has cases,
/// else policies/. Same output and exit codes as run_pack_tests.
int run_policy_tests(const std::string& target, const std::string& cwd, std::ostream& out,
                     std::ostream& err);

/// The starter cases `stepgate init` writes beside the policy: the pack's own test file, its
/// `pack:` line turned into `policy: policy.yaml`.
std::string starter_tests(std::string_view pack_tests);

}  // namespace stepgate
