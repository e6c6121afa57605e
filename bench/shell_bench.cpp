// Cost of the shell analysis per tool call: analyse_shell alone, and the whole tool.call signal
// collection for Claude's Bash tool (what the hook adds before the engine runs), on commands an
// agent writes and on a large here-document script.
#include <benchmark/benchmark.h>

#include <string>

#include "shell_analysis.h"
#include "stepgate/policy.h"
#include "tool_gate.h"

namespace stepgate {
namespace {

std::string big_script() {
  std::string s = "cat > notes.md <<'EOF'\n";
  for (int i = 0; i < 400; ++i) s += "line " + std::to_string(i) + " with some words rm -rf\n";
  s += "EOF\ngit add notes.md && git commit -m 'notes'\n";
  return s;  // ~14 KB
}

const std::string& command(int index) {
  static const std::string kCommands[] = {
      "ls -la",
      "git status && git diff --stat",
      "cd src && make -j4 2>&1 | tail -20",
      "bash -c \"rm -rf build\" && sudo -u bob env nice \\git push origin +main",
      "for f in $(find . -name '*.o'); do rm \"$f\"; done; echo \"done: $(date)\"",
      big_script(),
  };
  return kCommands[index];
}

void BM_AnalyseShell(benchmark::State& state) {
  ShellContext context;
  context.cwd = "/work/project";
  context.home = "/home/alice";
  const std::string& text = command(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(analyse_shell(text, context));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_AnalyseShell)->DenseRange(0, 5);

void BM_BashToolSignals(benchmark::State& state) {
  Policy policy;
  policy.agents.workspaces = {"/work/project"};
  policy.agents.sensitive_paths = {"**/.env", "~/.ssh/**", "/etc/**", "~/.config/stepgate/**"};
  ToolCall call;
  call.tool = "Bash";
  call.cwd = "/work/project";
  call.arguments = Map{{"command", Value(command(static_cast<int>(state.range(0))))}};
  for (auto _ : state) benchmark::DoNotOptimize(collect_tool_signals(call, policy, nullptr, 0));
}
BENCHMARK(BM_BashToolSignals)->DenseRange(0, 5);

}  // namespace
}  // namespace stepgate
