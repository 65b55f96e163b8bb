// Small SVG pictures, no charting library: the timeline of one answer and a line chart
// of one measure over attempts. Text goes in with textContent only; colours come from
// style.css classes, so they follow the light/dark theme and print.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text != null) node.textContent = String(text);
  return node;
}

function num(v) {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/**
 * The timeline of a spoken answer from its delivery measures: the wait before the first
 * word, the speech, the long pauses inside it and where the fillers fall (their place in
 * the text, spread over the answer's time). `label(key)` names the parts. Null for an
 * answer without timings (typed).
 */
export function answerTimeline(d, label) {
  const duration = num(d && d.duration_s);
  if (!d || !d.spoken || !duration) return null;
  const wait = Math.max(0, num(d.first_word_s) || 0);
  const total = wait + duration;
  const W = 600;
  const H = 64;
  const pad = 8;
  const x = (s) => pad + ((W - 2 * pad) * s) / total;
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`, class: "timeline", role: "img",
    "aria-label": `${label("t_timeline")}: ${label("t_wait")} ${wait.toFixed(1)} s, ` +
      `${label("t_speech")} ${duration.toFixed(1)} s, ${(d.pauses || []).length} × ${label("t_pause")}, ` +
      `${d.filler_total || 0} × ${label("t_filler")}`,
  });
  const y = 14;
  const h = 22;
  if (wait > 0) root.appendChild(svg("rect", { class: "tl-wait", x: x(0), y: y, width: x(wait) - x(0), height: h, rx: 3 }));
  root.appendChild(svg("rect", { class: "tl-speech", x: x(wait), y: y, width: x(total) - x(wait), height: h, rx: 3 }));
  for (const p of d.pauses || []) {
    const at = num(p.at);
    const len = num(p.length);
    if (at == null || len == null) continue;
    const r = svg("rect", { class: "tl-pause", x: x(wait + at), y: y, width: Math.max(2, x(wait + at + len) - x(wait + at)), height: h });
    r.appendChild(svg("title", {}, `${label("t_pause")} ${len.toFixed(1)} s`));
    root.appendChild(r);
  }
  for (const f of d.filler_at || []) {
    const at = num(f);
    if (at == null) continue;
    const cx = x(wait + at * duration);
    root.appendChild(svg("path", { class: "tl-filler", d: `M${cx - 5},${y - 9} L${cx + 5},${y - 9} L${cx},${y - 1} Z` }));
  }
  const step = total > 60 ? 15 : total > 20 ? 5 : total > 8 ? 2 : 1;
  for (let s = 0; s <= total + 1e-6; s += step) {
    root.appendChild(svg("line", { class: "tl-tick", x1: x(s), x2: x(s), y1: y + h + 2, y2: y + h + 6 }));
    root.appendChild(svg("text", { class: "tl-label", x: x(s), y: H - 4, "text-anchor": s === 0 ? "start" : "middle" }, `${s} s`));
  }
  return root;
}

/**
 * A line chart of `values` (numbers or null, oldest first). `opts.label` names it (its
 * title and aria-label), `opts.min`/`opts.max` fix the y range (else from the data),
 * `opts.fmt` formats a value.
 */
export function lineChart(values, opts) {
  const o = opts || {};
  const W = 320;
  const H = 140;
  const L = 40;
  const R = 12;
  const T = 26;
  const B = 24;
  const points = values.map((v, i) => ({ i, v: num(v) })).filter((p) => p.v != null);
  const fmt = o.fmt || ((v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)));
  let lo = o.min != null ? o.min : Math.min(...points.map((p) => p.v), 0);
  let hi = o.max != null ? o.max : Math.max(...points.map((p) => p.v), 1);
  if (hi - lo < 1e-9) hi = lo + 1;
  const n = Math.max(2, values.length);
  const x = (i) => L + ((W - L - R) * i) / (n - 1);
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": o.aria || o.label || "" });
  root.appendChild(svg("text", { class: "chart-title", x: 4, y: 16 }, o.label || ""));
  for (const v of [lo, hi]) {
    root.appendChild(svg("line", { class: "chart-grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    root.appendChild(svg("text", { class: "chart-axis", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v)));
  }
  for (let i = 0; i < values.length; i++) {
    root.appendChild(svg("text", { class: "chart-axis", x: x(i), y: H - 6, "text-anchor": "middle" }, String(i + 1)));
  }
  if (points.length > 1) {
    root.appendChild(svg("polyline", { class: "chart-line", points: points.map((p) => `${x(p.i)},${y(p.v)}`).join(" ") }));
  }
  for (const p of points) {
    const dot = svg("circle", { class: "chart-dot", cx: x(p.i), cy: y(p.v), r: 4 });
    dot.appendChild(svg("title", {}, `${p.i + 1}: ${fmt(p.v)}`));
    root.appendChild(dot);
  }
  return root;
}
