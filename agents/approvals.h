#pragma once
// The approvals inbox: deciding a pending challenge with proof (an approver's or the actor's TOTP
// code, or a signed grant), and the HTML page.
//
// Who may decide (both approve and deny need the same proof, so an agent that can reach the
// loopback listener can neither approve its own call nor refuse calls to deny service):
//  - TOTP: an approver listed in the policy with an enrolled, activated authenticator, or the
//    challenge's actor when the challenge's method is `totp`. A challenge whose method is
//    `approval` also needs a signed grant: pasted, or signed with the shim's --authority-key
//    after a listed approver's TOTP code checked out.
//  - Grant: a grant that verify_grant accepts for the challenge's digest (approve), or one whose
//    signature checks out and that says `deny` (deny).

#include <string>

#include "shim.h"

namespace stepgate {

struct ApprovalProof {
  std::string approver;  // with code
  std::string code;      // TOTP
  std::string grant;     // compact JWS
};

struct ApprovalOutcome {
  int http_status = 200;  // 200 decided; 400 bad input; 403 refused proof; 404; 409 not pending
  std::string message;
  std::string state;  // the challenge's state afterwards
};

/// Checks --authority-key before the shim starts: `id` is an approver in the policy and its key
/// (secrets_dir/keys/ID.key) matches the listed public_key. kInvalidArgument says what to fix.
Status check_authority_key(const Gate& gate, const std::string& id);

/// Approves (`approve` true) or denies a pending challenge after checking the proof.
ApprovalOutcome decide_approval(ShimContext& context, const std::string& id, bool approve,
                                const ApprovalProof& proof, const std::string& comment);

/// The HTML inbox: pending challenges with their arguments (everything HTML-escaped), a form
/// each, and `notice` (escaped) on top.
std::string render_inbox(ShimContext& context, const std::string& notice);

/// Mounts GET /approvals and the form posts POST /approvals/ID/approve|deny (CSRF + Origin).
void mount_inbox_page(httplib::Server& server, ShimContext& context);

/// HTML-escapes & < > " '.
std::string html_escape(std::string_view text);

}  // namespace stepgate
