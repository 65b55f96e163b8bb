// Parley microphone worklet: context rate (44.1/48 kHz, whatever the device runs at) →
// 16 kHz mono PCM16LE in ~40 ms chunks, posted to the main thread as transferable buffers.
//
// Resampling: a windowed-sinc low-pass FIR (cut-off 0.45 × the lower rate, Blackman window)
// removes everything the 16 kHz stream cannot carry, evaluated only at the input samples the
// output needs; the fractional position between two filtered samples is interpolated
// linearly, which is accurate because the filtered signal is heavily oversampled.
// Dropping samples instead would fold 8–24 kHz hiss into the speech band and hurt STT.
"use strict";

class Pcm16Downsampler extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.inRate = sampleRate; // global in AudioWorkletGlobalScope
    this.outRate = opts.targetRate || 16000;
    this.chunkSize = Math.max(1, Math.round((this.outRate * (opts.chunkMs || 40)) / 1000));
    this.step = this.inRate / this.outRate; // input samples per output sample

    // Low-pass FIR. Longer when decimating harder, so the transition band stays narrow.
    const cutoff = (0.45 * Math.min(this.inRate, this.outRate)) / this.inRate; // cycles/sample
    this.half = Math.max(8, Math.ceil(8 * Math.max(1, this.step)));
    const n = 2 * this.half + 1;
    this.taps = new Float32Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const x = i - this.half;
      const sinc = x === 0 ? 1 : Math.sin(2 * Math.PI * cutoff * x) / (2 * Math.PI * cutoff * x);
      const w =
        0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (n - 1));
      this.taps[i] = 2 * cutoff * sinc * w;
      sum += this.taps[i];
    }
    for (let i = 0; i < n; i++) this.taps[i] /= sum; // unity gain at DC

    // Input history: starts with `half` zeros so the first output has full support.
    this.buf = new Float32Array(4096);
    this.len = this.half;
    this.pos = this.half; // fractional index (into buf) of the next output sample

    this.out = new Int16Array(this.chunkSize);
    this.outLen = 0;
    this.sumSq = 0;
    this.peak = 0;
    this.muted = false;
    this.running = true;

    this.port.onmessage = (event) => {
      const msg = event.data || {};
      if ("muted" in msg) this.muted = !!msg.muted;
      if (msg.stop) this.running = false;
    };
  }

  fir(center) {
    const taps = this.taps;
    const buf = this.buf;
    const start = center - this.half;
    let acc = 0;
    for (let k = 0; k < taps.length; k++) acc += taps[k] * buf[start + k];
    return acc;
  }

  append(input) {
    const frames = input[0].length;
    if (this.len + frames > this.buf.length) {
      const bigger = new Float32Array(Math.max(this.buf.length * 2, this.len + frames));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    const channels = input.length;
    const dst = this.buf;
    const base = this.len;
    if (channels === 1) {
      dst.set(input[0], base);
    } else {
      // Down-mix: average all channels.
      for (let i = 0; i < frames; i++) {
        let s = 0;
        for (let c = 0; c < channels; c++) s += input[c][i];
        dst[base + i] = s / channels;
      }
    }
    this.len += frames;
  }

  emit(sample) {
    let y = this.muted ? 0 : sample;
    if (y > 1) y = 1;
    else if (y < -1) y = -1;
    const a = y < 0 ? -y : y;
    if (a > this.peak) this.peak = a;
    this.sumSq += y * y;
    this.out[this.outLen++] = Math.round(y < 0 ? y * 32768 : y * 32767);
    if (this.outLen === this.chunkSize) {
      const pcm = this.out.buffer;
      const rms = Math.sqrt(this.sumSq / this.chunkSize);
      this.port.postMessage({ pcm, rms, peak: this.peak }, [pcm]);
      this.out = new Int16Array(this.chunkSize);
      this.outLen = 0;
      this.sumSq = 0;
      this.peak = 0;
    }
  }

  process(inputs) {
    if (!this.running) return false;
    const input = inputs[0];
    if (!input || input.length === 0 || !input[0] || input[0].length === 0) return true;
    this.append(input);

    // Produce every output sample whose filter support [i - half, i + 1 + half] is in.
    const limit = this.len - 1 - this.half;
    while (this.pos < limit) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      const a = this.fir(i);
      this.emit(frac < 1e-6 ? a : a + (this.fir(i + 1) - a) * frac);
      this.pos += this.step;
    }

    // Forget input no later output can reach.
    const drop = Math.floor(this.pos) - this.half;
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.pos -= drop;
    }
    return true;
  }
}

registerProcessor("pcm16-downsampler", Pcm16Downsampler);
