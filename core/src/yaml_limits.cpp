#include "stepgate/yaml_limits.h"

#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "stepgate/limits.h"
#include "yaml_stream.h"

namespace stepgate {
namespace {

/// Thrown from the event handler to stop the parser at the first limit passed.
struct LimitPassed {
  YAML::Mark mark;
  std::string message;
};

/// Counts nodes and nesting from the parser's events, with no recursion of its own, and passes
/// each event that is within the limits on to `next`. An alias adds the expanded size of its
/// anchor's node and reaches as deep as that node does, which is exactly what a tree copy per
/// alias (YAML::Load's callers, the policy's own tree) ends up building.
class LimitCounter : public YAML::EventHandler {
 public:
  explicit LimitCounter(YAML::EventHandler* next) : next_(next) {}
  void OnDocumentStart(const YAML::Mark& /*mark*/) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    leaf(mark, anchor);
    if (next_ != nullptr) next_->OnNull(mark, anchor);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    leaf(mark, anchor);
    if (next_ != nullptr) next_->OnScalar(mark, tag, anchor, value);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    // yaml-cpp binds an anchor when its node starts: an alias inside that node makes a cycle,
    // which any walk of the loaded tree would follow until the stack ran out.
    if (anchor >= named_.size() || !named_[anchor].complete) {
      throw LimitPassed{mark, "an alias refers to the node that contains it (a cycle)"};
    }
    const Named named = named_[anchor];
    add_nodes(mark, named.size);
    reach(mark, named.height);
    if (next_ != nullptr) next_->OnAlias(mark, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value style) override {
    open(mark, anchor);
    if (next_ != nullptr) next_->OnSequenceStart(mark, tag, anchor, style);
  }
  void OnSequenceEnd() override {
    close();
    if (next_ != nullptr) next_->OnSequenceEnd();
  }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value style) override {
    open(mark, anchor);
    if (next_ != nullptr) next_->OnMapStart(mark, tag, anchor, style);
  }
  void OnMapEnd() override {
    close();
    if (next_ != nullptr) next_->OnMapEnd();
  }

 private:
  struct Named {
    std::size_t size = 1;  // nodes, aliases expanded
    int height = 0;        // 0 for a scalar, 1 + the deepest child for a list or map
    bool complete = false;
  };
  struct Open {
    YAML::anchor_t anchor;
    std::size_t first_node;  // total_ before this node was counted
    int tallest_child;
  };

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    add_nodes(mark, 1);
    reach(mark, 0);
    name(anchor, Named{1, 0, true});
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (static_cast<int>(open_.size()) + 1 > kMaxNestingDepth) {
      throw LimitPassed{
          mark, "nesting deeper than the limit of " + std::to_string(kMaxNestingDepth) + " levels"};
    }
    open_.push_back(Open{anchor, total_, 0});
    add_nodes(mark, 1);
  }
  void close() {
    if (open_.empty()) return;
    const Open done = open_.back();
    open_.pop_back();
    const Named named{total_ - done.first_node, done.tallest_child + 1, true};
    name(done.anchor, named);
    if (!open_.empty())
      open_.back().tallest_child = std::max(open_.back().tallest_child, named.height);
  }
  /// Records that a child of the innermost open node is `height` tall.
  void reach(const YAML::Mark& mark, int height) {
    if (static_cast<int>(open_.size()) + height > kMaxNestingDepth) {
      throw LimitPassed{mark, "an alias expands deeper than the nesting limit of " +
                                  std::to_string(kMaxNestingDepth) + " levels"};
    }
    if (!open_.empty()) open_.back().tallest_child = std::max(open_.back().tallest_child, height);
  }
  void add_nodes(const YAML::Mark& mark, std::size_t n) {
    total_ += n;
    if (total_ > kMaxYamlNodes) {
      throw LimitPassed{mark, "the document expands to more than the limit of " +
                                  std::to_string(kMaxYamlNodes) +
                                  " nodes (aliases counted at the size of what they name)"};
    }
  }
  void name(YAML::anchor_t anchor, Named named) {
    if (anchor == YAML::NullAnchor) return;
    if (anchor >= named_.size()) named_.resize(anchor + 1);
    named_[anchor] = named;
  }

  YAML::EventHandler* next_;
  std::vector<Open> open_;
  std::vector<Named> named_;  // by anchor id (yaml-cpp numbers them from 1)
  std::size_t total_ = 0;
};

std::string at(const std::string& file, const YAML::Mark& mark) {
  return file + ":" + std::to_string(mark.line < 0 ? 0 : mark.line + 1) + ":" +
         std::to_string(mark.column < 0 ? 0 : mark.column + 1) + ": ";
}

}  // namespace

Status stream_yaml_limited(std::string_view text, const std::string& file,
                           YAML::EventHandler* next) {
  std::istringstream in{std::string(text)};
  LimitCounter counter(next);
  try {
    YAML::Parser parser(in);
    parser.HandleNextDocument(counter);
  } catch (const LimitPassed& passed) {
    return make_error(ErrorCode::kResourceExhausted, at(file, passed.mark) + passed.message);
  } catch (const YAML::Exception& e) {
    return invalid_argument(at(file, e.mark) + e.msg);
  }
  return {};
}

Status check_yaml_limits(std::string_view text, const std::string& file) {
  return stream_yaml_limited(text, file, nullptr);
}

}  // namespace stepgate
