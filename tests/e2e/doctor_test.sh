#!/usr/bin/env bash
# End to end: `stepgate doctor` in a real repository. Each installed gate is run as its host runs
# it with a probe the policy must stop; a gate that lets it through fails the doctor (exit 1);
# probes leave the user's state and audit log untouched.
set -euo pipefail

. "$(dirname "$0")/git_env.sh"
BOB_KEY=$("$BIN" keygen --approver bob 2> /dev/null | sed -n 1p)

doctor() { "$BIN" doctor "$@" > "$TMP/doctor.out" 2> "$TMP/doctor.err"; }
exit_of() { local rc=0; "$@" || rc=$?; echo "$rc"; }

new_repo doc1
check "a repository with no hooks: doctor exits 0" test "$(exit_of doctor)" = 0
check "it says the pre-push hook is not installed" grep -q '^\[info\] git: pre-push — not installed' "$TMP/doctor.out"

"$BIN" hooks install > /dev/null 2>&1
check "a first push of main goes through the hook" git push -q origin main
audit_lines() { if [ -f "$STEPGATE_HOME/state/audit.jsonl" ]; then wc -l < "$STEPGATE_HOME/state/audit.jsonl"; else echo 0; fi; }
audit_before=$(audit_lines)
check "after hooks install: a clean bill of health" test "$(exit_of doctor)" = 0
check "the pre-push probe was blocked" grep -q '^\[ok\] git: pre-push — blocks a deletion of refs/heads/main' "$TMP/doctor.out"
audit_after=$(audit_lines)
check "the probe left the user's audit log alone" test "$audit_before" = "$audit_after"
check "the hook runs this stepgate's version: no reinstall warning" sh -c "! grep -q 'reinstall the hook' '$TMP/doctor.out'"
check "the remote's main is still there" git --git-dir="$TMP/doc1.git" rev-parse -q --verify refs/heads/main

doctor --format json || true
check "--format json says ok" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is True and any(c["name"]=="pre-push" and c["status"]=="ok" for c in d["checks"]), d' "$TMP/doctor.out"

# A hook that mentions stepgate but lets everything through: the doctor catches it.
cp .git/hooks/pre-push "$TMP/pre-push.good"
printf '#!/bin/sh\n# stepgate (disabled by someone)\nexit 0\n' > .git/hooks/pre-push
check "a fail-open pre-push hook: doctor exits 1" test "$(exit_of doctor)" = 1
check "it names the hook that would fail open" grep -q '^\[FAIL\] git: pre-push — let a deletion of refs/heads/main through' "$TMP/doctor.out"
chmod -x .git/hooks/pre-push
check "a non-executable hook: doctor exits 1" test "$(exit_of doctor)" = 1
check "it says git skips it" grep -q 'is not executable' "$TMP/doctor.out"
cp "$TMP/pre-push.good" .git/hooks/pre-push && chmod +x .git/hooks/pre-push

# A hook that blocks but runs another (older) stepgate: a warning naming both versions.
printf '#!/bin/sh\n[ "$1" = --version ] && { echo "stepgate-git-hook 0.0.1"; exit 0; }\ncat >/dev/null; exit 2\n' > "$TMP/old hook"
chmod +x "$TMP/old hook"
sed -i "s|^exec '[^']*'|exec '$TMP/old hook'|" .git/hooks/pre-push
check "the hook now execs the old program" grep -q "^exec '$TMP/old hook' pre-push" .git/hooks/pre-push
check "an old stepgate behind the hook: doctor still exits 0 (it blocks)" test "$(exit_of doctor)" = 0
check "it warns that the hook runs stepgate 0.0.1, not this one" grep -q "^\[warn\] git: pre-push — $TMP/old hook is stepgate 0.0.1; this stepgate is .*reinstall the hook" "$TMP/doctor.out"
printf '#!/bin/sh\ncat >/dev/null; exit 2\n' > "$TMP/old hook"
doctor || true
check "a program that reports no version is named too" grep -q "old hook reports no version" "$TMP/doctor.out"
cp "$TMP/pre-push.good" .git/hooks/pre-push && chmod +x .git/hooks/pre-push

# core.hooksPath is followed.
mkdir -p "$TMP/shared-hooks"
printf '#!/bin/sh\n# stepgate\nexit 0\n' > "$TMP/shared-hooks/pre-push" && chmod +x "$TMP/shared-hooks/pre-push"
git config core.hooksPath "$TMP/shared-hooks"
check "core.hooksPath: the hook git really runs is probed" test "$(exit_of doctor)" = 1
git config --unset core.hooksPath

# Claude Code: the project settings' PreToolUse hook gets a `rm -rf /` probe.
cp "$SRC/policies/agent-tools.yaml" "$TMP/agent-policy.yaml"
mkdir -p .claude
printf '{"hooks":{"PreToolUse":[{"matcher":"*","hooks":[{"type":"command","command":"STEPGATE_POLICY=%s %s agent-hook claude --policy %s"}]}]}}\n' \
  "$TMP/agent-policy.yaml" "$BIN" "$TMP/agent-policy.yaml" > .claude/settings.json
check "a real Claude Code hook: doctor exits 0" test "$(exit_of doctor)" = 0
check "it blocks rm -rf /" grep -Eq '^\[ok\] claude: .*settings.json — (blocks|answers `(deny|ask)` to) `rm -rf /`' "$TMP/doctor.out"
check "without onFailure: block, a warning that Claude Code runs the call on a crash" grep -q '^\[warn\] claude: .*cannot start, crashes or times out: add "onFailure": "block"' "$TMP/doctor.out"
"$BIN" agent-hook claude --print-config --no-daemon --policy "$TMP/agent-policy.yaml" > .claude/settings.json
doctor || true
check "the printed command block: no onFailure warning" sh -c "! grep -q 'onFailure' '$TMP/doctor.out'"
# The HTTP form: the daemon answering with the token, then not running.
"$BIN" agent-hook claude --print-config --http > /dev/null 2>&1
mkdir -p "$TMP/run" && chmod 700 "$TMP/run"
STEPGATE_DAEMON_SOCKET="$TMP/run/hookd.sock" STEPGATE_POLICY="$TMP/agent-policy.yaml" "$BIN" daemon --http-port 0 2> "$TMP/daemon.err" &
daemon_pid=$!
for _ in $(seq 100); do grep -q 'http://127.0.0.1:' "$TMP/daemon.err" 2> /dev/null && break; sleep 0.05; done
port=$(grep -o 'http://127.0.0.1:[0-9]*' "$TMP/daemon.err" | cut -d: -f3)
"$BIN" agent-hook claude --print-config --http --http-port "$port" > .claude/settings.json 2> /dev/null
check "the HTTP hook with its daemon: doctor exits 0" test "$(exit_of doctor)" = 0
check "it says the daemon answers with the token" grep -q "^\[ok\] claude: .*HTTP hook: stepgate daemon answers on http://127.0.0.1:$port" "$TMP/doctor.out"
kill "$daemon_pid"; wait "$daemon_pid" 2> /dev/null || true
doctor || true
check "the HTTP hook with no daemon: a warning that Claude Code blocks every call" grep -q "^\[warn\] claude: .*nothing answers on .*blocks every tool call" "$TMP/doctor.out"
printf '{"hooks":{"PreToolUse":[{"matcher":"*","hooks":[{"type":"command","command":"cat >/dev/null; echo stepgate"}]}]}}\n' > .claude/settings.json
check "a Claude Code hook that allows everything: doctor exits 1" test "$(exit_of doctor)" = 1
check "it says Claude Code would run the call" grep -q '^\[FAIL\] claude: .*let `rm -rf /` through' "$TMP/doctor.out"

# The other agent hosts: each one's printed block in its own settings file gets its own probe.
rm -f .claude/settings.json
doctor || true
check "no host hooks: each host says so" grep -q '^\[info\] codex: PreToolUse — no stepgate hook' "$TMP/doctor.out"
mkdir -p "$HOME/.codex" .cursor .gemini .github/hooks
host_config() { "$BIN" agent-hook "$1" --print-config --policy "$TMP/agent-policy.yaml"; }
host_config codex > "$HOME/.codex/hooks.json"
host_config cursor > .cursor/hooks.json
host_config gemini > .gemini/settings.json
host_config copilot > .github/hooks/stepgate.json
check "every host's printed block: doctor exits 0" test "$(exit_of doctor)" = 0
for host in codex cursor gemini copilot; do
  check "$host: the probe is blocked" grep -Eq "^\[ok\] $host: .* — (blocks|answers \`(deny|block|ask)\` to) \`rm -rf /\`" "$TMP/doctor.out"
done
check "Codex: says it fails open on a crash or timeout" grep -q '^\[ok\] codex: .*runs the call if the hook crashes or times out' "$TMP/doctor.out"
check "the host hooks run this stepgate's version: no reinstall warning" sh -c "! grep -q 'reinstall the hook' '$TMP/doctor.out'"
# Cursor without failClosed: it would run the call when the hook crashes.
sed -i 's/"failClosed": true/"failClosed": false/' .cursor/hooks.json
doctor || true
check "Cursor without failClosed: a warning naming the option" grep -q '^\[warn\] cursor: .*set "failClosed": true' "$TMP/doctor.out"
host_config cursor > .cursor/hooks.json
# Gemini running a program that is not there: Gemini cannot start it and runs the call.
printf '{"hooks":{"BeforeTool":[{"matcher":".*","hooks":[{"type":"command","command":"%s/gone/stepgate-hook gemini"}]}]}}\n' "$TMP" > .gemini/settings.json
check "Gemini's hook program missing: doctor exits 1" test "$(exit_of doctor)" = 1
check "it names the missing program" grep -q "^\[FAIL\] gemini: .*$TMP/gone/stepgate-hook.* does not exist" "$TMP/doctor.out"
host_config gemini > .gemini/settings.json
# Codex's config.toml form, with a hook that lets everything through.
rm "$HOME/.codex/hooks.json"
printf '[[hooks.PreToolUse]]\nmatcher = "*"\n[[hooks.PreToolUse.hooks]]\ntype = "command"\ncommand = "cat >/dev/null; echo stepgate"\n' > "$HOME/.codex/config.toml"
check "a Codex config.toml hook that allows everything: doctor exits 1" test "$(exit_of doctor)" = 1
check "it says Codex would run the call" grep -q '^\[FAIL\] codex: .*config.toml — let `rm -rf /` through' "$TMP/doctor.out"
# Copilot answering nothing: a FAIL too.
printf '{"version":1,"hooks":{"preToolUse":[{"type":"command","bash":"cat >/dev/null; exit 2 # stepgate"}]}}\n' > .github/hooks/stepgate.json
doctor || true
check "a Copilot hook that only exits 2 (no deny Copilot reads): FAIL" grep -q '^\[FAIL\] copilot: .*let `rm -rf /` through' "$TMP/doctor.out"
rm -rf "$HOME/.codex" .cursor .gemini .github

# The authority: none configured, configured but unreachable, reachable with another key than
# the one pinned (a stand-in speaking the wire: 4-byte length, JSON).
rm -f .claude/settings.json
doctor || true
check "no authority: local mode, said as info" grep -q '^\[info\] authority: configuration — none configured' "$TMP/doctor.out"
STEPGATE_AUTHORITY="$TMP/no-authority.sock" doctor || true
check "an unreachable authority is named, with what it means" grep -q "^\[warn\] authority: $TMP/no-authority.sock .*unreachable.*fail closed" "$TMP/doctor.out"
key_of() { "$BIN" keygen --approver "$1" 2> /dev/null | grep -o 'ed25519:[A-Za-z0-9_-]*' | head -1; }
PINNED=$(key_of pinned)
OTHER=$(key_of other)
python3 - "$TMP/fake-authority.sock" "$OTHER" <<'PY' &
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
for _ in range(4):
    c, _ = s.accept()
    try:
        n = struct.unpack(">I", c.recv(4))[0]
        c.recv(n)
        body = json.dumps({"ok": True, "actor": "dev", "public_key": sys.argv[2],
                           "policy": "version: 1\nname: x\nrules: []\n", "policy_revision": "r"}).encode()
        c.sendall(struct.pack(">I", len(body)) + body)
    except OSError:
        pass
    c.close()
PY
fake_pid=$!
for _ in $(seq 50); do [ -S "$TMP/fake-authority.sock" ] && break; sleep 0.1; done
mkdir -p "$STEPGATE_HOME/config"
printf 'authority:\n  socket: %s\n  public_key: "%s"\n' "$TMP/fake-authority.sock" "$PINNED" > "$STEPGATE_HOME/config/config.yaml"
timeout 30 "$BIN" doctor > "$TMP/doctor.out" 2> "$TMP/doctor.err" || true
check "an authority signing with another key than the pinned one is named" grep -q '^\[warn\] authority: .*fake-authority.sock .*does not match the pinned' "$TMP/doctor.out"
rm -f "$STEPGATE_HOME/config/config.yaml"
kill "$fake_pid" 2> /dev/null || true

[ "$FAILED" = 0 ] && echo "doctor: all checks passed"
exit "$FAILED"
