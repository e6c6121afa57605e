#include "hook_run.h"

#include <cstdlib>
#include <future>
#include <iterator>
#include <memory>
#include <ostream>

#include "chain.h"
#include "git_signals.h"
#include "push_parser.h"
#include "stepgate/collect.h"
#include "stepgate/exit_codes.h"
#include "stepgate/gate.h"
#include "stepgate/gate_failure.h"
#include "stepgate/paths.h"
#include "stepgate/signal_demand.h"
#include "stepgate/stepup.h"

namespace stepgate {
namespace {

struct Style {
  bool colour = false;
  [[nodiscard]] std::string paint(const char* code, const std::string& text) const {
    return colour ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
  }
};

Style make_style(const CommandContext& context) {
  return Style{context.io.err_is_tty && context.io.env.get("NO_COLOR").empty()};
}

std::string verdict_label(const Style& style, Verdict v) {
  switch (v) {
    case Verdict::kAllow:
      return style.paint("32", "allow");
    case Verdict::kStepUp:
      return style.paint("33", "step-up required");
    case Verdict::kDeny:
      return style.paint("31", "deny");
  }
  return "deny";
}

std::string read_all(std::istream* in) {
  if (in == nullptr) return "";
  return {std::istreambuf_iterator<char>(*in), std::istreambuf_iterator<char>()};
}

std::string first_non_empty(std::initializer_list<std::string> values) {
  for (const std::string& v : values) {
    if (!v.empty()) return v;
  }
  return "";
}

/// Who is pushing: $STEPGATE_ACTOR, else git's user.email (`email`, client side), else the user
/// the server's transport authenticated, else the OS user.
std::string hook_actor(const std::string& email, HookKind kind, const Env& env) {
  if (std::string actor = env.get("STEPGATE_ACTOR"); !actor.empty()) return actor;
  if (kind == HookKind::kPrePush) return email.empty() ? os_user_name(env) : email;
  // REMOTE_USER: git-http-backend behind an authenticating web server; GL_USERNAME: GitLab;
  // GITEA_PUSHER_NAME: Gitea and Forgejo; GITHUB_USER_LOGIN: GitHub Enterprise Server.
  return first_non_empty({env.get("REMOTE_USER"), env.get("GL_USERNAME"),
                          env.get("GITEA_PUSHER_NAME"), env.get("GITHUB_USER_LOGIN"),
                          os_user_name(env)});
}

std::string strip_slash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

Action make_action(const HookOptions& o, const RefUpdate& u, const std::string& actor,
                   const std::string& repo_path) {
  Action a;
  a.actor = actor;
  if (o.kind == HookKind::kPrePush) {
    a.kind = "git.push";
    a.resource = first_non_empty({o.url, o.remote}) + ":" + u.remote_ref;
    a.attributes["remote"] = o.remote;
    a.attributes["url"] = o.url;
    a.attributes["local_ref"] = u.local_ref;
  } else {
    a.kind = "git.receive";
    a.resource = repo_path + ":" + u.remote_ref;
    a.attributes["repository"] = repo_path;
  }
  // The new tip is part of the digest: an approval is for exactly this push.
  a.attributes["ref"] = u.remote_ref;
  a.attributes["old"] = u.remote_sha;
  a.attributes["new"] = u.local_sha;
  return a;
}

void print_outcome(std::ostream& err, const Style& style, const RefUpdate& u,
                   const GateOutcome& out) {
  err << "stepgate: " << u.remote_ref << ": " << verdict_label(style, out.final_verdict);
  if (out.decision.verdict == Verdict::kStepUp && out.step_up.satisfied) {
    err << " (step-up by " << out.step_up.method
        << (out.step_up.identity.empty() ? "" : ": " + out.step_up.identity) << ")";
  }
  err << "\n";
  for (const Reason& r : out.decision.reasons) {
    err << "  - " << reason_text(r) << (r.shadow ? " (shadow)" : "") << "\n";
  }
  if (out.final_verdict != Verdict::kStepUp) return;
  for (const std::string& p : out.step_up.problems) err << "  ! " << p << "\n";
  std::string text = out.step_up.instructions;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    err << "  " << text.substr(at, nl - at) << "\n";
    at = nl + 1;
  }
}

/// Gate::open failed: block (fail closed) unless a loadable policy says on_error: allow (the
/// rule is the core's: gate_open_failure).
int open_failure(const Error& error, const HookOptions& o, CommandContext& context) {
  GateOptions options;
  options.policy_path = o.policy_path;
  options.cwd = context.io.cwd;
  options.env = context.io.env;
  options.paths = context.io.paths();
  GateFailure failure = gate_open_failure(error, options, "push");
  *context.io.err << "stepgate: " << (failure.allow ? "warning: " : "") << failure.message << "\n";
  return failure.allow ? 0 : kExitError;
}

/// Worst of two exit codes: 2 (error) > 1 (deny) > 3 (step-up) > 0.
int worse(int a, int b) {
  auto rank = [](int code) {
    return code == kExitError ? 3 : code == kExitDeny ? 2 : code == kExitStepUpHeld ? 1 : 0;
  };
  return rank(b) > rank(a) ? b : a;
}

int chain_first(const HookOptions& o, const std::string& input, CommandContext& context) {
  if (o.chained.empty()) return 0;
  std::vector<std::string> args;
  if (o.kind == HookKind::kPrePush) args = {o.remote, o.url};
  auto rc = run_chained_hook(o.chained, args, input);
  if (!rc.ok()) {
    if (rc.error().code == ErrorCode::kNotFound) return 0;  // removed by hand: nothing to chain
    return report_error(context, rc.error());
  }
  if (*rc == 0) return 0;
  *context.io.err << "stepgate: chained hook " << o.chained << " failed (exit " << *rc
                  << "); push blocked\n";
  return kExitDeny;
}

/// pre-commit's pre-push stage hands hooks no stdin, only PRE_COMMIT_* variables: rebuild the one
/// ref line they describe ("" when they are not there).
std::string pre_commit_line(const Env& env) {
  std::string to = env.get("PRE_COMMIT_TO_REF");
  std::string from = env.get("PRE_COMMIT_FROM_REF");
  std::string remote_ref = env.get("PRE_COMMIT_REMOTE_BRANCH");
  if (to.empty() || from.empty() || remote_ref.empty()) return "";
  std::string local = first_non_empty({env.get("PRE_COMMIT_LOCAL_BRANCH"), to});
  return local + " " + to + " " + remote_ref + " " + from + "\n";
}

}  // namespace

std::vector<std::string> hook_grants(HookKind kind, const ProcessContext& context) {
  const Env& env = context.env;
  std::vector<std::string> grants = split_grants(env.get("STEPGATE_GRANT"));
  if (std::string file = env.get("STEPGATE_GRANT_FILE"); !file.empty()) {
    if (auto text = read_file(relative_to(file, context.cwd), 1 << 20); text.ok()) {
      for (std::string& g : split_grants(*text)) grants.push_back(std::move(g));
    }
  }
  if (kind != HookKind::kPreReceive) return grants;
  const int count = std::atoi(env.get("GIT_PUSH_OPTION_COUNT").c_str());
  constexpr std::string_view kPrefix = "stepgate-grant=";
  for (int i = 0; i < count && i < 100; ++i) {
    std::string name = "GIT_PUSH_OPTION_" + std::to_string(i);
    std::string option = env.get(name);
    if (option.rfind(kPrefix, 0) != 0) continue;
    for (std::string& g : split_grants(option.substr(kPrefix.size())))
      grants.push_back(std::move(g));
  }
  return grants;
}

bool parse_hook_args(const std::vector<std::string>& args, HookOptions& options) {
  if (args.empty()) return false;
  const std::string_view kind = args[0];
  if (kind != "pre-push" && kind != "pre-receive") return false;
  options.kind = kind == "pre-push" ? HookKind::kPrePush : HookKind::kPreReceive;
  int positional = 0;
  bool options_done = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (!options_done && arg == "--") {
      options_done = true;
    } else if (!options_done && (arg == "--chained" || arg == "--policy") && i + 1 < args.size()) {
      (arg == "--chained" ? options.chained : options.policy_path) = args[++i];
    } else if ((options_done || arg.empty() || arg[0] != '-') &&
               options.kind == HookKind::kPrePush && positional < 2) {
      (positional++ == 0 ? options.remote : options.url) = args[i];
    } else {
      return false;
    }
  }
  return true;
}

int run_hook(const HookOptions& options, CommandContext& context) {
  HookOptions o = options;
  std::string input = read_all(context.io.in);
  if (o.kind == HookKind::kPrePush && input.empty()) {
    input = pre_commit_line(context.io.env);
    if (o.remote.empty()) o.remote = context.io.env.get("PRE_COMMIT_REMOTE_NAME");
    if (o.url.empty()) o.url = context.io.env.get("PRE_COMMIT_REMOTE_URL");
  }
  if (o.kind == HookKind::kPrePush && o.remote.empty() && !input.empty()) {
    return report_error(context, invalid_argument("hook pre-push: missing REMOTE argument"));
  }
  if (int rc = chain_first(o, input, context); rc != 0) return rc;
  auto updates = o.kind == HookKind::kPrePush ? parse_pre_push(input) : parse_pre_receive(input);
  if (!updates.ok()) {
    *context.io.err << "stepgate: " << updates.error().message << "; push blocked\n";
    return kExitError;
  }
  if (updates->empty()) return 0;

  GateOptions gate_options;
  gate_options.policy_path = o.policy_path;
  gate_options.cwd = context.io.cwd;
  gate_options.env = context.io.env;
  gate_options.paths = context.io.paths();
  gate_options.front_end = "git";
  // The repository opens (its configuration files read, its pack indexes mapped) on a second
  // thread while the gate opens (policy, state, audit log): neither needs the other.
  auto repo_opening = std::async(std::launch::async, [&context] {
    huge_pages_for_this_thread();
    return GitRepo::open(context.io.cwd, context.io.env);
  });
  std::shared_ptr<Gate> gate;  // the daemon's pooled gate, or one opened for this run
  if (o.gates != nullptr) {
    auto pooled = o.gates->get(gate_options);
    if (!pooled.ok()) return open_failure(pooled.error(), o, context);
    gate = std::move(pooled).value();
  } else {
    auto opened = Gate::open(gate_options);
    if (!opened.ok()) return open_failure(opened.error(), o, context);
    gate = std::move(opened).value();
  }
  auto repo = repo_opening.get();
  if (!repo.ok()) return open_failure(repo.error(), o, context);

  const bool no_tty = no_tty_requested(context.io.env) || o.kind == HookKind::kPreReceive;
  TerminalStepUpIo terminal;
  NoTerminalStepUpIo headless;
  StepUpIo& io = no_tty ? static_cast<StepUpIo&>(headless) : terminal;
  const std::string email = (*repo)->config_string("user.email");
  const std::string actor = hook_actor(email, o.kind, context.io.env);
  const std::string repo_path = strip_slash((*repo)->git_dir());
  PushScanOptions scan;
  scan.settings = &gate->policy().git;
  scan.pusher_email = first_non_empty({email, actor});
  // Pushing to a URL that a configured remote points at: that remote's tracking refs say what
  // the other side already has. To an unknown URL, a new branch's whole history is scanned.
  scan.remote = o.kind == HookKind::kPrePush ? (*repo)->configured_remote(o.remote, o.url) : "";
  scan.hide_all_refs = o.kind == HookKind::kPreReceive;
  // The diff and secret scans only when some rule in some layer reads what they find.
  const SignalDemand demand =
      signals_read(gate->engine(), o.kind == HookKind::kPreReceive ? "git.receive" : "git.push");
  scan.demand = &demand;
  const Style style = make_style(context);
  const std::vector<std::string> grants = hook_grants(o.kind, context.io);

  // An update of a symbolic ref (trunk -> main) moves its target: judge the target.
  for (RefUpdate& u : *updates) {
    u.remote_ref = o.kind == HookKind::kPreReceive
                       ? (*repo)->resolve_symbolic(u.remote_ref)
                       : (*repo)->resolve_remote_symbolic(scan.remote, o.url, u.remote_ref);
  }
  if (o.kind == HookKind::kPrePush) {
    for (const RefUpdate& u : *updates) scan.remote_tips.emplace_back(u.remote_ref, u.remote_sha);
  }
  int exit_code = 0;
  for (const RefUpdate& u : *updates) {
    PushSignals signals;
    if (Status st = (*repo)->collect(u, scan, signals); !st.ok()) {
      *context.io.err << "stepgate: " << u.remote_ref << ": " << st.error().message
                      << "; push blocked\n";
      exit_code = worse(exit_code, kExitError);
      continue;
    }
    if (signals.truncated) {
      *context.io.err << "stepgate: " << u.remote_ref
                      << ": warning: push too large, the secret scan stopped early\n";
    }
    GateRequest request;
    request.action = make_action(o, u, actor, repo_path);
    request.signals = std::move(signals.signals);
    request.grants = grants;
    request.allow_interactive = !no_tty;
    request.record_velocity = &u == &updates->back();  // one push counts once, however many refs
    request.now = context.io.now();
    request.device = device_fingerprint(context.io.env);
    if (o.kind == HookKind::kPrePush) {
      request.retry_command = "git push";
    } else {
      // The server never sees the pusher's environment: grants come as push options.
      request.grant_retry = "git push -o stepgate-grant=<grant>";
      request.approvals_only = true;
    }
    GateOutcome out = gate->run(request, io);
    print_outcome(*context.io.err, style, u, out);
    exit_code = worse(exit_code, out.exit_code);
  }
  return exit_code;
}

}  // namespace stepgate
