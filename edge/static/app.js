// Parley browser client: native ES modules, no build step. See docs/protocol.md
// (authoritative). This entry module wires the others together:
//
//   i18n.js           UI strings (en, ko) and the interface language
//   dom.js            DOM helpers and toasts
//   store.js          page state, counters, the session kept in sessionStorage
//   protocol.js       the WebSocket client with resume, reconnect and watchdog
//   mic.js            microphone capture (AudioWorklet → 16 kHz PCM16) and the meter
//   playback.js       gapless playback of the interviewer's speech
//   interview-view.js the interview view, conversation log, connection indicator
//   report-view.js    the report, shared with the linked report page
//   report-link.js    the report's shareable link
//   report-page.js    the report opened at its link (/sessions/<id>/report)
//   report-actions.js download the report as JSON, delete the interview
//   charts.js         SVG pictures: an answer's timeline, a measure over attempts
//   history.js        past interviews in this browser, progress charts, practise again
//   roles.js          the roles and their labels (generated from the server's table)
//   warming-view.js   the "interviewer is warming up" banner (the `warming` event)
//
// Security: text from the server or the candidate is only ever set with textContent.

import { $, el, toast } from "./dom.js";
import { chooseUiLang, setUiLang, t, ui } from "./i18n.js";
import {
  addLog,
  logEntries,
  onQuestion,
  onState,
  onTranscript,
  renderConn,
  renderEndButton,
  renderLogAll,
  renderQuestion,
  renderState,
  setLive,
  showError,
  showView,
  whoLabel,
} from "./interview-view.js";
import {
  audio,
  ensureAudioContext,
  renderMicStatus,
  renderMuteButton,
  setChunkSink,
  setMuted,
  startMic,
  stopMic,
  updateUnlockButton,
} from "./mic.js";
import { player, resetPlayer, stopAllAudio } from "./playback.js";
import { connect, dropSocket, send, sendAudio, setConn, setHandlers } from "./protocol.js";
import { entries, forget, remember, renderHistory, setLink } from "./history.js";
import { deleteInterview, downloadJson } from "./report-actions.js";
import { fetchReportToken, renderReportLink, replayToken, reportPath } from "./report-link.js";
import { audioUrl, linkedReport, showLinkedReport } from "./report-page.js";
import { renderReport } from "./report-view.js";
import { ROLES } from "./roles.js";
import { clearSession, counters, loadSession, newSession, S, saveSession } from "./store.js";
import { onWarming, resetWarming } from "./warming-view.js";

const MAX_TEXT = 4000;
const MAX_DOC = 20000;
const DIFFICULTIES = ["junior", "mid", "senior"];

function applyI18n() {
  document.documentElement.lang = ui.lang;
  document.title = ui.lang === "ko" ? "Parley — 모의 면접" : "Parley — mock interview";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  for (const node of document.querySelectorAll("[data-i18n-aria]")) node.setAttribute("aria-label", t(node.dataset.i18nAria));
  $("#ui-lang").setAttribute("aria-label", t("ui_language"));
  $("#mic-level").setAttribute("aria-label", t("mic_level"));
  renderConn();
  renderMuteButton();
  renderMicStatus();
  renderState();
  renderQuestion();
  renderLogAll();
  renderEndButton();
  if (S.report) showReport();
  else showHistory();
}

function showReport() {
  if (linked) {
    // a shared link's report token reads the report, not the candidate's recorded voice
    renderReport($("#report"), S.report, {});
    return;
  }
  const log = logEntries().filter((e) => !e.partial).map((e) => ({ who: e.who, label: whoLabel(e), text: e.text }));
  const s = S.session;
  renderReport($("#report"), S.report, {
    settings: s ? s.settings : null,
    log: log,
    audioUrl: (turn) => (s && replayToken() ? audioUrl(s.id, replayToken(), turn) : ""),
  });
  $("#delete-interview").hidden = !(s && s.id && s.token);
  showHistory();
}

let linked = null; // {id, token} when this page is a report link

function showHistory() {
  if (linked) return;
  renderHistory($("#history"), practiseAgain);
  renderHistory($("#report-history"), practiseAgain);
}

// "Practise this question again": a new interview in that interview's language and
// role whose first question is the chosen one.
let practise = "";

function practiseAgain(question, entry) {
  if (S.session && !S.session.finished) return;
  if (S.session) onNewInterview();
  $("#f-language").value = entry.language === "ko" ? "ko" : "en";
  if (ROLES.includes(entry.role)) $("#f-role").value = entry.role;
  practise = question;
  $("#setup-form").requestSubmit();
}

async function onDelete() {
  const s = S.session;
  if (!s || !window.confirm(t("delete_confirm"))) return;
  if (!(await deleteInterview(s.id, s.token))) {
    toast(t("delete_failed"));
    return;
  }
  forget(s.id);
  onNewInterview();
  toast(t("deleted"), { kind: "info", ms: 4000 });
}

function sessionGone(code) {
  clearSession();
  stopMic();
  stopAllAudio();
  setConn("closed");
  S.report = null;
  S.question = null;
  S.interviewState = "idle";
  renderState();
  renderLogAll();
  showView("setup");
  toast(t("err_" + code), { sticky: true });
}

function onReport(report) {
  const s = S.session;
  const again = !!(s && s.finished); // sent again with a stronger answer's outline
  S.report = report && typeof report === "object" ? report : {};
  if (s) {
    s.finished = true;
    s.report = S.report;
    saveSession();
  }
  remember(S.report, reportPath());
  if (again) {
    showReport(); // in place: the reader keeps their scroll position
    return;
  }
  stopMic();
  updateUnlockButton();
  showReport();
  renderReportLink();
  showView("report");
  // The socket stays open so the closing words still play; a close is not retried now.
}

// --- user actions --------------------------------------------------------------------

function readSettings() {
  const pick = (id, allowed, dflt) => {
    const v = $(id).value;
    return allowed.includes(v) ? v : dflt;
  };
  let n = parseInt($("#f-questions").value, 10);
  if (!Number.isFinite(n)) n = 3;
  return {
    language: pick("#f-language", ["en", "ko"], "en"),
    role: pick("#f-role", ROLES, "general"),
    difficulty: pick("#f-difficulty", DIFFICULTIES, "mid"),
    questions: Math.max(1, Math.min(10, n)),
    resume_text: $("#f-resume").value.trim().slice(0, MAX_DOC),
    job_posting: $("#f-posting").value.trim().slice(0, MAX_DOC),
    practise: practise,
  };
}

async function onStartSubmit(ev) {
  ev.preventDefault();
  const btn = $("#start");
  if (btn.disabled) return;
  btn.disabled = true;
  // Create/resume the AudioContext inside the click: browsers only allow sound after a gesture.
  ensureAudioContext();
  S.session = newSession(readSettings());
  practise = "";
  S.report = null;
  S.question = null;
  S.interviewState = "idle";
  S.attempt = 0;
  resetPlayer();
  saveSession();
  renderLogAll();
  renderState();
  renderQuestion();
  renderEndButton();
  $("#progress").textContent = "";
  setLive("", false);
  showView("interview");
  try {
    await startMic();
  } finally {
    btn.disabled = false;
  }
  updateUnlockButton();
  if (S.session) connect();
}

function onAnswerSubmit(ev) {
  ev.preventDefault();
  const box = $("#answer-text");
  const text = box.value.trim().slice(0, MAX_TEXT);
  if (!text) {
    toast(t("err_empty_answer"), { kind: "warn", ms: 3000 });
    return;
  }
  const s = S.session;
  if (!s || !s.startSent || S.conn !== "open" || !send({ type: "answer_text", text: text })) {
    toast(t("err_not_connected"), { kind: "warn" });
    return;
  }
  addLog({ who: "candidate", text: text, typed: true, confirmed: false, turn: S.question ? S.question.turn : 0 });
  saveSession();
  box.value = "";
}

function onEnd() {
  const s = S.session;
  if (!s || s.finished) return;
  if (!send({ type: "end" })) s.endPending = true; // sent after the next ready
  s.endRequested = true;
  saveSession();
  renderEndButton();
}

function onNewInterview() {
  if (linked) {
    location.assign("/");
    return;
  }
  dropSocket(1000);
  clearTimeout(S.reconnectTimer);
  stopMic();
  stopAllAudio();
  clearSession();
  resetWarming();
  S.report = null;
  S.question = null;
  S.interviewState = "idle";
  setConn("idle");
  renderLogAll();
  renderState();
  renderQuestion();
  renderEndButton();
  $("#report").replaceChildren();
  updateUnlockButton();
  showHistory();
  showView("setup");
}

async function onCopyLink() {
  const path = linked ? location.pathname + location.search : reportPath();
  if (!path) return;
  const url = location.origin + path;
  try {
    await navigator.clipboard.writeText(url);
    toast(t("copied"), { kind: "info", ms: 2500 });
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents($("#report-link"));
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
}

async function onUnlock() {
  const ctx = ensureAudioContext();
  if (ctx && ctx.state !== "running") {
    try {
      await ctx.resume();
    } catch (_) {
      /* still locked */
    }
  }
  if (audio.micState !== "on") await startMic();
  updateUnlockButton();
}

// --- debugging hook for tests and curious people ---------------------------------------

window.parley = Object.freeze({
  get state() {
    return S.interviewState;
  },
  get history() {
    return entries();
  },
  get connection() {
    return S.conn;
  },
  get lastSeq() {
    return S.session ? S.session.lastSeq : 0;
  },
  get sessionId() {
    return S.session ? S.session.id : null;
  },
  get reportUrl() {
    return reportPath() || null;
  },
  get question() {
    return S.question ? Object.assign({}, S.question) : null;
  },
  get report() {
    return S.report;
  },
  get playing() {
    return player.active > 0;
  },
  get mic() {
    return audio.micState;
  },
  get muted() {
    return audio.muted;
  },
  get sampleRate() {
    return audio.ctx ? audio.ctx.sampleRate : null;
  },
  get audioChunksSent() {
    return counters.audioChunksSent;
  },
  get audioChunksReceived() {
    return counters.audioChunksReceived;
  },
  get lastError() {
    return S.lastError;
  },
  get events() {
    return S.recentEvents.slice();
  },
  get log() {
    return logEntries().map((e) => ({ who: e.who, text: e.text, partial: !!e.partial, typed: !!e.typed }));
  },
  counters: counters,
  send: send,
});

// --- wiring --------------------------------------------------------------------------

setChunkSink(sendAudio);
setHandlers({
  conn: renderConn,
  event: (msg) => {
    if (msg.type === "state") onState(msg);
    else if (msg.type === "question") onQuestion(msg);
    else if (msg.type === "transcript") onTranscript(msg);
    else if (msg.type === "report") onReport(msg.report);
    else if (msg.type === "warming") onWarming(msg);
  },
  error: showError,
  gone: sessionGone,
  replaced: () => {
    renderLogAll();
    renderQuestion();
    renderState();
  },
  ready: () => {
    renderReportLink();
    fetchReportToken();
  },
});

// --- start-up ------------------------------------------------------------------------

async function openLinked() {
  applyI18n();
  showView("report");
  const a = $("#report-link");
  a.href = location.href;
  a.textContent = location.href;
  const report = await showLinkedReport(linked, $("#report"), () => {
    $("#ui-lang").value = ui.lang;
    applyI18n();
  });
  S.report = report;
}

function init() {
  setUiLang(chooseUiLang(), false);
  for (const role of ROLES) {
    $("#f-role").appendChild(el("option", { text: t("role_" + role), attrs: { value: role, "data-i18n": "role_" + role } }));
  }
  const uiSelect = $("#ui-lang");
  uiSelect.value = ui.lang;
  $("#f-language").value = ui.lang;
  let interviewLangTouched = false;
  $("#f-language").addEventListener("change", () => (interviewLangTouched = true));
  uiSelect.addEventListener("change", () => {
    setUiLang(uiSelect.value, true);
    if (!interviewLangTouched && !S.session) $("#f-language").value = ui.lang;
    applyI18n();
  });

  $("#setup-form").addEventListener("submit", onStartSubmit);
  $("#answer-form").addEventListener("submit", onAnswerSubmit);
  $("#answer-text").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && !ev.isComposing) onAnswerSubmit(ev);
  });
  $("#end").addEventListener("click", onEnd);
  $("#mute").addEventListener("click", () => setMuted(!audio.muted));
  $("#new-interview").addEventListener("click", onNewInterview);
  $("#copy-link").addEventListener("click", onCopyLink);
  $("#audio-unlock").addEventListener("click", onUnlock);
  $("#print-report").addEventListener("click", () => window.print());
  $("#download-json").addEventListener("click", () => downloadJson(S.report));
  $("#delete-interview").addEventListener("click", onDelete);
  document.addEventListener("parley:report-token", () => {
    if (!S.report || !S.session) return;
    setLink(S.session.id, reportPath());
    showReport();
  });

  linked = linkedReport();
  if (linked) {
    openLinked();
    return;
  }
  window.addEventListener("online", () => {
    if (S.session && !S.session.finished && !S.ws) {
      S.attempt = 0;
      connect();
    }
  });
  window.addEventListener("offline", () => {
    if (S.conn !== "open") setConn("offline");
  });

  // Resume after a reload.
  const stored = loadSession();
  if (stored && stored.id && stored.token) {
    S.session = stored;
    S.interviewState = stored.view.state || "idle";
    S.question = stored.view.question || null;
    if (stored.finished && stored.report) {
      S.report = stored.report;
      applyI18n();
      renderReportLink();
      fetchReportToken(); // a fresh replay token (the report is shown again with it)
      showView("report");
      return;
    }
    applyI18n();
    showView("interview");
    const ctx = ensureAudioContext();
    if (ctx && ctx.state === "running") startMic();
    updateUnlockButton();
    if (ctx) {
      setTimeout(updateUnlockButton, 300);
      const unlock = () => {
        if (audio.ctx && audio.ctx.state !== "running") audio.ctx.resume().catch(() => {});
      };
      document.addEventListener("pointerdown", unlock, { once: true, capture: true });
      document.addEventListener("keydown", unlock, { once: true, capture: true });
    }
    connect();
    return;
  }
  if (stored) clearSession(); // settings without a session id: nothing to resume
  applyI18n();
  showView("setup");
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
