// Opens a report link in Debian's chromium and prints what the page shows, as one JSON
// line: the document language and title, the headings, the answer cards, whether the
// print stylesheet hides the page's controls. Used by test_linked_report.py.
//
//   node tests/browser/linked.mjs URL [SCREENSHOT.png]
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--headless=new"] });
const out = { errors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 }, locale: "en-US" });
  page.on("pageerror", (e) => out.errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && out.errors.push(`console: ${m.text()}`));
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#report .answer-card", { timeout: 20000 });
  Object.assign(out, await page.evaluate(() => ({
    lang: document.documentElement.lang,
    title: document.title,
    headings: [...document.querySelectorAll("#report-title, #report h2")].map((h) => h.textContent),
    cards: document.querySelectorAll("#report .answer-card").length,
    star: document.querySelectorAll("#report .star li").length,
    text: document.querySelector("#report").innerText,
  })));
  await page.emulateMedia({ media: "print" });
  out.printHides = await page.evaluate(() =>
    ["header.topbar", ".report-actions", "#new-interview"].every((s) => getComputedStyle(document.querySelector(s)).display === "none"));
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} catch (err) {
  out.errors.push(String(err));
} finally {
  await browser.close();
  process.stdout.write(JSON.stringify(out) + "\n");
}
