#pragma once
// Held tool calls in MCP's own terms (the shim's hold path, shim_mcp.cpp):
// - 2025-11-25: URL-mode elicitation. A client that declared `elicitation: {url: {}}` in its
//   initialize is sent `elicitation/create` (mode "url", the approve URL) on the held call's event
//   stream; the call completes once the approval lands. Its answer to that request is the shim's,
//   never forwarded upstream.
// - 2026-07-28 (stateless): a held tools/call is answered with resultType "input_required", the
//   same URL elicitation as an input request, and a requestState signed here and bound to the
//   call's digest and the challenge; the client's retry carrying that state passes once approved.

#include <string>
#include <string_view>

#include "stepgate/crypto.h"
#include "stepgate/result.h"
#include "stepgate/store.h"
#include "stepgate/value.h"

namespace stepgate {

/// Remembers whether the client of `session` declared URL-mode elicitation in `initialize_params`
/// (capabilities.elicitation.url). Bounded: the oldest sessions are forgotten first.
void remember_url_elicitation(const std::string& session, const Value& initialize_params);
/// Whether the client of `session` declared URL-mode elicitation.
bool session_elicits_urls(const std::string& session);
/// Whether request `_meta` (2026-07-28: io.modelcontextprotocol/clientCapabilities) declares it.
bool meta_elicits_urls(const Value& meta);

/// The JSON-RPC id the shim gives its elicitation/create for challenge `challenge_id`.
std::string elicitation_request_id(const std::string& challenge_id);
/// A client's answer to one of the shim's elicitation requests: its action ("accept",
/// "decline", "cancel"; "error" for an error answer) is recorded and true returned. false: the
/// id is not the shim's (the message goes upstream as before).
bool take_elicitation_answer(const Value& id, const Value* result, bool is_error);
/// The recorded answer for `challenge_id` ("" while none), consumed.
std::string elicitation_answer(const std::string& challenge_id);

/// The key requestStates are signed with, kept in `secrets_dir`/shim/request-state.key: 32 bytes
/// of OS randomness written once (0600, base64url) by the first shim and read by every later one,
/// so a state survives a restart of the shim that issued it. Two shims starting at once agree on
/// one file (the second's link(2) fails and it reads the first's). kPermissionDenied for a file
/// others can read or write; kFailedPrecondition for one that does not hold a 32-byte key.
Result<Bytes> load_request_state_key(const std::string& secrets_dir);

/// Signs and checks requestStates with `key` from now on (run_shim, before it serves). Until
/// then this process signs with a random key of its own, and its states die with it.
void use_request_state_key(Bytes key);

/// A requestState: base64url(JSON {digest, challenge, exp}) "." base64url(HMAC-SHA256), keyed
/// with the key use_request_state_key installed.
std::string sign_request_state(const std::string& digest, const std::string& challenge_id,
                               UnixTime expires_at);

struct RequestState {
  std::string digest;
  std::string challenge_id;
  UnixTime expires_at = 0;
};
/// Checks a requestState: kInvalidArgument when it is malformed, its signature does not match
/// (constant-time compare), it expired, or it was issued for another call (`digest`).
Result<RequestState> verify_request_state(std::string_view state, const std::string& digest,
                                          UnixTime now);

}  // namespace stepgate
