#pragma once
// `stepgate policy test`: runs the test cases shipped beside the policy packs.

#include <iosfwd>
#include <string>

namespace stepgate {

/// Runs every DIR/tests/*.yaml (each names its pack, a file in DIR, and lists cases) and prints
/// PASS/FAIL per case, then "N passed, M failed". Returns 0 when all pass, 1 when a case fails,
/// 2 when a pack or test file cannot be loaded.
int run_pack_tests(const std::string& dir, std::ostream& out, std::ostream& err);

}  // namespace stepgate
