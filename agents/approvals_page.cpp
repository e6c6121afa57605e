// The HTML approvals inbox: plain, fast, no JavaScript; every value HTML-escaped; forms protected
// by a per-start CSRF token (hidden field + SameSite=Strict cookie) and an Origin/Referer check.
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <map>
#include <sstream>

#include "approvals.h"
#include "stepgate/crypto.h"

namespace stepgate {
namespace {

using nlohmann::json;

constexpr const char* kCookie = "stepgate_csrf";
constexpr const char* kSessionCookie = "stepgate_session";

constexpr const char* kStyle = R"(<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.4rem} .item{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0}
pre{background:#f6f6f6;padding:.6rem;overflow:auto;white-space:pre-wrap;word-break:break-all}
.notice{background:#eef6ff;border:1px solid #9bd;padding:.6rem;border-radius:6px}
.meta{color:#555;font-size:.9rem} form{display:inline-block;margin:.4rem 1rem .4rem 0}
input{font:inherit;padding:.2rem .4rem;margin:.1rem} button{font:inherit;padding:.25rem .8rem}
</style>)";

std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) != 0 &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2])) != 0) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_form(std::string_view body) {
  std::map<std::string, std::string> out;
  while (!body.empty()) {
    auto amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos)
      out[url_decode(pair.substr(0, eq))] = url_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return out;
}

std::string cookie_value(const httplib::Request& req, const std::string& name) {
  std::string cookies = req.get_header_value("Cookie");
  std::size_t pos = 0;
  while (pos < cookies.size()) {
    std::size_t end = cookies.find(';', pos);
    if (end == std::string::npos) end = cookies.size();
    std::string part = cookies.substr(pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.erase(0, 1);
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return {};
}

/// A form post must come from this very page: Origin (or, without one, Referer) is ours.
bool same_origin_post(const httplib::Request& req, const std::string& server_url, int port) {
  std::string origin = req.get_header_value("Origin");
  if (!origin.empty()) return origin != "null" && origin_allowed(origin, port);
  std::string referer = req.get_header_value("Referer");
  if (referer.empty()) return false;
  for (const char* host : {"http://127.0.0.1:", "http://localhost:"}) {
    std::string prefix = host + std::to_string(port) + "/";
    if (referer.rfind(prefix, 0) == 0) return true;
  }
  return referer.rfind(server_url + "/", 0) == 0;
}

void render_item(std::ostringstream& out, const ChallengeRecord& r, const std::string& csrf) {
  json s = json::parse(r.summary_json, nullptr, false);
  if (!s.is_object()) s = json::object();
  auto get = [&s](const char* key) {
    auto it = s.find(key);
    if (it == s.end()) return std::string();
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  const std::string id = html_escape(r.id);
  out << "<div class=item id=\"" << id << "\"><h2>" << html_escape(get("kind")) << " — "
      << html_escape(get("resource")) << "</h2>\n<p class=meta>challenge <code>" << id
      << "</code> · actor <b>" << html_escape(get("actor")) << "</b> · score "
      << html_escape(get("score")) << " · method " << html_escape(get("method"))
      << " · digest <code>" << html_escape(r.action_digest.substr(0, 16)) << "…</code></p>\n";
  if (s.contains("reasons") && s["reasons"].is_array() && !s["reasons"].empty()) {
    out << "<ul class=reasons>";
    for (const auto& reason : s["reasons"]) {
      out << "<li>" << html_escape(reason.is_string() ? reason.get<std::string>() : reason.dump())
          << "</li>";
    }
    out << "</ul>\n";
  }
  out << "<pre class=arguments>" << html_escape(get("arguments")) << "</pre>\n";
  const std::string hidden = "<input type=hidden name=csrf value=\"" + html_escape(csrf) + "\">";
  out << "<form method=post action=\"/approvals/" << id << "/approve\">" << hidden
      << "<input name=approver placeholder=\"approver id\" required size=12>"
      << "<input name=code placeholder=\"TOTP code\" inputmode=numeric autocomplete=one-time-code "
         "size=8>"
      << "<input name=grant placeholder=\"or paste a grant\" size=18>"
      << "<button type=submit>Approve</button></form>\n"
      << "<form method=post action=\"/approvals/" << id << "/deny\">" << hidden
      << "<input name=approver placeholder=\"approver id\" required size=12>"
      << "<input name=code placeholder=\"TOTP code\" inputmode=numeric size=8>"
      << "<input name=comment placeholder=\"why not\" size=18>"
      << "<button type=submit>Deny</button></form></div>\n";
}

void send_page(ShimContext& context, const httplib::Request& req, httplib::Response& res,
               int status, const std::string& notice) {
  res.status = status;
  res.set_header("Set-Cookie", std::string(kCookie) + "=" + context.csrf_token +
                                   "; Path=/; HttpOnly; SameSite=Strict");
  // A browser gets its own session, so wrong codes sent by anyone else (who cannot read this
  // HttpOnly cookie) are counted against their source, not this one (see verify_totp).
  if (inbox_session(req).empty()) {
    if (auto session = random_id(16); session.ok()) {
      res.set_header("Set-Cookie", std::string(kSessionCookie) + "=" + *session +
                                       "; Path=/; HttpOnly; SameSite=Strict");
    }
  }
  res.set_header("Cache-Control", "no-store");
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                 "frame-ancestors 'none'");
  res.set_header("X-Frame-Options", "DENY");
  res.set_content(render_inbox(context, notice), "text/html; charset=utf-8");
}

void handle_form(ShimContext& context, const httplib::Request& req, httplib::Response& res) {
  if (!same_origin_post(req, context.server_url, context.options.listen_port)) {
    return send_page(context, req, res, 403,
                     "Refused: this form must be posted from the inbox page.");
  }
  auto form = parse_form(req.body);
  const std::string& token = context.csrf_token;
  if (!constant_time_equal(form["csrf"], token) ||
      !constant_time_equal(cookie_value(req, kCookie), token)) {
    return send_page(context, req, res, 403,
                     "Refused: stale or missing CSRF token; reload the page.");
  }
  ApprovalRequest request;
  request.id = req.matches[1];
  request.approve = req.matches[2] == "approve";
  request.proof = {form["approver"], form["code"], form["grant"], http_proof_source(req)};
  request.comment = form["comment"];
  ApprovalOutcome out = shim_approvals(context).decide(request, context.options.process.now());
  std::string notice =
      (out.ok() ? "Challenge " : "Could not decide challenge ") + request.id + ": " + out.message;
  send_page(context, req, res, approval_http_status(out), notice);
}

}  // namespace

std::string inbox_session(const httplib::Request& req) {
  std::string session = cookie_value(req, kSessionCookie);
  const bool well_formed =
      !session.empty() && session.size() <= 64 &&
      session.find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
  return well_formed ? session : std::string();
}

std::string render_inbox(ShimContext& context, const std::string& notice) {
  std::ostringstream out;
  out << "<!doctype html><html lang=en><head><meta charset=utf-8>"
      << "<meta name=viewport content=\"width=device-width,initial-scale=1\">"
      << "<title>stepgate approvals</title>" << kStyle
      << "</head><body>\n<h1>stepgate approvals</h1>\n";
  if (!notice.empty()) out << "<p class=notice role=status>" << html_escape(notice) << "</p>\n";
  auto pending = context.gate->store().list_challenges(ChallengeState::kPending,
                                                       context.options.process.now());
  if (!pending.ok()) {
    out << "<p>Cannot read the state store: " << html_escape(pending.error().message) << "</p>";
  } else if (pending->empty()) {
    out << "<p class=empty>Nothing is waiting for approval.</p>\n";
  } else {
    for (const auto& r : *pending) render_item(out, r, context.csrf_token);
  }
  out << "</body></html>\n";
  return out.str();
}

void mount_inbox_page(httplib::Server& server, ShimContext& context) {
  ShimContext* c = &context;
  server.Get("/approvals", [c](const httplib::Request& req, httplib::Response& res) {
    send_page(*c, req, res, 200, "");
  });
  server.Post(
      R"(/approvals/([A-Za-z0-9_-]+)/(approve|deny))",
      [c](const httplib::Request& req, httplib::Response& res) { handle_form(*c, req, res); });
}

}  // namespace stepgate
