// Drives the homesoc web UI of a running `homesoc up --demo` in Debian's
// chromium. Run by crates/homesoc/tests/ui.rs, which sets HOMESOC_URL,
// HOMESOC_PASSWORD, SCREENSHOT_DIR, CHROMIUM_PROFILE, and READER_USER with
// READER_PASSWORD for a user with the reader role.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const base = process.env.HOMESOC_URL;
const password = process.env.HOMESOC_PASSWORD;
const shots = process.env.SCREENSHOT_DIR;
const profile = process.env.CHROMIUM_PROFILE;
const readerUser = process.env.READER_USER;
const readerPassword = process.env.READER_PASSWORD;
assert.ok(base && password && shots && profile && readerUser && readerPassword,
  "set HOMESOC_URL, HOMESOC_PASSWORD, SCREENSHOT_DIR, CHROMIUM_PROFILE, READER_USER and READER_PASSWORD");
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
  const wanted = [/failed logons from 203\.0\.113\.45/, /Successful logon after repeated failures/, /matches threat-intelligence address [0-9.]+ of Demo honeypot attackers/, /Service Update Service Helper installed/];
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

  // Sort and paging: oldest first, two incidents per page.
  const numbers = () => page.$$eval("#incident-queue tbody tr td:nth-child(1)", (cells) => cells.map((c) => Number(c.textContent.trim())));
  await page.goto(`${base}/ui/incidents?sort=oldest&per=2`);
  const firstPage = await numbers();
  assert.equal(firstPage.length, 2, `rows on page 1: ${firstPage}`);
  assert.ok(firstPage[0] < firstPage[1], `oldest first: ${firstPage}`);
  assert.match(await page.textContent("nav.pager"), /Page 1 of [2-9]/);
  await Promise.all([page.waitForURL(/page=2/), page.click("nav.pager >> text=Next")]);
  const secondPage = await numbers();
  assert.ok(secondPage.length >= 1 && secondPage[0] > firstPage[1], `page 2 goes on: ${firstPage} then ${secondPage}`);
  await page.goto(`${base}/ui/incidents?sort=severity`);
  const rank = { High: 0, Medium: 1, Low: 2, Informational: 3 };
  const bySeverity = await page.$$eval("#incident-queue tbody tr td:nth-child(3)", (cells) => cells.map((c) => c.textContent.trim()));
  assert.ok(bySeverity.every((s, i) => i === 0 || rank[bySeverity[i - 1]] <= rank[s]), `severity order: ${bySeverity}`);
  await page.goto(`${base}/ui/incidents?rule=${encodeURIComponent("brute force of windows logons")}`);
  assert.match(await page.textContent("#incident-count"), /^[1-9]\d* incidents? match/, "rule filter by rule name");
  const badFilter = await page.request.get(`${base}/ui/incidents?status=Bogus`);
  assert.equal(badFilter.status(), 400);
  assert.match(await badFilter.text(), /invalid status `Bogus`/);
  log("sort, paging and the rule filter");

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

  // Change the status, then assign, comment and close with a classification.
  await page.selectOption("#status", "Active");
  await Promise.all([page.waitForURL(/done=/), page.click("#status-form button")]);
  assert.equal((await page.textContent("#incident-status")).trim(), "Active");
  assert.doesNotMatch(await page.textContent("#incident-facts"), /[0-9a-f]{8}-[0-9a-f]{4}-/, "rules are shown by name");
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
  const json = await page.request.get(`${base}/ui/logs/download?q=${encodeURIComponent("SecurityEvent | take 3 | project EventID, TimeGenerated")}&range=all&format=json`);
  assert.equal(json.status(), 200);
  const document = await json.json();
  assert.deepEqual(document.columns.map((c) => [c.name, c.type]), [["EventID", "int"], ["TimeGenerated", "datetime"]]);
  assert.equal(document.rows.length, 3, "JSON has 3 rows");
  log("query grid, chart, CSV and JSON download");

  // A pie of counts by a numeric key: the key names the slices.
  await page.fill("#kql", "SecurityEvent | summarize count() by EventID | render piechart");
  await Promise.all([page.waitForURL(/piechart/), page.click("#run-query")]);
  const legend = await page.textContent("#result-chart ul.legend");
  assert.match(legend, /4625: \d+/, `pie legend: ${legend}`);
  log("pie chart by event id");

  // Autocompletion: a table at the start, an operator after a pipe, a
  // column of the table named in the query.
  await page.fill("#kql", "");
  await page.focus("#kql");
  await page.keyboard.type("SecurityEv");
  await page.waitForSelector("#kql-suggestions li >> text=SecurityEvent");
  await page.keyboard.press("Enter");
  assert.equal(await page.inputValue("#kql"), "SecurityEvent");
  await page.keyboard.type(" | summ");
  await page.waitForSelector("#kql-suggestions li >> text=summarize");
  await page.keyboard.press("Tab");
  await page.keyboard.type(" count() by TargetUserN");
  await page.waitForSelector("#kql-suggestions li >> text=TargetUserName");
  await shot("logs-completion");
  await page.keyboard.press("Enter");
  assert.equal(await page.inputValue("#kql"), "SecurityEvent | summarize count() by TargetUserName");
  assert.ok(await page.isHidden("#kql-suggestions"), "the list closes after a choice");
  log("autocompletion of tables, operators and columns");

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
  assert.match(await page.textContent("#backtest-result"), /[1-9]\d* alerts? would have fired/);
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

  // Pull now hunts the new indicators over stored events at once: the
  // disabled second feed lists another attacker, and its alert appears
  // without waiting for a scheduler tick.
  await Promise.all([page.waitForURL(/done=/), page.click("button[aria-label='Pull second-feed']")]);
  assert.match(await page.textContent("main"), /pulled second-feed: 1 added/);
  await page.goto(`${base}/ui/incidents`);
  assert.match(await page.textContent("#incident-queue"), /198\.51\.100\.77 on HONEYPOT01 matches threat-intelligence address 198\.51\.100\.77 of second-feed/);
  log("pull now retro-hunts");

  // Overview.
  await page.goto(`${base}/ui`);
  assert.ok(await page.$("section[aria-labelledby=events-heading] svg"), "events chart");
  assert.match(await page.textContent("#open-incidents"), /High/);
  await shot("overview");
  log("overview");

  // A query of 600 pipe steps gets an error, not a crashed server.
  const longQuery = "SecurityEvent" + " | where EventID > 0".repeat(600);
  const longResponse = await page.request.get(`${base}/ui/logs?range=24h&q=${encodeURIComponent(longQuery)}`);
  assert.equal(longResponse.status(), 200);
  assert.match(await longResponse.text(), /too many operators/);
  assert.equal((await page.request.get(`${base}/healthz`)).status(), 200, "the server still runs");

  // An unknown page gets an HTML 404 with a way back.
  const missing = await page.request.get(`${base}/ui/nope`);
  assert.equal(missing.status(), 404);
  assert.match(await missing.text(), /no page at \/ui\/nope/);

  // Every page has the favicon.
  const icon = await page.request.get(`${base}/favicon.ico`);
  assert.equal(icon.status(), 200);
  assert.match(icon.headers()["content-type"], /image\/svg\+xml/);

  // Sign out: the session ends.
  await Promise.all([page.waitForURL(/\/ui\/login$/), page.click("header .signout button")]);
  await page.goto(`${base}/ui/incidents`);
  assert.match(page.url(), /\/ui\/login\?next=/, "signed out");
  log("signed out");

  // A reader sees incidents and rules but cannot change them.
  await page.fill("#user", readerUser);
  await page.fill("#password", readerPassword);
  await Promise.all([page.waitForURL(/\/ui\/incidents$/), page.click("button[type=submit]")]);
  assert.match(await page.textContent("header .who"), /reader/);
  await page.click("#incident-queue tbody tr a");
  await page.waitForSelector("#incident-facts");
  assert.equal(await page.$("#assign-form"), null, "no actions for a reader");
  await shot("reader-incident");
  const token = await page.$eval("header .signout input[name=csrf]", (input) => input.value);
  const readerAssign = await page.request.post(`${page.url().split("?")[0]}/assign`, { form: { owner: "viewer", csrf: token }, maxRedirects: 0 });
  assert.equal(readerAssign.status(), 403, "a reader cannot assign");
  await page.goto(`${base}/ui/rules`);
  assert.equal(await page.$("button:has-text('Disable')"), null, "no rule toggles for a reader");
  const ruleLink = await page.$eval("table a[href^='/ui/rules/']", (a) => a.getAttribute("href"));
  const readerToggle = await page.request.post(`${base}${ruleLink}/enabled`, { form: { enabled: "false", csrf: token }, maxRedirects: 0 });
  assert.equal(readerToggle.status(), 403, "a reader cannot disable a rule");
  await page.goto(`${base}/ui/intel`);
  assert.equal(await page.$("button:has-text('Pull now')"), null, "no pull button for a reader");
  await Promise.all([page.waitForURL(/\/ui\/login$/), page.click("header .signout button")]);
  log("reader restrictions");
  console.log("browser test passed");
} catch (error) {
  console.error(`failed at step after "${step}": ${error.stack || error}`);
  try { await shot("failure"); } catch {}
  process.exitCode = 1;
} finally {
  await context.close();
}
