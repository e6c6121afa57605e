#include "doctor_hosts.h"

#include <doctest/doctest.h>

namespace stepgate {

TEST_CASE("codex_toml_hook_commands reads the PreToolUse hook commands of a config.toml") {
  struct Case {
    const char* toml;
    std::vector<std::string> commands;
  };
  for (const Case& c : {
           Case{"[[hooks.PreToolUse]]\nmatcher = \"*\"\n[[hooks.PreToolUse.hooks]]\n"
                "type = \"command\"\ncommand = \"/usr/bin/stepgate-hook codex\"\ntimeout = 30\n",
                {"/usr/bin/stepgate-hook codex"}},
           // Basic strings unescape; literal strings keep backslashes.
           Case{"[[hooks.PreToolUse.hooks]]\ncommand = \"'/opt/my tools/stepgate' \\\"x\\\"\"\n",
                {"'/opt/my tools/stepgate' \"x\""}},
           Case{"[[hooks.PreToolUse.hooks]]\n  command = 'C:\\bin\\stepgate'\n",
                {"C:\\bin\\stepgate"}},
           // Another table's `command` is not a hook's.
           Case{"[mcp_servers.x]\ncommand = \"npx server\"\n[[hooks.PreToolUse.hooks]]\n"
                "command = \"a\"\n[[hooks.PostToolUse.hooks]]\ncommand = \"b\"\n",
                {"a"}},
           Case{"[[hooks.PreToolUse.hooks]]\ncommand = 7\n", {}},
           Case{"", {}},
       }) {
    CAPTURE(c.toml);
    CHECK(codex_toml_hook_commands(c.toml) == c.commands);
  }
}

}  // namespace stepgate
