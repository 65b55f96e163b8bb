// Microphone capture: one AudioContext (shared with playback.js), the PCM16 worklet
// (mic-worklet.js: 16 kHz mono chunks of 40 ms), mute, the level meter and the unlock
// button. Captured chunks go to the sink set with setChunkSink(); this module never
// touches the socket.

import { $, toast } from "./dom.js";
import { t } from "./i18n.js";
import { S } from "./store.js";

const WORKLET_URL = new URL("mic-worklet.js", import.meta.url).href;
const TARGET_RATE = 16000;
const CHUNK_MS = 40;

let sink = () => {};

/** Where captured PCM16 chunks go: `fn(arrayBuffer)`. */
export function setChunkSink(fn) {
  sink = fn;
}

export const audio = {
  ctx: null,
  stream: null,
  source: null,
  node: null,
  micState: "off", // off | on | unavailable
  micStarting: null,
  workletCtx: null,
  muted: false,
  level: 0,
  shownLevel: 0,
  rafId: 0,
  lastAria: 0,
};

export function ensureAudioContext() {
  if (!audio.ctx) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    audio.ctx = new Ctx({ latencyHint: "interactive" });
    audio.ctx.addEventListener("statechange", () => {
      // After a reload the context starts locked; once a gesture unlocks it, bring the
      // microphone back for the interview that is still running.
      if (audio.ctx.state === "running" && S.session && !S.session.finished && audio.micState === "off") startMic();
      updateUnlockButton();
    });
  }
  if (audio.ctx.state === "suspended") audio.ctx.resume().catch(() => {});
  return audio.ctx;
}

export function updateUnlockButton() {
  const btn = $("#audio-unlock");
  const inInterview = !!S.session && !S.session.finished;
  const locked = !audio.ctx || audio.ctx.state !== "running";
  btn.hidden = !(inInterview && (locked || audio.micState === "off"));
}

export function startMic() {
  if (audio.micState === "on") return Promise.resolve();
  if (!audio.micStarting) audio.micStarting = openMic().finally(() => (audio.micStarting = null));
  return audio.micStarting;
}

async function openMic() {
  const ctx = ensureAudioContext();
  if (!ctx || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !ctx.audioWorklet) {
    audio.micState = "unavailable";
    renderMicStatus();
    toast(t("err_mic_unsupported"), { kind: "warn" });
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
    });
  } catch (err) {
    audio.micState = "unavailable";
    renderMicStatus();
    toast(t(err && err.name === "NotAllowedError" ? "err_mic_denied" : "err_mic_unsupported"), { kind: "warn" });
    return;
  }
  try {
    if (audio.workletCtx !== ctx) {
      await ctx.audioWorklet.addModule(WORKLET_URL); // once per context: names register once
      audio.workletCtx = ctx;
    }
    const node = new AudioWorkletNode(ctx, "pcm16-downsampler", {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      channelCount: 1,
      channelCountMode: "explicit",
      channelInterpretation: "speakers",
      processorOptions: { targetRate: TARGET_RATE, chunkMs: CHUNK_MS },
    });
    node.port.onmessage = onMicChunk;
    const source = ctx.createMediaStreamSource(stream);
    source.connect(node);
    // The node writes nothing to its output; connecting it keeps the graph pulling it.
    node.connect(ctx.destination);
    audio.stream = stream;
    audio.source = source;
    audio.node = node;
    audio.micState = "on";
    for (const track of stream.getAudioTracks()) {
      track.enabled = !audio.muted;
      track.addEventListener("ended", () => {
        if (audio.stream === stream) {
          stopMic();
          audio.micState = "unavailable";
          renderMicStatus();
          toast(t("err_mic_ended"), { kind: "warn" });
        }
      });
    }
    node.port.postMessage({ muted: audio.muted });
    startMeter();
  } catch (err) {
    for (const track of stream.getTracks()) track.stop();
    audio.micState = "unavailable";
    toast(t("err_worklet"), { kind: "warn" });
    if (window.console) console.error("parley: worklet", err);
  }
  renderMicStatus();
  updateUnlockButton();
}

export function stopMic() {
  if (audio.node) {
    try {
      audio.node.port.postMessage({ stop: true });
      audio.node.disconnect();
    } catch (_) {
      /* already gone */
    }
    audio.node.port.onmessage = null;
  }
  if (audio.source) audio.source.disconnect();
  if (audio.stream) for (const track of audio.stream.getTracks()) track.stop();
  audio.node = audio.source = audio.stream = null;
  if (audio.micState === "on") audio.micState = "off";
  audio.level = 0;
  renderMicStatus();
}

function onMicChunk(event) {
  const data = event.data || {};
  if (!(data.pcm instanceof ArrayBuffer)) return;
  audio.level = audio.muted ? 0 : levelFromRms(data.rms || 0);
  sink(data.pcm);
}

function levelFromRms(rms) {
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms); // -60 dBFS → 0, 0 dBFS → 1
  return Math.max(0, Math.min(1, (db + 60) / 60));
}

function startMeter() {
  if (audio.rafId) return;
  const bar = $("#mic-level-bar");
  const meter = $("#mic-level");
  const frame = (now) => {
    audio.shownLevel = Math.max(audio.level, audio.shownLevel * 0.9);
    bar.style.transform = "scaleX(" + audio.shownLevel.toFixed(3) + ")";
    meter.classList.toggle("hot", audio.shownLevel > 0.92);
    if (now - audio.lastAria > 500) {
      meter.setAttribute("aria-valuenow", String(Math.round(audio.shownLevel * 100)));
      audio.lastAria = now;
    }
    if (audio.micState === "on" || audio.shownLevel > 0.01) {
      audio.rafId = requestAnimationFrame(frame);
    } else {
      audio.rafId = 0;
      bar.style.transform = "scaleX(0)";
      meter.setAttribute("aria-valuenow", "0");
    }
  };
  audio.rafId = requestAnimationFrame(frame);
}

export function setMuted(muted) {
  audio.muted = !!muted;
  if (audio.stream) for (const track of audio.stream.getAudioTracks()) track.enabled = !audio.muted;
  if (audio.node) audio.node.port.postMessage({ muted: audio.muted });
  renderMuteButton();
  renderMicStatus();
}

export function renderMuteButton() {
  const btn = $("#mute");
  btn.setAttribute("aria-pressed", String(audio.muted));
  btn.textContent = audio.muted ? t("unmute") : t("mute");
  btn.setAttribute("aria-label", audio.muted ? t("unmute_aria") : t("mute_aria"));
  btn.disabled = audio.micState !== "on";
}

export function renderMicStatus() {
  const status = $("#mic-status");
  let key = "mic_off";
  if (audio.micState === "unavailable") key = "mic_unavailable";
  else if (audio.micState === "on") key = audio.muted ? "mic_muted" : "mic_on";
  status.textContent = t(key);
  document.body.dataset.mic = audio.micState;
  renderMuteButton();
}

