// Drives Debian's chromium through one spoken interview on the Parley page.
//
//   node tests/browser/drive.mjs --url http://127.0.0.1:PORT/ --wav answer.wav \
//        --speech-at 3 --speech-s 6 --loop-s 20 --profile DIR --shot interview.png \
//        [--report-shot report.png] [--second --history-shot history.png] [--timeout-s 240]
//
// The WAV is the microphone: Chrome's fake capture device plays it from the start when the
// page opens the microphone and loops it (every --loop-s seconds; the answer is spoken from
// --speech-at for --speech-s seconds). So that the server hears the whole answer once, and
// only while it listens, the mic is muted (the page's Mute button) until the interviewer
// has asked the first question and is listening, then unmuted in a silent stretch of the
// loop, and muted again once the page shows the final transcript.
//
// Steps: pick English, backend, 1 question; start; wait for the first main question; let
// the fake mic speak; wait until the page shows a final transcript with some of the spoken
// words; screenshot. With --report-shot: type an answer to any further question, wait for
// the report view, read what it shows (delivery measures, STAR checklist, timeline, the
// replay's duration once its metadata loaded) and screenshot it. With --second: click
// "practise this question again" in the history under the report, answer the new
// interview by typing, wait for its report and read the history (entries, charts);
// --history-shot screenshots the history. Progress goes to stderr; the last line on
// stdout is one JSON object with what the page showed.
import { chromium } from "playwright-core";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    wav: { type: "string" },
    "speech-at": { type: "string" },
    "speech-s": { type: "string" },
    "loop-s": { type: "string" },
    profile: { type: "string" },
    shot: { type: "string" },
    "report-shot": { type: "string" },
    second: { type: "boolean", default: false },
    "history-shot": { type: "string" },
    typed: {
      type: "string",
      default: "I would add idempotency keys, retry with backoff, and watch the p99 latency.",
    },
    words: { type: "string", default: "payment,service,python,requests,second" },
    "min-words": { type: "string", default: "2" },
    "timeout-s": { type: "string", default: "240" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
for (const k of ["url", "wav", "speech-at", "speech-s", "loop-s", "profile", "shot"]) {
  if (!opt[k]) {
    console.error(`drive.mjs: --${k} is required`);
    process.exit(2);
  }
}

const t0 = Date.now();
const deadline = t0 + Number(opt["timeout-s"]) * 1000;
const speechAt = Number(opt["speech-at"]);
const speechS = Number(opt["speech-s"]);
const loopS = Number(opt["loop-s"]);
const words = opt.words.split(",").map((w) => w.trim().toLowerCase()).filter(Boolean);
const minWords = Number(opt["min-words"]);
const elapsed = () => ((Date.now() - t0) / 1000).toFixed(1);
const say = (msg) => console.error(`[drive ${elapsed()}s] ${msg}`);
const left = () => Math.max(1000, deadline - Date.now());
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const result = {
  ok: false,
  step: "launch",
  question: null,
  transcript: null,
  counters: null,
  report: null,
  reportUrl: null,
  shown: null,
  linked: null,
  question2: null,
  report2: null,
  history: null,
  log: null,
  timings: {},
  console: [],
  error: null,
};
const mark = (name, detail) => {
  result.timings[name] = Number(elapsed());
  say(detail ? `${name}: ${detail}` : name);
};

const context = await chromium.launchPersistentContext(opt.profile, {
  executablePath: opt.chromium,
  headless: false, // "--headless=new" below selects the headless mode explicitly
  args: [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${opt.wav}`,
  ],
  viewport: { width: 1100, height: 1000 },
  deviceScaleFactor: 1,
  locale: "en-US",
  colorScheme: "light",
});

// Note when the page's microphone opened: the fake device starts the file then.
await context.addInitScript(() => {
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) return;
  const open = md.getUserMedia.bind(md);
  md.getUserMedia = async (constraints) => {
    const stream = await open(constraints);
    window.__micOpenedAt = performance.now();
    return stream;
  };
});

let page;

// Page state, read in one round trip.
const snapshot = () =>
  page.evaluate(() => {
    const p = window.parley;
    return {
      state: p.state,
      connection: p.connection,
      mic: p.mic,
      muted: p.muted,
      question: p.question,
      log: p.log,
      reportReady: p.report != null,
      lastError: p.lastError,
      counters: Object.assign({}, p.counters),
      // Seconds into the microphone file's loop.
      loopPos: window.__micOpenedAt == null ? null : (performance.now() - window.__micOpenedAt) / 1000,
    };
  });

const matches = (text) => {
  const lower = String(text || "").toLowerCase();
  return words.filter((w) => lower.includes(w));
};

// What the report view shows (run in the page).
async function readReport() {
  const count = (sel) => document.querySelectorAll(sel).length;
  const audio = document.querySelector("#report audio.replay");
  let duration = null;
  if (audio) {
    if (audio.readyState < 1) {
      await new Promise((done) => {
        audio.addEventListener("loadedmetadata", done, { once: true });
        audio.addEventListener("error", done, { once: true });
        setTimeout(done, 15000);
      });
    }
    duration = Number.isFinite(audio.duration) ? audio.duration : null;
  }
  return {
    summaryMeasures: count("#report .delivery-summary .measure"),
    answerMeasures: count("#report .answer-card .measure"),
    measureText: [...document.querySelectorAll("#report .answer-card .measure")].map((m) => m.textContent).join(" | "),
    star: count("#report .star li"),
    timelines: count("#report svg.timeline"),
    audio: !!audio,
    audioError: audio && audio.error ? audio.error.code : null,
    duration: duration,
  };
}

let lastShown = "";
async function until(what, check, pollMs = 200) {
  let last = null;
  while (Date.now() < deadline) {
    last = await snapshot();
    const shown = `connection=${last.connection} state=${last.state} mic=${last.mic}${last.muted ? " (muted)" : ""}`;
    if (shown !== lastShown) {
      lastShown = shown;
      say(`${shown} (chunks sent ${last.counters.audioChunksSent}, received ${last.counters.audioChunksReceived})`);
    }
    const got = await check(last);
    if (got) return got;
    await sleep(pollMs);
  }
  throw new Error(`timed out waiting for ${what}; last page state: ${JSON.stringify(last)}`);
}

async function setMuted(muted) {
  const s = await snapshot();
  if (s.muted !== muted) await page.click("#mute");
  await page.waitForFunction((m) => window.parley.muted === m, muted, { timeout: 5000 });
}

try {
  page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => {
    const line = `${m.type()}: ${m.text()}`.slice(0, 300);
    if (result.console.length < 50) result.console.push(line);
    if (m.type() === "error" || m.type() === "warning") say(`console ${line}`);
  });
  page.on("pageerror", (e) => {
    const line = `pageerror: ${e.message}`.slice(0, 300);
    result.console.push(line);
    say(line);
  });

  result.step = "open";
  await page.goto(opt.url, { waitUntil: "load", timeout: left() });
  await page.waitForFunction(() => !!window.parley, null, { timeout: left() });
  mark("page loaded");

  result.step = "settings";
  await page.selectOption("#f-language", "en");
  await page.selectOption("#f-role", "backend");
  await page.selectOption("#f-questions", "1");
  await page.click("#start");
  mark("start clicked");
  await until("the microphone", (s) => s.mic === "on" || s.mic === "unavailable");
  const opened = await snapshot();
  if (opened.mic !== "on") throw new Error(`the page could not open the microphone (${opened.mic})`);
  await setMuted(true);
  mark("microphone on, muted", `${opened.loopPos.toFixed(2)} s into the file`);

  result.step = "first question";
  const q = await until("the first question", (s) =>
    s.question && s.question.kind === "main" && s.question.text ? s.question : null,
  );
  result.question = q.text;
  mark("first question", q.text);

  result.step = "listening";
  await until("the interviewer to listen", (s) => s.state === "listening");
  // Unmute in silence, so the server hears the next repetition from its first word.
  await until("a silent stretch of the microphone file", (s) => {
    const pos = s.loopPos % loopS;
    return pos < speechAt - 0.5 || pos > speechAt + speechS + 0.5;
  }, 50);
  await setMuted(false);
  const pos = (await snapshot()).loopPos % loopS;
  const wait = pos < speechAt ? speechAt - pos : loopS - pos + speechAt;
  mark("unmuted", `the answer starts in ${wait.toFixed(1)} s`);

  result.step = "spoken answer";
  let lastPartial = "";
  const seen = new Set();
  const final = await until("a final transcript of the spoken answer", (s) => {
    for (const e of s.log) {
      if (e.who !== "candidate" || e.typed) continue;
      if (e.partial && e.text !== lastPartial) {
        lastPartial = e.text;
        say(`partial transcript: ${e.text}`);
      } else if (!e.partial && !seen.has(e.text)) {
        seen.add(e.text);
        say(`final transcript: ${e.text}`);
      }
    }
    const hit = s.log.find(
      (e) => e.who === "candidate" && !e.partial && !e.typed && matches(e.text).length >= minWords,
    );
    if (hit) return hit;
    if (["closing", "reporting", "finished"].includes(s.state)) {
      throw new Error(`the interview moved on (${s.state}) without a matching transcript; heard: ${JSON.stringify([...seen])}`);
    }
    return null;
  }, 100);
  result.transcript = final.text;
  await page.screenshot({ path: opt.shot, fullPage: true });
  mark("interview screenshot saved");
  await setMuted(true); // the looping file would only answer again
  result.counters = (await snapshot()).counters;

  if (opt["report-shot"]) {
    result.step = "report";
    const answered = new Set();
    await until("the report", async (s) => {
      if (s.reportReady) return true;
      const cur = s.question;
      const key = cur ? `${cur.turn}:${cur.kind}` : "";
      if (cur && (cur.kind === "followup" || cur.kind === "repeat") && s.state === "listening" && !answered.has(key)) {
        answered.add(key);
        say(`typing an answer to the ${cur.kind} (turn ${cur.turn}): ${cur.text}`);
        await page.fill("#answer-text", opt.typed);
        await page.click("#send-answer");
      }
      return false;
    }, 500);
    await page.waitForSelector("#report-view:not([hidden])", { timeout: 5000 });
    mark("report shown");
    result.report = await page.evaluate(() => window.parley.report);
    result.reportUrl = await page.evaluate(() => window.parley.reportUrl);
    result.step = "report content";
    result.shown = await page.evaluate(readReport);
    mark("report content", JSON.stringify(result.shown));
    await page.screenshot({ path: opt["report-shot"], fullPage: true });
    mark("report screenshot saved");

    result.step = "linked report";
    const linkPage = await context.newPage();
    await linkPage.goto(new URL(result.reportUrl, opt.url).href, { waitUntil: "load", timeout: left() });
    await linkPage.waitForSelector("#report .answer-card", { timeout: 15000 });
    result.linked = await linkPage.evaluate(() => ({
      lang: document.documentElement.lang,
      title: document.querySelector("#report-title").textContent,
      cards: document.querySelectorAll("#report .answer-card").length,
      measures: document.querySelectorAll("#report .answer-card .measure").length,
      replays: document.querySelectorAll("#report audio.replay").length,
      setupHidden: document.querySelector("#setup-view").hidden,
    }));
    await linkPage.close();
    mark("linked report", JSON.stringify(result.linked));
  }

  if (opt.second) {
    result.step = "practise again";
    await page.click("#report-history .practise-list button");
    mark("practise again clicked");
    const q2 = await until("the practised question", (s) =>
      s.question && s.question.kind === "main" && s.question.text && !s.reportReady ? s.question : null,
    );
    result.question2 = q2.text;
    mark("second interview's first question", q2.text);
    result.step = "second report";
    const answered = new Set();
    await until("the second report", async (s) => {
      if (s.reportReady) return true;
      const cur = s.question;
      const key = cur ? `${cur.turn}:${cur.kind}` : "";
      if (cur && s.state === "listening" && !answered.has(key)) {
        answered.add(key);
        say(`typing an answer to the ${cur.kind} (turn ${cur.turn})`);
        await page.fill("#answer-text", opt.typed);
        await page.click("#send-answer");
      }
      return false;
    }, 500);
    await page.waitForSelector("#report-history svg.chart", { timeout: 10000 });
    result.report2 = await page.evaluate(() => window.parley.report);
    result.history = await page.evaluate(() => ({
      entries: window.parley.history.length,
      charts: document.querySelectorAll("#report-history svg.chart").length,
      dots: document.querySelectorAll("#report-history svg.chart circle").length,
    }));
    mark("history", JSON.stringify(result.history));
    if (opt["history-shot"]) {
      // From the top of the full page: an element screenshot scrolls, and the sticky
      // header would cover the history's first lines.
      await page.evaluate(() => window.scrollTo(0, 0));
      const box = await (await page.$("#report-history")).boundingBox();
      await page.screenshot({ path: opt["history-shot"], fullPage: true, clip: box });
      mark("history screenshot saved");
    }
  }

  const last = await snapshot();
  result.counters = last.counters;
  result.log = last.log;
  result.ok = true;
  result.step = "done";
} catch (err) {
  result.error = String((err && err.stack) || err).slice(0, 4000);
  say(`failed at ${result.step}: ${err && err.message}`);
  try {
    if (page) {
      const s = await snapshot();
      result.counters = s.counters;
      result.log = s.log;
      result.lastPage = { state: s.state, connection: s.connection, mic: s.mic, lastError: s.lastError };
      await page.screenshot({ path: opt.shot.replace(/\.png$/, "") + "-failure.png", fullPage: true });
    }
  } catch (_) {
    /* the page is gone */
  }
} finally {
  result.timings.total = Number(elapsed());
  await context.close().catch(() => {});
  process.stdout.write(JSON.stringify(result) + "\n");
}
process.exit(result.ok ? 0 : 1);
