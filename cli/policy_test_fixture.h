#pragma once
// `stepgate policy test`: signals for a test case collected by the real collectors from a fixture
// (a git repository built for the case), so a case checks what the collector makes of a change
// as well as what the policy makes of the signals.
//
//   fixture:
//     git:
//       base: {README.md: "hello\n"}          # the commit the remote already has
//       rewrite: false                         # true: the remote tip is a commit the push drops
//       ref: refs/heads/main                   # the ref pushed (default refs/heads/main)
//       commits:                               # the commits pushed, oldest first
//         - message: add config
//           author: "Eve <eve@example.com>"    # default: Test <test@example.com>
//           files: {config.py: "KEY = 1\n", old.txt: null}   # null deletes the file

#include <string>

#include "stepgate/policy.h"
#include "stepgate/result.h"
#include "stepgate/value.h"

namespace stepgate {

/// Builds the fixture described by `fixture` (the case's `fixture` map) in a scratch directory,
/// runs the collector over it and returns the signals it gives. kInvalidArgument naming the key
/// for a fixture it does not understand; kUnavailable when git cannot be run.
Result<Value> collect_fixture_signals(const Value& fixture, const Policy& policy);

}  // namespace stepgate
