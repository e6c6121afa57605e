#include <doctest/doctest.h>

#include <string>

#include "stepgate/markup.h"

using stepgate::html_escape;
using stepgate::Markup;
using stepgate::markup_escape;
using stepgate::xml_escape;

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
    CHECK(xml_escape(c.in) == c.out);  // without control characters, the two markups agree
  }
}

TEST_CASE("markup_escape: control characters are the one difference between HTML and XML") {
  struct Case {
    std::string in;
    std::string html;
    std::string xml;
  };
  const Case cases[] = {
      {"a\tb", "a\tb", "a&#9;b"},
      {"line 1\nline 2", "line 1\nline 2", "line 1&#10;line 2"},
      {"cr\r", "cr\r", "cr&#13;"},
      {std::string("nul\0x", 5), std::string("nul\0x", 5), "nulx"},  // XML 1.0 cannot hold it
      {"bell\x07 esc\x1b[31m", "bell\x07 esc\x1b[31m", "bell esc[31m"},
      {"a\x01<b>&\"'\t", "a\x01&lt;b&gt;&amp;&quot;&#39;\t", "a&lt;b&gt;&amp;&quot;&#39;&#9;"},
      {"\x7f del stays", "\x7f del stays", "\x7f del stays"},  // allowed in XML 1.0
  };
  for (const Case& c : cases) {
    CAPTURE(c.in);
    CHECK(markup_escape(c.in, Markup::kHtml) == c.html);
    CHECK(markup_escape(c.in, Markup::kXml) == c.xml);
    CHECK(html_escape(c.in) == c.html);
    CHECK(xml_escape(c.in) == c.xml);
  }
}
