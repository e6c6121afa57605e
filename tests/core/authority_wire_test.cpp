// The authority's wire (frames with limits) and the front-end configuration file.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "stepgate/authority.h"

namespace stepgate {
namespace {

struct Pair {
  int fds[2] = {-1, -1};
  Pair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0); }
  ~Pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

TEST_CASE("authority wire: frames round-trip, and limits hold") {
  Pair p;
  REQUIRE(write_authority_frame(p.fds[0], R"({"v":1,"op":"hello"})").ok());
  auto body = read_authority_frame(p.fds[1]);
  REQUIRE(body.ok());
  CHECK(*body == R"({"v":1,"op":"hello"})");

  // A length over the limit is refused before any body is read.
  const char huge[4] = {0x7f, 0x00, 0x00, 0x00};
  REQUIRE(::write(p.fds[0], huge, 4) == 4);
  CHECK(read_authority_frame(p.fds[1]).error().code == ErrorCode::kResourceExhausted);

  // A clean end of stream before a frame is kNotFound (the peer hung up between requests).
  Pair q;
  ::shutdown(q.fds[0], SHUT_WR);
  CHECK(read_authority_frame(q.fds[1]).error().code == ErrorCode::kNotFound);
}

TEST_CASE("authority wire: a frame read in parts, as it arrives, without waiting") {
  Pair p;
  auto send = [&](std::string_view bytes) {
    REQUIRE(::write(p.fds[0], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  };
  const std::string body = R"({"v":1,"op":"hello"})";
  const std::string frame = std::string{0, 0, 0, static_cast<char>(body.size())} + body;
  std::string partial;
  // Nothing yet, two bytes of the header, the rest of it and half the body: not whole yet.
  for (const std::size_t upto : {std::size_t{0}, std::size_t{2}, std::size_t{4 + 7}}) {
    if (upto > partial.size())
      send(std::string_view(frame).substr(partial.size(), upto - partial.size()));
    auto part = read_authority_frame_part(p.fds[1], partial);
    REQUIRE(part.ok());
    CHECK_FALSE(part->has_value());
    CHECK(partial.size() == upto);
  }
  send(std::string_view(frame).substr(4 + 7));
  auto whole = read_authority_frame_part(p.fds[1], partial);
  REQUIRE(whole.ok());
  REQUIRE(whole->has_value());
  CHECK(**whole == body);
  CHECK(partial.empty());

  // The next frame at once, whole.
  send(frame);
  whole = read_authority_frame_part(p.fds[1], partial);
  REQUIRE(whole.ok());
  REQUIRE(whole->has_value());
  CHECK(**whole == body);

  // Over the limit as soon as the header says so; two frames in one go; an end mid-frame.
  send(std::string{0x7f, 0, 0, 0});
  auto huge = read_authority_frame_part(p.fds[1], partial);
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.error().code == ErrorCode::kResourceExhausted);
  Pair two;
  partial.clear();
  REQUIRE(::write(two.fds[0], (frame + frame).data(), frame.size() * 2) ==
          static_cast<ssize_t>(frame.size() * 2));
  auto both = read_authority_frame_part(two.fds[1], partial);
  REQUIRE_FALSE(both.ok());
  CHECK(both.error().code == ErrorCode::kUnavailable);
  Pair cut;
  partial.clear();
  REQUIRE(::write(cut.fds[0], frame.data(), 6) == 6);
  ::shutdown(cut.fds[0], SHUT_WR);
  auto torn = read_authority_frame_part(cut.fds[1], partial);
  REQUIRE_FALSE(torn.ok());
  CHECK(torn.error().code == ErrorCode::kUnavailable);
  partial.clear();
  auto ended = read_authority_frame_part(cut.fds[1], partial);
  REQUIRE_FALSE(ended.ok());
  CHECK(ended.error().code == ErrorCode::kNotFound);
}

TEST_CASE("authority wire: bodies must be shallow JSON objects") {
  struct Case {
    std::string body;
    bool ok;
  };
  std::string deep(40, '[');
  deep += std::string(40, ']');
  const Case cases[] = {
      {R"({"op":"x"})", true}, {"[1]", false}, {"{", false}, {"{\"a\":" + deep + "}", false}};
  for (const Case& c : cases) {
    CAPTURE(c.body);
    CHECK(parse_authority_body(c.body).ok() == c.ok);
  }
}

TEST_CASE("front-end config: naming the authority") {
  struct Case {
    std::string text;
    bool ok;
    bool names;
    std::string socket;
  };
  const Case cases[] = {
      {"authority:\n  socket: /run/a.sock\n", true, true, "/run/a.sock"},
      {"authority: {}\n", true, true, kDefaultAuthoritySocket},
      {"", true, false, ""},
      {"authority:\n  sokcet: /x\n", false, false, ""},
      {"authority:\n  public_key: nope\n", false, false, ""},
      {"other: 1\n", false, false, ""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto parsed = parse_authority_config(c.text, "config.yaml");
    REQUIRE(parsed.ok() == c.ok);
    if (!c.ok) continue;
    CHECK(parsed->has_value() == c.names);
    if (c.names) CHECK((*parsed)->socket == c.socket);
  }
}

}  // namespace
}  // namespace stepgate
