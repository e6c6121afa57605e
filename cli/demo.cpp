// `stepgate demo`: the gate working end to end on the shipped packs, in a throwaway directory:
// a git repository with a bare remote, a CI deployment, and an agent tool call through the shim.
// Every step runs the real `stepgate` binary (and real git) as a child process.

#include <httplib.h>
#include <sys/wait.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "command.h"
#include "demo_upstream.h"
#include "embedded_packs.h"
#include "subprocess.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

struct DemoOptions {
  bool keep = false;
};

/// One demo run: the scratch directory, the child environment and a tally of checks.
class Demo {
 public:
  Demo(std::ostream& out, fs::path root) : out_(out), root_(std::move(root)) {
    env_.env = {{"STEPGATE_HOME", (root_ / "home").string()},
                {"STEPGATE_ACTOR", "dev@example.com"},
                {"STEPGATE_NO_TTY", "1"},
                {"GIT_AUTHOR_NAME", "Dev"},
                {"GIT_AUTHOR_EMAIL", "dev@example.com"},
                {"GIT_COMMITTER_NAME", "Dev"},
                {"GIT_COMMITTER_EMAIL", "dev@example.com"},
                {"GIT_CONFIG_NOSYSTEM", "1"},
                {"HOME", (root_ / "home").string()},
                {"NO_COLOR", "1"},
                // The pushes below are decided in-process: no `stepgate daemon` is started for
                // them (one would outlive the demo), and none of the user's is asked.
                {"STEPGATE_DAEMON_AUTOSTART", "0"},
                {"STEPGATE_DAEMON_SOCKET", (root_ / "no-daemon" / "hookd.sock").string()}};
    env_.unset_env = {"STEPGATE_GRANT", "STEPGATE_POLICY", "STEPGATE_GRANT_FILE",
                      "GITHUB_ACTIONS", "GITLAB_CI",       "CI"};
  }

  int run();

 private:
  ProcessResult sh(const std::vector<std::string>& argv, const fs::path& cwd = {},
                   const std::map<std::string, std::string>& extra = {}, bool show = true);
  ProcessResult stepgate(std::vector<std::string> args, const fs::path& cwd = {},
                         const std::map<std::string, std::string>& extra = {});
  void check(bool ok, const std::string& what);
  void section(const std::string& title) { out_ << "\n== " << title << " ==\n"; }
  std::string approve(const std::string& output);
  static void write(const fs::path& p, const std::string& text);
  void setup_policies();
  void git_part();
  void ci_part();
  void agent_part();

  std::ostream& out_;
  fs::path root_;
  ProcessOptions env_;
  std::string public_key_;
  int failures_ = 0;
  int checks_ = 0;
};

void Demo::write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

ProcessResult Demo::sh(const std::vector<std::string>& argv, const fs::path& cwd,
                       const std::map<std::string, std::string>& extra, bool show) {
  ProcessOptions o = env_;
  o.cwd = cwd.string();
  for (const auto& [k, v] : extra) o.env[k] = v;
  if (show) {
    out_ << "$";
    for (const auto& [k, v] : extra)
      out_ << " " << k << "=" << (v.size() > 24 ? v.substr(0, 20) + "..." : v);
    for (const auto& a : argv) out_ << " " << (a.size() > 60 ? a.substr(0, 56) + "..." : a);
    out_ << "\n";
  }
  auto r = run_process(argv, o);
  if (!r.ok()) {
    out_ << "  (could not run: " << r.error().message << ")\n";
    return ProcessResult{};
  }
  return std::move(r).value();
}

ProcessResult Demo::stepgate(std::vector<std::string> args, const fs::path& cwd,
                             const std::map<std::string, std::string>& extra) {
  args.insert(args.begin(), self_executable());
  auto r = sh(args, cwd, extra, false);
  out_ << "$ stepgate";
  for (std::size_t i = 1; i < args.size(); ++i)
    out_ << " " << (args[i].size() > 60 ? args[i].substr(0, 56) + "..." : args[i]);
  out_ << "   -> exit " << r.exit_code << "\n";
  return r;
}

void Demo::check(bool ok, const std::string& what) {
  ++checks_;
  if (!ok) ++failures_;
  out_ << (ok ? "  ok   " : "  FAIL ") << what << "\n";
}

std::string indent(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > 150) line = line.substr(0, 146) + " ...";  // challenge tokens are long
    out += "  | " + line + "\n";
  }
  return out;
}

/// Finds the challenge in a held action's output and has the demo approver sign a grant.
std::string Demo::approve(const std::string& output) {
  static const std::regex kChallenge(R"(sgc1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)");
  std::smatch m;
  if (!std::regex_search(output, m, kChallenge)) return "";
  auto r = stepgate({"approve", "--yes", "--approver", "lead", m.str()});
  if (r.exit_code != 0) out_ << indent(r.err);
  std::string grant = r.out;
  while (!grant.empty() && (grant.back() == '\n' || grant.back() == ' ')) grant.pop_back();
  return grant;
}

void Demo::setup_policies() {
  section("set-up: an approver key and the shipped policy packs");
  auto r = stepgate({"keygen", "--approver", "lead"});
  static const std::regex kKey(R"(ed25519:[A-Za-z0-9_-]+)");
  std::smatch m;
  if (std::regex_search(r.out, m, kKey)) public_key_ = m.str();
  check(!public_key_.empty(),
        "approver `lead` has an Ed25519 key (private half 0600 under STEPGATE_HOME)");
  const std::string approvers = "\napprovers:\n  - id: lead\n    public_key: " + public_key_ + "\n";
  for (const auto& pack : embedded_pack_names()) {
    write(root_ / "policies" / (pack + ".yaml"), std::string(embedded_pack(pack)) + approvers);
  }
}

int Demo::run() {
  out_ << "stepgate demo: everything happens under " << root_.string() << "\n";
  setup_policies();
  git_part();
  ci_part();
  agent_part();
  section("audit: every decision above is in a hash-chained log");
  auto v = stepgate({"audit", "verify"});
  out_ << indent(v.out + v.err);
  check(v.exit_code == 0, "the audit chain verifies");
  out_ << "\n"
       << (checks_ - failures_) << " of " << checks_ << " demo checks behaved as expected\n";
  return failures_ == 0 ? 0 : 1;
}

void Demo::git_part() {
  section("git: a pre-push hook in a throwaway repository with a bare remote");
  const fs::path repo = root_ / "repo";
  const fs::path remote = root_ / "remote.git";
  sh({"git", "init", "-q", "--bare", remote.string()});
  sh({"git", "init", "-q", "-b", "main", repo.string()});
  sh({"git", "remote", "add", "origin", remote.string()}, repo, {}, false);
  fs::create_directories(repo / ".stepgate");
  std::error_code ec;
  fs::copy_file(root_ / "policies" / "git.yaml", repo / ".stepgate" / "policy.yaml", ec);
  write(repo / "README.md", "# demo\n");
  sh({"git", "add", "-A"}, repo, {}, false);
  sh({"git", "commit", "-qm", "first commit"}, repo, {}, false);
  auto inst = stepgate({"hooks", "install"}, repo);
  check(inst.exit_code == 0, "hook installed");

  auto first = sh({"git", "push", "-q", "origin", "main"}, repo);
  out_ << indent(first.err);
  if (first.exit_code != 0 && first.err.find("sgc1.") != std::string::npos) {
    // Outside business hours the pack scores a push of unsigned commits to main past the step-up
    // threshold: the same approval flow as below, shown early.
    out_ << "  (held: see the reasons above; the approver signs it)\n";
    const std::string grant = approve(first.err);
    first = sh({"git", "push", "-q", "origin", "main"}, repo, {{"STEPGATE_GRANT", grant}});
    out_ << indent(first.err);
  }
  check(first.exit_code == 0, "first push of protected main: allowed");

  sh({"git", "checkout", "-qb", "feature"}, repo, {}, false);
  write(repo / "app.py", "print('hello')\n");
  sh({"git", "add", "-A"}, repo, {}, false);
  sh({"git", "commit", "-qm", "add app"}, repo, {}, false);
  auto ff = sh({"git", "push", "-q", "origin", "feature"}, repo);
  out_ << indent(ff.err);
  check(ff.exit_code == 0, "push of a feature branch: allowed, no friction");

  sh({"git", "checkout", "-qb", "config"}, repo, {}, false);
  // A fake key, assembled at run time so this source file holds none.
  write(repo / "config.py",
        std::string("AWS_ACCESS_KEY_ID = \"AKIA") + "Q7W2ZLX4MN5R8TYP" + "\"\n");
  sh({"git", "add", "-A"}, repo, {}, false);
  sh({"git", "commit", "-qm", "add config"}, repo, {}, false);
  auto secret = sh({"git", "push", "-q", "origin", "config"}, repo);
  out_ << indent(secret.err);
  check(secret.exit_code != 0,
        "a commit carrying an AWS key: push denied (the key is never printed)");

  sh({"git", "checkout", "-q", "main"}, repo, {}, false);
  sh({"git", "commit", "-q", "--amend", "-m", "rewrite history"}, repo, {}, false);
  auto held = sh({"git", "push", "-q", "--force", "origin", "main"}, repo);
  out_ << indent(held.err);
  check(held.exit_code != 0, "force push to protected main: held for step-up (no terminal here)");
  const std::string grant = approve(held.err);
  check(!grant.empty(), "approver signs a grant bound to exactly this push");
  auto pass =
      sh({"git", "push", "-q", "--force", "origin", "main"}, repo, {{"STEPGATE_GRANT", grant}});
  out_ << indent(pass.err);
  check(pass.exit_code == 0, "retried with the grant: allowed");
}

void Demo::ci_part() {
  section("CI: `stepgate ci gate` in front of model deployments");
  const fs::path dir = root_ / "ci";
  const std::string base = R"(model: { name: fraud-detector, version: "2.4.0" }
artifact: { uri: "s3://models/fraud-detector/2.4.0/model.onnx", sha256: ")" +
                           std::string(64, 'a') + R"(", size_bytes: 1048576 }
evaluation:
  metrics:
    auc: { direction: higher, tolerance_pct: 1 }
    latency_ms: { direction: lower, tolerance_pct: 10 }
  candidate: { auc: 0.912, latency_ms: 41 }
  baseline:  { auc: 0.934, latency_ms: 40 }
)";
  write(dir / "staging.yaml", base + "target: { environment: staging }\n");
  write(dir / "prod.yaml", base + "target: { environment: production }\n");
  const std::string policy = (root_ / "policies" / "model-deploy.yaml").string();
  auto staging =
      stepgate({"ci", "gate", "--manifest", (dir / "staging.yaml").string(), "--policy", policy});
  out_ << indent(staging.out + staging.err);
  check(staging.exit_code == 0, "staging deploy: allowed");
  auto prod =
      stepgate({"ci", "gate", "--manifest", (dir / "prod.yaml").string(), "--policy", policy});
  out_ << indent(prod.out + prod.err);
  check(prod.exit_code == 3, "production deploy with an AUC regression: step-up required");
  const std::string grant = approve(prod.out + prod.err);
  auto ok = stepgate({"ci", "gate", "--manifest", (dir / "prod.yaml").string(), "--policy", policy,
                      "--grant", grant});
  out_ << indent(ok.out + ok.err);
  check(ok.exit_code == 0, "with the approver's grant: allowed");
  auto again = stepgate({"ci", "gate", "--manifest", (dir / "prod.yaml").string(), "--policy",
                         policy, "--grant", grant});
  check(again.exit_code != 0, "the same grant replayed: refused (single use)");
}

void Demo::agent_part() {
  section("agents: an MCP tool call through the local shim");
  DemoUpstream upstream;
  if (!upstream.start()) {
    check(false, "demo MCP upstream started");
    return;
  }
  const int port = pick_free_port();
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  ProcessOptions o = env_;
  auto pid = spawn_background(
      {self_executable(), "shim", "--upstream", upstream.url(), "--name", "demo", "--listen",
       listen, "--policy", (root_ / "policies" / "agent-tools.yaml").string()},
      o);
  out_ << "$ stepgate shim --upstream " << upstream.url() << " --listen " << listen << "\n";
  if (!pid.ok()) {
    check(false, "shim started: " + pid.error().message);
    return;
  }
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1);
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    auto r = client.Get("/healthz");
    up = r && r->status == 200;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  check(up, "shim listening on " + listen);
  if (up) {
    auto call = [&](int id, const std::string& tool, const nlohmann::json& args) {
      nlohmann::json req = {{"jsonrpc", "2.0"},
                            {"id", id},
                            {"method", "tools/call"},
                            {"params", {{"name", tool}, {"arguments", args}}}};
      out_ << "-> tools/call " << tool << " " << args.dump() << "\n";
      auto r = client.Post("/mcp", {{"Accept", "application/json, text/event-stream"}}, req.dump(),
                           "application/json");
      std::string body = r ? r->body : "(no response)";
      out_ << indent(body.size() > 400 ? body.substr(0, 400) + "..." : body);
      return body;
    };
    nlohmann::json init = {{"jsonrpc", "2.0"},
                           {"id", 0},
                           {"method", "initialize"},
                           {"params",
                            {{"protocolVersion", "2025-06-18"},
                             {"capabilities", nlohmann::json::object()},
                             {"clientInfo", {{"name", "demo-agent"}, {"version", "1"}}}}}};
    client.Post("/mcp", {{"Accept", "application/json, text/event-stream"}}, init.dump(),
                "application/json");
    auto echo = call(1, "echo", {{"message", "hello from an agent"}});
    check(echo.find("hello from an agent") != std::string::npos,
          "harmless call: forwarded, upstream's answer unchanged");
    auto rm = call(2, "run_shell", {{"command", "rm -rf / --no-preserve-root"}});
    check(rm.find("\"isError\":true") != std::string::npos && upstream.calls("run_shell") == 0,
          "destructive shell call: not forwarded; the agent gets isError with the reason");
  }
  kill(pid.value(), SIGTERM);
  int status = 0;
  waitpid(pid.value(), &status, 0);
}

int run_demo(const DemoOptions& options, CommandContext& context) {
  std::string tmpl = (fs::temp_directory_path() / "stepgate-demo-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return report_error(context,
                        make_error(ErrorCode::kUnavailable, "cannot create a temporary directory"));
  }
  const fs::path root(tmpl);
  int rc = Demo(*context.io.out, root).run();
  if (!options.keep) {
    std::error_code ec;
    fs::remove_all(root, ec);
  } else {
    *context.io.out << "kept " << root.string() << "\n";
  }
  return rc;
}

}  // namespace

void register_demo_command(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<DemoOptions>();
  auto* sub = app.add_subcommand(
      "demo", "Show the gate working on the shipped packs in a throwaway directory");
  sub->add_flag("--keep", options->keep, "Keep the demo directory");
  sub->callback([options, &context] { context.exit_code = run_demo(*options, context); });
}

}  // namespace stepgate
