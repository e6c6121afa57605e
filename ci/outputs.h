#pragma once
// Writes a gate's result where the CI provider looks for it: GitHub's workflow commands, job
// summary and step outputs; GitLab's report files.

#include <iosfwd>
#include <string>
#include <vector>

#include "context.h"
#include "report.h"

namespace stepgate::ci {

/// Values that may end up in logs (attributes, signals, messages) plus grants: what to mask.
std::vector<std::string> mask_candidates(const Action& action, const GateReport& report,
                                         const Value& signals);

/// On GitHub Actions: masks then the annotation on `out`; the Markdown summary appended to
/// $GITHUB_STEP_SUMMARY and decision/score/challenge/action_digest to $GITHUB_OUTPUT. `grants`
/// are always masked. File problems are reported on `err` and returned as the first error.
Status write_github(const GateReport& report, const std::vector<std::string>& to_mask,
                    const std::vector<std::string>& grants, const Env& env, std::ostream& out);

/// Writes DIR/gl-code-quality-report.json and DIR/stepgate-junit.xml (creating DIR).
Status write_gitlab_reports(const std::string& dir, const GateReport& report);

}  // namespace stepgate::ci
