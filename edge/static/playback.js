// Playback of interviewer speech: binary frames with a 12-byte header (version, kind,
// turn, chunk, sample rate; docs/protocol.md) scheduled gaplessly per turn on the shared
// AudioContext; stop_audio cuts a turn at once and later chunks of it are dropped.

import { $ } from "./dom.js";
import { audio, ensureAudioContext } from "./mic.js";
import { counters } from "./store.js";

const HEADER_BYTES = 12;
const PLAYBACK_LEAD_S = 0.04;

export const player = {
  nextTime: 0,
  turns: new Map(), // turn -> { sources: Set<AudioBufferSourceNode>, lastChunk }
  stopped: new Set(), // turns cut by stop_audio: later chunks are dropped
  active: 0,
};

function playerTurn(turn) {
  let entry = player.turns.get(turn);
  if (!entry) {
    entry = { sources: new Set(), lastChunk: -1 };
    player.turns.set(turn, entry);
    if (player.turns.size > 64) {
      const oldest = Math.min(...player.turns.keys());
      if (player.turns.get(oldest).sources.size === 0) player.turns.delete(oldest);
    }
  }
  return entry;
}

export function onAudioFrame(buf) {
  counters.audioChunksReceived++;
  counters.audioBytesReceived += buf.byteLength;
  if (buf.byteLength < HEADER_BYTES) {
    counters.audioChunksDiscarded++;
    return;
  }
  const dv = new DataView(buf);
  const version = dv.getUint8(0);
  const kind = dv.getUint8(1);
  const turn = dv.getUint16(2, true);
  const chunk = dv.getUint32(4, true);
  const rate = dv.getUint32(8, true);
  const samples = (buf.byteLength - HEADER_BYTES) >> 1;
  if (version !== 1 || kind !== 1 || rate < 3000 || rate > 192000 || samples === 0) {
    counters.audioChunksDiscarded++;
    return;
  }
  if (player.stopped.has(turn)) {
    counters.audioChunksDiscarded++;
    return;
  }
  const entry = playerTurn(turn);
  if (chunk <= entry.lastChunk) {
    counters.audioChunksDiscarded++; // duplicate after a resume
    return;
  }
  entry.lastChunk = chunk;
  const ctx = audio.ctx || ensureAudioContext();
  if (!ctx) {
    counters.audioChunksDiscarded++;
    return;
  }
  const ab = ctx.createBuffer(1, samples, rate);
  const out = ab.getChannelData(0);
  for (let i = 0, o = HEADER_BYTES; i < samples; i++, o += 2) out[i] = dv.getInt16(o, true) / 32768;
  const src = ctx.createBufferSource();
  src.buffer = ab;
  src.connect(ctx.destination);
  const now = ctx.currentTime;
  let start = player.nextTime;
  if (start < now + 0.005) {
    if (entry.sources.size > 0) counters.playbackUnderruns++;
    start = now + PLAYBACK_LEAD_S;
  }
  src.start(start);
  src.parleyEnd = start + ab.duration;
  player.nextTime = src.parleyEnd;
  entry.sources.add(src);
  player.active++;
  renderSpeaking();
  src.onended = () => {
    if (entry.sources.delete(src)) {
      player.active--;
      renderSpeaking();
    }
  };
}

export function stopTurn(turn) {
  player.stopped.add(turn);
  if (player.stopped.size > 256) player.stopped.delete(Math.min(...player.stopped));
  const entry = player.turns.get(turn);
  if (entry) {
    for (const src of entry.sources) {
      try {
        src.onended = null;
        src.stop();
        src.disconnect();
      } catch (_) {
        /* not started yet or already stopped */
      }
      player.active--;
    }
    entry.sources.clear();
  }
  // Later audio starts right away, not after the gap the cut turn would have filled.
  let end = audio.ctx ? audio.ctx.currentTime : 0;
  for (const e of player.turns.values()) for (const src of e.sources) end = Math.max(end, src.parleyEnd || 0);
  player.nextTime = end;
  renderSpeaking();
}

export function stopAllAudio() {
  for (const turn of Array.from(player.turns.keys())) stopTurn(turn);
}

function renderSpeaking() {
  if (player.active < 0) player.active = 0;
  $("#speaking-indicator").hidden = player.active === 0;
  document.body.dataset.playing = String(player.active > 0);
}

/** A turn is spoken again from chunk 0 (after a resume): play it even if it was cut. */
export function turnRespoken(turn) {
  if (player.stopped.delete(turn)) player.turns.delete(turn);
}

/** Forget every turn (a new interview). */
export function resetPlayer() {
  player.stopped.clear();
  player.turns.clear();
}
