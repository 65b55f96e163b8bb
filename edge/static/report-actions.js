// What the candidate can do with a finished report besides reading and printing it:
// download it as JSON, and delete the interview (its audio, turns and report) with the
// session token.

/** Save `report` as a JSON file (a download from a blob URL; nothing leaves the page). */
export function downloadJson(report) {
  if (!report) return;
  const blob = new Blob([JSON.stringify(report, null, 2)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "parley-report-" + String(report.session_id || "interview") + ".json";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

/** DELETE /sessions/<id> with the session token; true when the server deleted it. */
export async function deleteInterview(id, token) {
  if (!id || !token) return false;
  try {
    const res = await fetch("/sessions/" + encodeURIComponent(id), {
      method: "DELETE",
      cache: "no-store",
      headers: { Authorization: "Bearer " + token },
    });
    return res.ok;
  } catch (_) {
    return false;
  }
}
