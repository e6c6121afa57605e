// Compiles arbitrary bytes as an expression and evaluates whatever compiles against a fixed
// activation. Any crash, sanitizer report, hang or leak is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stepgate/expr.h"
#include "stepgate/json.h"

namespace {

const stepgate::Value& activation() {
  static const stepgate::Value value = stepgate::parse_json(R"({
    "action": {"kind": "git.push", "actor": "alice", "resource": "refs/heads/main",
               "attributes": {"ref": "refs/heads/main", "n": 3, "tags": ["a", "b"]}},
    "signals": {"force": true, "protected": false, "files_changed": 120, "ratio": 0.5,
                "big": 9223372036854775807, "small": -9223372036854775808,
                "secrets": [{"rule": "aws", "path": "a/b.env"}], "nothing": null,
                "paths": ["src/a.cc", "models/m.onnx", "", "Grüße"],
                "tags": {"env": "prod", "team": "ml"}, "nums": [0, 1, 2, 3, 4]}
  })")
                                           .value();
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view source(reinterpret_cast<const char*>(data), size);
  stepgate::Result<stepgate::Expression> e = stepgate::Expression::compile(source);
  if (!e.ok()) return 0;
  stepgate::Result<stepgate::Value> v = e->evaluate(activation());
  if (v.ok()) (void)stepgate::to_json(*v);
  (void)e->evaluate_bool(activation());
  return 0;
}
