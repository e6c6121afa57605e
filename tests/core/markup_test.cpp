#include <doctest/doctest.h>

#include "stepgate/markup.h"

using stepgate::html_escape;

TEST_CASE("html_escape: every character that can end an element or a quoted attribute") {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"", ""},
      {"plain text", "plain text"},
      {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
      {"a & b", "a &amp; b"},
      {"&amp;", "&amp;amp;"},
      {"\" onmouseover=\"x", "&quot; onmouseover=&quot;x"},
      {"it's", "it&#39;s"},
      {"caf\xc3\xa9 \xe2\x80\x94 ok", "caf\xc3\xa9 \xe2\x80\x94 ok"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.in);
    CHECK(html_escape(c.in) == c.out);
  }
}
