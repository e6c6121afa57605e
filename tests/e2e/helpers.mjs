// Helpers shared by the end-to-end tests (*.test.mjs): running the built binary, starting
// long-running peers, free ports, TOTP codes from Debian's oathtool, and reading tool results.
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import net from "node:net";

/// A function running `bin ARGS` with `env` (plus extraEnv) and stdin `input`; it resolves with
/// { code, stdout, stderr } and never rejects.
export function stepgateRunner(bin, env) {
  return (args, extraEnv = {}, input = "") => new Promise((resolve) => {
    const child = execFile(bin, args, { env: { ...env, ...extraEnv } }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout, stderr }));
    // A child that exits without reading its input (a refusal, --help) closes the pipe first:
    // that EPIPE is not a test failure (it was an uncaught exception under load).
    child.stdin.on("error", () => {});
    child.stdin.end(input);  // "" : a prompt sees end of input at once
  });
}

/// A TCP port nothing listens on right now.
export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/// Starts a process (added to `children`, for the caller to kill); resolves with { child, match }
/// when its stdout or stderr matches `ready`, rejects with { code, output } when it exits first.
export function startProcess(children, cmd, args, options, ready) {
  const child = spawn(cmd, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  return new Promise((resolve, reject) => {
    const onData = (data) => {
      output += data;
      const m = output.match(ready);
      if (m) resolve({ child, match: m });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) =>
      reject(Object.assign(new Error(`${cmd} exited (${code}): ${output}`), { code, output })));
  });
}

/// TOTP codes with oathtool for actors enrolled with 1-second steps. Each step is handed out once
/// per actor (stepgate refuses a replayed step), waiting for the next one when needed. The code is
/// for the coming second when that step is free: stepgate takes one step of skew either way, so
/// it stays valid for about two seconds, not one (a loaded machine, such as the ASan run, can take
/// longer than one second between handing a code out and checking it).
export class OathCodes {
  constructor() {
    this.secrets = {};
    this.lastStep = {};
  }

  async codeFor(actor) {
    for (;;) {
      const now = Math.floor(Date.now() / 1000);
      const step = Math.max(now + 1, (this.lastStep[actor] ?? 0) + 1);
      if (step <= now + 1) {
        this.lastStep[actor] = step;
        return execFileSync("oathtool",
          ["--totp", "-s", "1s", "-N", `@${step}`, "-b", this.secrets[actor]], { encoding: "utf8" }).trim();
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /// `stepgate enroll` for actor (1-second steps), then activation with a code.
  async enroll(run, actor) {
    const enrolled = await run(["enroll", "--actor", actor, "--no-qr", "--period", "1"]);
    assert.equal(enrolled.code, 0, enrolled.stderr);
    this.secrets[actor] = enrolled.stdout.match(/secret=([A-Z2-7]+)/)[1];
    const activated = await run(["enroll", "--actor", actor, "--activate", "--code", await this.codeFor(actor)]);
    assert.equal(activated.code, 0, activated.stderr);
  }
}

/// The text of a tools/call result.
export const textOf = (result) => result.content.map((c) => c.text ?? "").join("\n");
/// The challenge id in a held call's isError text.
export const challengeIdOf = (result) => textOf(result).match(/\(challenge ([a-z0-9]+)\)/)?.[1];
