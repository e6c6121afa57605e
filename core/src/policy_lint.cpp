// `policy lint`: checks that rules only name identifiers and signals that exist for their kinds.
#include "stepgate/policy.h"
#include "stepgate/signals.h"

namespace stepgate {
namespace {

// Signals named by {signals.x} / {x} placeholders in a message.
std::vector<std::string> placeholder_signals(const std::string& message) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while ((i = message.find('{', i)) != std::string::npos) {
    const std::size_t end = message.find('}', i);
    if (end == std::string::npos) break;
    std::string name = message.substr(i + 1, end - i - 1);
    i = end;
    if (name.rfind("action.", 0) == 0 || name == "action") continue;
    if (name.rfind("signals.", 0) == 0) name = name.substr(8);
    out.push_back(name.substr(0, name.find('.')));
  }
  return out;
}

void lint_rule(const Rule& rule, const SignalRegistry& registry, std::vector<LintFinding>& out) {
  for (const std::string& ident : rule.when.identifiers()) {
    if (ident != "action" && ident != "signals") {
      out.push_back({rule.location, rule.id,
                     "rule `" + rule.id + "`: unknown identifier `" + ident +
                         "` (only `action` and `signals` exist)"});
    }
  }
  for (const std::string& name : rule.when.referenced_signals()) {
    if (registry.provided_for(name, rule.on)) continue;
    const bool known = registry.find(name) != nullptr;
    out.push_back({rule.location, rule.id,
                   "rule `" + rule.id + "`: signals." + name +
                       (known ? " is not provided for `" + rule.on + "` actions"
                              : " is not provided by any collector")});
  }
  // Type errors are placed at the `when` value; the message names the column inside it.
  for (const std::string& error : rule.when.type_errors()) {
    out.push_back({rule.when_location.line == 0 ? rule.location : rule.when_location, rule.id,
                   "rule `" + rule.id + "`: when: " + error});
  }
  for (const std::string& name : placeholder_signals(rule.message)) {
    if (registry.provided_for(name, rule.on)) continue;
    out.push_back({rule.location, rule.id,
                   "rule `" + rule.id + "`: message placeholder {" + name +
                       "} names no signal provided for `" + rule.on + "` actions"});
  }
}

}  // namespace

std::vector<LintFinding> lint_policy(const Policy& policy) {
  std::vector<LintFinding> findings;
  const SignalRegistry& registry = SignalRegistry::builtin();
  for (const Rule& rule : policy.rules) lint_rule(rule, registry, findings);
  return findings;
}

}  // namespace stepgate
