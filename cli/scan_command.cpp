// `stepgate scan [PATH] [--git RANGE]`: the push's secret scanner outside a push, for CI and for
// a baseline of accepted findings.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <set>

#include "command.h"
#include "scan_sources.h"
#include "stepgate/crypto.h"
#include "stepgate/files.h"
#include "stepgate/json.h"
#include "stepgate/policy.h"
#include "stepgate/policy_layers.h"
#include "stepgate/secrets.h"
#include "stepgate/value.h"

namespace stepgate {
namespace {

struct ScanOptions {
  std::string path = ".";
  std::string git_range;
  std::string format = "text";
  std::string baseline;
  std::string write_baseline;
  std::string policy;
  bool list_rules = false;
};

constexpr std::size_t kMaxBaselineBytes = std::size_t{16} << 20;

/// The git settings in force here: the first policy layer's (as a push uses), the defaults when
/// there is no policy at all.
Result<std::shared_ptr<const Policy>> settings_policy(const ScanOptions& o,
                                                      CommandContext& context) {
  auto found = find_policy_layers(o.policy, context.io.cwd, kSystemPolicyPath, context.io.env);
  if (!found.ok()) {
    if (found.error().code == ErrorCode::kNotFound && o.policy.empty()) {
      return std::shared_ptr<const Policy>(std::make_shared<Policy>());
    }
    return found.error();
  }
  return load_policy_file(found->front().path);
}

/// A finding's stable name: the rule, the file and the secret itself, hashed (the baseline
/// holds no secret, and a line moving keeps its fingerprint).
std::string fingerprint(const ScanFinding& f) {
  return sha256_hex(f.rule_id + '\0' + f.path + '\0' + f.secret).substr(0, 32);
}

Value finding_json(const ScanFinding& f, const std::string& print) {
  Map m{{"rule", Value(f.rule_id)},
        {"path", Value(f.path)},
        {"line", Value(static_cast<int64_t>(f.line))},
        {"column", Value(static_cast<int64_t>(f.column))},
        {"fingerprint", Value(print)}};
  if (!f.commit.empty()) m.emplace("commit", Value(f.commit));
  return Value(std::move(m));
}

Result<std::set<std::string>> read_baseline(const std::string& path) {
  auto text = read_file(path, kMaxBaselineBytes);
  if (!text.ok()) return text.error();
  auto doc = parse_json(*text);
  if (!doc.ok()) return invalid_argument(path + ": " + doc.error().message);
  const Value* findings = doc->is_map() ? doc->find("findings") : nullptr;
  if (findings == nullptr || !findings->is_list()) {
    return invalid_argument(path +
                            ": a baseline is the JSON `stepgate scan --format json` "
                            "writes (an object with a `findings` list)");
  }
  std::set<std::string> prints;
  for (const Value& item : findings->as_list()) {
    const Value* print = item.is_map() ? item.find("fingerprint") : nullptr;
    if (print == nullptr || !print->is_string()) {
      return invalid_argument(path + ": every finding needs a `fingerprint` string");
    }
    prints.insert(print->as_string());
  }
  return prints;
}

Status write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return make_error(ErrorCode::kInvalidArgument, "cannot write " + path);
  return {};
}

void print_rules(const SecretScanner& scanner, const std::string& format, std::ostream& out) {
  if (format == "json") {
    List rules;
    for (const SecretRuleInfo& r : scanner.rules()) {
      List keywords;
      for (const std::string& k : r.keywords) keywords.emplace_back(k);
      rules.emplace_back(Map{{"id", Value(r.id)},
                             {"description", Value(r.description)},
                             {"regex", Value(r.regex)},
                             {"keywords", Value(std::move(keywords))},
                             {"builtin", Value(r.builtin)}});
    }
    out << to_pretty_json(Value(std::move(rules))) << "\n";
    return;
  }
  for (const SecretRuleInfo& r : scanner.rules()) {
    out << r.id << (r.builtin ? "" : " (policy)") << ": " << r.description << "\n";
  }
}

Status run_scan(const ScanOptions& o, CommandContext& context) {
  auto policy = settings_policy(o, context);
  if (!policy.ok()) return policy.error();
  const GitSettings& git = (*policy)->git;
  std::ostream& out = *context.io.out;
  if (o.list_rules) {
    print_rules(git.secrets(), o.format, out);
    return {};
  }
  std::set<std::string> accepted;
  if (!o.baseline.empty()) {
    auto read = read_baseline(o.baseline);
    if (!read.ok()) return read.error();
    accepted = std::move(*read);
  }
  namespace fs = std::filesystem;
  const fs::path root =
      fs::path(o.path).is_absolute() ? fs::path(o.path) : fs::path(context.io.cwd) / o.path;
  auto found = o.git_range.empty() ? scan_tree(root.lexically_normal().string(), git)
                                   : scan_git_range(root.string(), o.git_range, git);
  if (!found.ok()) return found.error();
  List all;
  List fresh;
  std::set<std::string> seen;
  std::size_t known = 0;
  for (const ScanFinding& f : found->findings) {
    const std::string print = fingerprint(f);
    // The same secret in the same file through many commits is one finding.
    if (!seen.insert(print).second) continue;
    all.push_back(finding_json(f, print));
    if (accepted.contains(print)) {
      ++known;
      continue;
    }
    fresh.push_back(all.back());
    if (o.format == "text" && o.write_baseline.empty()) {
      out << f.path << ":" << f.line << ":" << f.column << ": " << f.rule_id << " (fingerprint "
          << print << (f.commit.empty() ? "" : ", commit " + f.commit.substr(0, 12)) << ")\n";
    }
  }
  if (!o.write_baseline.empty()) {
    const Map doc{{"version", Value(int64_t{1})}, {"findings", Value(std::move(all))}};
    if (Status s = write_text(o.write_baseline, to_pretty_json(Value(doc)) + "\n"); !s.ok())
      return s;
    *context.io.err << "stepgate: wrote " << seen.size() << " finding(s) to " << o.write_baseline
                    << "\n";
    return {};
  }
  const std::size_t new_count = fresh.size();
  if (o.format == "json") {
    const Map doc{{"version", Value(int64_t{1})},
                  {"findings", Value(std::move(fresh))},
                  {"accepted_by_baseline", Value(static_cast<int64_t>(known))},
                  {"scanned_bytes", Value(static_cast<int64_t>(found->scanned_bytes))},
                  {"skipped_files", Value(static_cast<int64_t>(found->skipped_files))},
                  {"incomplete", Value(found->incomplete)}};
    out << to_pretty_json(Value(doc)) << "\n";
  } else {
    *context.io.err << "stepgate: " << new_count << " finding(s)";
    if (known > 0) *context.io.err << ", " << known << " accepted by the baseline";
    *context.io.err << "; " << found->scanned_bytes << " bytes scanned";
    if (found->skipped_files > 0) {
      *context.io.err << ", " << found->skipped_files << " binary or oversized file(s) skipped";
    }
    if (found->incomplete) *context.io.err << "; incomplete: a file over the 64 MiB scan cap";
    *context.io.err << "\n";
  }
  context.exit_code = new_count > 0 ? 1 : 0;
  return {};
}

}  // namespace

void register_scan_command(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<ScanOptions>();
  CLI::App* cmd = app.add_subcommand(
      "scan",
      "Scan files or a git range for secrets with the push's rules (exit 1 on new findings)");
  cmd->add_option("path", o->path, "File, directory or (with --git) repository; default: .");
  cmd->add_option(
      "--git", o->git_range,
      "Scan what the commits of RANGE (as `git log RANGE`) add, as a push would be scanned");
  cmd->add_option("--format", o->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--baseline", o->baseline,
                  "Accept the findings listed in FILE (by fingerprint; a --format json output)");
  cmd->add_option("--write-baseline", o->write_baseline,
                  "Write every finding to FILE as a baseline and exit 0");
  cmd->add_option("--policy", o->policy, "Policy whose git.secrets settings apply");
  cmd->add_flag("--list-rules", o->list_rules, "List the rules in force and exit");
  cmd->callback([o, &context] {
    if (Status s = run_scan(*o, context); !s.ok())
      context.exit_code = report_error(context, s.error());
  });
}

}  // namespace stepgate
