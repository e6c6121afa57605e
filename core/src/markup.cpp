// One escape for every page and report stepgate writes, so they cannot drift apart; the one
// difference between HTML and XML (control characters) is a parameter, not a second copy.
#include "stepgate/markup.h"

namespace stepgate {

std::string markup_escape(std::string_view text, Markup markup) {
  std::string out;
  out.reserve(text.size() + 16);
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        continue;
      case '<':
        out += "&lt;";
        continue;
      case '>':
        out += "&gt;";
        continue;
      case '"':
        out += "&quot;";
        continue;
      case '\'':
        out += "&#39;";  // &apos; is XML's and HTML5's only; &#39; means ' in every markup
        continue;
      default:
        break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (markup == Markup::kXml && u < 0x20) {
      // Tab, LF and CR survive as references; XML 1.0 cannot hold the other C0 controls.
      if (c == '\t' || c == '\n' || c == '\r') out += "&#" + std::to_string(u) + ";";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace stepgate
