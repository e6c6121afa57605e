// explain_rules: a rule's `when`, evaluated part by part for `policy explain` (rule_explain.h).
// It splits the source text and compiles each part with the public Expression API, so it needs
// nothing from the compiled tree the engine evaluates.
#include "stepgate/rule_explain.h"

#include "stepgate/glob.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

constexpr int kMaxDepth = 8;

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

/// Calls visit(i, depth) for each character outside string literals; stops when it returns false.
template <typename Visit>
void scan(const std::string& s, Visit visit) {
  int depth = 0;
  char quote = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quote != 0) {
      if (c == '\\')
        ++i;
      else if (c == quote)
        quote = 0;
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (!visit(i, depth)) return;
  }
}

/// True when the first '(' closes at the very end: "(a && b)" but not "(a) && (b)".
bool wrapped(const std::string& s) {
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') return false;
  bool whole = true;
  scan(s, [&](std::size_t i, int depth) {
    if (depth == 0 && i + 1 < s.size()) whole = false;
    return whole;
  });
  return whole;
}

std::string unwrap(std::string s) {
  s = trim(s);
  while (wrapped(s)) s = trim(s.substr(1, s.size() - 2));
  return s;
}

std::string render(const Value& v) {
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  return to_json(v);
}

std::vector<std::string> reads_of(const Expression& e, const Value& signals) {
  std::vector<std::string> out;
  for (const std::string& name : e.referenced_signals()) {
    const Value* v = signals.find(name);
    out.push_back("signals." + name + " = " + (v != nullptr ? render(*v) : "(not set)"));
  }
  return out;
}

ConditionTrace trace(const std::string& source, const Value& activation, const Value& signals,
                     int depth) {
  ConditionTrace t;
  t.source = unwrap(source);
  auto compiled = Expression::compile(t.source);
  if (!compiled.ok()) {
    t.result = "error: " + compiled.error().message;
    return t;
  }
  auto value = compiled->evaluate(activation);
  t.result = value.ok() ? render(*value) : "error: " + value.error().message;
  t.reads = reads_of(*compiled, signals);
  if (depth >= kMaxDepth) return t;
  for (const char* op : {"||", "&&"}) {  // || binds looser: split there first
    auto parts = split_top_level(t.source, op);
    if (parts.size() < 2) continue;
    t.op = op;
    for (const std::string& p : parts) t.parts.push_back(trace(p, activation, signals, depth + 1));
    break;
  }
  return t;
}

}  // namespace

std::vector<std::string> split_top_level(const std::string& source, const std::string& op) {
  const std::string s = unwrap(source);
  std::vector<std::string> parts;
  std::size_t start = 0;
  bool ternary = false;
  scan(s, [&](std::size_t i, int depth) {
    if (depth != 0) return true;
    if (s[i] == '?') ternary = true;
    if (s.compare(i, op.size(), op) == 0) {
      parts.push_back(trim(s.substr(start, i - start)));
      start = i + op.size();
    }
    return true;
  });
  parts.push_back(trim(s.substr(start)));
  if (ternary || parts.size() < 2) return {s};
  return parts;
}

std::vector<RuleTrace> explain_rules(const Policy& policy, const Action& action,
                                     const Value& signals) {
  const Value activation = Map{{"action", action_to_value(action)}, {"signals", signals}};
  std::vector<RuleTrace> out;
  for (const Rule& rule : policy.rules) {
    RuleTrace t;
    t.rule = &rule;
    t.applies = glob_match(rule.on, action.kind);
    if (t.applies) {
      t.when = trace(rule.when.source(), activation, signals, 0);
      t.matched = t.when.result == "true";
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace stepgate
