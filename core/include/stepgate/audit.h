#pragma once
/// The tamper-evident audit log: JSON Lines, each record holding the hash of the previous one.
///
/// Record: {"seq":N,"time":"RFC3339 UTC with ms","type":"decision|stepup|...", ...fields...,
/// "prev":HEX} plus "hash":HEX, where hash = SHA-256(prev + canonical JSON of the record without
/// "hash") (to_json in json.h: sorted keys, compact). The first record has seq 1 and prev = 64
/// zeros.
///
/// Line format (so verify can hash raw bytes without re-serialising): a line is the canonical
/// JSON of the record without "hash", minus its closing '}', followed by `,"hash":"HEX"}` and
/// a newline. So "hash" is always the last key, and verify hashes prev + (line minus that 75-byte
/// suffix) + "}". Any other JSON reader sees an ordinary object.
///
/// Appends take an exclusive flock on the file, read the last record's seq/hash backwards from
/// EOF, write one line with O_APPEND and fsync (or batch fsyncs when asked). A torn last line (a
/// crash mid-write) is left in place and the next record starts on a fresh line, chained to the
/// last good record; verify reports the torn line. A chain alone cannot reveal records cut from
/// the end of the file, an emptied file or a chain rewritten with fresh hashes: the anchor is a
/// signed checkpoint of the head (AuditCheckpoint below), kept outside the file by an
/// AuditHeadSink (the state store in local mode, the authority's store with its own key).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stepgate/crypto.h"
#include "stepgate/result.h"
#include "stepgate/value.h"

namespace stepgate {

class StateStore;

/// The chain's head: how many records it holds (the last seq) and the last record's hash (hex;
/// 64 zeros for none).
struct AuditHead {
  uint64_t size = 0;
  std::string hash;
};

/// Receives each new head of a log, under the log's file lock (so heads arrive in order across
/// processes): the anchor that lets `verify` see a cut tail or a rewritten chain.
class AuditHeadSink {
 public:
  virtual ~AuditHeadSink() = default;
  /// The log at `log_path` (absolute) now ends at `head`. An error fails the append.
  virtual Status record_head(const std::string& log_path, const AuditHead& head) = 0;
  /// Writes a head it held back (batching); called by AuditLog::flush and on close.
  virtual Status flush() { return {}; }
  /// The log is on disk through `on_disk` (a head recorded earlier): writes it if the sink's own
  /// interval says one is due. Called after each fsync (the batch thread's, or each append's), so
  /// a signed head never runs ahead of the log on disk.
  virtual Status flush_due(const AuditHead& on_disk) {
    (void)on_disk;
    return flush();
  }
};

struct AuditOptions {
  bool fsync = true;
  /// In long-running processes: fsync at most every N ms (0 = every append).
  int fsync_batch_ms = 0;
  /// With fsync_batch_ms > 0: append() returns only once its record is on disk. Appenders that
  /// wait together share one fsync (group commit) instead of waiting for the batch interval.
  bool durable = false;
  /// This process is the log's only writer while it is open (the authority, whose log no other
  /// process appends to): the file lock is taken at open, without waiting, and held until close,
  /// so a second writer is refused at open instead of interleaving, and each append skips the
  /// per-record lock and size check that let several processes share a log.
  bool exclusive = false;
  /// Where each new head goes (signed checkpoints); none when null.
  std::shared_ptr<AuditHeadSink> checkpoints = nullptr;
};

class AuditLog {
 public:
  /// Opens (creating with 0600, and its directory) the log at `path`.
  static Result<std::unique_ptr<AuditLog>> open(const std::string& path, AuditOptions options = {});
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  /// Appends one record of `type` with the fields of `fields` (a map). Secret-looking values are
  /// redacted first. Thread-safe and safe across processes.
  Status append(const std::string& type, const Value& fields);
  /// The same for a record the caller no longer needs: redacted in place, not copied first.
  Status append(const std::string& type, Value&& fields);

  /// Forces pending batched writes to disk.
  Status flush();

  [[nodiscard]] const std::string& path() const;

  /// Held by a thread answering a request (an authority worker). Its appends to a durable log
  /// do not wait for their fsync; `then(done)` hands the wait to the log instead: `done` runs once
  /// every record this thread appended under the deferral is on disk (with the fsync's status) —
  /// at once, on this thread, when they already are (or the log is not durable), else on the
  /// log's batch thread right after its fsync. So a worker does not sleep through the fsync and
  /// wake again for each decision: it goes back to deciding, and the fsync's whole group is
  /// answered by one thread. Without then(), nobody waits.
  class Deferral {
   public:
    explicit Deferral(AuditLog& log);
    ~Deferral();
    Deferral(const Deferral&) = delete;
    Deferral& operator=(const Deferral&) = delete;
    /// At most once; `done` must not append to this log or block.
    void then(std::function<void(Status)> done);

   private:
    friend class AuditLog;
    AuditLog& log_;
    Deferral* outer_;    // a deferral this one hides on the same thread
    uint64_t last_ = 0;  // the last append made under it (the log's count), 0 for none
  };

 private:
  struct Impl;
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Result of `audit verify`.
struct AuditVerifyReport {
  bool ok = true;
  uint64_t records = 0;
  uint64_t first_bad_line = 0;  // 1-based line of the first bad record, 0 when ok
  std::string problem;          // what is wrong with it (edited, dropped, inserted, reordered...)
  AuditHead head;               // the last good record
  /// Set when the log does not match its signed checkpoint (cut, emptied, rewritten, missing);
  /// `problem` says how, and first_bad_line is 0 unless the chain itself broke first.
  bool checkpoint_mismatch = false;
};

/// A signed statement of an audit log's head, as a C2SP signed note whose body follows
/// tlog-checkpoint (https://c2sp.org/tlog-checkpoint):
///   <origin>\n<size>\n<base64 of the head hash's 32 bytes>\ntime <unix seconds>\n
///   \n
///   \u2014 <key name> <base64 of key id (4 bytes) || Ed25519 signature (64 bytes)>\n
/// The key id is the first 4 bytes of SHA-256(key name || "\n" || 0x01 || public key), as in
/// C2SP signed-note. The origin names the log (audit_checkpoint_origin).
struct AuditCheckpoint {
  std::string origin;
  AuditHead head;
  int64_t time = 0;  // unix seconds when it was signed
};

/// An Ed25519 key that signs checkpoints: the local one (load_local_checkpoint_key) or the
/// authority's.
struct AuditSigningKey {
  std::string name;   // the note's key name, e.g. "stepgate-local-audit"
  Bytes private_key;  // raw 32 bytes
};

/// The origin line for the log at `log_path`: "localhost/stepgate/audit/" + 16 hex digits of the
/// SHA-256 of its absolute path.
std::string audit_checkpoint_origin(const std::string& log_path);

/// The signed note for `checkpoint`. kInvalidArgument for a head hash that is not 64 hex digits
/// or an origin/key name with a newline or space.
Result<std::string> sign_audit_checkpoint(const AuditCheckpoint& checkpoint,
                                          const AuditSigningKey& key);

/// Parses a signed note and checks its signature by `key_name` with `public_key`.
/// kInvalidArgument when it is not a checkpoint; kPermissionDenied when no signature by that key
/// verifies.
Result<AuditCheckpoint> open_audit_checkpoint(std::string_view note, const std::string& key_name,
                                              const Bytes& public_key);

/// The local-mode signing key, secrets_dir/audit/checkpoint.key (0600, base64url), created with a
/// fresh key when missing and `create`; kNotFound when missing otherwise.
Result<AuditSigningKey> load_local_checkpoint_key(const std::string& secrets_dir, bool create);

/// A sink that signs each head with `key` and keeps it in `store` (the latest per log). With
/// `min_interval_ms` > 0 it signs at most that often and on flush (long-running processes).
/// `store` must outlive the sink.
std::shared_ptr<AuditHeadSink> make_store_checkpoint_sink(StateStore& store, AuditSigningKey key,
                                                          int min_interval_ms = 0);

/// Opens the log at `log_path` with local-mode checkpoints: signed with the local key (created in
/// `secrets_dir` when missing) and kept in the state store at `state_db` (opened for the log).
Result<std::unique_ptr<AuditLog>> open_checkpointed_audit_log(const std::string& log_path,
                                                              const std::string& state_db,
                                                              const std::string& secrets_dir,
                                                              AuditOptions options = {});

/// Same, owning its store.
std::shared_ptr<AuditHeadSink> make_store_checkpoint_sink(std::unique_ptr<StateStore> store,
                                                          AuditSigningKey key,
                                                          int min_interval_ms = 0);

/// Verifies the whole chain, stopping at the first bad line with one of: "edited (hash
/// mismatch)", "dropped record(s): expected seq N, found M", "inserted or reordered record:
/// expected seq N, found M", "prev hash does not match ...", "truncated/torn line ...",
/// "malformed record (...)", "empty line". kNotFound if the file is missing.
Result<AuditVerifyReport> verify_audit_log(const std::string& path);

/// Same, then held against `checkpoint` (already opened, so its signature checked): a log that
/// ends before the checkpoint's size ("cut"), holds no record ("emptied") or is missing, or whose
/// record at that size has another hash ("rewritten") is not intact. Records after the checkpoint
/// are fine (written since).
Result<AuditVerifyReport> verify_audit_log(const std::string& path,
                                           const AuditCheckpoint& checkpoint);

/// Filters for `audit show`.
struct AuditFilter {
  std::string kind;     // glob on action kind
  std::string verdict;  // allow / step_up / deny
  std::string type;     // record type
  int64_t since = 0;    // unix seconds
  int64_t until = 0;
  std::string actor;      // glob on action.actor (else actor, decided_by, approver, identity)
  std::string rule;       // glob on a decision reason's rule id (in force or shadow)
  std::string front_end;  // glob on front_end
};
/// The records that pass `filter` (empty fields match everything; kind matches action.kind,
/// verdict matches verdict or decision.verdict; since/until bound "time", inclusive; actor, rule
/// and front_end as above). Lines that
/// do not parse are skipped (verify reports them). kNotFound if the file is missing.
Result<std::vector<Value>> read_audit_log(const std::string& path, const AuditFilter& filter);

/// Replaces secret-looking string values (tokens, keys, passwords) with "[REDACTED:rule]".
Value redact_secrets(const Value& value);
/// redact_secrets on `value` itself, rebuilding only the redacted parts.
void redact_secrets_in_place(Value& value);

/// True when a string looks like a secret (the same rules redaction uses).
bool looks_like_secret(std::string_view text);

}  // namespace stepgate
