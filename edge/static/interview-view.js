// The interview view and the page chrome it shares: which view is shown, the connection
// indicator, the interview state pill, the current question, the live transcript, the
// conversation log (kept in the stored session so a reload shows it) and error toasts.

import { $, el, toast } from "./dom.js";
import { hasText, t } from "./i18n.js";
import { counters, S } from "./store.js";

const MAX_LOG = 400;

export function showView(name) {
  for (const v of ["setup", "interview", "report"]) $("#" + v + "-view").hidden = v !== name;
  const main = $("#main");
  if (main) main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

// --- connection indicator ------------------------------------------------------------

export function renderConn() {
  const box = $("#connection");
  box.dataset.conn = S.conn;
  $("#connection-label").textContent = t("conn_" + S.conn);
}

// --- interview state, question, transcript -------------------------------------------

export function renderState() {
  const pill = $("#interview-state");
  const st = S.interviewState || "idle";
  pill.dataset.state = st;
  pill.textContent = hasText("state_" + st) ? t("state_" + st) : st;
  document.body.dataset.state = st;
}

export function kindLabel(q) {
  if (!q) return "";
  if (q.kind === "main") {
    return q.total > 0 ? t("kind_main", { index: q.index || 1, total: q.total }) : t("kind_main_short");
  }
  return hasText("kind_" + q.kind) ? t("kind_" + q.kind) : "";
}

export function renderQuestion() {
  const q = S.question;
  const textEl = $("#question-text");
  if (S.interviewState === "reporting" && !S.report) {
    $("#question-kind").textContent = "";
    textEl.textContent = t("report_pending");
    textEl.classList.add("muted");
    return;
  }
  textEl.classList.toggle("muted", !q);
  textEl.textContent = q ? q.text : t("waiting");
  $("#question-kind").textContent = kindLabel(q);
  if (q && q.kind === "main" && q.total > 0) $("#progress").textContent = q.index + " / " + q.total;
}

// Conversation log: entries are persisted in the session so a reload shows the history.
const logNodes = new Map(); // entry id -> <li>

export function logEntries() {
  return S.session ? S.session.view.log : [];
}

export function addLog(entry) {
  if (!S.session) return entry;
  const view = S.session.view;
  entry.id = view.nextLogId++;
  view.log.push(entry);
  while (view.log.length > MAX_LOG) {
    const old = view.log.shift();
    const node = logNodes.get(old.id);
    if (node) node.remove();
    logNodes.delete(old.id);
  }
  renderLogEntry(entry);
  return entry;
}

export function whoLabel(entry) {
  if (entry.who === "interviewer") return t("who_interviewer");
  return entry.typed ? t("who_you_typed") : t("who_you");
}

function renderLogEntry(entry) {
  let li = logNodes.get(entry.id);
  const list = $("#log");
  // Follow new lines only if the reader has not scrolled up to read older ones.
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  if (!li) {
    li = el("li");
    logNodes.set(entry.id, li);
    list.appendChild(li);
  }
  li.className = "log-entry " + entry.who + (entry.partial ? " partial" : "");
  // Partial transcripts change many times a second: keep them out of the live region.
  if (entry.partial) li.setAttribute("aria-hidden", "true");
  else li.removeAttribute("aria-hidden");
  const who = el("span", { cls: "who", text: whoLabel(entry) });
  const label = entry.who === "interviewer" ? kindLabel(entry) : "";
  const kind = label ? el("span", { cls: "kind", text: label }) : document.createTextNode("");
  li.replaceChildren(who, kind, el("span", { cls: "text", text: entry.text }));
  if (atBottom) list.scrollTop = list.scrollHeight;
}

export function renderLogAll() {
  $("#log").replaceChildren();
  logNodes.clear();
  for (const e of logEntries()) renderLogEntry(e);
}

export function onQuestion(msg) {
  const q = {
    turn: Number(msg.turn) || 0,
    text: String(msg.text == null ? "" : msg.text),
    kind: String(msg.kind || "main"),
    index: Number(msg.index) || 0,
    total: Number(msg.total) || 0,
  };
  S.question = q;
  if (S.session) S.session.view.question = q;
  setLive("", false);
  renderQuestion();
  addLog({ who: "interviewer", text: q.text, turn: q.turn, kind: q.kind, index: q.index, total: q.total });
}

export function setLive(text, partial) {
  const live = $("#live-transcript");
  live.textContent = text;
  live.classList.toggle("partial", !!partial);
}

export function onTranscript(msg) {
  const turn = Number(msg.turn) || 0;
  const text = String(msg.text == null ? "" : msg.text);
  const log = logEntries();
  const pending = log.find((e) => e.who === "candidate" && e.partial && e.turn === turn);
  if (!msg.final) {
    setLive(text, true);
    if (!text) return;
    if (pending) {
      pending.text = text;
      renderLogEntry(pending);
    } else {
      addLog({ who: "candidate", text: text, turn: turn, partial: true });
    }
    return;
  }
  setLive(text, false);
  if (pending) {
    if (!text.trim()) {
      log.splice(log.indexOf(pending), 1);
      const node = logNodes.get(pending.id);
      if (node) node.remove();
      logNodes.delete(pending.id);
      return;
    }
    pending.text = text;
    pending.partial = false;
    renderLogEntry(pending);
    return;
  }
  if (!text.trim()) return;
  // A typed answer may come back as the final transcript: confirm it instead of doubling.
  const typed = log.find((e) => e.typed && !e.confirmed && e.text.trim() === text.trim());
  if (typed) {
    typed.confirmed = true;
    typed.turn = turn;
    return;
  }
  addLog({ who: "candidate", text: text, turn: turn, partial: false });
}

export function showError(code, message) {
  counters.errors++;
  S.lastError = { code: code, message: message, at: Date.now() };
  const key = "err_" + code;
  const known = hasText(key);
  let text = known ? t(key) : message || t("err_generic");
  // Server detail helps when the code is generic; keep it short and as plain text.
  if (known && message && (code === "bad_message" || code === "bad_json")) text += " (" + String(message).slice(0, 160) + ")";
  toast(text, { kind: code === "unavailable" || code === "rate_limited" ? "warn" : "error" });
}

export function renderEndButton() {
  const btn = $("#end");
  const requested = !!(S.session && S.session.endRequested);
  btn.disabled = requested;
  btn.textContent = requested ? t("ending") : t("end");
}

export function onState(msg) {
  S.interviewState = String(msg.state || "idle");
  if (S.session) S.session.view.state = S.interviewState;
  renderState();
  renderQuestion();
  if (S.interviewState === "listening") setLive("", false);
}
