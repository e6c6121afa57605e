// The shim's Host check: a loopback listener answers only requests that name it as loopback (or
// by a configured public name), so a DNS-rebound web page cannot reach it.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "shim.h"

namespace stepgate {

TEST_CASE("host_allowed takes loopback names and addresses and configured names only") {
  ShimOptions options;  // --listen 127.0.0.1:8787
  struct Case {
    const char* host;
    bool allowed;
  };
  const std::vector<Case> cases = {
      {"127.0.0.1:8787", true},
      {"127.0.0.1", true},
      {"127.1.2.3:9", true},
      {"localhost:8787", true},
      {"LOCALHOST:8787", true},
      {"[::1]:8787", true},
      {"[::1]", true},
      {"", true},  // HTTP/1.0 tools; a browser always sends Host
      {"evil.example", false},
      {"evil.example:8787", false},
      {"localhost.evil.example:8787", false},
      {"127.0.0.1.evil.example", false},
      {"127.0.0.1:80:80", false},
      {"127.0.0.1:http", false},
      {"[::1]x", false},
      {"[::2]:8787", false},
      {"128.0.0.1:8787", false},
      {"10.0.0.5:8787", false},
      {"gate.example.com:443", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.host);
    CHECK(host_allowed(c.host, options) == c.allowed);
  }

  options.public_names = {"gate.example.com"};
  CHECK(host_allowed("gate.example.com:443", options));
  CHECK(host_allowed("Gate.Example.COM", options));
  CHECK_FALSE(host_allowed("evil.example", options));

  options.listen_host = "10.0.0.5";  // --listen 10.0.0.5:8787: its own address is its name
  CHECK(host_allowed("10.0.0.5:8787", options));
  CHECK_FALSE(host_allowed("10.0.0.6:8787", options));
}

}  // namespace stepgate
