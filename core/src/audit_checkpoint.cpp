// Signed checkpoints of the audit log's head (C2SP signed note + tlog-checkpoint body), the local
// signing key, and the sink that keeps the latest checkpoint in the state store.
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <utility>

#include "stepgate/audit.h"
#include "stepgate/paths.h"
#include "stepgate/store.h"

namespace stepgate {
namespace {

constexpr std::string_view kEmDash = "\xE2\x80\x94";  // U+2014, starts a signature line
constexpr std::size_t kKeyIdSize = 4;
constexpr std::size_t kSignatureSize = 64;
constexpr std::size_t kMaxNoteBytes = 4096;
constexpr const char* kLocalKeyName = "stepgate-local-audit";

std::string base64_std(const Bytes& data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n < 0 ? 0 : n));
  return out;
}

/// Standard base64 with padding; false on anything else.
bool unbase64_std(std::string_view text, Bytes& out) {
  if (text.empty() || text.size() % 4 != 0) return false;
  out.assign(3 * (text.size() / 4), 0);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return false;
  std::size_t size = static_cast<std::size_t>(n);
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;  // drop padding
  out.resize(size);
  return base64_std(out) == text;  // canonical encodings only
}

Bytes key_id(const std::string& name, const Bytes& public_key) {
  std::string material = name;
  material += '\n';
  material += '\x01';  // the signed-note algorithm byte for Ed25519
  material.append(reinterpret_cast<const char*>(public_key.data()), public_key.size());
  Bytes id = sha256(material);
  id.resize(kKeyIdSize);
  return id;
}

bool plain_line(std::string_view text) {
  return !text.empty() && text.find_first_of(" \n\r\t+") == std::string_view::npos;
}

bool is_hex64(std::string_view text) {
  if (text.size() != 64) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Bytes hex_decode32(std::string_view hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    out.push_back(static_cast<uint8_t>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  }
  return out;
}

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 19 || (text.size() > 1 && text[0] == '0')) return false;
  out = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

Error not_a_checkpoint(const std::string& why) {
  return invalid_argument("audit checkpoint: " + why);
}

/// The note's body lines: origin, size, hash, extensions.
Result<AuditCheckpoint> parse_body(std::string_view body) {
  std::vector<std::string_view> lines;
  for (std::size_t at = 0; at < body.size();) {
    const std::size_t nl = body.find('\n', at);
    if (nl == std::string_view::npos) return not_a_checkpoint("body does not end with a newline");
    lines.push_back(body.substr(at, nl - at));
    at = nl + 1;
  }
  if (lines.size() < 3) return not_a_checkpoint("fewer than three lines");
  AuditCheckpoint c;
  c.origin = std::string(lines[0]);
  if (!parse_u64(lines[1], c.head.size)) return not_a_checkpoint("bad tree size line");
  Bytes hash;
  if (!unbase64_std(lines[2], hash) || hash.size() != 32) {
    return not_a_checkpoint("bad root hash line");
  }
  c.head.hash = hex_encode(hash);
  for (std::size_t i = 3; i < lines.size(); ++i) {
    uint64_t t = 0;
    if (lines[i].rfind("time ", 0) == 0 && parse_u64(lines[i].substr(5), t)) {
      c.time = static_cast<int64_t>(t);
    }
  }
  return c;
}

int64_t unix_seconds() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

/// The signed note for `checkpoint`, given the key's id (key_id of its name and public key).
Result<std::string> sign_checkpoint_with_id(const AuditCheckpoint& checkpoint,
                                            const std::string& key_name,
                                            const Ed25519Signer& signer, const Bytes& id);

/// Signs each head and keeps it in the store; with an interval, holds heads back in between.
class StoreCheckpointSink final : public AuditHeadSink {
 public:
  StoreCheckpointSink(StateStore* store, std::unique_ptr<StateStore> owned, AuditSigningKey key,
                      int min_interval_ms)
      : store_(store),
        owned_(std::move(owned)),
        key_(std::move(key)),
        min_interval_ms_(min_interval_ms) {}
  ~StoreCheckpointSink() override { (void)flush(); }
  StoreCheckpointSink(const StoreCheckpointSink&) = delete;
  StoreCheckpointSink& operator=(const StoreCheckpointSink&) = delete;

  /// Without an interval the head is signed at once (the log fsyncs each append before it
  /// reports a head); with one, it waits for flush_due, which the log calls once a head's record
  /// is on disk, or for flush at close.
  Status record_head(const std::string& log_path, const AuditHead& head) override {
    std::lock_guard lock(mu_);
    log_path_ = log_path;
    pending_ = head;
    has_pending_ = true;
    if (min_interval_ms_ > 0) return {};
    return write_locked(pending_);
  }

  Status flush() override {
    std::lock_guard lock(mu_);
    return has_pending_ ? write_locked(pending_) : Status();
  }

  /// A signature and a store write cost ~100 µs: called after every group fsync of a busy
  /// authority, this signs at most once per interval.
  Status flush_due(const AuditHead& on_disk) override {
    std::lock_guard lock(mu_);
    if (!has_pending_ || (on_disk.size == signed_.size && on_disk.hash == signed_.hash)) return {};
    if (steady_ms() - last_ms_ < min_interval_ms_) return {};
    return write_locked(on_disk);
  }

 private:
  Status write_locked(const AuditHead& head) {
    AuditCheckpoint c{audit_checkpoint_origin(log_path_), head, unix_seconds()};
    // The key id and OpenSSL's key object once per sink: deriving the public key is a scalar
    // multiplication, loading the key as costly as a signature, and a busy shim signs a head
    // every fsync batch (up to 40 times a second), always with this key.
    if (!signer_) {
      auto public_key = ed25519_public_from_private(key_.private_key);
      if (!public_key.ok()) return public_key.error();
      auto signer = Ed25519Signer::load(key_.private_key);
      if (!signer.ok()) return signer.error();
      key_id_ = key_id(key_.name, *public_key);
      signer_ = std::move(signer).value();
    }
    auto note = sign_checkpoint_with_id(c, key_.name, *signer_, key_id_);
    if (!note.ok()) return note.error();
    auto kept = store_->put_audit_checkpoint(log_path_, head.size, *note);
    if (!kept.ok()) return kept.error();
    signed_ = head;
    if (head.size == pending_.size && head.hash == pending_.hash) has_pending_ = false;
    last_ms_ = steady_ms();
    return {};
  }

  StateStore* store_;
  std::unique_ptr<StateStore> owned_;
  AuditSigningKey key_;
  Bytes key_id_;                         // key_id(key_): made at the first signature
  std::optional<Ed25519Signer> signer_;  // key_ loaded, likewise
  int min_interval_ms_;
  std::mutex mu_;
  std::string log_path_;
  AuditHead pending_;         // the newest head recorded
  bool has_pending_ = false;  // pending_ is not signed yet
  AuditHead signed_;          // the last head signed by this sink
  int64_t last_ms_ = 0;
};

}  // namespace

std::string audit_checkpoint_origin(const std::string& log_path) {
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(log_path, ec).lexically_normal().string();
  return "localhost/stepgate/audit/" + sha256_hex(ec ? log_path : absolute).substr(0, 16);
}

namespace {

Result<std::string> sign_checkpoint_with_id(const AuditCheckpoint& checkpoint,
                                            const std::string& key_name,
                                            const Ed25519Signer& signer, const Bytes& id) {
  if (!plain_line(checkpoint.origin)) return invalid_argument("audit checkpoint: bad origin");
  if (!plain_line(key_name)) return invalid_argument("audit checkpoint: bad key name");
  if (!is_hex64(checkpoint.head.hash)) {
    return invalid_argument("audit checkpoint: head hash is not 64 lowercase hex digits");
  }
  const std::string body = checkpoint.origin + "\n" + std::to_string(checkpoint.head.size) + "\n" +
                           base64_std(hex_decode32(checkpoint.head.hash)) + "\ntime " +
                           std::to_string(checkpoint.time) + "\n";
  auto signature = signer.sign(body);
  if (!signature.ok()) return signature.error();
  Bytes blob = id;
  blob.insert(blob.end(), signature->begin(), signature->end());
  return body + "\n" + std::string(kEmDash) + " " + key_name + " " + base64_std(blob) + "\n";
}

}  // namespace

Result<std::string> sign_audit_checkpoint(const AuditCheckpoint& checkpoint,
                                          const AuditSigningKey& key) {
  auto public_key = ed25519_public_from_private(key.private_key);
  if (!public_key.ok()) return public_key.error();
  auto signer = Ed25519Signer::load(key.private_key);
  if (!signer.ok()) return signer.error();
  return sign_checkpoint_with_id(checkpoint, key.name, *signer, key_id(key.name, *public_key));
}

Result<AuditCheckpoint> open_audit_checkpoint(std::string_view note, const std::string& key_name,
                                              const Bytes& public_key) {
  if (note.size() > kMaxNoteBytes) return not_a_checkpoint("larger than 4096 bytes");
  const std::size_t split = note.find("\n\n");
  if (split == std::string_view::npos) return not_a_checkpoint("no signature block");
  const std::string_view body = note.substr(0, split + 1);
  auto checkpoint = parse_body(body);
  if (!checkpoint.ok()) return checkpoint.error();
  const Bytes expected_id = key_id(key_name, public_key);
  const std::string prefix = std::string(kEmDash) + " " + key_name + " ";
  std::string_view signatures = note.substr(split + 2);
  while (!signatures.empty()) {
    const std::size_t nl = signatures.find('\n');
    if (nl == std::string_view::npos) return not_a_checkpoint("signature line without a newline");
    const std::string_view line = signatures.substr(0, nl);
    signatures.remove_prefix(nl + 1);
    if (line.rfind(prefix, 0) != 0) continue;  // another key's signature
    Bytes blob;
    if (!unbase64_std(line.substr(prefix.size()), blob) ||
        blob.size() != kKeyIdSize + kSignatureSize ||
        !std::equal(expected_id.begin(), expected_id.end(), blob.begin())) {
      continue;
    }
    const Bytes signature(blob.begin() + kKeyIdSize, blob.end());
    if (ed25519_verify(public_key, body, signature)) return checkpoint;
  }
  return make_error(ErrorCode::kPermissionDenied,
                    "audit checkpoint: no valid signature by `" + key_name + "`");
}

Result<AuditSigningKey> load_local_checkpoint_key(const std::string& secrets_dir, bool create) {
  const std::string path = secrets_dir + "/audit/checkpoint.key";
  auto text = read_secret_file(path);
  if (!text.ok() && text.error().code == ErrorCode::kNotFound && create) {
    auto pair = ed25519_generate();
    if (!pair.ok()) return pair.error();
    if (Status s = ensure_private_dir(secrets_dir + "/audit"); !s.ok()) return s.error();
    if (Status s = write_secret_file(path, base64url_encode(pair->private_key) + "\n"); !s.ok()) {
      return s.error();
    }
    return AuditSigningKey{kLocalKeyName, pair->private_key};
  }
  if (!text.ok()) return text.error();
  std::string body = *text;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  auto key = base64url_decode(body);
  if (!key.ok() || key->size() != 32) {
    return make_error(ErrorCode::kFailedPrecondition,
                      path + ": not an Ed25519 private key (base64url of 32 bytes)");
  }
  return AuditSigningKey{kLocalKeyName, std::move(key).value()};
}

std::shared_ptr<AuditHeadSink> make_store_checkpoint_sink(StateStore& store, AuditSigningKey key,
                                                          int min_interval_ms) {
  return std::make_shared<StoreCheckpointSink>(&store, nullptr, std::move(key), min_interval_ms);
}

std::shared_ptr<AuditHeadSink> make_store_checkpoint_sink(std::unique_ptr<StateStore> store,
                                                          AuditSigningKey key,
                                                          int min_interval_ms) {
  StateStore* raw = store.get();
  return std::make_shared<StoreCheckpointSink>(raw, std::move(store), std::move(key),
                                               min_interval_ms);
}

Result<std::unique_ptr<AuditLog>> open_checkpointed_audit_log(const std::string& log_path,
                                                              const std::string& state_db,
                                                              const std::string& secrets_dir,
                                                              AuditOptions options) {
  auto key = load_local_checkpoint_key(secrets_dir, /*create=*/true);
  if (!key.ok()) return key.error();
  auto store = StateStore::open(state_db);
  if (!store.ok()) return store.error();
  options.checkpoints = make_store_checkpoint_sink(std::move(store).value(), std::move(key).value(),
                                                   options.fsync_batch_ms);
  return AuditLog::open(log_path, std::move(options));
}

}  // namespace stepgate
