#include "push_parser.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace stepgate {
namespace {

const std::string kA = "1111111111111111111111111111111111111111";
const std::string kB = "2222222222222222222222222222222222222222";
const std::string kZ = "0000000000000000000000000000000000000000";

struct ValidCase {
  const char* name;
  std::string text;
  std::size_t count;
  bool first_delete;
  bool first_new;
};

TEST_CASE("parse_pre_push: valid input") {
  const std::vector<ValidCase> cases = {
      {"empty stdin", "", 0, false, false},
      {"fast-forward", "refs/heads/main " + kB + " refs/heads/main " + kA + "\n", 1, false, false},
      {"no final newline", "refs/heads/main " + kB + " refs/heads/main " + kA, 1, false, false},
      {"CRLF", "refs/heads/main " + kB + " refs/heads/main " + kA + "\r\n", 1, false, false},
      {"new branch", "refs/heads/f " + kB + " refs/heads/f " + kZ + "\n", 1, false, true},
      {"delete", "(delete) " + kZ + " refs/heads/old " + kA + "\n", 1, true, false},
      {"tag", "refs/tags/v1 " + kB + " refs/tags/v1 " + kZ + "\n", 1, false, true},
      {"two refs",
       "refs/heads/a " + kB + " refs/heads/a " + kA + "\nrefs/heads/b " + kA + " refs/heads/main " +
           kB + "\n",
       2, false, false},
      {"sha-256 ids",
       "refs/heads/main " + std::string(64, 'b') + " refs/heads/main " + std::string(64, 'a') +
           "\n",
       1, false, false},
      {"HEAD as local ref", "HEAD " + kB + " refs/heads/main " + kA + "\n", 1, false, false},
  };
  for (const ValidCase& c : cases) {
    CAPTURE(c.name);
    auto parsed = parse_pre_push(c.text);
    REQUIRE(parsed.ok());
    REQUIRE(parsed->size() == c.count);
    if (c.count == 0) continue;
    const RefUpdate& u = parsed->front();
    CHECK(u.line == 1);
    CHECK(u.is_delete() == c.first_delete);
    CHECK(u.is_new() == c.first_new);
    CHECK(u.remote_ref.rfind("refs/", 0) == 0);
    CHECK(u.remote_sha.back() != '\r');
  }
}

TEST_CASE("parse_pre_push: fields land where they belong") {
  auto parsed = parse_pre_push("refs/heads/x " + kB + " refs/heads/y " + kA + "\n");
  REQUIRE(parsed.ok());
  CHECK(parsed->at(0).local_ref == "refs/heads/x");
  CHECK(parsed->at(0).local_sha == kB);
  CHECK(parsed->at(0).remote_ref == "refs/heads/y");
  CHECK(parsed->at(0).remote_sha == kA);
}

struct BadCase {
  const char* name;
  std::string text;
  const char* line_tag;  // "stdin line N:"
};

TEST_CASE("parse_pre_push: malformed input names the line") {
  const std::string good = "refs/heads/main " + kB + " refs/heads/main " + kA + "\n";
  const std::vector<BadCase> cases = {
      {"three fields", "refs/heads/main " + kB + " refs/heads/main\n", "stdin line 1:"},
      {"five fields", good.substr(0, good.size() - 1) + " extra\n", "stdin line 1:"},
      {"short sha", "refs/heads/main abc refs/heads/main " + kA + "\n", "stdin line 1:"},
      {"non-hex sha", "refs/heads/main " + std::string(40, 'g') + " refs/heads/main " + kA + "\n",
       "stdin line 1:"},
      {"remote ref not full", good + "refs/heads/x " + kB + " main " + kA + "\n", "stdin line 2:"},
      {"double space", "refs/heads/main  " + kB + " refs/heads/main " + kA + "\n", "stdin line 1:"},
      {"tab separated", "refs/heads/main\t" + kB + "\trefs/heads/main\t" + kA + "\n",
       "stdin line 1:"},
      {"empty line in between", good + "\n" + good, "stdin line 2:"},
      {"delete without zero sha", "(delete) " + kB + " refs/heads/x " + kA + "\n", "stdin line 1:"},
      {"zero sha without delete", "refs/heads/x " + kZ + " refs/heads/x " + kA + "\n",
       "stdin line 1:"},
      {"mixed id lengths", "refs/heads/x " + kB + " refs/heads/x " + std::string(64, 'a') + "\n",
       "stdin line 1:"},
      {"third line bad", good + good + "garbage\n", "stdin line 3:"},
  };
  for (const BadCase& c : cases) {
    CAPTURE(c.name);
    auto parsed = parse_pre_push(c.text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == ErrorCode::kInvalidArgument);
    CHECK(parsed.error().message.find(c.line_tag) == 0);
  }
}

TEST_CASE("parse_pre_receive") {
  auto parsed = parse_pre_receive(kA + " " + kB + " refs/heads/main\r\n" + kZ + " " + kB +
                                  " refs/heads/new\n" + kA + " " + kZ + " refs/tags/v1\n");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->size() == 3);
  CHECK(parsed->at(0).remote_sha == kA);
  CHECK(parsed->at(0).local_sha == kB);
  CHECK(parsed->at(0).remote_ref == "refs/heads/main");
  CHECK(parsed->at(1).is_new());
  CHECK(parsed->at(2).is_delete());
  CHECK(parsed->at(2).local_ref == "(delete)");
  CHECK(parsed->at(2).line == 3);

  const std::vector<BadCase> bad = {
      {"four fields", kA + " " + kB + " refs/heads/main extra\n", "stdin line 1:"},
      {"both zero", kZ + " " + kZ + " refs/heads/main\n", "stdin line 1:"},
      {"bad ref", kA + " " + kB + " main\n", "stdin line 1:"},
      {"second line", kA + " " + kB + " refs/heads/main\n" + kA + " xyz refs/heads/b\n",
       "stdin line 2:"},
  };
  for (const BadCase& c : bad) {
    CAPTURE(c.name);
    auto r = parse_pre_receive(c.text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find(c.line_tag) == 0);
  }
  CHECK(parse_pre_receive("")->empty());
}

TEST_CASE("parsers: at most kMaxRefUpdates refs per push, and the refusal names the limit") {
  std::string push;
  std::string receive;
  for (std::size_t i = 0; i < kMaxRefUpdates; ++i) {
    const std::string ref = "refs/heads/b" + std::to_string(i);
    push += ref + " " + kB + " " + ref + " " + kZ + "\n";
    receive += kZ + " " + kB + " " + ref + "\n";
  }
  auto at_limit = parse_pre_push(push);
  REQUIRE(at_limit.ok());
  CHECK(at_limit->size() == kMaxRefUpdates);
  REQUIRE(parse_pre_receive(receive).ok());
  push += "refs/heads/x " + kB + " refs/heads/x " + kZ + "\n";
  receive += kZ + " " + kB + " refs/heads/x\n";
  for (const auto& over : {parse_pre_push(push), parse_pre_receive(receive)}) {
    REQUIRE_FALSE(over.ok());
    CHECK(over.error().code == ErrorCode::kInvalidArgument);
    CHECK(over.error().message.find("stdin line 1001: more than 1000 ref updates in one push") ==
          0);
    CHECK(over.error().message.find("limit on refs per push") != std::string::npos);
  }
}

TEST_CASE("object id helpers") {
  CHECK(is_hex_oid(kA));
  CHECK(is_hex_oid(std::string(64, 'F')));
  CHECK_FALSE(is_hex_oid(std::string(39, 'a')));
  CHECK(is_zero_oid(kZ));
  CHECK(is_zero_oid(std::string(64, '0')));
  CHECK_FALSE(is_zero_oid(kA));
}

}  // namespace
}  // namespace stepgate
