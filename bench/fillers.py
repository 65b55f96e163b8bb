"""``parley bench models --only fillers``: does the transcript keep the filler words the
delivery report counts, and how far off is the speaking rate it measures?

The team's test speech (espeak-ng, English ``en-us`` and Korean ``ko``, 16 kHz via sox)
speaks answers with inserted fillers ("um", "uh", "I mean"; "음", "어", "그러니까").
Each answer is transcribed by the real Whisper engine twice, with its filler prompt and
without, and :func:`actors.session.delivery.find_fillers` counts the fillers in the
script and in the transcript:

- **filler recall**: fillers found in the transcript / fillers in the script (per filler
  word, a transcript cannot earn more than the script has);
- **speaking-rate error**: |units in the transcript - units in the script| / units in
  the script (words, or Korean syllables). Both rates divide by the same speech time, so
  this is the rate's relative error.
"""

from __future__ import annotations

__all__ = ["ANSWERS", "bench_fillers"]

from collections import Counter

from actors.session.delivery import count_units, find_fillers

ANSWERS: dict[str, list[str]] = {
    "en": [
        "Um, I built a payment service in Python, uh, that handled ten thousand requests "
        "per second.",
        "So, uh, we moved the database to Postgres and, um, the latency dropped by half.",
        "I mean, um, the hardest part was the migration, uh, because nobody had tests.",
        "Uh, I led a team of four engineers and, um, we shipped the new search in three months.",
        "Um, I would, uh, start by measuring where the time goes.",
    ],
    "ko": [
        "음, 저는 결제 서비스를 파이썬으로 만들었고, 어, 초당 만 건의 요청을 처리했습니다.",
        "어, 데이터베이스를 포스트그레스로 옮겼고, 음, 지연 시간이 절반으로 줄었습니다.",
        "음, 가장 어려웠던 부분은, 어, 테스트가 없는 상태에서 이전하는 것이었습니다.",
        "그러니까, 음, 네 명의 팀을 이끌었고, 어, 석 달 만에 검색 기능을 출시했습니다.",
        "어, 저는 먼저, 음, 시간이 어디에 쓰이는지 측정하겠습니다.",
    ],
}
_VOICES = {"en": "en-us", "ko": "ko"}


def _recall(script: str, heard: str, lang: str) -> tuple[int, int]:
    want = Counter(w for w, _ in find_fillers(script, lang))
    got = Counter(w for w, _ in find_fillers(heard, lang))
    return sum(min(n, got[w]) for w, n in want.items()), sum(want.values())


def bench_fillers(threads: int = 2, beam: int = 1) -> dict[str, dict[str, float]]:
    """Print and return ``{"<lang> <prompt|plain>": {"recall", "rate_error"}}``."""
    from actors.models.engines.stt_whisper import WhisperStt
    from bench.speech import have_speech_tools, speak_pcm16

    if not have_speech_tools():
        print("fillers: skipped (needs espeak-ng and sox)")
        return {}
    engines = {
        "prompt": WhisperStt(cpu_threads=threads, beam_size=beam),
        "plain": WhisperStt(cpu_threads=threads, beam_size=beam, filler_prompt=False),
    }
    for e in engines.values():
        e.load()
    out: dict[str, dict[str, float]] = {}
    print(f"{'speech':<10} {'STT prompt':<12} {'filler recall':>14} {'rate error':>11}")
    for lang, answers in ANSWERS.items():
        clips = [speak_pcm16(text, voice=_VOICES[lang]) for text in answers]
        for name, engine in engines.items():
            found = total = 0
            errors: list[float] = []
            for text, pcm in zip(answers, clips, strict=True):
                heard = engine.transcribe(pcm, 16000, lang).text
                f, n = _recall(text, heard, lang)
                found, total = found + f, total + n
                want = count_units(text, lang)
                errors.append(abs(count_units(heard, lang) - want) / want)
            recall = found / total if total else 0.0
            rate_error = sum(errors) / len(errors)
            out[f"{lang} {name}"] = {"recall": recall, "rate_error": rate_error}
            label = "fillers" if name == "prompt" else "none"
            print(
                f"espeak {lang:<3} {label:<12} {recall:>9.0%} ({found}/{total}) {rate_error:>10.1%}"
            )
    return out
