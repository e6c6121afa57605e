// `stepgate report --format html` in headless Chromium: the demo's real audit log renders with its
// charts and tables, no console error, no request past the file itself, and log strings escaped.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = process.env.SOURCE_DIR || path.resolve(here, "../..");
const bin = process.env.STEPGATE_BIN || path.join(sourceDir, "build/stepgate");
const chromium = "/usr/bin/chromium";
const skip = existsSync(chromium) ? false : `SKIPPED: ${chromium} is not installed (browser test only)`;
const work = mkdtempSync(path.join(os.tmpdir(), "stepgate-report-"));
const env = { ...process.env, STEPGATE_HOME: path.join(work, "home"), HOME: path.join(work, "home") };
let demoDir = "";

function stepgate(args) {
  return execFileSync(bin, args, { env, encoding: "utf8" });
}

/// Opens `file` in headless Chromium; returns { page, problems, close } where problems lists
/// console errors, page errors and any request for something other than the file itself.
async function open(file) {
  const { chromium: launcher } = await import("playwright-core");
  const profile = mkdtempSync(path.join(os.tmpdir(), "stepgate-chromium-"));
  const browser = await launcher.launchPersistentContext(profile, { executablePath: chromium,
    headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  const page = await browser.newPage();
  const problems = [];
  const url = pathToFileURL(file).href;
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("request", (r) => { if (r.url() !== url) problems.push(`request: ${r.url()}`); });
  await page.goto(url);
  await page.waitForLoadState("load");
  return { page, problems, close: async () => { await browser.close(); rmSync(profile, { recursive: true, force: true }); } };
}

before(() => {
  const out = stepgate(["demo", "--keep"]);
  demoDir = out.match(/^kept (.*)$/m)[1];
});

after(() => {
  if (demoDir) rmSync(demoDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

test("the demo's audit log: the text and JSON reports agree on the counts", () => {
  const log = path.join(demoDir, "home/state/audit.jsonl");
  const json = JSON.parse(stepgate(["report", "--path", log, "--format", "json"]));
  assert.ok(json.total.decisions > 0);
  assert.ok(json.by_rule["force-push-protected"].step_up >= 1, JSON.stringify(json.by_rule));
  assert.ok(json.by_rule["secrets-in-push"].denied >= 1, JSON.stringify(json.by_rule));
  assert.ok(json.by_rule["unknown-device"].shadow >= 1, JSON.stringify(json.by_rule));
  for (const fe of ["git", "ci", "shim"]) assert.ok(json.by_front_end[fe].decisions > 0, fe);
  assert.ok(json.step_up_seconds.count >= 1);
  assert.ok(json.approvals.some((a) => a.approver === "lead" && a.approved >= 1));
  const text = stepgate(["report", "--path", log]);
  assert.match(text, new RegExp(`${json.total.decisions} decisions`));
  assert.match(text, /^ {2}force-push-protected +\d+/m);
});

test("the HTML report renders in Chromium with its charts, no console error and no network",
  { skip }, async () => {
    const log = path.join(demoDir, "home/state/audit.jsonl");
    const file = path.join(work, "report.html");
    stepgate(["report", "--path", log, "--format", "html", "--output", file]);
    const json = JSON.parse(stepgate(["report", "--path", log, "--format", "json"]));
    const { page, problems, close } = await open(file);
    try {
      assert.equal(await page.title(), "stepgate report");
      assert.match(await page.locator("#summary").textContent(),
        new RegExp(`${json.total.decisions} decisions`));
      for (const id of ["chart-days", "chart-rules", "chart-step-up"]) {
        const box = await page.locator(`#${id} svg`).boundingBox();
        assert.ok(box && box.width > 100 && box.height > 30, `${id}: ${JSON.stringify(box)}`);
      }
      // One bar per rule and series (matched, stepped up, denied, shadow).
      assert.equal(await page.locator("#chart-rules rect.bar").count(),
        Object.keys(json.by_rule).length * 4);
      const rules = await page.locator("#table-rules tbody th").allTextContents();
      assert.deepEqual(rules, Object.keys(json.by_rule));
      assert.match(await page.locator("#table-approvals").textContent(), /lead/);
      assert.equal(await page.locator("script").count(), 0);
      const out = process.env.STEPGATE_SCREENSHOT_DIR || work;
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: path.join(out, "report.png"), fullPage: true });
    } finally {
      await close();
    }
    assert.deepEqual(problems, []);
  });

test("strings from the log are escaped in the HTML report", { skip }, async () => {
  const evil = "<img src=x onerror=alert(1)>";
  const log = path.join(work, "evil.jsonl");
  writeFileSync(log, JSON.stringify({ type: "decision", time: "2026-01-01T10:00:00.000Z",
    front_end: "git\"><b>x</b>", action: { kind: "git.push", actor: evil, digest: "d" },
    decision: { verdict: "deny", reasons: [{ rule: `r${evil}`, shadow: false }] },
    final_verdict: "deny" }) + "\n");
  const file = path.join(work, "evil.html");
  stepgate(["report", "--path", log, "--format", "html", "--output", file]);
  const { page, problems, close } = await open(file);
  try {
    assert.equal(await page.locator("img").count(), 0);
    assert.equal(await page.locator("b").count(), 0);
    assert.deepEqual(await page.locator("#table-actors tbody th").allTextContents(), [evil]);
  } finally {
    await close();
  }
  assert.deepEqual(problems, []);
});
