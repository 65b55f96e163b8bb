"""Speech to text with faster-whisper (CTranslate2) and the packaged Whisper *base* model.

Decoding settings, and why:

* ``language`` is always given (auto-detection picked Thai for synthetic Korean speech);
* ``temperature=0.0`` only: faster-whisper's default fallback ladder re-decodes unclear
  audio up to five more times (7–118 s measured on two cores), which is exactly when a
  turn must not stall;
* ``condition_on_previous_text=False``: segments are short; the caller passes the text
  already heard as ``prompt`` instead;
* ``beam_size=1`` by default: on two cores beam 5 roughly doubles the decode time for a
  word or so of accuracy (configurable);
* the prompt starts with a few disfluent words (:data:`FILLER_PROMPTS`): Whisper writes
  what it heard in the style of its prompt, so it keeps "um", "uh", "음", "어" instead of
  cleaning them away, and the report can count them (``filler_prompt=False`` turns it
  off; ``parley bench models --only fillers`` measures the filler recall both ways).

Hallucination guards, cheapest first: a level gate (near-silent audio never reaches the
model), Silero VAD inside faster-whisper (noise without speech yields no segments), then
per-segment thresholds on ``no_speech_prob``/``avg_logprob``/``compression_ratio`` and a
list of phrases Whisper invents on silence (YouTube outros and the like). A segment that
is nothing but "Thank you" / "감사합니다" is dropped too: a real one carries no answer.

Whisper pads every input to a 30 s window, so a short segment costs about as much encoder
time as a long one (~0.9 s on two cores). With ``window_s`` (the default, 10 s) the
encoder gets a shorter window instead: the segment plus one second, at least ``window_s``
(CTranslate2 takes any length; faster-whisper's padding is redirected for calls of this
engine only). Measured on espeak-ng answers under load: 0.2-0.3 s per call instead of
0.5-1.2 s, the same words or better; windows much shorter than ~5 s make Whisper loop,
hence the floor. ``window_s=30`` restores stock behaviour.
"""

from __future__ import annotations

__all__ = ["FILLER_PROMPTS", "HALLUCINATIONS", "WhisperStt"]

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

from actors.models import assets
from actors.models.audio import pcm16_to_float, resample, rms_dbfs
from actors.models.engines import EngineError, Transcription

log = logging.getLogger(__name__)

_SAMPLE_RATE = 16000
_FRAMES_PER_S = 100  # Whisper's mel frames
_FULL_FRAMES = 3000

# The encoder window of the call running on this thread (None: Whisper's 30 s).
_window = threading.local()
_patch_lock = threading.Lock()


def _install_window() -> None:
    """Route faster-whisper's pad-to-30-s through :data:`_window` (once per process)."""
    import faster_whisper.transcribe as fwt

    with _patch_lock:
        if getattr(fwt.pad_or_trim, "_parley_window", False):
            return
        original = fwt.pad_or_trim

        def pad_or_trim(array: Any, length: int = _FULL_FRAMES, *, axis: int = -1) -> Any:
            frames = getattr(_window, "frames", None)
            return original(array, frames if frames else length, axis=axis)

        pad_or_trim._parley_window = True  # type: ignore[attr-defined]
        fwt.pad_or_trim = pad_or_trim


#: Whole-segment transcripts that Whisper produces from silence or noise (lower case,
#: punctuation and spaces removed before comparison).
HALLUCINATIONS = frozenset(
    {
        "thankyouforwatching",
        "thanksforwatching",
        "thankyouforwatchingpleasesubscribe",
        "pleasesubscribe",
        "subscribetomychannel",
        "thankyou",
        "thankyouverymuch",
        "bye",
        "you",
        "subtitlesbytheamaraorgcommunity",
        "시청해주셔서감사합니다",
        "시청해주셔서고맙습니다",
        "구독과좋아요부탁드립니다",
        "구독과좋아요",
        "감사합니다",
        "mbc뉴스이덕영입니다",
        "다음영상에서만나요",
    }
)
# Fragments that mark a segment as invented even inside a longer text.
_HALLUCINATION_FRAGMENTS = (
    "시청해주셔서",
    "구독과좋아요",
    "thankyouforwatching",
    "amaraorg",
)

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def _norm(text: str) -> str:
    return _NON_WORD.sub("", text.lower())


#: A disfluent first line of every prompt, per language (see the module doc).
FILLER_PROMPTS: dict[str, str] = {
    "en": "Um, so, uh, I mean, like, we, um, built it, uh, you know.",
    "ko": "음, 그러니까, 어, 저는 이제, 음, 약간, 어, 그렇게 했습니다.",
}


def resolve_device(preference: str) -> tuple[str, str]:
    """(device, compute type) for a ``PARLEY_STT_DEVICE`` preference: ``auto`` (default)
    takes CUDA when CTranslate2 sees a GPU (a CUDA-enabled CTranslate2 and driver), else the
    CPU; ``cpu`` and ``cuda`` force one. int8 on the CPU, int8 weights with float16
    activations on a GPU."""
    pref = preference.strip().lower() or "auto"
    if pref not in ("auto", "cpu", "cuda"):
        raise ValueError(f"STT device must be auto, cpu or cuda, not {preference!r}")
    if pref == "auto":
        try:
            import ctranslate2

            pref = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        except Exception:  # no CUDA runtime at all
            pref = "cpu"
    return pref, ("int8_float16" if pref == "cuda" else "int8")


class WhisperStt:
    """faster-whisper Whisper base: int8 on the CPU, or on a GPU when there is one.

    ``model_dir`` defaults to :func:`actors.models.assets.whisper_base_dir`. ``cpu_threads``
    is CTranslate2's intra-op thread count (give it the cores this worker owns).
    ``min_dbfs`` is the level below which audio is treated as silence without decoding.
    CTranslate2 itself is thread-safe, but calls are serialised here anyway because two
    concurrent decodes on two cores are slower than two sequential ones.
    """

    name = "whisper-base-int8"

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        cpu_threads: int = 2,
        beam_size: int = 1,
        vad_filter: bool = True,
        min_dbfs: float = -55.0,
        no_speech_threshold: float = 0.6,
        logprob_threshold: float = -1.0,
        min_avg_logprob: float = -1.5,
        max_compression_ratio: float = 2.4,
        window_s: float = 10.0,
        device: str = "auto",
        filler_prompt: bool = True,
    ) -> None:
        self._model_dir = model_dir
        self._filler_prompt = filler_prompt
        #: ``cpu`` or ``cuda``, decided from ``device`` (see :func:`resolve_device`).
        self.device, self._compute_type = resolve_device(device)
        self._cpu_threads = cpu_threads
        self._beam_size = beam_size
        self._vad_filter = vad_filter
        self._min_dbfs = min_dbfs
        self._no_speech_threshold = no_speech_threshold
        self._logprob_threshold = logprob_threshold
        self._min_avg_logprob = min_avg_logprob
        self._max_compression_ratio = max_compression_ratio
        self._window_s = min(30.0, max(1.0, window_s))
        self._model: Any = None
        self._languages: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._echo = ""  # the normalised filler prompt of the decode in progress

    def load(self) -> None:
        """Assemble/locate the model and load it (~0.5 s); idempotent."""
        if self._model is not None:
            return
        from faster_whisper import WhisperModel

        path = self._model_dir or assets.whisper_base_dir()
        started = time.monotonic()
        model = WhisperModel(
            str(path),
            device=self.device,
            compute_type=self._compute_type,
            cpu_threads=self._cpu_threads,
            local_files_only=True,
        )
        self._languages = frozenset(model.supported_languages)
        fw_log = logging.getLogger("faster_whisper")
        if fw_log.level == logging.NOTSET:
            # It logs every call at INFO ("Processing audio with duration ..."): one line per
            # speech segment is noise in a server log unless an operator asks for it.
            fw_log.setLevel(logging.WARNING)
        if self._window_s < 30.0:
            _install_window()
        self._model = model
        log.info(
            "STT %s loaded in %.2f s on %s (%s)",
            path,
            time.monotonic() - started,
            self.device,
            self._compute_type,
        )

    def transcribe(
        self, pcm: bytes, sample_rate: int, language: str, prompt: str = ""
    ) -> Transcription:
        """See :class:`actors.models.engines.SttEngine`. ``language`` may be a locale
        (``ko-KR``); only its first part is used."""
        if self._model is None:
            raise EngineError("WhisperStt.load() was not called")
        if sample_rate < 8000 or sample_rate > 96000:
            raise EngineError(f"unsupported sample rate {sample_rate}")
        lang = language.split("-", 1)[0].lower()
        if lang not in self._languages:
            raise EngineError(f"unsupported language {language!r}")
        try:
            samples = pcm16_to_float(pcm)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        audio_ms = round(len(samples) * 1000 / sample_rate)
        if sample_rate != _SAMPLE_RATE:
            samples = resample(samples, sample_rate, _SAMPLE_RATE)
        # Whisper needs some audio to say anything sensible, and near-silence is where it
        # invents text: skip both without touching the model.
        if audio_ms < 200 or rms_dbfs(samples) < self._min_dbfs:
            return Transcription("", True, audio_ms)

        # Whisper's prompt window is ~224 tokens; the tail of what was said is what helps,
        # after the disfluent style line that keeps fillers in the transcript.
        style = FILLER_PROMPTS.get(lang, "") if self._filler_prompt else ""
        tail = " ".join(x for x in (style, prompt.strip()[-200:]) if x) or None
        frames = None
        if self._window_s < 30.0:
            need = int((max(self._window_s, len(samples) / _SAMPLE_RATE + 1.0)) * _FRAMES_PER_S)
            frames = min(_FULL_FRAMES, need)
        with self._lock:
            _window.frames = frames
            self._echo = _norm(style) if style else ""
            try:
                return self._decode(samples, lang, tail, audio_ms)
            finally:
                _window.frames = None

    def _decode(self, samples: Any, lang: str, tail: str | None, audio_ms: int) -> Transcription:
        segments, _info = self._model.transcribe(
            samples,
            language=lang,
            task="transcribe",
            beam_size=self._beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            initial_prompt=tail,
            without_timestamps=True,
            vad_filter=self._vad_filter,
            vad_parameters={"min_silence_duration_ms": 500, "speech_pad_ms": 300},
            no_speech_threshold=self._no_speech_threshold,
            log_prob_threshold=self._logprob_threshold,
            compression_ratio_threshold=self._max_compression_ratio,
        )
        kept = [s.text.strip() for s in segments if self._plausible(s)]  # decodes lazily
        text = " ".join(t for t in kept if t)
        return Transcription(text, not text, audio_ms)

    def _plausible(self, seg: Any) -> bool:
        """Reject segments that are most likely invented rather than heard."""
        text = seg.text.strip()
        norm = _norm(text)
        if not norm:
            return False
        if seg.no_speech_prob > self._no_speech_threshold and (
            seg.avg_logprob < self._logprob_threshold
        ):
            return False
        if seg.avg_logprob < self._min_avg_logprob:
            return False
        if seg.compression_ratio > self._max_compression_ratio:
            return False  # repetition loops ("the the the ...")
        if norm in HALLUCINATIONS or any(f in norm for f in _HALLUCINATION_FRAGMENTS):
            log.debug("dropped hallucination %r", text)
            return False
        if self._echo and len(norm) >= 4 and norm in self._echo:
            log.debug("dropped an echo of the filler prompt %r", text)
            return False  # unsure of the audio, Whisper repeats its prompt
        return True
