// `stepgate audit verify|show|append`: the audit log from the command line.
//
// Exit codes: verify exits 0 when the chain is intact and 1 when it is broken ("line L: problem"
// on stdout — a broken chain is a refusal, not bad input); 2 for a missing log, a bad option or an
// unreadable file, as every command.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <iterator>
#include <memory>
#include <ostream>

#include "command.h"
#include "stepgate/audit.h"
#include "stepgate/json.h"
#include "stepgate/paths.h"

namespace stepgate {
namespace {

struct AuditVerifyOptions {
  std::string path;
};

struct AuditShowOptions {
  std::string path;
  std::string kind;
  std::string verdict;
  std::string type;
  std::string since;
  std::string until;
  std::string format = "text";
};

struct AuditAppendOptions {
  std::string path;
  std::string type;
  std::string fields = "{}";
};

std::string log_path(const std::string& explicit_path) {
  return explicit_path.empty() ? Paths::from_environment().audit_log : explicit_path;
}

int64_t unix_now() {
  return static_cast<int64_t>(std::time(nullptr));
}

/// "90s", "15m", "24h", "7d", "2w" → seconds; -1 when it is not one.
int64_t parse_duration(const std::string& text) {
  if (text.size() < 2) return -1;
  char* end = nullptr;
  long long n = std::strtoll(text.c_str(), &end, 10);
  if (end != text.c_str() + text.size() - 1 || n < 0) return -1;
  switch (text.back()) {
    case 's':
      return n;
    case 'm':
      return n * 60;
    case 'h':
      return n * 3600;
    case 'd':
      return n * 86400;
    case 'w':
      return n * 7 * 86400;
    default:
      return -1;
  }
}

/// A point in time from a duration ago ("24h") or an RFC 3339 time; 0 when `text` is empty.
Result<int64_t> parse_point(const std::string& option, const std::string& text) {
  if (text.empty()) return int64_t{0};
  if (int64_t d = parse_duration(text); d >= 0) return unix_now() - d;
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest != nullptr) {
    if (*rest == '.') {
      for (++rest; *rest >= '0' && *rest <= '9';) ++rest;
    }
    if ((*rest == 'Z' || *rest == 'z') && rest[1] == '\0') return static_cast<int64_t>(timegm(&tm));
  }
  return invalid_argument(option + ": expected a duration like 24h or a UTC time like " +
                          "2024-05-01T12:00:00Z, got '" + text + "'");
}

int run_audit_verify(const AuditVerifyOptions& options, CommandContext& context) {
  std::string path = log_path(options.path);
  auto report = verify_audit_log(path);
  if (!report.ok()) return report_error(context, report.error());
  if (!report->ok) {
    *context.io.out << "line " << report->first_bad_line << ": " << report->problem << "\n";
    *context.io.err << "stepgate: audit log " << path << " is not intact (" << report->records
                    << " good records before line " << report->first_bad_line << ")\n";
    return 1;
  }
  *context.io.out << "ok: " << report->records << " records, chain intact\n";
  return 0;
}

/// One line per record: seq, time, type, then what there is of verdict, kind, actor, resource.
void print_text(std::ostream& out, const Value& r) {
  out << '#' << r.get_int("seq") << ' ' << r.get_string("time") << ' ' << r.get_string("type");
  const Value* action = r.find("action");
  const Value* decision = r.find("decision");
  std::string verdict = r.get_string("verdict");
  if (verdict.empty() && decision != nullptr) verdict = decision->get_string("verdict");
  std::string final_verdict = r.get_string("final_verdict");  // after step-up, shadow mode
  if (!final_verdict.empty() && final_verdict != verdict) verdict += "->" + final_verdict;
  if (!verdict.empty()) out << ' ' << verdict;
  const Value& a = action != nullptr && action->is_map() ? *action : r;
  for (const char* key : {"kind", "actor", "resource"}) {
    std::string v = a.get_string(key);
    if (!v.empty()) out << ' ' << key << '=' << v;
  }
  out << '\n';
}

int run_audit_show(const AuditShowOptions& options, CommandContext& context) {
  AuditFilter filter{options.kind, options.verdict, options.type, 0, 0};
  auto since = parse_point("--since", options.since);
  if (!since.ok()) return report_error(context, since.error());
  auto until = parse_point("--until", options.until);
  if (!until.ok()) return report_error(context, until.error());
  filter.since = *since;
  filter.until = *until;
  auto records = read_audit_log(log_path(options.path), filter);
  if (!records.ok()) return report_error(context, records.error());
  for (const Value& r : *records) {
    if (options.format == "json") {
      *context.io.out << to_json(r) << '\n';
    } else {
      print_text(*context.io.out, r);
    }
  }
  return 0;
}

int run_audit_append(const AuditAppendOptions& options, CommandContext& context) {
  std::string text = options.fields;
  if (text == "-") {
    text.assign(std::istreambuf_iterator<char>(*context.io.in), std::istreambuf_iterator<char>());
  }
  auto fields = parse_json(text);
  if (!fields.ok())
    return report_error(context, invalid_argument("--fields: " + fields.error().message));
  if (!fields->is_map())
    return report_error(context, invalid_argument("--fields: expected a JSON object"));
  auto log = AuditLog::open(log_path(options.path));
  if (!log.ok()) return report_error(context, log.error());
  if (Status s = (*log)->append(options.type, *fields); !s.ok())
    return report_error(context, s.error());
  return 0;
}

void setup_audit_verify(CLI::App& audit, CommandContext& context) {
  auto options = std::make_shared<AuditVerifyOptions>();
  CLI::App* cmd = audit.add_subcommand(
      "verify", "Check the audit log's hash chain; exit 1 and name the first bad line if broken");
  cmd->add_option("--path", options->path, "Audit log (default: the state directory's)");
  cmd->callback([options, &context] { context.exit_code = run_audit_verify(*options, context); });
}

void setup_audit_show(CLI::App& audit, CommandContext& context) {
  auto options = std::make_shared<AuditShowOptions>();
  CLI::App* cmd = audit.add_subcommand("show", "Print audit records, filtered");
  cmd->add_option("--path", options->path, "Audit log (default: the state directory's)");
  cmd->add_option("--kind", options->kind, "Glob on the action kind (git.*)");
  cmd->add_option("--verdict", options->verdict, "allow, step_up or deny")
      ->check(CLI::IsMember({"allow", "step_up", "deny"}));
  cmd->add_option("--type", options->type, "Record type (decision, stepup...)");
  cmd->add_option("--since", options->since, "A duration ago (24h, 7d) or an RFC 3339 UTC time");
  cmd->add_option("--until", options->until, "A duration ago or an RFC 3339 UTC time");
  cmd->add_option("--format", options->format, "text or json (JSON Lines)")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->callback([options, &context] { context.exit_code = run_audit_show(*options, context); });
}

void setup_audit_append(CLI::App& audit, CommandContext& context) {
  auto options = std::make_shared<AuditAppendOptions>();
  CLI::App* cmd = audit.add_subcommand(
      "append", "Append one record (for scripts and CI steps); secrets are redacted");
  cmd->add_option("--path", options->path, "Audit log (default: the state directory's)");
  cmd->add_option("--type", options->type, "Record type")->required();
  cmd->add_option("--fields", options->fields,
                  "The record's fields: a JSON object, or - for stdin");
  cmd->callback([options, &context] { context.exit_code = run_audit_append(*options, context); });
}

}  // namespace

void register_audit_commands(CLI::App& app, CommandContext& context) {
  CLI::App* audit = app.add_subcommand("audit", "Verify and read the tamper-evident audit log");
  audit->require_subcommand(1);
  setup_audit_verify(*audit, context);
  setup_audit_show(*audit, context);
  setup_audit_append(*audit, context);
}

}  // namespace stepgate
