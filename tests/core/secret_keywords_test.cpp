// The keyword prefilter of the secret scanner against a plain search: every occurrence of every
// keyword, in any case, wherever it sits in the text (its hot loop reads four bytes per step, so
// each offset modulo four and each distance from the end is tried).
#include "secret_keywords.h"

#include <doctest/doctest.h>

#include <cctype>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace stepgate::secrets_detail {
namespace {

std::set<std::pair<uint32_t, std::size_t>> plain_search(const std::vector<std::string>& keywords,
                                                        const std::string& text) {
  std::set<std::pair<uint32_t, std::size_t>> hits;
  for (uint32_t k = 0; k < keywords.size(); ++k) {
    const std::string& word = keywords[k];
    for (std::size_t at = 0; at + word.size() <= text.size(); ++at) {
      bool same = true;
      for (std::size_t j = 0; j < word.size() && same; ++j) {
        same = std::tolower(static_cast<unsigned char>(text[at + j])) == word[j];
      }
      if (same) hits.emplace(k, at);
    }
  }
  return hits;
}

TEST_CASE("secret keywords: every occurrence is found, at every offset and up to the end") {
  const std::vector<std::string> keywords{"ghp_", "akia", "secret", "key", "keys", "xoxb-"};
  const KeywordIndex index(keywords);
  const std::vector<std::string> inserts{"ghp_",  "AKIA",   "Secret",    "KEY", "keys",
                                         "xoxb-", "keykey", "secretkey", "kEy"};
  int checked = 0;
  for (const std::string& insert : inserts) {
    for (std::size_t before = 0; before < 9; ++before) {
      for (std::size_t after = 0; after < 9; ++after) {
        const std::string text =
            std::string(before, 'a') + insert + std::string(after, 'b') + insert.substr(0, 2);
        CAPTURE(text);
        std::set<std::pair<uint32_t, std::size_t>> found;
        index.for_each_hit(text, [&](uint32_t k, std::size_t at) { found.emplace(k, at); });
        CHECK(found == plain_search(keywords, text));
        CHECK(!found.empty());
        CHECK(index.any(text));
        ++checked;
      }
    }
  }
  CHECK(checked == 9 * 9 * 9);
  // Text without a keyword, of every length around the four-byte step.
  for (std::size_t n = 0; n < 12; ++n) {
    const std::string text(n, 'k');
    CHECK_FALSE(index.any(text));
    CHECK_FALSE(index.any(text + "e"));
    CHECK(index.any(text + "ey") == (n > 0));
  }
}

}  // namespace
}  // namespace stepgate::secrets_detail
