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
/// last good record; verify reports the torn line. A chain cannot reveal records cut from the end
/// of the file (there is no external anchor).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stepgate/result.h"
#include "stepgate/value.h"

namespace stepgate {

struct AuditOptions {
  bool fsync = true;
  /// In long-running processes: fsync at most every N ms (0 = every append).
  int fsync_batch_ms = 0;
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

  /// Forces pending batched writes to disk.
  Status flush();

  [[nodiscard]] const std::string& path() const;

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
};

/// Verifies the whole chain, stopping at the first bad line with one of: "edited (hash
/// mismatch)", "dropped record(s): expected seq N, found M", "inserted or reordered record:
/// expected seq N, found M", "prev hash does not match ...", "truncated/torn line ...",
/// "malformed record (...)", "empty line". kNotFound if the file is missing.
Result<AuditVerifyReport> verify_audit_log(const std::string& path);

/// Filters for `audit show`.
struct AuditFilter {
  std::string kind;     // glob on action kind
  std::string verdict;  // allow / step_up / deny
  std::string type;     // record type
  int64_t since = 0;    // unix seconds
  int64_t until = 0;
};
/// The records that pass `filter` (empty fields match everything; kind matches action.kind,
/// verdict matches verdict or decision.verdict; since/until bound "time", inclusive). Lines that
/// do not parse are skipped (verify reports them). kNotFound if the file is missing.
Result<std::vector<Value>> read_audit_log(const std::string& path, const AuditFilter& filter);

/// Replaces secret-looking string values (tokens, keys, passwords) with "[REDACTED:rule]".
Value redact_secrets(const Value& value);

/// True when a string looks like a secret (the same rules redaction uses).
bool looks_like_secret(std::string_view text);

}  // namespace stepgate
