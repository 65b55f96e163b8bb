// The report view: renders a report (the `report` event's object, or the JSON of
// GET /sessions/<id>/report) into a container, in the interface language. Used by the
// interview page and by the linked report page, so both show the same report.

import { answerTimeline, lineChart } from "./charts.js";
import { el } from "./dom.js";
import { hasText, t } from "./i18n.js";
import { ROLES } from "./roles.js";

export const SCORE_KEYS = ["relevance", "depth", "clarity", "role_fit"];

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

  append(root, section(t("r_delivery"), deliverySummary(asObj(r.delivery)), "delivery-summary"));

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
    answers.forEach((a, i) => wrap.appendChild(answerCard(a, i, o)));
    root.appendChild(wrap);
  }

  // Transcript: the server's if present, else what this page saw.
  append(root, section(t("r_transcript"), transcriptList(r.transcript, o.log || []), "transcript"));
}

function answerCard(a, i, o) {
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
  const star = starChecklist(asObj(a.delivery).star);
  const d = asObj(a.delivery);
  if (star || Object.keys(d).length) {
    const side = el("div", { cls: "answer-measures" });
    if (star) side.appendChild(star);
    if (Object.keys(d).length) side.appendChild(answerDelivery(d));
    card.appendChild(side);
  }
  const timeline = answerTimeline(d, t);
  if (timeline) {
    card.appendChild(el("p", { cls: "label", text: t("t_timeline") }));
    card.appendChild(timeline);
    card.appendChild(timelineLegend());
  }
  const src = d.spoken && o.audioUrl ? o.audioUrl(a.turn) : "";
  if (src) {
    const player = el("audio", { cls: "replay", attrs: { controls: "", preload: "metadata", src: src, "aria-label": t("replay") } });
    player.dataset.turn = String(a.turn);
    player.addEventListener("error", () => wrapReplay.remove()); // expired, deleted or never kept
    const wrapReplay = el("div", { cls: "replay-box" }, [el("p", { cls: "label", text: t("replay") }), player]);
    card.appendChild(wrapReplay);
  }
  const feedback = asText(a.feedback);
  if (feedback) card.appendChild(el("p", { cls: "feedback" + (a.fallback === true ? " estimated" : ""), text: feedback }));
  const strength = asText(a.strength) || asList(a.strengths).map(asText).filter(Boolean).join(" ");
  if (strength) card.appendChild(el("div", { cls: "note good" }, [el("strong", { text: t("r_strength") }), el("p", { text: strength })]));
  const improvement = asText(a.improvement) || asList(a.improvements).map(asText).filter(Boolean).join(" ");
  if (improvement) {
    card.appendChild(el("div", { cls: "note improve" }, [el("strong", { text: t("r_improvement") }), el("p", { text: improvement })]));
  }
  const outline = asText(a.outline);
  if (outline) {
    const lines = outline.split("\n").map((l) => l.replace(/^\s*-\s*/, "").trim()).filter(Boolean);
    card.appendChild(el("div", { cls: "note outline" }, [el("strong", { text: t("r_outline") }), textList(lines, "bullets")]));
  }
  const evidence = asList(a.evidence).map(asText).filter(Boolean);
  if (evidence.length) {
    const box = el("div", { cls: "evidence" }, [el("p", { cls: "label", text: t("r_evidence") })]);
    for (const quote of evidence) box.appendChild(el("blockquote", { text: quote }));
    card.appendChild(box);
  }
  return card;
}

// --- delivery, STAR, charts ------------------------------------------------------------

function fmt1(v) {
  return typeof v === "number" && Number.isFinite(v) ? (Math.round(v * 10) / 10).toString() : "";
}

function measures(rows) {
  const dl = el("dl", { cls: "measures" });
  for (const [label, value, band] of rows) {
    if (!value) continue;
    const dd = el("dd", { text: value });
    if (band) dd.dataset.band = band;
    dl.appendChild(el("div", { cls: "measure" }, [el("dt", { text: label }), dd]));
  }
  return dl.children.length ? dl : null;
}

function rateText(rate, unit) {
  return rate == null ? "" : t(unit === "spm" ? "d_unit_spm" : "d_unit_wpm", { n: Math.round(rate) });
}

function rateBand(rate, unit) {
  if (rate == null) return "";
  const [lo, hi] = unit === "spm" ? [250, 350] : [120, 160];
  return rate < lo * 0.85 || rate > hi * 1.15 ? "low" : rate < lo || rate > hi ? "ok" : "good";
}

function fillerText(d) {
  const counts = Object.entries(asObj(d.fillers));
  if (!counts.length) return t("d_fillers_none");
  return counts.map(([w, n]) => `“${w}” × ${n}`).join(", ");
}

function termsText(list) {
  return asList(list).map(asText).filter(Boolean).join(", ");
}

/** The delivery measures of one answer (a typed one says it has text measures only). */
function answerDelivery(d) {
  const box = el("div", { cls: "delivery" });
  if (!d.spoken) box.appendChild(el("p", { cls: "notice typed-note", text: t("r_delivery_typed") }));
  const len = asObj(d.length);
  const band = asText(len.band);
  const lengthText = band ? t("d_length_" + band, { n: d.count, min: len.min, max: len.max }) : "";
  const pauses = asList(d.pauses);
  const dl = measures([
    [t("d_rate_wpm"), rateText(d.rate, d.unit), rateBand(d.rate, d.unit)],
    [t("d_fillers"), fillerText(d), (d.filler_total || 0) > 2 ? "ok" : "good"],
    [t("d_pauses"), d.spoken ? pauses.map((p) => t("d_seconds", { n: fmt1(asObj(p).length) })).join(", ") || "0" : "", pauses.length > 1 ? "ok" : ""],
    [t("d_first_word"), d.first_word_s == null ? "" : t("d_seconds", { n: fmt1(d.first_word_s) }), ""],
    [t("d_length"), lengthText, band === "ok" ? "good" : band ? "ok" : ""],
    [t("d_terms_used"), termsText(d.terms_used), "good"],
    [t("d_terms_missed"), termsText(d.terms_missed), "ok"],
  ]);
  if (dl) box.appendChild(dl);
  return box;
}

/** The interview's delivery summary (report.delivery). */
function deliverySummary(s) {
  const rows = [
    [t("d_rate_wpm"), rateText(s.rate, s.unit), rateBand(s.rate, s.unit)],
    [t("d_fillers"), s.answers ? t("d_fillers_per_100", { n: fmt1(s.fillers_per_100) }) : "", s.fillers_per_100 > 3 ? "ok" : "good"],
    [t("d_pauses"), s.spoken ? String(s.long_pauses || 0) : "", s.long_pauses > 1 ? "ok" : ""],
    [t("d_first_word"), s.first_word_s == null ? "" : t("d_seconds", { n: fmt1(s.first_word_s) }), ""],
    [t("d_terms_used"), termsText(s.terms_used), "good"],
    [t("d_terms_missed"), termsText(s.terms_missed), "ok"],
  ];
  const dl = measures(rows);
  if (!dl) return null;
  const box = el("div", { cls: "delivery" }, [dl]);
  if (s.rate != null) box.appendChild(el("p", { cls: "hint", text: t(s.unit === "spm" ? "d_rate_hint_ko" : "d_rate_hint") }));
  if (s.answers && !s.spoken) box.appendChild(el("p", { cls: "notice typed-note", text: t("r_delivery_typed") }));
  return box;
}

const STAR_KEYS = ["situation", "task", "action", "result"];

function starChecklist(star) {
  const s = asObj(star);
  if (!STAR_KEYS.some((k) => typeof s[k] === "boolean")) return null;
  const ul = el("ul", { cls: "star", attrs: { "aria-label": t("star") } });
  for (const k of STAR_KEYS) {
    const ok = s[k] === true;
    const li = el("li", { cls: ok ? "yes" : "no" }, [
      el("span", { cls: "mark", text: ok ? "✓" : "✗", attrs: { "aria-hidden": "true" } }),
      el("span", { text: t("star_" + k) }),
      el("span", { cls: "visually-hidden", text: " " + t(ok ? "star_present" : "star_missing") }),
    ]);
    ul.appendChild(li);
  }
  return el("div", { cls: "star-box" }, [el("p", { cls: "label", text: t("star") }), ul]);
}

function timelineLegend() {
  const items = [["tl-wait", "t_wait"], ["tl-speech", "t_speech"], ["tl-pause", "t_pause"], ["tl-filler", "t_filler"]];
  const ul = el("ul", { cls: "legend" });
  for (const [cls, key] of items) ul.appendChild(el("li", {}, [el("span", { cls: "swatch " + cls }), el("span", { text: t(key) })]));
  return ul;
}

export { lineChart };

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

