// The report view: renders a report (the `report` event's object, or the JSON of
// GET /sessions/<id>/report) into a container, in the interface language. Used by the
// interview page and by the linked report page, so both show the same report.

import { el } from "./dom.js";
import { hasText, t } from "./i18n.js";

export const SCORE_KEYS = ["relevance", "depth", "clarity", "role_fit"];
export const ROLES = ["backend", "frontend", "data", "product", "general"];

export function asObj(v) {
  return v && typeof v === "object" && !Array.isArray(v) ? v : {};
}

export function asList(v) {
  if (Array.isArray(v)) return v;
  if (v == null || v === "") return [];
  return [v];
}

export function asText(v) {
  if (v == null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "object") {
    for (const k of ["text", "quote", "content", "message", "summary", "title"]) {
      if (typeof v[k] === "string") return v[k];
    }
  }
  return "";
}

export function asScore(v) {
  const n = typeof v === "number" ? v : typeof v === "string" ? parseFloat(v) : NaN;
  return Number.isFinite(n) ? Math.max(0, Math.min(5, n)) : null;
}

export function fmtScore(n) {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function scoreLabel(key) {
  return hasText("score_" + key) ? t("score_" + key) : key.replace(/_/g, " ");
}

function scoreRow(key, value, big) {
  const n = asScore(value);
  const row = el("div", { cls: "score-row" + (big ? " big" : "") });
  row.appendChild(el("span", { cls: "score-name", text: scoreLabel(key) }));
  const meter = el("div", {
    cls: "score-bar",
    attrs: { role: "meter", "aria-valuemin": 0, "aria-valuemax": 5, "aria-label": scoreLabel(key) },
  });
  const fill = el("div", { cls: "score-fill" });
  if (n != null) {
    fill.style.width = (n / 5) * 100 + "%";
    meter.setAttribute("aria-valuenow", String(n));
    meter.setAttribute("aria-valuetext", t("r_out_of", { value: fmtScore(n) }));
    fill.dataset.band = n >= 4 ? "good" : n >= 3 ? "ok" : "low";
  }
  meter.appendChild(fill);
  row.appendChild(meter);
  row.appendChild(el("span", { cls: "score-value", text: n == null ? "–" : fmtScore(n) + " / 5" }));
  return row;
}

function textList(items, cls) {
  const ul = el("ul", { cls: cls || "" });
  for (const it of items) {
    const s = asText(it);
    if (s) ul.appendChild(el("li", { text: s }));
  }
  return ul.children.length ? ul : null;
}

function append(parent, child) {
  if (child) parent.appendChild(child);
}

function section(title, body, cls) {
  if (!body) return null;
  return el("section", { cls: "card report-section " + (cls || "") }, [el("h2", { text: title }), body]);
}

/**
 * Render `report` into `root` (its children are replaced). `opts.settings` fills in the
 * role and language when the report lacks them; `opts.log` ([{who, label, text}]) is the
 * transcript shown when the report has none.
 */
export function renderReport(root, report, opts) {
  const o = opts || {};
  root.replaceChildren();
  const r = asObj(report);
  if (!Object.keys(r).length) {
    root.appendChild(el("p", { cls: "card", text: t("r_empty") }));
    return;
  }
  const settings = o.settings || {};
  const role = asText(r.role) || settings.role || "";
  const lang = asText(r.language) || settings.language || "";
  if (role || lang) {
    const roleText = ROLES.includes(role) ? t("role_" + role) : role;
    const langText = lang === "en" || lang === "ko" ? t("lang_" + lang) : lang;
    root.appendChild(el("p", { cls: "report-meta", text: [roleText, langText].filter(Boolean).join(" · ") }));
  }
  if (r.estimated === true) root.appendChild(el("p", { cls: "notice report-estimated", text: t("r_estimated") }));

  // Overall scores. The server sends `overall` as a number beside `scores`; older
  // shapes sent one object with every criterion.
  const overall = typeof r.overall === "number" || r.overall == null
    ? Object.assign({}, asObj(r.scores), r.overall == null ? {} : { overall: r.overall })
    : asObj(r.overall);
  const scores = el("div", { cls: "scores" });
  if (overall.overall != null) scores.appendChild(scoreRow("overall", overall.overall, true));
  for (const key of SCORE_KEYS) if (overall[key] != null) scores.appendChild(scoreRow(key, overall[key]));
  for (const [key, v] of Object.entries(overall)) {
    if (key !== "overall" && !SCORE_KEYS.includes(key) && asScore(v) != null) scores.appendChild(scoreRow(key, v));
  }
  append(root, section(t("r_overall"), scores.children.length ? scores : null, "overall"));

  const summary = asText(r.summary);
  append(root, section(t("r_summary"), summary ? el("p", { cls: "prose", text: summary }) : null));

  const two = el("div", { cls: "two-col" });
  const strengths = section(t("r_strengths"), textList(asList(r.strengths), "bullets good"));
  const improvements = section(t("r_improvements"), textList(asList(r.improvements), "bullets improve"));
  append(two, strengths);
  append(two, improvements);
  if (two.children.length) root.appendChild(two);

  // Per answer.
  const answers = asList(r.answers).map(asObj).filter((a) => Object.keys(a).length);
  if (answers.length) {
    const wrap = el("section", { cls: "answers" }, [el("h2", { text: t("r_answers") })]);
    answers.forEach((a, i) => wrap.appendChild(answerCard(a, i)));
    root.appendChild(wrap);
  }

  // Transcript: the server's if present, else what this page saw.
  append(root, section(t("r_transcript"), transcriptList(r.transcript, o.log || []), "transcript"));
}

function answerCard(a, i) {
  const card = el("article", { cls: "card answer-card" });
  card.appendChild(el("h3", { text: t("r_answer_n", { n: i + 1 }) }));
  const q = asText(a.question);
  if (q) {
    card.appendChild(el("p", { cls: "label", text: t("r_question") }));
    card.appendChild(el("p", { cls: "q", text: q }));
  }
  card.appendChild(el("p", { cls: "label", text: t("r_answer") }));
  const ans = asText(a.answer);
  card.appendChild(el("p", { cls: "a" + (ans ? "" : " muted"), text: ans || t("r_no_answer") }));
  const sc = asObj(a.scores);
  const keys = SCORE_KEYS.filter((k) => sc[k] != null).concat(
    Object.keys(sc).filter((k) => !SCORE_KEYS.includes(k) && asScore(sc[k]) != null)
  );
  if (keys.length) {
    const chips = el("ul", { cls: "chips", attrs: { "aria-label": t("r_overall") } });
    for (const k of keys) {
      const n = asScore(sc[k]);
      const chip = el("li", { cls: "chip", text: scoreLabel(k) + " " + (n == null ? "–" : fmtScore(n)) });
      if (n != null) chip.dataset.band = n >= 4 ? "good" : n >= 3 ? "ok" : "low";
      chips.appendChild(chip);
    }
    card.appendChild(chips);
  }
  const feedback = asText(a.feedback);
  if (feedback) card.appendChild(el("p", { cls: "feedback" + (a.fallback === true ? " estimated" : ""), text: feedback }));
  const strength = asText(a.strength) || asList(a.strengths).map(asText).filter(Boolean).join(" ");
  if (strength) card.appendChild(el("div", { cls: "note good" }, [el("strong", { text: t("r_strength") }), el("p", { text: strength })]));
  const improvement = asText(a.improvement) || asList(a.improvements).map(asText).filter(Boolean).join(" ");
  if (improvement) {
    card.appendChild(el("div", { cls: "note improve" }, [el("strong", { text: t("r_improvement") }), el("p", { text: improvement })]));
  }
  const evidence = asList(a.evidence).map(asText).filter(Boolean);
  if (evidence.length) {
    const box = el("div", { cls: "evidence" }, [el("p", { cls: "label", text: t("r_evidence") })]);
    for (const quote of evidence) box.appendChild(el("blockquote", { text: quote }));
    card.appendChild(box);
  }
  return card;
}

function transcriptList(transcript, fallback) {
  const ol = el("ol", { cls: "log transcript-list" });
  const add = (who, text, cls) => {
    if (!text) return;
    ol.appendChild(el("li", { cls: "log-entry " + cls }, [el("span", { cls: "who", text: who }), el("span", { cls: "text", text: text })]));
  };
  if (typeof transcript === "string" && transcript.trim()) {
    for (const line of transcript.split(/\n+/)) add("", line, "");
  } else if (Array.isArray(transcript) && transcript.length) {
    for (const item of transcript) {
      if (typeof item === "string") {
        add("", item, "");
        continue;
      }
      const o = asObj(item);
      const speaker = asText(o.speaker || o.role || o.who || o.from);
      const interviewer = /^(interviewer|assistant|bot|system|면접관)$/i.test(speaker);
      const candidate = /^(candidate|user|you|human|나)$/i.test(speaker);
      const who = interviewer ? t("who_interviewer") : candidate ? t("who_you") : speaker;
      add(who, asText(o.text != null ? o.text : o.content), interviewer ? "interviewer" : candidate ? "candidate" : "");
    }
  } else {
    for (const e of fallback) add(e.label, e.text, e.who);
  }
  return ol.children.length ? ol : null;
}

