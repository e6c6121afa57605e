// Signed checkpoints of the audit chain's head: the note format, and what `verify` finds when a
// log is held against its latest checkpoint (cut tail, emptied, missing, rewritten chain).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "stepgate/audit.h"
#include "stepgate/crypto.h"
#include "stepgate/json.h"
#include "stepgate/store.h"
#include "test_util.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_all(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

AuditSigningKey test_key() {
  auto pair = ed25519_generate();
  REQUIRE(pair.ok());
  return AuditSigningKey{"test-key", pair->private_key};
}

Bytes public_of(const AuditSigningKey& key) {
  auto pub = ed25519_public_from_private(key.private_key);
  REQUIRE(pub.ok());
  return *pub;
}

/// A whole chain of n records built from the format audit.h documents, as an attacker who edits
/// a record and then rewrites every hash after it would.
std::string forged_chain(int n) {
  std::string prev(64, '0');
  std::string out;
  for (int seq = 1; seq <= n; ++seq) {
    Value rec = Map{{"seq", seq},
                    {"prev", prev},
                    {"type", "decision"},
                    {"time", "2024-01-01T00:00:00.000Z"},
                    {"verdict", "allow"}};
    std::string canonical = to_json(rec);
    const std::string hash = sha256_hex(prev + canonical);
    canonical.pop_back();
    out += canonical + R"(,"hash":")" + hash + "\"}\n";
    prev = hash;
  }
  return out;
}

TEST_CASE("audit checkpoint: a C2SP signed note that verifies only untouched, with its key") {
  const AuditSigningKey key = test_key();
  const AuditCheckpoint c{"localhost/stepgate/audit/0123456789abcdef",
                          AuditHead{42, sha256_hex("head")}, 1700000000};
  auto note = sign_audit_checkpoint(c, key);
  REQUIRE(note.ok());
  const std::vector<std::string> lines = split_lines(*note);
  REQUIRE(lines.size() == 6);
  CHECK(lines[0] == c.origin);
  CHECK(lines[1] == "42");
  CHECK(lines[2].size() == 44);  // base64 of 32 bytes, padded
  CHECK(lines[3] == "time 1700000000");
  CHECK(lines[4].empty());
  CHECK(lines[5].rfind("\xE2\x80\x94 test-key ", 0) == 0);
  // The key id is SHA-256(name || "\n" || 0x01 || public key)[:4] (C2SP signed-note, Ed25519).
  const Bytes pub = public_of(key);
  std::string material = "test-key\n\x01";
  material.append(reinterpret_cast<const char*>(pub.data()), pub.size());
  const std::string sig_b64 = lines[5].substr(lines[5].rfind(' ') + 1);
  auto blob = base64url_decode([&] {  // standard -> url alphabet, no padding
    std::string t = sig_b64;
    for (char& ch : t) ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
    while (!t.empty() && t.back() == '=') t.pop_back();
    return t;
  }());
  REQUIRE(blob.ok());
  REQUIRE(blob->size() == 68);
  const Bytes id = sha256(material);
  CHECK(Bytes(blob->begin(), blob->begin() + 4) == Bytes(id.begin(), id.begin() + 4));

  auto opened = open_audit_checkpoint(*note, "test-key", pub);
  REQUIRE(opened.ok());
  CHECK(opened->origin == c.origin);
  CHECK(opened->head.size == 42);
  CHECK(opened->head.hash == c.head.hash);
  CHECK(opened->time == c.time);

  struct Bad {
    const char* what;
    std::function<std::string(std::string)> change;
    ErrorCode code;
  };
  const Bad bad[] = {
      {"size raised", [](std::string n) { return n.replace(n.find("\n42\n"), 4, "\n43\n"); },
       ErrorCode::kPermissionDenied},
      {"time moved", [](std::string n) { return n.replace(n.find("time 17"), 7, "time 18"); },
       ErrorCode::kPermissionDenied},
      {"no signature", [](std::string n) { return n.substr(0, n.find("\n\n") + 2); },
       ErrorCode::kPermissionDenied},
      {"not a note", [](std::string) { return std::string("hello\n"); },
       ErrorCode::kInvalidArgument},
      {"bad hash line",
       [](std::string n) {
         const std::size_t at = n.find('\n', n.find('\n') + 1) + 1;
         return n.replace(at, 4, "!!!!");
       },
       ErrorCode::kInvalidArgument},
  };
  for (const Bad& b : bad) {
    CAPTURE(b.what);
    auto r = open_audit_checkpoint(b.change(*note), "test-key", pub);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == b.code);
  }
  auto other = open_audit_checkpoint(*note, "test-key", public_of(test_key()));
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().code == ErrorCode::kPermissionDenied);
}

struct Logged {
  TempDir dir;
  std::string log = dir.path() + "/audit.jsonl";
  std::unique_ptr<StateStore> store = testing::open_test_store(dir);
  AuditSigningKey key = test_key();

  void append(int n, int min_interval_ms = 0) {
    AuditOptions options{.fsync = false};
    options.checkpoints = make_store_checkpoint_sink(*store, key, min_interval_ms);
    auto log_file = AuditLog::open(log, options);
    REQUIRE(log_file.ok());
    for (int i = 0; i < n; ++i) {
      REQUIRE((*log_file)->append("decision", Value(Map{{"i", Value(i)}})).ok());
    }
  }
  AuditCheckpoint checkpoint() {
    auto note = store->get_audit_checkpoint(fs::absolute(log).lexically_normal().string());
    REQUIRE(note.ok());
    REQUIRE(note->has_value());
    auto c = open_audit_checkpoint(**note, key.name, public_of(key));
    REQUIRE(c.ok());
    return *c;
  }
};

TEST_CASE(
    "audit checkpoint: verify finds a cut tail, an emptied or missing log, a rewritten "
    "chain") {
  struct Row {
    const char* what;
    std::function<void(const std::string& log)> tamper;
    bool ok;
    const char* problem;  // prefix
  };
  const Row rows[] = {
      {"untouched", [](const std::string&) {}, true, ""},
      {"the last two records cut",
       [](const std::string& log) {
         auto lines = split_lines(read_all(log));
         lines.resize(lines.size() - 2);
         std::string text;
         for (const auto& l : lines) text += l + "\n";
         write_all(log, text);
       },
       false, "cut: the log ends at record 8"},
      {"emptied", [](const std::string& log) { write_all(log, ""); }, false, "emptied"},
      {"deleted", [](const std::string& log) { fs::remove(log); }, false, "the log is missing"},
      {"every hash rewritten after an edit",
       [](const std::string& log) { write_all(log, forged_chain(10)); }, false, "rewritten"},
      {"rewritten and extended", [](const std::string& log) { write_all(log, forged_chain(12)); },
       false, "rewritten"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    Logged l;
    l.append(10);
    const AuditCheckpoint c = l.checkpoint();
    CHECK(c.head.size == 10);
    CHECK(c.origin == audit_checkpoint_origin(l.log));
    // Without the checkpoint, every one of these verifies as intact (the old behaviour).
    row.tamper(l.log);
    auto report = verify_audit_log(l.log, c);
    REQUIRE(report.ok());
    CHECK(report->ok == row.ok);
    CHECK(report->checkpoint_mismatch == !row.ok);
    CHECK(report->problem.rfind(row.problem, 0) == 0);
  }
}

TEST_CASE("audit checkpoint: heads only move forward; records after the checkpoint are fine") {
  Logged l;
  l.append(5);
  CHECK(l.checkpoint().head.size == 5);
  const AuditCheckpoint five = l.checkpoint();
  l.append(3);
  CHECK(l.checkpoint().head.size == 8);
  auto later = verify_audit_log(l.log, five);  // an older checkpoint: 3 records written since
  REQUIRE(later.ok());
  CHECK(later->ok);
  // An emptied log's new records do not replace the anchor: verify keeps reporting the cut.
  write_all(l.log, "");
  l.append(2);
  CHECK(l.checkpoint().head.size == 8);
  auto report = verify_audit_log(l.log, l.checkpoint());
  REQUIRE(report.ok());
  CHECK_FALSE(report->ok);
  CHECK(report->problem.rfind("cut: the log ends at record 2", 0) == 0);
}

TEST_CASE("audit checkpoint: a batching sink signs the last head when the log closes") {
  Logged l;
  l.append(7, /*min_interval_ms=*/3600 * 1000);  // only the first append is signed at once
  CHECK(l.checkpoint().head.size == 7);
}

TEST_CASE("audit checkpoint: a batching log signs no head before its record is on disk") {
  // A head signed ahead of the disk would read as a cut tail after a power loss. The batch
  // interval is longer than the test, so nothing here fsyncs until the log closes.
  Logged l;
  {
    AuditOptions options{.fsync = true, .fsync_batch_ms = 3600 * 1000};
    options.checkpoints = make_store_checkpoint_sink(*l.store, l.key, /*min_interval_ms=*/1);
    auto log_file = AuditLog::open(l.log, options);
    REQUIRE(log_file.ok());
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past the sink's interval
      REQUIRE((*log_file)->append("decision", Value(Map{{"i", Value(i)}})).ok());
      auto note = l.store->get_audit_checkpoint(fs::absolute(l.log).lexically_normal().string());
      REQUIRE(note.ok());
      CHECK_FALSE(note->has_value());
    }
  }
  CHECK(l.checkpoint().head.size == 3);  // signed at close, after the fsync
}

TEST_CASE("audit checkpoint: the local key is created 0600 once, then reused") {
  TempDir dir;
  const std::string secrets = dir.path() + "/secrets";
  CHECK(load_local_checkpoint_key(secrets, false).error().code == ErrorCode::kNotFound);
  auto made = load_local_checkpoint_key(secrets, true);
  REQUIRE(made.ok());
  struct stat st {};
  REQUIRE(::stat((secrets + "/audit/checkpoint.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = load_local_checkpoint_key(secrets, true);
  REQUIRE(again.ok());
  CHECK(again->private_key == made->private_key);
  CHECK(again->name == made->name);
}

}  // namespace
}  // namespace stepgate
