#include "secret_keywords.h"

#include <algorithm>

namespace stepgate::secrets_detail {

const std::array<unsigned char, 256> KeywordIndex::kFold = [] {
  std::array<unsigned char, 256> fold{};
  for (std::size_t c = 0; c < fold.size(); ++c) {
    fold[c] = static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return fold;
}();

KeywordIndex::KeywordIndex(std::vector<std::string> keywords) : keywords_(std::move(keywords)) {
  for (std::size_t k = 0; k < keywords_.size(); ++k) {
    const std::string& word = keywords_[k];
    if (word.size() < kMinKeyword) continue;  // refused when the rule is checked
    uint32_t trigram = 0;
    for (std::size_t j = 0; j < 3; ++j) {
      trigram = (trigram << 8) | kFold[static_cast<unsigned char>(word[j])];
    }
    filter_[hash(trigram)] = 1;
    entries_.push_back({trigram, static_cast<uint32_t>(k)});
  }
  std::stable_sort(entries_.begin(), entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.trigram < b.trigram; });
}

uint32_t KeywordIndex::first_entry(uint32_t trigram) const {
  const auto found =
      std::lower_bound(entries_.begin(), entries_.end(), trigram,
                       [](const Entry& e, uint32_t value) { return e.trigram < value; });
  return static_cast<uint32_t>(found - entries_.begin());
}

bool KeywordIndex::any(std::string_view text) const {
  bool found = false;
  for_each_hit(text, [&](uint32_t, std::size_t) {
    found = true;
    return false;  // one is enough
  });
  return found;
}

}  // namespace stepgate::secrets_detail
