// Progress across interviews, kept in this browser only (localStorage; no account): each
// finished interview's report link, scores, delivery measures and questions, and the
// history view with a chart per rubric dimension and delivery measure and "practise
// this question again".

import { lineChart } from "./charts.js";
import { el } from "./dom.js";
import { t } from "./i18n.js";
import { SCORE_KEYS, scoreLabel } from "./report-view.js";

const KEY = "parley.history.v1";
const MAX_ENTRIES = 30;
const MAX_QUESTIONS = 8;

function load() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(list) ? list.filter((e) => e && typeof e.id === "string") : [];
  } catch (_) {
    return [];
  }
}

function save(list) {
  try {
    localStorage.setItem(KEY, JSON.stringify(list.slice(-MAX_ENTRIES)));
  } catch (_) {
    /* storage full or disabled: the history is only lost for this browser */
  }
}

/** The remembered interviews, oldest first. */
export function entries() {
  return load();
}

/** Remember a finished interview (once per session id; a later call updates it). */
export function remember(report, link) {
  if (!report || typeof report.session_id !== "string") return;
  const d = report.delivery && typeof report.delivery === "object" ? report.delivery : {};
  const entry = {
    id: report.session_id,
    at: Date.now(),
    language: report.language === "ko" ? "ko" : "en",
    role: String(report.role || ""),
    link: link || "",
    overall: typeof report.overall === "number" ? report.overall : null,
    scores: report.scores && typeof report.scores === "object" ? report.scores : {},
    delivery: {
      unit: d.unit === "spm" ? "spm" : "wpm",
      rate: d.rate, fillers_per_100: d.fillers_per_100, long_pauses: d.spoken ? d.long_pauses : null,
      first_word_s: d.first_word_s,
    },
    questions: (Array.isArray(report.answers) ? report.answers : [])
      .filter((a) => a && a.kind !== "followup" && typeof a.question === "string")
      .map((a) => a.question.slice(0, 600)),
  };
  const list = load();
  const old = list.findIndex((e) => e.id === entry.id);
  if (old >= 0) {
    entry.at = list[old].at;
    entry.link = entry.link || list[old].link;
    list[old] = entry;
  } else {
    list.push(entry);
  }
  save(list);
}

/** Set the report link of a remembered interview (it may arrive after the report). */
export function setLink(id, link) {
  const list = load();
  const e = list.find((x) => x.id === id);
  if (e && link && e.link !== link) {
    e.link = link;
    save(list);
  }
}

export function forget(id) {
  save(load().filter((e) => e.id !== id));
}

function metricCharts(list) {
  const grid = el("div", { cls: "charts" });
  const add = (label, values, opts) => {
    if (!values.some((v) => typeof v === "number")) return;
    grid.appendChild(lineChart(values, Object.assign({ label: label, aria: t("h_chart_aria", { label: label, n: values.length }) }, opts)));
  };
  add(scoreLabel("overall"), list.map((e) => e.overall), { min: 1, max: 5 });
  for (const k of SCORE_KEYS) add(scoreLabel(k), list.map((e) => (e.scores || {})[k]), { min: 1, max: 5 });
  const d = (k) => list.map((e) => (e.delivery || {})[k]);
  add(t("m_rate"), d("rate"), {});
  add(t("m_fillers"), d("fillers_per_100"), { min: 0 });
  add(t("m_pauses"), d("long_pauses"), { min: 0 });
  add(t("m_first_word"), d("first_word_s"), { min: 0 });
  return grid;
}

/**
 * Render the history into `root`: the past interviews with their links, the charts
 * (from two interviews on) and the questions to practise again; `onPractise(question,
 * entry)` starts one. Hidden when there is no history.
 */
export function renderHistory(root, onPractise) {
  const list = load();
  root.replaceChildren();
  root.hidden = list.length === 0;
  if (!list.length) return;
  root.appendChild(el("h2", { text: t("h_title") }));
  root.appendChild(el("p", { cls: "hint", text: t("h_lead") }));
  const ol = el("ol", { cls: "history-list" });
  list.forEach((e, i) => {
    const when = new Date(e.at).toLocaleDateString(e.language === "ko" ? "ko-KR" : undefined);
    const parts = [el("span", { cls: "h-name", text: t("h_attempt", { n: i + 1 }) + " · " + when })];
    if (typeof e.overall === "number") parts.push(el("span", { cls: "h-score", text: e.overall.toFixed(1) + " / 5" }));
    if (e.link) parts.push(el("a", { text: t("h_open"), attrs: { href: e.link, rel: "noopener" } }));
    const forgetBtn = el("button", { cls: "btn small", text: t("h_forget"), attrs: { type: "button" } });
    forgetBtn.addEventListener("click", () => {
      forget(e.id);
      renderHistory(root, onPractise);
    });
    parts.push(forgetBtn);
    ol.appendChild(el("li", {}, parts));
  });
  root.appendChild(ol);
  if (list.length >= 2) root.appendChild(metricCharts(list));
  const seen = new Set();
  const qs = el("ul", { cls: "practise-list" });
  for (const e of list.slice().reverse()) {
    for (const q of e.questions || []) {
      if (seen.has(q) || seen.size >= MAX_QUESTIONS) continue;
      seen.add(q);
      const btn = el("button", { cls: "btn small", text: t("h_practise"), attrs: { type: "button" } });
      btn.addEventListener("click", () => onPractise(q, e));
      qs.appendChild(el("li", {}, [el("span", { cls: "q", text: q }), btn]));
    }
  }
  if (qs.children.length) {
    root.appendChild(el("h3", { cls: "small-heading", text: t("h_questions") }));
    root.appendChild(qs);
  }
}
