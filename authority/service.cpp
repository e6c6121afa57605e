// The authority's request dispatch, signing, refusals and start-up.
#include "service.h"

#include <sys/stat.h>

#include <utility>

#include "stepgate/authority.h"
#include "stepgate/gate.h"
#include "stepgate/json.h"
#include "stepgate/stepup.h"

namespace stepgate::authority {
namespace {

constexpr std::size_t kMaxPolicyBytes = std::size_t{4} * 1024 * 1024;
// Checkpoints are signed at most this often, and on shutdown (AuditLog::flush).
constexpr int kCheckpointIntervalMs = 1000;

Value error_reply(const Error& error) {
  return Map{{"ok", false},
             {"error", Map{{"code", error_code_name(error.code)}, {"message", error.message}}}};
}

/// The signing key: created on first start (0600 in the state directory), refused when loose.
Result<Ed25519KeyPair> load_or_create_key(const std::string& path) {
  auto text = read_secret_file(path);
  if (text.ok()) {
    std::string trimmed = *text;
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' '))
      trimmed.pop_back();
    auto priv = base64url_decode(trimmed);
    if (!priv.ok() || priv->size() != 32) {
      return invalid_argument(path + ": not an Ed25519 private key (base64url, 32 bytes)");
    }
    auto pub = ed25519_public_from_private(*priv);
    if (!pub.ok()) return pub.error();
    return Ed25519KeyPair{std::move(*priv), std::move(*pub)};
  }
  if (text.error().code != ErrorCode::kNotFound) return text.error();
  auto keys = ed25519_generate();
  if (!keys.ok()) return keys.error();
  if (Status s = write_secret_file(path, base64url_encode(keys->private_key) + "\n"); !s.ok()) {
    return s.error();
  }
  return keys;
}

}  // namespace

Result<std::string> short_challenge_id() {
  auto id = random_id(5);  // 40 bits: 8 base32 characters
  if (!id.ok()) return id.error();
  return id->substr(0, 4) + "-" + id->substr(4, 4);
}

Authority::Authority(AuthorityConfig config, std::shared_ptr<const Policy> policy,
                     std::unique_ptr<StateStore> store, std::unique_ptr<AuditLog> audit,
                     Ed25519KeyPair key, ReplySigner signer, std::function<UnixTime()> clock)
    : config_(std::move(config)),
      policy_(std::move(policy)),
      store_(std::move(store)),
      audit_(std::move(audit)),
      key_(std::move(key)),
      signer_(std::move(signer)),
      clock_(std::move(clock)) {}

Authority::~Authority() = default;

Result<std::unique_ptr<Authority>> Authority::open(const AuthorityConfig& config,
                                                   std::function<UnixTime()> clock) {
  if (Status s = ensure_private_dir(config.state_dir); !s.ok()) return s.error();
  // The state directory holds the seeds and the key: nobody else may even list it.
  if (::chmod(config.state_dir.c_str(), 0700) != 0) {
    return make_error(ErrorCode::kPermissionDenied, config.state_dir + ": cannot set mode 0700");
  }
  if (Status s = ensure_private_dir(config.secrets_dir()); !s.ok()) return s.error();
  auto policy = load_policy_file(config.policy);
  if (!policy.ok()) return policy.error();
  StoreOptions store_options;
  store_options.cache_ms = 50;  // long-running: velocity rows are batched
  auto store = StateStore::open(config.state_db(), store_options);
  if (!store.ok()) return store.error();
  auto key = load_or_create_key(config.key_file());
  if (!key.ok()) return key.error();
  // The log of record is anchored by checkpoints signed with the authority's key, kept in its
  // store. The key is also where `stepgate audit verify` looks for the checkpoint key
  // (secrets/audit/checkpoint.key), so the administrator verifies with the ordinary command.
  const std::string checkpoint_key = config.secrets_dir() + "/audit/checkpoint.key";
  if (!read_secret_file(checkpoint_key).ok()) {
    if (Status s = ensure_private_dir(config.secrets_dir() + "/audit"); !s.ok()) return s.error();
    if (Status s = write_secret_file(checkpoint_key, base64url_encode(key->private_key) + "\n");
        !s.ok()) {
      return s.error();
    }
  }
  auto signing = load_local_checkpoint_key(config.secrets_dir(), /*create=*/false);
  if (!signing.ok()) return signing.error();
  AuditOptions audit_options;
  // audit_sync: durable: an append returns once its record is on disk, appenders that wait
  // together sharing one fsync (core's group commit); batch: the 50 ms background fsync only.
  audit_options.fsync_batch_ms = 50;
  audit_options.durable = config.audit_durable;
  // Only this process appends to the log of record (every other command asks over the socket):
  // a second `serve` on the same state directory is refused here.
  audit_options.exclusive = true;
  audit_options.checkpoints =
      make_store_checkpoint_sink(**store, std::move(*signing), kCheckpointIntervalMs);
  auto audit = AuditLog::open(config.audit_log(), audit_options);
  if (!audit.ok()) return audit.error();
  auto signer = ReplySigner::load(key->private_key);
  if (!signer.ok()) return signer.error();
  return std::unique_ptr<Authority>(new Authority(config, std::move(*policy), std::move(*store),
                                                  std::move(*audit), std::move(*key),
                                                  std::move(*signer), std::move(clock)));
}

Peer Authority::peer_for(uid_t uid, pid_t pid) const {
  Peer p;
  p.uid = uid;
  p.pid = pid;
  if (auto it = config_.actors.find(uid); it != config_.actors.end()) p.actor = it->second;
  p.admin = config_.admins.contains(uid);
  return p;
}

UnixTime Authority::now() const {
  return clock_ ? clock_() : unix_now();
}

std::string Authority::public_key() const {
  return format_public_key(key_.public_key);
}

Paths Authority::paths() const {
  Paths p;
  p.config_dir = config_.state_dir;
  p.state_dir = config_.state_dir;
  p.secrets_dir = config_.secrets_dir();
  p.state_db = config_.state_db();
  p.audit_log = config_.audit_log();
  return p;
}

Status Authority::audit(const std::string& type, Value fields) {
  return audit_->append(type, std::move(fields));
}

Status Authority::close() {
  std::lock_guard lock(mu_);
  (void)store_->flush();
  return audit_->flush();
}

Value Authority::refuse(const std::string& op, const Peer& peer, const Error& error) {
  Value fields = Map{{"op", op},
                     {"via", peer.via},
                     {"code", error_code_name(error.code)},
                     {"message", error.message}};
  if (peer.via == "socket") {
    fields["uid"] = static_cast<int64_t>(peer.uid);
    fields["pid"] = static_cast<int64_t>(peer.pid);
  }
  if (!peer.actor.empty()) fields["actor"] = peer.actor;
  {
    std::lock_guard lock(mu_);
    (void)audit("refusal", std::move(fields));
  }
  return error_reply(error);
}

Value Authority::hello(const Peer& peer) {
  auto text = read_file(config_.policy, kMaxPolicyBytes);
  if (!text.ok()) return refuse("hello", peer, text.error());
  // Signed with the time: a front-end keeps the reply for when the authority is down, and
  // honours its on_error only while it is fresh (a copy kept from an older policy is not).
  return map_of("ok", true, "actor", peer.actor, "public_key", public_key(),       //
                "policy", std::move(*text), "policy_revision", policy_->revision,  //
                "issued_at", static_cast<int64_t>(now()));
}

void Authority::handle(Value request, const Peer& peer, std::function<void(std::string)> done) {
  AuditLog::Deferral deferral(*audit_);
  std::string reply = to_json(handle(std::move(request), peer));
  deferral.then([reply = std::move(reply), done = std::move(done)](const Status& durable) mutable {
    // A decision whose record did not reach the disk is not reported: the front-end fails
    // closed on the error.
    done(durable.ok() ? std::move(reply) : to_json(error_reply(durable.error())));
  });
}

Value Authority::handle(Value request, const Peer& peer) {
  Value reply = dispatch(request, peer);
  reply["v"] = kAuthorityProtocolVersion;
  // A fresh nonce from the client comes back under the signature: the proof that this signature
  // was made now, for this connection, not replayed from an earlier answer.
  if (const std::string nonce = request.get_string("nonce"); !nonce.empty()) {
    reply["nonce"] = nonce;
  }
  // A client whose connection has already proven the key (a signed answer over its nonce) asks
  // for no further signatures: a Unix stream socket stays with the peer that accepted it, and
  // an Ed25519 signature and its check were most of a decision's CPU.
  if (!request.get_bool("sign", true)) return reply;
  auto signature = signer_.sign(authority_signed_text(reply));
  if (signature.ok()) reply["signature"] = base64url_encode(*signature);
  return reply;
}

Value Authority::dispatch(Value& request, const Peer& peer) {
  // Named in refusals and their audit records: a peer's "operation" of any length is cut there.
  constexpr std::size_t kMaxOpName = 64;
  std::string op = request.get_string("op");
  if (op.size() > kMaxOpName) op = op.substr(0, kMaxOpName) + "...";
  if (request.get_int("v", -1) != kAuthorityProtocolVersion) {
    return refuse(op, peer,
                  invalid_argument("unsupported protocol version (this authority speaks v" +
                                   std::to_string(kAuthorityProtocolVersion) + ")"));
  }
  // Administrator operations first: they need no actor mapping.
  if (op == "enroll_code") return enroll_code(request, peer);
  if (op == "audit_token") return audit_token(peer);
  if (peer.actor.empty() && !peer.admin) {
    return refuse(op, peer,
                  make_error(ErrorCode::kPermissionDenied, "uid " + std::to_string(peer.uid) +
                                                               " is not mapped to an actor in " +
                                                               config_.source));
  }
  if (op == "hello") return hello(peer);
  if (op == "decide") return decide(request, peer);
  if (op == "approve") return approve_op(request, peer, true);
  if (op == "deny") return approve_op(request, peer, false);
  if (op == "challenge") return challenge_op(request, peer);
  if (op == "enroll") return enroll(request, peer);
  if (op == "activate") return activate(request, peer);
  return refuse(op, peer, invalid_argument("unknown operation `" + op + "`"));
}

Result<std::vector<ChallengeRecord>> Authority::pending_challenges() {
  std::lock_guard lock(mu_);
  return store_->list_challenges(ChallengeState::kPending, now());
}

Result<std::optional<ChallengeRecord>> Authority::find_challenge(const std::string& id) {
  std::lock_guard lock(mu_);
  return store_->get_challenge(id);
}

}  // namespace stepgate::authority
