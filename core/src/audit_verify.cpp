// `audit verify` and `audit show`: stream the log through a read-only mapping, line by line.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "audit_internal.h"
#include "stepgate/audit.h"
#include "stepgate/crypto.h"
#include "stepgate/glob.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

using namespace audit_detail;

/// The log mapped read-only (empty when the file is).
class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      auto code = errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kUnavailable;
      return make_error(code, "audit log " + path + ": " + std::strerror(errno));
    }
    struct stat st {};
    MappedFile f;
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      void* p =
          ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        f.data_ = static_cast<const char*>(p);
        f.size_ = static_cast<std::size_t>(st.st_size);
        ::madvise(p, f.size_, MADV_SEQUENTIAL);
      }
    }
    int saved = errno;
    ::close(fd);
    if (st.st_size > 0 && f.data_ == nullptr) {
      return make_error(ErrorCode::kUnavailable, "audit log " + path + ": " + std::strerror(saved));
    }
    return f;
  }
  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; }
  MappedFile& operator=(MappedFile&&) = delete;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  }
  [[nodiscard]] std::string_view text() const { return {data_ != nullptr ? data_ : "", size_}; }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Walks lines; `newline` says whether the current line was terminated.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  bool next(std::string_view& line, bool& newline) {
    if (pos_ >= text_.size()) return false;
    std::size_t nl = text_.find('\n', pos_);
    newline = nl != std::string_view::npos;
    std::size_t end = newline ? nl : text_.size();
    line = text_.substr(pos_, end - pos_);
    pos_ = newline ? nl + 1 : end;
    return true;
  }
  /// The next line without consuming it ("" at the end).
  [[nodiscard]] std::string_view peek() const {
    LineReader copy = *this;
    std::string_view line;
    bool nl = false;
    return copy.next(line, nl) ? line : std::string_view();
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

std::string seq_detail(int64_t expected, int64_t found) {
  return ": expected seq " + std::to_string(expected) + ", found " + std::to_string(found);
}

/// The chain state and the checks each line must pass, in the order that names the most precise
/// problem: structure, own hash, sequence, link to the previous record.
class ChainChecker {
 public:
  /// "" when the line continues the chain; else what is wrong with it.
  std::string check(std::string_view line, const LineReader& rest) {
    if (line.empty()) return "empty line";
    LineInfo info;
    std::string detail;
    switch (parse_line(line, info, detail)) {
      case LineStatus::kTorn:
        return "truncated/torn line (" + detail + ")";
      case LineStatus::kMalformed:
        return "malformed record (" + detail + ")";
      case LineStatus::kOk:
        break;
    }
    if (chain_hash(info.prev, info.body) != info.hash) return "edited (hash mismatch)";
    int64_t expected = seq_ + 1;
    if (info.seq < expected) return "inserted or reordered record" + seq_detail(expected, info.seq);
    if (info.seq > expected) {
      LineInfo next;
      bool next_goes_back =
          parse_line(rest.peek(), next, detail) == LineStatus::kOk && next.seq < info.seq;
      return (next_goes_back ? "inserted or reordered record" : "dropped record(s)") +
             seq_detail(expected, info.seq);
    }
    if (info.prev != hash_) {
      return "prev hash does not match (the record before it was edited, replaced or removed)";
    }
    seq_ = info.seq;
    hash_.assign(info.hash);
    return "";
  }
  [[nodiscard]] int64_t seq() const { return seq_; }
  [[nodiscard]] const std::string& hash() const { return hash_; }

 private:
  int64_t seq_ = 0;
  std::string hash_ = std::string(kZeroHash);
};

/// The record's action kind: action.kind, else a top-level kind.
std::string record_kind(const Value& record) {
  if (const Value* action = record.find("action"); action != nullptr && action->is_map()) {
    return action->get_string("kind");
  }
  return record.get_string("kind");
}

/// Who the record is about: action.actor (decisions), else actor, decided_by, approver, identity.
std::string record_actor(const Value& record) {
  if (const Value* action = record.find("action"); action != nullptr && action->is_map()) {
    return action->get_string("actor");
  }
  for (const char* key : {"actor", "decided_by", "approver", "identity"}) {
    if (std::string v = record.get_string(key); !v.empty()) return v;
  }
  return "";
}

/// True when one of the decision's reasons (in force or shadow) names a rule matching `glob`.
bool matches_rule(const Value& record, const std::string& glob) {
  const Value* decision = record.find("decision");
  const Value* reasons = decision != nullptr ? decision->find("reasons") : nullptr;
  if (reasons == nullptr || !reasons->is_list()) return false;
  return std::any_of(reasons->as_list().begin(), reasons->as_list().end(),
                     [&](const Value& r) { return glob_match(glob, r.get_string("rule")); });
}

/// The record's verdict: top-level, else decision.verdict.
std::string record_verdict(const Value& record) {
  if (const Value* v = record.find("verdict"); v != nullptr && v->is_string())
    return v->as_string();
  if (const Value* d = record.find("decision"); d != nullptr && d->is_map())
    return d->get_string("verdict");
  return "";
}

bool matches(const Value& record, const AuditFilter& filter) {
  if (!filter.type.empty() && record.get_string("type") != filter.type) return false;
  if (!filter.kind.empty() && !glob_match(filter.kind, record_kind(record))) return false;
  if (!filter.verdict.empty() && record_verdict(record) != filter.verdict) return false;
  if (!filter.actor.empty() && !glob_match(filter.actor, record_actor(record))) return false;
  if (!filter.front_end.empty() && !glob_match(filter.front_end, record.get_string("front_end")))
    return false;
  if (!filter.rule.empty() && !matches_rule(record, filter.rule)) return false;
  if (filter.since == 0 && filter.until == 0) return true;
  int64_t t = 0;
  if (!parse_time(record.get_string("time"), t)) return false;
  if (filter.since != 0 && t < filter.since) return false;
  return filter.until == 0 || t <= filter.until;
}

AuditVerifyReport checkpoint_failure(AuditVerifyReport report, std::string problem) {
  report.ok = false;
  report.checkpoint_mismatch = true;
  report.problem = std::move(problem);
  return report;
}

/// Walks the chain; with a checkpoint, also keeps the hash of the record at its size and holds
/// the end of the log against it.
Result<AuditVerifyReport> verify_chain(const std::string& path, const AuditCheckpoint* checkpoint) {
  auto file = MappedFile::open(path);
  if (!file.ok()) return file.error();
  LineReader reader(file->text());
  ChainChecker chain;
  AuditVerifyReport report;
  std::string hash_at_checkpoint;
  std::string_view line;
  bool newline = false;
  for (uint64_t line_no = 1; reader.next(line, newline); ++line_no) {
    std::string problem = chain.check(line, reader);
    if (!problem.empty()) {
      report.ok = false;
      report.first_bad_line = line_no;
      report.problem = std::move(problem);
      return report;
    }
    ++report.records;
    if (checkpoint != nullptr && static_cast<uint64_t>(chain.seq()) == checkpoint->head.size) {
      hash_at_checkpoint = chain.hash();
    }
  }
  report.head = AuditHead{static_cast<uint64_t>(chain.seq()), chain.hash()};
  if (checkpoint == nullptr || checkpoint->head.size == 0) return report;
  const std::string size = std::to_string(checkpoint->head.size);
  if (report.records == 0) {
    return checkpoint_failure(report,
                              "emptied: the log holds no record; its signed checkpoint "
                              "names " +
                                  size + " records");
  }
  if (report.head.size < checkpoint->head.size) {
    return checkpoint_failure(report, "cut: the log ends at record " +
                                          std::to_string(report.head.size) +
                                          "; its signed checkpoint names " + size + " records");
  }
  if (!constant_time_equal(hash_at_checkpoint, checkpoint->head.hash)) {
    return checkpoint_failure(report, "rewritten: record " + size +
                                          " does not have the hash its signed checkpoint names");
  }
  return report;
}

}  // namespace

Result<AuditVerifyReport> verify_audit_log(const std::string& path) {
  return verify_chain(path, nullptr);
}

Result<AuditVerifyReport> verify_audit_log(const std::string& path,
                                           const AuditCheckpoint& checkpoint) {
  auto report = verify_chain(path, &checkpoint);
  if (!report.ok() && report.error().code == ErrorCode::kNotFound && checkpoint.head.size > 0) {
    AuditVerifyReport missing;
    return checkpoint_failure(missing, "the log is missing; its signed checkpoint names " +
                                           std::to_string(checkpoint.head.size) + " records");
  }
  return report;
}

Result<std::vector<Value>> read_audit_log(const std::string& path, const AuditFilter& filter) {
  auto file = MappedFile::open(path);
  if (!file.ok()) return file.error();
  LineReader reader(file->text());
  std::vector<Value> out;
  std::string_view line;
  bool newline = false;
  while (reader.next(line, newline)) {
    auto record = parse_json(line);
    // Damaged lines are skipped here; `audit verify` is where they are reported.
    if (!record.ok() || !record->is_map()) continue;
    if (matches(*record, filter)) out.push_back(std::move(*record));
  }
  return out;
}

}  // namespace stepgate
