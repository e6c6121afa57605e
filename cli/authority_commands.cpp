// `stepgate authority ...`: serve, install, and the client commands that talk to a running
// authority (status, enroll-code, enroll, activate, approve, deny). It lives in cli/, the top of
// the graph, so the authority library (authority/) needs no cli/ header.
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <memory>
#include <string>

#include "authority_install.h"
#include "command.h"
#include "server.h"
#include "stepgate/authority.h"
#include "stepgate/stepup.h"

namespace stepgate {
namespace {

std::atomic<bool> g_stop{false};

void on_stop(int /*signal*/) {
  g_stop.store(true);
}

int run_serve(const std::string& config_path, CommandContext& context) {
  auto config = authority::load_authority_config(config_path);
  if (!config.ok()) return report_error(context, config.error());
  auto opened = authority::Authority::open(*config, context.io.clock);
  if (!opened.ok()) return report_error(context, opened.error());
  struct sigaction stop {};
  stop.sa_handler = on_stop;
  ::sigaction(SIGTERM, &stop, nullptr);
  ::sigaction(SIGINT, &stop, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  Status served = authority::serve(**opened, g_stop, *context.io.err);
  if (!served.ok()) return report_error(context, served.error());
  return 0;
}

/// The socket: --socket, else the configured authority.
Result<std::string> socket_of(const std::string& flag, const ProcessContext& process) {
  if (!flag.empty()) return flag;
  auto found = find_authority(process.paths(), process.env);
  if (!found.ok()) return found.error();
  if (!found->has_value()) {
    return invalid_argument(
        "no authority is configured (/etc/stepgate/config.yaml, config.yaml or "
        "$STEPGATE_AUTHORITY); pass --socket");
  }
  return (*found)->socket;
}

/// One request to the authority; prints the error line and returns the exit code on failure.
Result<Value> ask(const std::string& socket_flag, Value request, const ProcessContext& process) {
  auto socket = socket_of(socket_flag, process);
  if (!socket.ok()) return socket.error();
  auto connection = AuthorityConnection::connect(*socket);
  if (!connection.ok()) return connection.error();
  return (*connection)->call(std::move(request));
}

struct ClientArgs {
  std::string socket;
  std::string actor;
  std::string code;
  std::string current;
  std::string approver;
  std::string id;
  std::string comment;
  std::string grant;
};

void add_client(CLI::App* parent, CommandContext& context, const std::string& name,
                const std::string& help, const std::function<void(CLI::App*, ClientArgs&)>& options,
                const std::function<Value(const ClientArgs&)>& make_request,
                const std::function<void(const Value&, std::ostream&)>& print) {
  auto args = std::make_shared<ClientArgs>();
  CLI::App* cmd = parent->add_subcommand(name, help);
  cmd->add_option("--socket", args->socket, "The authority's socket (default: the configured one)");
  options(cmd, *args);
  cmd->callback([args, &context, make_request, print] {
    auto reply = ask(args->socket, make_request(*args), context.io);
    if (!reply.ok()) {
      context.exit_code = report_error(context, reply.error());
      return;
    }
    print(*reply, *context.io.out);
    context.exit_code = 0;
  });
}

void register_client_commands(CLI::App* authority, CommandContext& context) {
  add_client(
      authority, context, "status",
      "Ask the authority who you are to it and which key it signs with",
      [](CLI::App*, ClientArgs&) {},
      [](const ClientArgs&) {
        return Value(Map{{"op", "hello"}});
      },
      [](const Value& r, std::ostream& out) {
        out << "actor: " << r.get_string("actor") << "\npublic key: " << r.get_string("public_key")
            << "\npolicy: " << r.get_string("policy_revision") << "\n";
      });
  add_client(
      authority, context, "enroll-code",
      "Issue a one-time enrolment code for an actor (administrator only)",
      [](CLI::App* c, ClientArgs& a) { c->add_option("--actor", a.actor, "Actor")->required(); },
      [](const ClientArgs& a) {
        return Value(Map{{"op", "enroll_code"}, {"actor", a.actor}});
      },
      [](const Value& r, std::ostream& out) { out << r.get_string("code") << "\n"; });
  add_client(
      authority, context, "audit-token",
      "Issue an access token for GET /v1/audit (administrator only; printed once, kept hashed)",
      [](CLI::App*, ClientArgs&) {},
      [](const ClientArgs&) {
        return Value(Map{{"op", "audit_token"}});
      },
      [](const Value& r, std::ostream& out) { out << r.get_string("token") << "\n"; });
  add_client(
      authority, context, "enroll",
      "Enrol a TOTP authenticator with the authority (needs a one-time code from the "
      "administrator, "
      "or --current to replace an active one)",
      [](CLI::App* c, ClientArgs& a) {
        c->add_option("--actor", a.actor, "Actor (administrator only; default: you)");
        c->add_option("--code", a.code, "One-time enrolment code the administrator issued");
        c->add_option("--current", a.current, "A current code from the active authenticator");
      },
      [](const ClientArgs& a) {
        Value v = Map{{"op", "enroll"}};
        if (!a.actor.empty()) v["actor"] = a.actor;
        if (!a.code.empty()) v["enrollment_code"] = a.code;
        if (!a.current.empty()) v["current_code"] = a.current;
        return v;
      },
      [](const Value& r, std::ostream& out) {
        if (auto qr = render_qr_utf8(r.get_string("uri")); qr.ok()) out << *qr;
        out << "uri: " << r.get_string("uri") << "\nsecret: " << r.get_string("secret")
            << "\nthen run `stepgate authority activate --code CODE` with a code it shows\n";
      });
  add_client(
      authority, context, "activate", "Activate an enrolled authenticator with its first code",
      [](CLI::App* c, ClientArgs& a) {
        c->add_option("--actor", a.actor, "Actor (administrator only; default: you)");
        c->add_option("--code", a.code, "A code from the authenticator")->required();
      },
      [](const ClientArgs& a) {
        Value v = Map{{"op", "activate"}, {"code", a.code}};
        if (!a.actor.empty()) v["actor"] = a.actor;
        return v;
      },
      [](const Value& r, std::ostream& out) { out << r.get_string("actor") << ": active\n"; });
  for (const char* verb : {"approve", "deny"}) {
    const std::string op = verb;
    add_client(
        authority, context, op,
        op + " a held challenge with a code from your authenticator or an approver's grant",
        [](CLI::App* c, ClientArgs& a) {
          c->add_option("id", a.id, "Challenge id (e.g. abcd-efgh)")->required();
          auto* code = c->add_option("--code", a.code, "TOTP code");
          auto* grant =
              c->add_option("--grant", a.grant,
                            "An approver's grant (from `stepgate approve`), instead of a code");
          code->excludes(grant);
          grant->excludes(code);
          c->add_option("--approver", a.approver, "Who decides (default: the challenge's actor)");
          c->add_option("--comment", a.comment, "Why");
        },
        [op](const ClientArgs& a) {
          return Value(Map{{"op", op},
                           {"id", a.id},
                           {"code", a.code},
                           {"grant", a.grant},
                           {"approver", a.approver},
                           {"comment", a.comment}});
        },
        [](const Value& r, std::ostream& out) {
          out << r.get_string("id") << ": " << r.get_string("state") << " by "
              << r.get_string("decided_by") << "\n";
        });
  }
}

}  // namespace

void register_authority_commands(CLI::App& app, CommandContext& context) {
  CLI::App* authority = app.add_subcommand(
      "authority", "The authority: a separate principal that decides, holds proofs and audits");
  authority->require_subcommand(1);

  auto config = std::make_shared<std::string>("/etc/stepgate/authority.yaml");
  CLI::App* serve = authority->add_subcommand("serve", "Run the authority in the foreground");
  serve->add_option("--config", *config, "Configuration file")->capture_default_str();
  serve->callback([config, &context] { context.exit_code = run_serve(*config, context); });

  auto install = std::make_shared<authority::InstallOptions>();
  auto no_user = std::make_shared<bool>(false);
  CLI::App* inst = authority->add_subcommand(
      "install",
      "Install the authority on this machine (as root): user, directories, config, unit");
  inst->add_option("--root", install->root, "Install under this directory (tests)")
      ->capture_default_str();
  inst->add_option("--user", install->user, "The authority's system user")->capture_default_str();
  inst->add_flag("--no-user", *no_user, "Do not create the user (it must exist)");
  inst->add_option("--binary", install->binary, "The stepgate binary the unit runs");
  inst->add_option("--actor", install->actors, "UID_OR_USER=ACTOR mapping (repeatable)");
  inst->add_option("--inbox-port", install->inbox_port, "Approvals inbox port (0: none)")
      ->capture_default_str();
  inst->add_option("--policy", install->policy_from, "Policy file to install as the system layer");
  inst->callback([install, no_user, &context] {
    install->create_user = !*no_user;
    Status s = authority::install_authority(*install, *context.io.out);
    context.exit_code = s.ok() ? 0 : report_error(context, s.error());
  });
  register_client_commands(authority, context);
}

}  // namespace stepgate
