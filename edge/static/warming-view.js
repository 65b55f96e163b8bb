// The "warming up" banner: which model roles are not ready yet (the server's `warming`
// event, docs/protocol.md) and about how long until they are, in the interview's language.
// The interview goes on meanwhile (bank questions, estimated scores, text without voice);
// the banner says so. The banner counts down every second; it is not a live region (it
// would be read out every second): a separate visually hidden status line says the message
// once per event, and "ready" when all roles are.

import { $ } from "./dom.js";
import { tIn } from "./i18n.js";
import { S } from "./store.js";

const ROLES = ["llm", "stt", "tts"]; // embed only tailors questions: not worth a banner
const W = { roles: {}, at: 0, timer: 0 };

function lang() {
  const s = S.session && S.session.settings;
  return s && s.language === "ko" ? "ko" : "en";
}

function secondsLeft(eta) {
  if (eta == null) return null;
  return Math.max(0, Math.round(eta - (performance.now() - W.at) / 1000));
}

function line(role, eta, l) {
  const left = secondsLeft(eta);
  if (left == null) return tIn(l, "warming_" + role + "_unknown");
  if (left === 0) return tIn(l, "warming_" + role + "_soon");
  return tIn(l, "warming_" + role, { s: left });
}

function shown() {
  return ROLES.filter((r) => Object.prototype.hasOwnProperty.call(W.roles, r));
}

/** Render the banner from the last event (called every second while it shows). */
export function renderWarming(announce) {
  const box = $("#warming");
  if (!box) return;
  const roles = shown();
  box.hidden = roles.length === 0;
  if (!roles.length) {
    clearInterval(W.timer);
    W.timer = 0;
    return;
  }
  const l = lang();
  box.lang = l;
  const lines = roles.map((r) => line(r, W.roles[r], l));
  $("#warming-visible").textContent = lines.join(" ");
  if (announce) $("#warming-spoken").textContent = lines.join(" ");
}

/** A `warming` event: remember it, render it, count down. */
export function onWarming(msg) {
  const roles = msg && typeof msg.roles === "object" && msg.roles ? msg.roles : {};
  const before = shown().length;
  W.roles = {};
  for (const r of ROLES) {
    if (Object.prototype.hasOwnProperty.call(roles, r)) {
      const v = roles[r];
      W.roles[r] = typeof v === "number" && isFinite(v) ? v : null;
    }
  }
  W.at = performance.now();
  if (before && !shown().length) $("#warming-spoken").textContent = tIn(lang(), "warming_done");
  renderWarming(true);
  if (shown().length && !W.timer) W.timer = setInterval(() => renderWarming(false), 1000);
}

/** Forget the banner (a new interview). */
export function resetWarming() {
  W.roles = {};
  renderWarming(false);
}
