// `stepgate scan [PATH] [--git RANGE]`: the push's secret scanner outside a push, for CI and for
// a baseline of accepted findings.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <set>

#include "command.h"
#include "scan_baseline.h"
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

/// What the baseline knows of a finding.
BaselineFinding baseline_finding(const ScanFinding& f) {
  return {f.rule_id, f.path, f.secret, f.line, f.column, f.commit};
}

/// A finding as `--format json` prints it: where it is, never a value derived from the secret
/// (a fast hash of a weak secret in a CI log would give it away as the old fingerprints did).
Value finding_json(const ScanFinding& f) {
  Map m{{"rule", Value(f.rule_id)},
        {"path", Value(f.path)},
        {"line", Value(static_cast<int64_t>(f.line))},
        {"column", Value(static_cast<int64_t>(f.column))}};
  if (!f.commit.empty()) m.emplace("commit", Value(f.commit));
  return Value(std::move(m));
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
  std::optional<ScanBaseline> accepted;
  if (!o.baseline.empty()) {
    auto read = ScanBaseline::read(o.baseline);
    if (!read.ok()) return read.error();
    accepted = std::move(read).value();
  }
  namespace fs = std::filesystem;
  const fs::path root =
      fs::path(o.path).is_absolute() ? fs::path(o.path) : fs::path(context.io.cwd) / o.path;
  auto found = o.git_range.empty() ? scan_tree(root.lexically_normal().string(), git)
                                   : scan_git_range(root.string(), o.git_range, git);
  if (!found.ok()) return found.error();
  // The same secret in the same file through many commits is one finding.
  std::vector<const ScanFinding*> unique;
  std::vector<BaselineFinding> for_baseline;
  std::set<std::string> seen;
  for (const ScanFinding& f : found->findings) {
    if (!seen.insert(f.rule_id + '\0' + f.path + '\0' + f.secret).second) continue;
    unique.push_back(&f);
    for_baseline.push_back(baseline_finding(f));
  }
  if (!o.write_baseline.empty()) {
    auto written = ScanBaseline::create();
    if (!written.ok()) return written.error();
    if (Status s = written->add_each(for_baseline); !s.ok()) return s;
    if (Status s = write_text(o.write_baseline, written->to_json_text()); !s.ok()) return s;
    *context.io.err << "stepgate: wrote " << written->size() << " finding(s) to "
                    << o.write_baseline << "\n";
    return {};
  }
  const std::vector<bool> known_each =
      accepted ? accepted->accepts_each(for_baseline) : std::vector<bool>(unique.size(), false);
  List fresh;
  std::size_t known = 0;
  for (std::size_t i = 0; i < unique.size(); ++i) {
    const ScanFinding& f = *unique[i];
    if (known_each[i]) {
      ++known;
      continue;
    }
    fresh.push_back(finding_json(f));
    if (o.format == "text") {
      out << f.path << ":" << f.line << ":" << f.column << ": " << f.rule_id
          << (f.commit.empty() ? "" : " (commit " + f.commit.substr(0, 12) + ")") << "\n";
    }
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
                  "Accept the findings listed in FILE (written by --write-baseline)");
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
