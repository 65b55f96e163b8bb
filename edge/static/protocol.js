// The protocol client (docs/protocol.md): one WebSocket to /ws carrying JSON events and
// audio frames. It says hello (resuming with the stored session id, token and last seq),
// sends start once per session (again if the link broke before it was confirmed), a
// pending end after the next ready, answers pings, drops events already seen, keeps a
// watchdog and reconnects with jittered backoff (or waits Retry-After when the service is
// full). Interviewer audio goes to playback.js; everything the page shows goes to the
// handlers given to setHandlers().

import { toast } from "./dom.js";
import { t } from "./i18n.js";
import { onAudioFrame, stopTurn, turnRespoken } from "./playback.js";
import { counters, S, saveSession } from "./store.js";

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 8000;
const WATCHDOG_MS = 30000; // the server pings every few seconds; silence this long = dead link
const MAX_SEND_BUFFER = 256 * 1024; // live audio is useless late: drop instead of queueing

const noop = () => {};
const h = { conn: noop, event: noop, error: noop, gone: noop, replaced: noop, ready: noop };

/**
 * What the page does with the link: `conn(state)` after the connection state changes,
 * `event(msg)` for state/question/transcript/report, `error(code, message)` for an error
 * event worth showing, `gone(code)` when the session cannot be resumed, `replaced()` when
 * the server answered a resume with another session, `ready()` after every ready.
 */
export function setHandlers(handlers) {
  Object.assign(h, handlers);
}

export function setConn(state) {
  S.conn = state;
  h.conn(state);
}

/** Send one microphone chunk if the interview is live; dropped (and counted) otherwise. */
export function sendAudio(pcm) {
  const ws = S.ws;
  const s = S.session;
  const canSend = ws && ws.readyState === WebSocket.OPEN && s && s.startSent && !s.finished && S.conn === "open";
  if (!canSend || ws.bufferedAmount > MAX_SEND_BUFFER) {
    counters.audioChunksDropped++;
    return false;
  }
  ws.send(pcm);
  counters.audioChunksSent++;
  counters.audioBytesSent += pcm.byteLength;
  return true;
}

function wsUrl() {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
}

export function send(obj) {
  const ws = S.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(obj));
  return true;
}

export function connect() {
  clearTimeout(S.reconnectTimer);
  S.reconnectTimer = 0;
  dropSocket();
  if (!S.session) return;
  setConn(S.attempt > 0 ? "reconnecting" : "connecting");
  const gen = ++S.wsGen;
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch (_) {
    scheduleReconnect();
    return;
  }
  ws.binaryType = "arraybuffer";
  S.ws = ws;
  let opened = false;
  armWatchdog(); // also bounds a connect that never completes
  ws.onopen = () => {
    if (gen !== S.wsGen) return;
    opened = true;
    armWatchdog();
    sendHello();
  };
  ws.onmessage = (ev) => {
    if (gen !== S.wsGen) return;
    armWatchdog();
    if (typeof ev.data === "string") onText(ev.data);
    else if (ev.data instanceof ArrayBuffer) onAudioFrame(ev.data);
  };
  ws.onclose = (ev) => {
    if (gen !== S.wsGen) return;
    if (!opened) {
      refusedAtHandshake(gen);
      return;
    }
    onClose(ev.code, ev.reason);
  };
  ws.onerror = () => {
    /* a close event follows */
  };
}

// The handshake failed: a browser cannot see why, so ask. 503 means the service is at
// capacity (say so and wait Retry-After); anything else is an ordinary reconnect.
function refusedAtHandshake(gen) {
  clearTimeout(S.watchdogTimer);
  S.ws = null;
  fetch("/ws", { cache: "no-store" })
    .then((res) => {
      if (gen !== S.wsGen) return;
      if (res.status !== 503) {
        scheduleReconnect();
        return;
      }
      const wait = Math.max(1, Math.min(120, parseInt(res.headers.get("Retry-After") || "10", 10) || 10));
      setConn("reconnecting");
      toast(t("err_full").replace("{s}", String(wait)), { kind: "warn" });
      clearTimeout(S.reconnectTimer);
      S.reconnectTimer = setTimeout(connect, wait * 1000);
    })
    .catch(() => {
      if (gen === S.wsGen) scheduleReconnect();
    });
}

// Forget the current socket: its late events are ignored (generation check).
export function dropSocket(code) {
  clearTimeout(S.watchdogTimer);
  S.watchdogTimer = 0;
  const ws = S.ws;
  S.ws = null;
  S.wsGen++;
  if (ws && ws.readyState <= WebSocket.OPEN) {
    try {
      ws.close(code || 1000);
    } catch (_) {
      /* ignore */
    }
  }
}

function armWatchdog() {
  clearTimeout(S.watchdogTimer);
  S.watchdogTimer = setTimeout(() => {
    // No frame (not even a ping) for too long: the link is dead even if TCP says otherwise.
    dropSocket(4000);
    scheduleReconnect();
  }, WATCHDOG_MS);
}

export function scheduleReconnect() {
  if (!S.session || S.session.finished) {
    setConn("closed");
    return;
  }
  clearTimeout(S.reconnectTimer);
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, S.attempt));
  const delay = Math.min(BACKOFF_MAX_MS, base * (0.75 + Math.random() * 0.5));
  S.attempt++;
  counters.reconnects++;
  setConn(navigator.onLine === false ? "offline" : "reconnecting");
  S.reconnectTimer = setTimeout(connect, delay);
}

function onClose(code) {
  clearTimeout(S.watchdogTimer);
  S.ws = null;
  if (code === 4401 || code === 4404) {
    h.gone(code === 4401 ? "bad_token" : "unknown_session");
    return;
  }
  if (code === 1008 && S.lastError && S.lastError.code === "start_timeout") {
    h.gone("start_timeout");
    return;
  }
  if (code === 1008 && S.lastError && S.lastError.code === "idle_timeout") {
    setConn("closed"); // the session is kept: a reload resumes it
    return;
  }
  if (!S.session || S.session.finished) {
    setConn("closed");
    return;
  }
  scheduleReconnect();
}

function sendHello() {
  const s = S.session;
  const hello = { type: "hello", last_seq: 0 };
  if (s && s.id && s.token) {
    hello.session_id = s.id;
    hello.token = s.token;
    hello.last_seq = s.lastSeq || 0;
  }
  send(hello);
}

function sendStart() {
  const s = S.session;
  if (!s || !s.settings) return;
  const st = s.settings;
  const msg = {
    type: "start",
    role: st.role,
    language: st.language,
    difficulty: st.difficulty,
    questions: st.questions,
  };
  if (st.resume_text) msg.resume_text = st.resume_text;
  if (st.job_posting) msg.job_posting = st.job_posting;
  if (st.practise) msg.practise = st.practise;
  if (send(msg)) {
    s.startSent = true;
    saveSession();
  }
}

function onText(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch (_) {
    return;
  }
  if (!msg || typeof msg !== "object" || typeof msg.type !== "string") return;
  counters.eventsReceived++;

  // Answer pings before anything else: a busy page must not look dead.
  if (msg.type === "ping") {
    send({ type: "pong", id: msg.id });
    counters.pingsAnswered++;
  }

  const seq = Number(msg.seq) || 0;
  const s = S.session;
  if (seq > 0 && s) {
    if (seq <= s.lastSeq) {
      counters.eventsIgnored++;
      return;
    }
    s.lastSeq = seq;
  }
  S.recentEvents.push({ type: msg.type, seq: seq });
  if (S.recentEvents.length > 100) S.recentEvents.shift();

  switch (msg.type) {
    case "ready":
      onReady(msg);
      break;
    case "state":
    case "question":
    case "transcript":
      h.event(msg);
      break;
    case "speaking": {
      const turn = Number(msg.turn) || 0;
      turnRespoken(turn); // re-spoken from chunk 0
      break;
    }
    case "stop_audio":
      stopTurn(Number(msg.turn) || 0);
      break;
    case "report":
    case "warming":
      h.event(msg);
      break;
    case "error":
      if (msg.code === "bad_token" || msg.code === "unknown_session") {
        // The close (4401/4404) that follows shows the message and clears the session.
        S.lastError = { code: msg.code, message: String(msg.message || ""), at: Date.now() };
        break;
      }
      h.error(String(msg.code || ""), msg.message ? String(msg.message) : "");
      if ((msg.code === "unavailable" || msg.code === "busy") && S.conn !== "open") {
        // hello could not reach the session yet: back off and say hello again.
        dropSocket(1000);
        scheduleReconnect();
      }
      break;
    case "ping":
      break;
    default:
      break; // newer server, older page: ignore what we do not know
  }
  if (seq > 0 && s && S.session === s) {
    if (msg.type !== "state" || msg.state !== "idle") s.startConfirmed = true;
    saveSession();
  }
}

function onReady(msg) {
  const s = S.session;
  if (!s) return;
  S.attempt = 0;
  setConn("open");
  const id = String(msg.session_id || "");
  const isNew = !s.id || s.id !== id;
  if (isNew) {
    if (s.id) {
      // We asked to resume but got another session: start over in it.
      toast(t("err_session_replaced"), { kind: "warn" });
      s.view = { state: "idle", question: null, log: [], nextLogId: 1 };
      S.question = null;
      S.interviewState = "idle";
      h.replaced();
    }
    s.lastSeq = 0;
    s.startSent = false;
    s.startConfirmed = false;
    s.reportToken = "";
    s.replayToken = "";
  }
  s.id = id;
  if (msg.token && msg.token !== s.token) {
    s.token = String(msg.token);
  }
  saveSession();
  h.ready();
  if (!s.finished && !s.startConfirmed) {
    if (!s.startSent || !msg.resumed) {
      sendStart();
    } else {
      // Start went out just before the link broke: replayed events show whether it
      // arrived; if none come, send it again.
      setTimeout(() => {
        if (S.session === s && !s.startConfirmed && S.conn === "open") sendStart();
      }, 2000);
    }
  }
  if (s.endPending && !s.finished) {
    if (send({ type: "end" })) s.endPending = false;
    saveSession();
  }
}

