// Escaping text for markup: the HTML pages (the approvals inbox, `stepgate report --format
// html`) and the XML reports (JUnit for GitLab).
#pragma once

#include <string>
#include <string_view>

namespace stepgate {

/// Which markup escaped text goes into. The two differ only in control characters: HTML keeps
/// them (a browser shows or skips them; nothing breaks), while XML 1.0 cannot hold C0 controls
/// other than tab, LF and CR at all, so kXml drops them and writes tab, LF and CR as character
/// references (an attribute value would otherwise lose them to attribute-value normalisation).
enum class Markup { kHtml, kXml };

/// `text` with & < > " ' replaced by entities, safe in element content and in quoted
/// attributes of `markup`; control characters as `markup` needs them (see Markup).
std::string markup_escape(std::string_view text, Markup markup);

/// markup_escape(text, Markup::kHtml).
inline std::string html_escape(std::string_view text) {
  return markup_escape(text, Markup::kHtml);
}

/// markup_escape(text, Markup::kXml).
inline std::string xml_escape(std::string_view text) {
  return markup_escape(text, Markup::kXml);
}

}  // namespace stepgate
