// `stepgate audit verify|show|append`: the audit log from the command line.
//
// Exit codes: verify exits 0 when the chain is intact and 1 when it is broken ("line L: problem"
// on stdout — a broken chain is a refusal, not bad input) or does not match its signed checkpoint
// ("checkpoint: problem"); 2 for a missing log without a checkpoint, a bad option or an unreadable
// file, as every command.
//
// `append` writes annotation records only ({"type":"annotation","label":...,"fields":{...}}): any
// process running as the user can call it, so it must not be able to add a record that reads as a
// decision, a step-up or an enrolment.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "command.h"
#include "report_render.h"
#include "stepgate/audit.h"
#include "stepgate/audit_report.h"
#include "stepgate/crypto.h"
#include "stepgate/files.h"
#include "stepgate/json.h"
#include "stepgate/paths.h"
#include "stepgate/store.h"

namespace stepgate {
namespace {

struct AuditVerifyOptions {
  std::string path;
};

struct AuditShowOptions {
  std::string path;
  std::string kind;
  std::string actor;
  std::string rule;
  std::string front_end;
  std::string verdict;
  std::string type;
  std::string since;
  std::string until;
  std::string format = "text";
};

struct ReportOptions {
  std::string path;
  std::string since;
  std::string until;
  std::string format = "text";
  std::string output;
};

struct AuditAppendOptions {
  std::string path;
  std::string label;
  std::string fields = "{}";
};

constexpr std::size_t kMaxLabelSize = 64;

std::string log_path(const std::string& explicit_path, const ProcessContext& process) {
  return explicit_path.empty() ? process.paths().audit_log : explicit_path;
}

std::string absolute_log_path(const std::string& path) {
  std::error_code ec;
  std::string absolute = std::filesystem::absolute(path, ec).lexically_normal().string();
  return ec ? path : absolute;
}

/// The signed checkpoint kept for `path`, opened with the local key; nullopt when there is none
/// (no state store yet, or nothing checkpointed). An error when one exists but does not verify.
Result<std::optional<AuditCheckpoint>> local_checkpoint(const std::string& path,
                                                        const Paths& paths) {
  std::error_code ec;
  if (!std::filesystem::exists(paths.state_db, ec)) return std::optional<AuditCheckpoint>();
  auto store = StateStore::open(paths.state_db);
  if (!store.ok()) return store.error();
  auto note = (*store)->get_audit_checkpoint(absolute_log_path(path));
  if (!note.ok()) return note.error();
  if (!note->has_value()) return std::optional<AuditCheckpoint>();
  auto key = load_local_checkpoint_key(paths.secrets_dir, /*create=*/false);
  if (!key.ok()) {
    return make_error(
        ErrorCode::kPermissionDenied,
        "a signed checkpoint exists but its key cannot be read: " + key.error().message);
  }
  auto public_key = ed25519_public_from_private(key->private_key);
  if (!public_key.ok()) return public_key.error();
  auto checkpoint = open_audit_checkpoint(**note, key->name, *public_key);
  if (!checkpoint.ok()) return checkpoint.error();
  if (checkpoint->origin != audit_checkpoint_origin(path)) {
    return make_error(
        ErrorCode::kPermissionDenied,
        "the signed checkpoint is for another log (origin " + checkpoint->origin + ")");
  }
  return std::optional<AuditCheckpoint>(std::move(checkpoint).value());
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
Result<int64_t> parse_point(const std::string& option, const std::string& text, int64_t now) {
  if (text.empty()) return int64_t{0};
  if (int64_t d = parse_duration(text); d >= 0) return now - d;
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

/// The store and secrets kept beside a log, as the authority keeps its log of record
/// (/var/lib/stepgate: audit.jsonl, state.db, secrets/audit/checkpoint.key); nullopt when the
/// log's directory holds no such pair, or it is the configured store.
std::optional<Paths> paths_beside(const std::string& path, const Paths& configured) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(absolute_log_path(path)).parent_path();
  const std::string db = (dir / "state.db").string();
  std::error_code ec;
  if (db == absolute_log_path(configured.state_db) || !fs::is_regular_file(db, ec) ||
      !fs::is_regular_file(dir / "secrets/audit/checkpoint.key", ec)) {
    return std::nullopt;
  }
  Paths beside = configured;
  beside.state_dir = dir.string();
  beside.state_db = db;
  beside.secrets_dir = (dir / "secrets").string();
  return beside;
}

int run_audit_verify(const AuditVerifyOptions& options, CommandContext& context) {
  std::string path = log_path(options.path, context.io);
  auto checkpoint = local_checkpoint(path, context.io.paths());
  // None where this user keeps checkpoints: the log's own store, beside it, may have one (the
  // administrator verifying the authority's log needs no variables naming its directories).
  if (checkpoint.ok() && !checkpoint->has_value()) {
    if (auto beside = paths_beside(path, context.io.paths())) {
      checkpoint = local_checkpoint(path, *beside);
    }
  }
  if (!checkpoint.ok()) {
    // A checkpoint that exists and does not verify is tampering, not bad input.
    if (checkpoint.error().code != ErrorCode::kPermissionDenied &&
        checkpoint.error().code != ErrorCode::kInvalidArgument) {
      return report_error(context, checkpoint.error());
    }
    *context.io.out << "checkpoint: " << checkpoint.error().message << "\n";
    *context.io.err << "stepgate: audit log " << path << " cannot be checked against its signed "
                    << "checkpoint\n";
    return 1;
  }
  auto report =
      checkpoint->has_value() ? verify_audit_log(path, **checkpoint) : verify_audit_log(path);
  if (!report.ok()) return report_error(context, report.error());
  if (!report->ok) {
    if (report->first_bad_line != 0) {
      *context.io.out << "line " << report->first_bad_line << ": " << report->problem << "\n";
      *context.io.err << "stepgate: audit log " << path << " is not intact (" << report->records
                      << " good records before line " << report->first_bad_line << ")\n";
    } else {
      *context.io.out << "checkpoint: " << report->problem << "\n";
      *context.io.err << "stepgate: audit log " << path
                      << " does not match its signed checkpoint\n";
    }
    return 1;
  }
  *context.io.out << "ok: " << report->records << " records, chain intact";
  if (checkpoint->has_value()) {
    *context.io.out << ", matches the signed checkpoint of " << (*checkpoint)->head.size
                    << " records";
  } else {
    *context.io.out << " (no signed checkpoint yet: a cut tail would not show)";
  }
  *context.io.out << "\n";
  return 0;
}

constexpr std::size_t kMaxCell = 48;

/// Long cells are cut in the middle (a resource's end, the ref, matters as much as its start) so
/// the table stays readable; --format json has them whole.
std::string cell(std::string text) {
  if (text.empty()) return "-";
  if (text.size() > kMaxCell) {
    const std::size_t keep = (kMaxCell - 3) / 2;
    text = text.substr(0, keep) + "..." + text.substr(text.size() - keep);
  }
  return text;
}

/// The rule ids a decision's reasons name, shadow ones marked "(shadow)".
std::string record_rules(const Value& r) {
  const Value* decision = r.find("decision");
  const Value* reasons = decision != nullptr ? decision->find("reasons") : nullptr;
  if (reasons == nullptr || !reasons->is_list()) return "";
  std::string out;
  for (const Value& reason : reasons->as_list()) {
    if (!out.empty()) out += ',';
    out += reason.get_string("rule");
    if (reason.get_bool("shadow")) out += "(shadow)";
  }
  return out;
}

/// One table row: what there is of each column for any record type.
std::vector<std::string> record_row(const Value& r) {
  const Value* action = r.find("action");
  const Value* decision = r.find("decision");
  std::string verdict = r.get_string("verdict");
  if (verdict.empty() && decision != nullptr) verdict = decision->get_string("verdict");
  if (verdict.empty()) verdict = r.get_string("outcome", r.get_string("decision"));
  std::string final_verdict = r.get_string("final_verdict");  // after step-up, shadow mode
  if (!final_verdict.empty() && final_verdict != verdict) verdict += "->" + final_verdict;
  const Value& a = action != nullptr && action->is_map() ? *action : r;
  std::string actor = a.get_string("actor");
  for (const char* key : {"decided_by", "approver", "identity"}) {
    if (actor.empty()) actor = r.get_string(key);
  }
  std::string time = r.get_string("time");
  if (time.size() > 19) time = time.substr(0, 19) + "Z";  // to the second
  return {std::to_string(r.get_int("seq")),
          time,
          r.get_string("type"),
          cell(verdict),
          cell(r.get_string("front_end")),
          cell(a.get_string("kind")),
          cell(actor),
          cell(a.get_string("resource")),
          record_rules(r).empty() ? "-" : record_rules(r)};  // the last column: never cut
}

/// An aligned table with a header, the last column unpadded.
void print_table(std::ostream& out, const std::vector<Value>& records) {
  std::vector<std::vector<std::string>> rows = {
      {"SEQ", "TIME", "TYPE", "VERDICT", "FRONT-END", "KIND", "ACTOR", "RESOURCE", "RULES"}};
  for (const Value& r : records) rows.push_back(record_row(r));
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

int run_audit_show(const AuditShowOptions& options, CommandContext& context) {
  AuditFilter filter;
  filter.kind = options.kind;
  filter.verdict = options.verdict;
  filter.type = options.type;
  filter.actor = options.actor;
  filter.rule = options.rule;
  filter.front_end = options.front_end;
  auto since = parse_point("--since", options.since, context.io.now());
  if (!since.ok()) return report_error(context, since.error());
  auto until = parse_point("--until", options.until, context.io.now());
  if (!until.ok()) return report_error(context, until.error());
  filter.since = *since;
  filter.until = *until;
  auto records = read_audit_log(log_path(options.path, context.io), filter);
  if (!records.ok()) return report_error(context, records.error());
  if (options.format == "json") {
    for (const Value& r : *records) *context.io.out << to_json(r) << '\n';
    return 0;
  }
  if (records->empty()) {
    *context.io.err << "stepgate: no audit records match\n";
    return 0;
  }
  print_table(*context.io.out, *records);
  return 0;
}

std::string report_period(const ReportOptions& options) {
  if (options.since.empty() && options.until.empty()) return "all records";
  std::string period;
  if (!options.since.empty()) {
    period =
        parse_duration(options.since) >= 0 ? "last " + options.since : "since " + options.since;
  }
  if (!options.until.empty()) period += (period.empty() ? "until " : ", until ") + options.until;
  return period;
}

int run_report(const ReportOptions& options, CommandContext& context) {
  AuditFilter filter;
  auto since = parse_point("--since", options.since, context.io.now());
  if (!since.ok()) return report_error(context, since.error());
  auto until = parse_point("--until", options.until, context.io.now());
  if (!until.ok()) return report_error(context, until.error());
  filter.since = *since;
  filter.until = *until;
  auto records = read_audit_log(log_path(options.path, context.io), filter);
  if (!records.ok()) return report_error(context, records.error());
  const AuditReport report = build_audit_report(*records);
  const std::string period = report_period(options);
  std::string text;
  if (options.format == "json") {
    Value v = audit_report_to_value(report);
    v["period"] = period;
    text = to_pretty_json(v) + "\n";
  } else if (options.format == "html") {
    text = render_report_html(report, period);
  } else {
    text = render_report_text(report, period);
  }
  if (options.output.empty()) {
    *context.io.out << text;
    return 0;
  }
  // The report names actors and resources from a private log: it stays private (0600).
  if (Status s = write_secret_file(options.output, text); !s.ok()) {
    return report_error(context, s.error());
  }
  return 0;
}

bool plain_label(const std::string& label) {
  if (label.empty() || label.size() > kMaxLabelSize) return false;
  return std::all_of(label.begin(), label.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '.' || c == '_' || c == '-';
  });
}

int run_audit_append(const AuditAppendOptions& options, CommandContext& context) {
  if (!plain_label(options.label)) {
    return report_error(context, invalid_argument("--label: 1 to 64 letters, digits, . _ -"));
  }
  std::string text = options.fields;
  if (text == "-") {
    text.assign(std::istreambuf_iterator<char>(*context.io.in), std::istreambuf_iterator<char>());
  }
  auto fields = parse_json(text);
  if (!fields.ok())
    return report_error(context, invalid_argument("--fields: " + fields.error().message));
  if (!fields->is_map())
    return report_error(context, invalid_argument("--fields: expected a JSON object"));
  // The caller's fields sit under "fields", so none of them reads as a decision's keys.
  Value record = Map{};
  record["label"] = options.label;
  record["by"] = os_user_name();
  record["fields"] = std::move(fields).value();
  const Paths paths = context.io.paths();
  auto log = open_checkpointed_audit_log(log_path(options.path, context.io), paths.state_db,
                                         paths.secrets_dir);
  if (!log.ok()) return report_error(context, log.error());
  if (Status s = (*log)->append("annotation", record); !s.ok())
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
  CLI::App* cmd = audit.add_subcommand(
      "show",
      "Print audit records as a table, filtered by kind, actor, rule, verdict, front-end, time");
  cmd->add_option("--path", options->path, "Audit log (default: the state directory's)");
  cmd->add_option("--kind", options->kind, "Glob on the action kind (git.*)");
  cmd->add_option("--actor", options->actor, "Glob on the actor (or approver)");
  cmd->add_option("--rule", options->rule, "Glob on a rule id the decision matched");
  cmd->add_option("--front-end", options->front_end, "Glob on the front-end (git, ci, shim...)");
  cmd->add_option("--verdict", options->verdict, "allow, step_up or deny")
      ->check(CLI::IsMember({"allow", "step_up", "deny"}));
  cmd->add_option("--type", options->type, "Record type (decision, stepup...)");
  cmd->add_option("--since", options->since, "A duration ago (24h, 7d) or an RFC 3339 UTC time");
  cmd->add_option("--until", options->until, "A duration ago or an RFC 3339 UTC time");
  cmd->add_option("--format", options->format, "text (a table) or json (JSON Lines)")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->callback([options, &context] { context.exit_code = run_audit_show(*options, context); });
}

void setup_audit_append(CLI::App& audit, CommandContext& context) {
  auto options = std::make_shared<AuditAppendOptions>();
  CLI::App* cmd = audit.add_subcommand(
      "append",
      "Append an annotation record (type `annotation`, for scripts and CI steps); secrets are "
      "redacted. Decisions and step-ups are written only by the gate");
  cmd->add_option("--path", options->path, "Audit log (default: the state directory's)");
  cmd->add_option("--label", options->label, "What the annotation is (letters, digits, . _ -)")
      ->required();
  cmd->add_option("--fields", options->fields,
                  "The annotation's fields: a JSON object, or - for stdin");
  cmd->callback([options, &context] { context.exit_code = run_audit_append(*options, context); });
}

void setup_report(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "What the audit log says: per rule, actor and front-end how often rules matched, stepped "
      "up, denied or would have (shadow); step-up durations; approvals; lockouts");
  cmd->add_option("--path", options->path, "Audit log (default: the state directory's)");
  cmd->add_option("--since", options->since,
                  "A duration ago (24h, 7d) or an RFC 3339 UTC time (default: the whole log)");
  cmd->add_option("--until", options->until, "A duration ago or an RFC 3339 UTC time");
  cmd->add_option("--format", options->format,
                  "text, json, or html (one self-contained page with SVG charts)")
      ->check(CLI::IsMember({"text", "json", "html"}));
  cmd->add_option("--output,-o", options->output, "Write to this file instead of stdout");
  cmd->callback([options, &context] { context.exit_code = run_report(*options, context); });
}

}  // namespace

void register_audit_commands(CLI::App& app, CommandContext& context) {
  CLI::App* audit = app.add_subcommand("audit", "Verify and read the tamper-evident audit log");
  audit->require_subcommand(1);
  setup_audit_verify(*audit, context);
  setup_audit_show(*audit, context);
  setup_audit_append(*audit, context);
  setup_report(app, context);
}

}  // namespace stepgate
