// The report's shareable link: a read-only report token (it cannot resume or drive the
// interview, nor play the answers), asked for with the session token and kept in the
// stored session; with it comes a replay token (about an hour) for the answers' audio,
// asked for again when it runs out.

import { $ } from "./dom.js";
import { S, saveSession } from "./store.js";

export function reportPath() {
  const s = S.session;
  if (!s || !s.id || !s.reportToken) return "";
  return "/sessions/" + encodeURIComponent(s.id) + "/report?token=" + encodeURIComponent(s.reportToken);
}

const REPLAY_MARGIN_MS = 5 * 60 * 1000;

/** The replay token while it is good for a few minutes more, else "". */
export function replayToken() {
  const s = S.session;
  if (!s || !s.replayToken || !(s.replayUntil > Date.now() + REPLAY_MARGIN_MS)) return "";
  return s.replayToken;
}

export function fetchReportToken() {
  const s = S.session;
  if (!s || !s.id || !s.token || (s.reportToken && replayToken())) return;
  fetch("/sessions/" + encodeURIComponent(s.id) + "/share", {
    cache: "no-store",
    headers: { Authorization: "Bearer " + s.token },
  })
    .then((res) => (res.ok ? res.json() : null))
    .then((body) => {
      if (!body || S.session !== s || typeof body.report_token !== "string") return;
      s.reportToken = body.report_token;
      s.replayToken = typeof body.replay_token === "string" ? body.replay_token : "";
      s.replayUntil = Date.now() + 1000 * (Number(body.replay_expires_in) || 0);
      saveSession();
      renderReportLink();
      document.dispatchEvent(new CustomEvent("parley:report-token"));
    })
    .catch(() => {
      /* the link appears after the next reconnect */
    });
}

export function renderReportLink() {
  const path = reportPath();
  const a = $("#report-link");
  if (!path) {
    a.removeAttribute("href");
    a.textContent = "";
    return;
  }
  a.href = path;
  a.textContent = location.origin + path;
}
