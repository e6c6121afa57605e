#!/usr/bin/env bash
# Runs `stepgate ci gate` with the GitHub Action's inputs (SG_* environment variables) as
# separate arguments: an input is never spliced into a shell string, so no value can inject a
# command. Used by action.yml; tests/e2e/install_test.sh drives it directly.
set -euo pipefail
args=(ci gate)
add() { [ -z "$2" ] || args+=("$1" "$2"); }
add --manifest "${SG_MANIFEST:-}"
add --kind "${SG_KIND:-}"
add --resource "${SG_RESOURCE:-}"
add --environment "${SG_ENVIRONMENT:-}"
add --change-ticket "${SG_CHANGE_TICKET:-}"
add --grant "${SG_GRANT:-}"
add --policy "${SG_POLICY:-}"
add --format "${SG_FORMAT:-}"
add --report-dir "${SG_REPORT_DIR:-}"
add --server "${SG_SERVER:-}"
add --timeout "${SG_TIMEOUT:-}"
add --poll "${SG_POLL:-}"
while IFS= read -r line; do add --attr "$line"; done <<<"${SG_ATTRS:-}"
while IFS= read -r line; do add --attr-json "$line"; done <<<"${SG_ATTRS_JSON:-}"
[ "${SG_WAIT:-false}" != "true" ] || args+=(--wait)
exec "${STEPGATE:-stepgate}" "${args[@]}"
