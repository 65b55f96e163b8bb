// Page state shared by the modules: the live connection and interview state (`S`), the
// counters the tests read, and the interview session kept in sessionStorage so a reload
// resumes it. Plain data and storage only; nothing here renders.

const STORE_KEY = "parley.session.v1";

export const counters = {
  audioChunksSent: 0,
  audioBytesSent: 0,
  audioChunksDropped: 0, // mic chunks not sent (not connected, muted link, backlog)
  audioChunksReceived: 0,
  audioBytesReceived: 0,
  audioChunksDiscarded: 0, // received but not played (stopped turn, duplicate, bad header)
  playbackUnderruns: 0,
  eventsReceived: 0,
  eventsIgnored: 0, // seq already seen
  pingsAnswered: 0,
  reconnects: 0,
  errors: 0,
};

export const S = {
  conn: "idle",
  ws: null,
  wsGen: 0,
  attempt: 0,
  reconnectTimer: 0,
  watchdogTimer: 0,
  interviewState: "idle",
  question: null,
  report: null,
  lastError: null,
  recentEvents: [],
  session: null, // persisted: see newSession()
};

export function newSession(settings) {
  return {
    id: null,
    token: null,
    lastSeq: 0,
    settings: settings, // what `start` sends
    startSent: false,
    startConfirmed: false,
    endPending: false,
    finished: false,
    report: null,
    view: { state: "idle", question: null, log: [], nextLogId: 1 },
  };
}

export function loadSession() {
  try {
    const raw = sessionStorage.getItem(STORE_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw);
    if (!s || typeof s !== "object" || !s.settings) return null;
    s.lastSeq = Number(s.lastSeq) || 0;
    s.view = s.view && Array.isArray(s.view.log) ? s.view : { state: "idle", question: null, log: [], nextLogId: 1 };
    return s;
  } catch (_) {
    return null;
  }
}

export function saveSession() {
  if (!S.session) return;
  try {
    sessionStorage.setItem(STORE_KEY, JSON.stringify(S.session));
  } catch (_) {
    // Storage full or disabled: the live session still works, only reload-resume is lost.
  }
}

export function clearSession() {
  S.session = null;
  try {
    sessionStorage.removeItem(STORE_KEY);
  } catch (_) {
    /* ignore */
  }
}
