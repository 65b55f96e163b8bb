// The report's shareable link: a read-only report token (it cannot resume or drive the
// interview), asked for once with the session token and kept in the stored session.

import { $ } from "./dom.js";
import { S, saveSession } from "./store.js";

export function reportPath() {
  const s = S.session;
  if (!s || !s.id || !s.reportToken) return "";
  return "/sessions/" + encodeURIComponent(s.id) + "/report?token=" + encodeURIComponent(s.reportToken);
}

export function fetchReportToken() {
  const s = S.session;
  if (!s || !s.id || !s.token || s.reportToken) return;
  fetch("/sessions/" + encodeURIComponent(s.id) + "/share", {
    cache: "no-store",
    headers: { Authorization: "Bearer " + s.token },
  })
    .then((res) => (res.ok ? res.json() : null))
    .then((body) => {
      if (!body || S.session !== s || typeof body.report_token !== "string") return;
      s.reportToken = body.report_token;
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
