#pragma once
// Finds, in one pass, every occurrence of a set of literals in any case: the prefilter that lets
// the secret scanner run a rule's regular expression only on the lines holding its keywords.
// A rolling trigram of lower-cased bytes is hashed into a filter of 32,768 one-byte slots (32 KiB,
// in L1: a byte test is three instructions fewer per text byte than a bit test, ~15% of the
// scan); a hit is checked against the few literals with that trigram.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace stepgate::secrets_detail {

class KeywordIndex {
 public:
  static constexpr std::size_t kMinKeyword = 3;

  KeywordIndex() = default;
  /// `keywords` in lower case, each at least kMinKeyword bytes.
  explicit KeywordIndex(std::vector<std::string> keywords);

  /// Calls on_hit(keyword index, start offset) for every occurrence, front to back; an on_hit
  /// that returns bool stops the pass by returning false.
  template <class OnHit>
  void for_each_hit(std::string_view text, OnHit&& on_hit) const {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    if (n < kMinKeyword) return;
    uint32_t trigram = (uint32_t{kFold[p[0]]} << 8) | kFold[p[1]];
    for (std::size_t i = next_candidate(p, n, 2, trigram); i < n;
         i = next_candidate(p, n, i + 1, trigram)) {
      const std::size_t start = i - 2;
      for (uint32_t e = first_entry(trigram); e < entries_.size(); ++e) {
        if (entries_[e].trigram != trigram) break;
        const std::string& k = keywords_[entries_[e].keyword];
        if (k.size() > n - start || !tail_matches(p + start, k)) continue;
        if constexpr (std::is_same_v<decltype(on_hit(uint32_t{}, std::size_t{})), bool>) {
          if (!on_hit(entries_[e].keyword, start)) return;
        } else {
          on_hit(entries_[e].keyword, start);
        }
      }
    }
  }

  /// Whether any keyword occurs in `text`.
  [[nodiscard]] bool any(std::string_view text) const;

 private:
  static constexpr unsigned kHashBits = 15;
  static const std::array<unsigned char, 256> kFold;

  static uint32_t hash(uint32_t trigram) { return (trigram * 0x9E3779B1U) >> (32 - kHashBits); }
  static bool tail_matches(const unsigned char* at, const std::string& keyword) {
    for (std::size_t j = 3; j < keyword.size(); ++j) {
      if (kFold[at[j]] != static_cast<unsigned char>(keyword[j])) return false;
    }
    return true;
  }
  /// The first position from `i` on whose trigram (ending there) passes the filter, `n` if none;
  /// `trigram` rolls along. The hot loop: kept apart so its state stays in registers. Four
  /// positions per step, their slots tested together: text passes the filter at few positions,
  /// so most steps take one branch for four bytes (a quarter fewer instructions, callgrind).
  std::size_t next_candidate(const unsigned char* p, std::size_t n, std::size_t i,
                             uint32_t& trigram) const {
    uint32_t t = trigram;
    const unsigned char* filter = filter_.data();
    const auto roll = [](uint32_t t, unsigned char c) { return ((t << 8) | kFold[c]) & 0xFFFFFFU; };
    for (; i + 4 <= n; i += 4) {
      const uint32_t a = roll(t, p[i]);
      const uint32_t b = roll(a, p[i + 1]);
      const uint32_t c = roll(b, p[i + 2]);
      const uint32_t d = roll(c, p[i + 3]);
      if ((filter[hash(a)] | filter[hash(b)] | filter[hash(c)] | filter[hash(d)]) != 0) break;
      t = d;
    }
    // The last few bytes, or the four of a step that passed: one position at a time.
    for (const std::size_t stop = std::min(n, i + 4); i < stop; ++i) {
      t = roll(t, p[i]);
      if (filter[hash(t)] != 0) break;
    }
    trigram = t;
    return i;
  }
  /// The first entry with this trigram (entries_ is sorted by trigram), entries_.size() if none.
  [[nodiscard]] uint32_t first_entry(uint32_t trigram) const;

  struct Entry {
    uint32_t trigram;
    uint32_t keyword;
  };
  std::array<unsigned char, std::size_t{1} << kHashBits> filter_{};
  std::vector<Entry> entries_;
  std::vector<std::string> keywords_;
};

}  // namespace stepgate::secrets_detail
