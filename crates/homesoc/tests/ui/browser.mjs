// Drives the homesoc web UI of a running `homesoc up --demo` in Debian's
// chromium. Run by crates/homesoc/tests/ui.rs, which sets HOMESOC_URL,
// HOMESOC_PASSWORD, SCREENSHOT_DIR and CHROMIUM_PROFILE.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const base = process.env.HOMESOC_URL;
const password = process.env.HOMESOC_PASSWORD;
const shots = process.env.SCREENSHOT_DIR;
const profile = process.env.CHROMIUM_PROFILE;
assert.ok(base && password && shots && profile, "set HOMESOC_URL, HOMESOC_PASSWORD, SCREENSHOT_DIR and CHROMIUM_PROFILE");
mkdirSync(profile, { recursive: true });

const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(30_000);

let step = "start";
async function shot(name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}
function log(message) {
  step = message;
  console.log(`ok: ${message}`);
}

try {
  // A wrong password is refused.
  await page.goto(`${base}/ui/incidents`);
  assert.match(page.url(), /\/ui\/login\?next=/, "pages need a session");
  await shot("login");
  await page.fill("#user", "admin");
  await page.fill("#password", "not-the-password");
  const refused = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/ui/login") && r.request().method() === "POST"),
    page.click("button[type=submit]"),
  ]);
  assert.equal(refused[0].status(), 401);
  assert.match(await page.textContent("#login-error"), /Wrong user name or password/);
  log("wrong password refused");

  // A login POST without the form's CSRF token is refused.
  const noToken = await page.request.post(`${base}/ui/login`, {
    form: { user: "admin", password },
    maxRedirects: 0,
  });
  assert.equal(noToken.status(), 403, "login without CSRF token");
  log("login without CSRF token refused");

  // Sign in with keyboard only: type, then Enter. The rejected POST
  // above got a new form nonce cookie, so the form is loaded again.
  await page.goto(`${base}/ui/login?next=%2Fui%2Fincidents`);
  await page.fill("#user", "admin");
  await page.focus("#password");
  await page.keyboard.type(password);
  await Promise.all([page.waitForURL(/\/ui\/incidents$/), page.keyboard.press("Enter")]);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "homesoc_session");
  assert.ok(session, "session cookie set");
  assert.equal(session.httpOnly, true);
  assert.equal(session.secure, true);
  assert.equal(session.sameSite, "Strict");
  log("signed in");

  // The demo incidents appear within a minute or two of start.
  const wanted = [/failed logons from 203\.0\.113\.45/, /Successful logon after repeated failures/, /is indicator .* from Demo honeypot attackers/, /Service Update Service Helper installed/];
  const deadline = Date.now() + 150_000;
  let queue = "";
  for (;;) {
    await page.goto(`${base}/ui/incidents`);
    queue = (await page.textContent("main")) ?? "";
    if (wanted.every((pattern) => pattern.test(queue))) break;
    if (Date.now() > deadline) {
      assert.fail(`the demo incidents did not all appear; the queue shows:\n${queue}`);
    }
    await page.waitForTimeout(5_000);
  }
  await shot("incidents");
  log("demo incidents appeared");

  // Filters: only High incidents.
  await page.selectOption("select[name=severity]", "High");
  await Promise.all([page.waitForURL(/severity=High/), page.click("form.filters button[type=submit]")]);
  const severities = await page.$$eval("#incident-queue tbody tr td:nth-child(3)", (cells) => cells.map((c) => c.textContent.trim()));
  assert.ok(severities.length > 0 && severities.every((s) => s === "High"), `High filter: ${severities}`);
  log("severity filter works");

  // A POST without the CSRF token is refused, with a valid session.
  const firstLink = await page.$eval("#incident-queue tbody tr a", (a) => a.getAttribute("href"));
  const forged = await page.request.post(`${base}${firstLink}/assign`, { form: { owner: "mallory" }, maxRedirects: 0 });
  assert.equal(forged.status(), 403, "incident change without CSRF token");
  const wrongToken = await page.request.post(`${base}${firstLink}/assign`, { form: { owner: "mallory", csrf: "forged" }, maxRedirects: 0 });
  assert.equal(wrongToken.status(), 403, "incident change with a wrong CSRF token");
  log("POST without CSRF token refused");

  // Open the incident of the successful logon: its IP entity has a
  // threat-intel match, and it has evidence rows and a timeline.
  await page.goto(`${base}/ui/incidents`);
  await page.click("text=Successful logon after repeated failures");
  await page.waitForSelector("#incident-facts");
  assert.match(await page.textContent("#entity-list"), /192\.0\.2\.199/);
  assert.match(await page.textContent("#entity-list"), /Threat intel: Demo honeypot attackers, confidence 100/);
  assert.ok((await page.$$("text=Evidence rows")).length > 0, "evidence rows shown");
  const timelineRows = await page.$$("section[aria-labelledby=timeline-heading] tbody tr");
  assert.ok(timelineRows.length > 10, `timeline rows: ${timelineRows.length}`);
  log("incident page shows entities, intel match, evidence and timeline");

  // Assign, comment, then close with a classification.
  await page.fill("#owner", "analyst1");
  await Promise.all([page.waitForURL(/done=Assigned/), page.click("#assign-form button")]);
  assert.equal((await page.textContent("#incident-owner")).trim(), "analyst1");
  await page.fill("#comment", "Attacker logged on over RDP; host isolated.");
  await Promise.all([page.waitForURL(/done=Comment/), page.click("#comment-form button")]);
  assert.match(await page.textContent("#comment-list"), /host isolated/);
  await page.selectOption("#classification", "TruePositive");
  await page.fill("#close-comment", "Confirmed brute force and logon");
  await Promise.all([page.waitForURL(/done=Closed/), page.click("#close-form button")]);
  assert.equal((await page.textContent("#incident-status")).trim(), "Closed");
  assert.match(await page.textContent("#incident-classification"), /TruePositive/);
  await shot("incident");
  log("incident assigned, commented and closed");

  // Logs: a query with a grid and a chart, run with Ctrl+Enter.
  await page.goto(`${base}/ui/logs`);
  await page.fill("#kql", "SecurityEvent\n| where EventID == 4625\n| summarize Failures = count() by bin(TimeGenerated, 1h)\n| render timechart");
  await page.selectOption("#range", "24h");
  await Promise.all([page.waitForURL(/q=/), page.press("#kql", "Control+Enter")]);
  assert.ok(await page.$("#result-chart svg polyline"), "time chart drawn");
  const gridRows = await page.$$("#results table.grid tbody tr");
  assert.ok(gridRows.length > 1, `grid rows: ${gridRows.length}`);
  assert.ok(await page.$("#kql-highlight .tok-keyword"), "keywords highlighted");
  await shot("logs");
  const csv = await page.request.get(`${base}/ui/logs/download?q=${encodeURIComponent("SecurityEvent | take 3 | project EventID")}&range=all&format=csv`);
  assert.equal(csv.status(), 200);
  assert.equal((await csv.text()).trim().split("\n").length, 4, "CSV header and 3 rows");
  log("query grid, chart and CSV download");

  // A syntax error is underlined at the span the server reports.
  await page.fill("#kql", "SecurityEvent | whre EventID == 4625");
  await Promise.all([page.waitForURL(/whre/), page.click("#run-query")]);
  await page.waitForSelector("#query-error");
  const marked = await page.textContent("#kql-highlight mark.error-span");
  assert.ok(marked && marked.trim().length > 0, "error span marked");
  const decoration = await page.$eval("#kql-highlight mark.error-span", (m) => getComputedStyle(m).textDecorationLine);
  assert.match(decoration, /underline/);
  await shot("logs-error");
  log(`syntax error underlined at "${marked.trim()}"`);

  // Rules: disable one, then backtest another.
  await page.goto(`${base}/ui/rules`);
  const row = page.locator("tr", { hasText: "New Windows service installed" });
  await row.getByRole("button", { name: /Disable/ }).click();
  await row.getByRole("button", { name: /Enable/ }).waitFor();
  assert.match(await row.textContent(), /Disabled/);
  await shot("rules");
  log("rule disabled");
  await page.click("text=Brute force of Windows logons from one address");
  await Promise.all([page.waitForSelector("#backtest-result"), page.click("#backtest-form button")]);
  assert.match(await page.textContent("#backtest-result"), /[1-9]\d* alerts would have fired/);
  await shot("rule");
  log("backtest shows alerts");

  // Threat intel: search an indicator and see the events it matched.
  await page.goto(`${base}/ui/intel`);
  await page.fill("#indicator-value", "192.0.2.199");
  await Promise.all([page.waitForURL(/value=192/), page.press("#indicator-value", "Enter")]);
  const results = await page.textContent("#indicator-results");
  assert.match(results, /192\.0\.2\.199/);
  assert.match(results, /\d+ events/);
  await shot("intel");
  log("indicator search");

  // Overview.
  await page.goto(`${base}/ui`);
  assert.ok(await page.$("section[aria-labelledby=events-heading] svg"), "events chart");
  assert.match(await page.textContent("#open-incidents"), /High/);
  await shot("overview");
  log("overview");

  // Sign out: the session ends.
  await Promise.all([page.waitForURL(/\/ui\/login$/), page.click("header .signout button")]);
  await page.goto(`${base}/ui/incidents`);
  assert.match(page.url(), /\/ui\/login\?next=/, "signed out");
  log("signed out");
  console.log("browser test passed");
} catch (error) {
  console.error(`failed at step after "${step}": ${error.stack || error}`);
  try { await shot("failure"); } catch {}
  process.exitCode = 1;
} finally {
  await context.close();
}
