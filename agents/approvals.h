#pragma once
// The approvals inbox over HTTP: the JSON API and the HTML page. Who may decide, and how wrong
// codes are counted, is the core service's (stepgate/approvals.h); this file maps its typed
// outcomes to HTTP statuses.

#include <string>

#include "shim.h"
#include "stepgate/approvals.h"
#include "stepgate/markup.h"

namespace stepgate {

/// Checks --authority-key before the shim starts: `id` is an approver in the policy and its key
/// (secrets_dir/keys/ID.key) matches the listed public_key. kInvalidArgument says what to fix.
Status check_authority_key(const Gate& gate, const std::string& id);

/// The core approvals service on this shim's gate (its policy, store, audit log and
/// --authority-key).
Approvals shim_approvals(ShimContext& context);

/// The HTTP status for an outcome: 200 decided, 400 bad input, 403 refused proof, 404 no such
/// challenge, 409 not pending or expired, 429 locked out, 500 store trouble.
int approval_http_status(const ApprovalOutcome& outcome);

/// Where a code posted to the inbox came from: the request's inbox session (the stepgate_session
/// cookie the page sets), else its peer address. Always remote (see verify_totp).
ProofSource http_proof_source(const httplib::Request& req);

/// The inbox session of a request (its stepgate_session cookie, when well-formed), or "".
std::string inbox_session(const httplib::Request& req);

/// The HTML inbox: pending challenges with their arguments (everything HTML-escaped), a form
/// each, and `notice` (escaped) on top.
std::string render_inbox(ShimContext& context, const std::string& notice);

/// Mounts GET /approvals and the form posts POST /approvals/ID/approve|deny (CSRF + Origin).
void mount_inbox_page(httplib::Server& server, ShimContext& context);

}  // namespace stepgate
