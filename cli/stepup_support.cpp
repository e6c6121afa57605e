#include "stepup_support.h"

#include <iostream>

#include "stepgate/audit.h"
#include "stepgate/gate.h"
#include "stepgate/stepup.h"

namespace stepgate::stepup_cli {

std::string default_principal(const char* first_env) {
  if (first_env != nullptr) {
    std::string v = env_or_empty(first_env);
    if (!v.empty()) return v;
  }
  return default_actor();
}

Status check_id(const std::string& id, const char* what) {
  if (is_valid_principal_id(id)) return {};
  return invalid_argument(std::string("invalid ") + what + " id `" + id +
                          "` (use letters, digits, . _ @ -)");
}

Result<std::unique_ptr<StateStore>> open_store(const Paths& paths) {
  Status dir = ensure_private_dir(paths.state_dir);
  if (!dir) return dir.error();
  return StateStore::open(paths.state_db);
}

Result<std::shared_ptr<const Policy>> find_policy(const std::string& explicit_path,
                                                  const std::string& cwd) {
  auto path = find_policy_path(explicit_path, cwd);
  if (!path) {
    if (path.error().code == ErrorCode::kNotFound && explicit_path.empty()) {
      return std::shared_ptr<const Policy>();
    }
    return path.error();
  }
  return load_policy_file(*path);
}

void audit_event(CommandContext& context, const Paths& paths, const Policy* policy,
                 const std::string& type, const Value& fields) {
  std::string path =
      policy != nullptr && !policy->audit.path.empty() ? policy->audit.path : paths.audit_log;
  auto log = open_checkpointed_audit_log(path, paths.state_db, paths.secrets_dir);
  Status appended = log ? (*log)->append(type, fields) : Status(log.error());
  if (!appended)
    *context.io.err << "stepgate: warning: audit: " << appended.error().message << "\n";
}

std::string read_answer(CommandContext& context, const std::string& prompt, bool secret) {
  TerminalStepUpIo tty;
  if (tty.has_terminal() && isatty(STDIN_FILENO) != 0 && context.io.in == &std::cin) {
    if (secret) {
      auto line = tty.prompt_secret(prompt, std::chrono::seconds(120));
      return line ? *line : std::string();
    }
  }
  *context.io.err << prompt << std::flush;
  std::string line;
  if (!std::getline(*context.io.in, line)) return "";
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace stepgate::stepup_cli
