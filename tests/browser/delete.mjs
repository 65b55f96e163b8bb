// A typed interview on the page, then "Delete my interview" under its report (the
// confirmation accepted). Prints one JSON line: the session id, the history before and
// after, the toast shown and which view the page ends on. Used by test_linked_report.py.
//
//   node tests/browser/delete.mjs URL
import { chromium } from "playwright-core";

const [url] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless=new", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
});
const out = { errors: [] };
try {
  const page = await browser.newPage({ locale: "en-US" });
  page.on("pageerror", (e) => out.errors.push(`pageerror: ${e.message}`));
  page.on("dialog", (d) => d.accept());
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => !!window.parley);
  await page.selectOption("#f-language", "en");
  await page.selectOption("#f-questions", "1");
  await page.click("#start");
  const answered = new Set();
  const end = Date.now() + 90000;
  while (!(await page.evaluate(() => window.parley.report != null))) {
    if (Date.now() > end) throw new Error("no report");
    const s = await page.evaluate(() => ({ state: window.parley.state, q: window.parley.question }));
    if (s.state === "listening" && s.q && !answered.has(s.q.turn)) {
      answered.add(s.q.turn);
      await page.fill("#answer-text", "I cut our API latency in half by adding a cache in front of the database.");
      await page.click("#send-answer");
    }
    await page.waitForTimeout(200);
  }
  await page.waitForSelector("#report-view:not([hidden])");
  out.sessionId = await page.evaluate(() => window.parley.sessionId);
  out.historyBefore = await page.evaluate(() => window.parley.history.length);
  await page.waitForSelector("#delete-interview:not([hidden])");
  await page.click("#delete-interview");
  await page.waitForSelector("#setup-view:not([hidden])", { timeout: 15000 });
  out.historyAfter = await page.evaluate(() => window.parley.history.length);
  out.toast = await page.evaluate(() => document.querySelector("#toasts").innerText);
} catch (err) {
  out.errors.push(String(err));
} finally {
  await browser.close();
  process.stdout.write(JSON.stringify(out) + "\n");
}
