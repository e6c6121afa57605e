// The approvals inbox on a loopback port: the page, the JSON API, and the audit export. Deciding
// needs a TOTP code the authority verifies (an agent on this machine can reach the port, but it
// holds no seed) or an approver's grant signed with their own key (single-use: the authority's
// ledger); challenges are only ever created by `decide`.
#include <httplib.h>

#include <cctype>
#include <thread>

#include "server.h"
#include "stepgate/gate.h"
#include "stepgate/json.h"

namespace stepgate::authority {
namespace {

constexpr std::size_t kMaxBodyBytes = std::size_t{16} * 1024;

constexpr const char* kPage = R"html(<!doctype html>
<html><head><meta charset="utf-8"><title>stepgate approvals</title>
<style>body{font:14px system-ui;margin:2em}li{margin:1em 0}code{background:#eee}</style></head>
<body><h1>Pending approvals</h1><ul id="list"></ul>
<script>
// This page's own session: wrong codes are counted per session, so another page's (an agent's)
// cannot lock this one out.
const session=Array.from(crypto.getRandomValues(new Uint8Array(16)),b=>b.toString(16).padStart(2,'0')).join('');
async function load(){
  const r=await fetch('/v1/challenges');const items=await r.json();
  const ul=document.getElementById('list');ul.textContent='';
  if(!items.length){ul.textContent='Nothing is waiting.';return;}
  for(const c of items){
    const li=document.createElement('li');
    const s=c.summary||{};
    li.innerHTML='<b></b> <code></code><div></div><pre></pre>'+
      '<input placeholder="approver (blank: the actor)" class=a> <input placeholder="TOTP code" class=c inputmode=numeric>'+
      ' <input placeholder="or an approver\'s grant (eyJ...)" class=g>'+
      ' <button class=ok>Approve</button> <button class=no>Deny</button> <span class=msg></span>';
    li.querySelector('b').textContent=c.id+' '+s.kind+' on '+s.resource+' by '+s.actor;
    li.querySelector('code').textContent=s.digest||'';
    li.querySelector('div').textContent=(s.reasons||[]).join('; ');
    li.querySelector('pre').textContent=s.attributes||'';
    for(const [cls,verb] of [['ok','approve'],['no','deny']]){
      li.querySelector('.'+cls).onclick=async()=>{
        const body={approver:li.querySelector('.a').value,code:li.querySelector('.c').value,
          grant:li.querySelector('.g').value,session};
        const r=await fetch('/v1/challenges/'+c.id+'/'+verb,{method:'POST',
          headers:{'Content-Type':'application/json'},body:JSON.stringify(body)});
        const j=await r.json();li.querySelector('.msg').textContent=j.error||j.state;
        if(r.ok)setTimeout(load,500);
      };
    }
    ul.appendChild(li);
  }
}
load();
</script></body></html>)html";

Value challenge_view(const ChallengeRecord& c) {
  auto summary = parse_json(c.summary_json);
  return Map{{"id", c.id},
             {"state", challenge_state_name(c.state)},
             {"decided_by", c.decided_by},
             {"created_at", c.created_at},
             {"expires_at", c.expires_at},
             {"summary", summary.ok() ? *summary : Value(Map{})}};
}

void send_json(httplib::Response& res, int status, const Value& body) {
  res.status = status;
  res.set_content(to_json(body), "application/json");
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kResourceExhausted:  // locked out after wrong codes
      return 429;
    default:
      return 500;
  }
}

Peer inbox_peer() {
  Peer p;
  p.via = "inbox";
  p.actor = "";
  return p;
}

/// The page session a decision names ("session" in its body: 16 to 64 letters, digits or '-'),
/// or "" when it names none or another form.
std::string session_of(const Value& body) {
  std::string s = body.get_string("session");
  if (s.size() < 16 || s.size() > 64) return {};
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-') return {};
  }
  return s;
}

}  // namespace

struct Inbox::Impl {
  Authority& authority;
  httplib::Server server;
  std::thread thread;
  std::string host_header;

  explicit Impl(Authority& a) : authority(a) {}

  /// DNS rebinding and cross-site requests: the Host must be this loopback address, and a
  /// browser's Origin (when sent) this same origin; a decision must be a JSON POST (no form CSRF).
  bool trusted(const httplib::Request& req, httplib::Response& res, bool post) {
    const int port = authority.config().inbox_port;
    const std::string host = req.get_header_value("Host");
    const bool host_ok =
        host == "127.0.0.1:" + std::to_string(port) || host == "localhost:" + std::to_string(port);
    const std::string origin = req.get_header_value("Origin");
    const bool origin_ok = origin.empty() || origin == "http://" + host;
    const bool type_ok =
        !post || req.get_header_value("Content-Type").rfind("application/json", 0) == 0;
    if (host_ok && origin_ok && type_ok) return true;
    const Value reply = authority.refuse(
        "inbox", inbox_peer(),
        make_error(ErrorCode::kPermissionDenied,
                   "request refused: " + std::string(!host_ok     ? "Host is not this inbox"
                                                     : !origin_ok ? "cross-origin request"
                                                                  : "not a JSON request")));
    send_json(res, 403, Map{{"error", reply.find("error")->get_string("message")}});
    return false;
  }

  void routes() {
    server.set_payload_max_length(kMaxBodyBytes);
    // cpp-httplib holds a chunked body to no limit (its payload limit reads Content-Length): a
    // body must say its length, which the limit above then bounds. Before the body is read.
    server.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!req.has_header("Transfer-Encoding")) return httplib::Server::HandlerResponse::Unhandled;
      send_json(
          res, 411,
          Map{{"error", "a request body must have a Content-Length (at most " +
                            std::to_string(kMaxBodyBytes) + " bytes), not Transfer-Encoding"}});
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    });
    server.Get("/approvals", [this](const httplib::Request& req, httplib::Response& res) {
      if (!trusted(req, res, false)) return;
      res.set_header("Content-Security-Policy", "default-src 'self' 'unsafe-inline'");
      res.set_header("X-Frame-Options", "DENY");
      res.set_content(kPage, "text/html; charset=utf-8");
    });
    server.Get("/v1/challenges", [this](const httplib::Request& req, httplib::Response& res) {
      if (!trusted(req, res, false)) return;
      auto list = authority.pending_challenges();
      if (!list.ok()) return send_json(res, 500, Map{{"error", list.error().message}});
      List out;
      for (const auto& c : *list) out.push_back(challenge_view(c));
      send_json(res, 200, Value(std::move(out)));
    });
    server.Get(R"(/v1/challenges/([a-z0-9-]{1,32}))",
               [this](const httplib::Request& req, httplib::Response& res) {
                 if (!trusted(req, res, false)) return;
                 auto c = authority.find_challenge(req.matches[1]);
                 if (!c.ok() || !c->has_value()) {
                   return send_json(res, 404, Map{{"error", "no such challenge"}});
                 }
                 send_json(res, 200, challenge_view(**c));
               });
    // Only `decide` creates challenges: a registration attempt is refused and recorded.
    server.Post("/v1/challenges", [this](const httplib::Request& req, httplib::Response& res) {
      if (!trusted(req, res, true)) return;
      (void)authority.refuse(
          "register_challenge", inbox_peer(),
          make_error(ErrorCode::kPermissionDenied, "challenges are created by the authority only"));
      send_json(res, 403, Map{{"error", "challenges are created by the authority only"}});
    });
    for (const char* verb : {"approve", "deny"}) {
      const bool approve = std::string(verb) == "approve";
      server.Post(std::string(R"(/v1/challenges/([A-Za-z0-9-]{1,32})/)") + verb,
                  [this, approve](const httplib::Request& req, httplib::Response& res) {
                    if (!trusted(req, res, true)) return;
                    auto body = parse_json(req.body, JsonLimits{kMaxBodyBytes, 8});
                    if (!body.ok() || !body->is_map()) {
                      return send_json(
                          res, 400,
                          Map{{"error", body.ok() ? std::string("the body must be a JSON object")
                                                  : "malformed body: " + body.error().message}});
                    }
                    for (const char* key : {"approver", "code", "grant", "comment", "session"}) {
                      const Value* v = body->find(key);
                      if (v != nullptr && !v->is_string() && !v->is_null()) {
                        return send_json(
                            res, 400,
                            Map{{"error", std::string("`") + key + "` must be a string"}});
                      }
                    }
                    ChallengeProof proof;
                    proof.approver = body->get_string("approver");
                    proof.code = body->get_string("code");
                    proof.grant = body->get_string("grant");
                    proof.comment = body->get_string("comment");
                    Peer peer = inbox_peer();
                    peer.session = session_of(*body);
                    auto decided = authority.decide_challenge(req.matches[1], proof, approve, peer);
                    if (!decided.ok()) {
                      return send_json(res, http_status(decided.error().code),
                                       Map{{"error", decided.error().message}});
                    }
                    send_json(res, 200, challenge_view(*decided));
                  });
    }
    // The log of record for a SIEM, as JSON Lines (records are already redacted when written).
    // It needs an access token the administrator issued (`stepgate authority audit-token`): the
    // log names every actor and action, and any local process can reach this port.
    server.Get("/v1/audit", [this](const httplib::Request& req, httplib::Response& res) {
      if (!trusted(req, res, false)) return;
      const std::string auth = req.get_header_value("Authorization");
      const std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : std::string();
      if (!authority.audit_token_valid(token)) {
        (void)authority.refuse(
            "audit_export", inbox_peer(),
            make_error(ErrorCode::kPermissionDenied,
                       token.empty() ? "no access token (Authorization: Bearer ...)"
                                     : "the access token is not one the administrator issued"));
        res.set_header("WWW-Authenticate", "Bearer");
        return send_json(res, 401, Map{{"error", "an audit access token is required"}});
      }
      auto text = read_file(authority.config().audit_log());
      if (!text.ok()) return send_json(res, 500, Map{{"error", text.error().message}});
      res.set_content(*text, "application/x-ndjson");
    });
  }
};

Inbox::Inbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Inbox::~Inbox() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<std::unique_ptr<Inbox>> Inbox::start(Authority& authority) {
  auto impl = std::make_unique<Impl>(authority);
  impl->routes();
  const auto& c = authority.config();
  if (!impl->server.bind_to_port(c.inbox_host, c.inbox_port)) {
    return make_error(ErrorCode::kUnavailable, "the approvals inbox cannot listen on " +
                                                   c.inbox_host + ":" +
                                                   std::to_string(c.inbox_port));
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  return std::unique_ptr<Inbox>(new Inbox(std::move(impl)));
}

}  // namespace stepgate::authority
