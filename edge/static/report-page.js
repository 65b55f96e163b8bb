// The report at its link (GET /sessions/<id>/report?token=…, opened in a browser): the
// server sends this page, which fetches the report as JSON with the same token and shows
// it in the report view, in the interview's language, as at the end of the interview
// (print and JSON download included; the answers' audio is not: the link's report token
// reads the report and nothing else).

import { el } from "./dom.js";
import { setUiLang, t } from "./i18n.js";
import { renderReport } from "./report-view.js";

const PATH = /^\/sessions\/([A-Za-z0-9_-]{8,64})\/report$/;

/** The session id and token when this page was opened as a report link, else null. */
export function linkedReport() {
  const m = PATH.exec(location.pathname);
  if (!m) return null;
  const token = new URLSearchParams(location.search).get("token") || "";
  return { id: m[1], token: token };
}

/** A replay URL of one answer with a replay (or session) token. */
export function audioUrl(id, token, turn) {
  if (!id || !token || !Number.isInteger(turn)) return "";
  return "/sessions/" + encodeURIComponent(id) + "/answers/" + turn + "?token=" + encodeURIComponent(token);
}

/**
 * Load and show the linked report into `root`; returns the report (or null when it
 * could not be loaded, with a message in `root`). `onLanguage()` runs after the
 * interface switched to the interview's language.
 */
export async function showLinkedReport(link, root, onLanguage) {
  root.replaceChildren(el("p", { cls: "card", text: t("r_loading") }));
  let report = null;
  try {
    const res = await fetch(location.pathname + "?token=" + encodeURIComponent(link.token), {
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
    report = res.ok ? await res.json() : null;
  } catch (_) {
    report = null;
  }
  if (!report || typeof report !== "object") {
    root.replaceChildren(el("p", { cls: "card notice", text: t("r_not_found") }));
    return null;
  }
  setUiLang(report.language, false);
  onLanguage();
  // the link's report token reads the report, not the candidate's recorded voice
  renderReport(root, report, {});
  return report;
}
