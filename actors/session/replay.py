"""Replay: each spoken answer's audio, taped so the candidate can hear it from the report
(the shell side; the core never sees this).

:class:`AnswerTape` collects the speech segments the core sends to STT (the answer as
the endpointer cut it: pre-roll included, a pause inside the answer kept with the segment
it ends) and, when the core persists a spoken turn, hands back the answer as one WAV
file, once per turn; the shell keeps it with :func:`bus.replay.store_answer`. An answer
in progress when the session moves to another node is not taped.
"""

from __future__ import annotations

__all__ = ["MAX_ANSWER_S", "AnswerTape", "wav_bytes"]

from actors.models.audio import wav_bytes
from actors.session.state import TurnRecord
from bus.jobs import SttJob

#: Longer answers are taped up to this length.
MAX_ANSWER_S = 300
_TAPED_TURNS = 64


class AnswerTape:
    """The speech segments of the answer in progress (bounded by :data:`MAX_ANSWER_S`)."""

    def __init__(self) -> None:
        self._segments: dict[int, bytes] = {}
        self._rate = 16000
        self._taped: list[int] = []

    def on_stt(self, job: SttJob) -> None:
        """A segment goes to STT. Segment numbers restart at 0 with a new turn; a
        re-sent segment replaces itself."""
        if job.segment == 0 and self._segments.get(0, job.pcm) != job.pcm:
            self._segments.clear()  # a new answer; the last one was not a spoken turn
        self._rate = job.sample_rate
        limit = MAX_ANSWER_S * job.sample_rate * 2
        if sum(map(len, self._segments.values())) + len(job.pcm) <= limit:
            self._segments[job.segment] = job.pcm

    def take(self, record: TurnRecord) -> bytes | None:
        """The WAV of a spoken turn the first time it is persisted; None otherwise."""
        if record.source != "speech" or record.turn in self._taped or not self._segments:
            return None
        self._taped = [*self._taped[-_TAPED_TURNS + 1 :], record.turn]
        pcm = b"".join(self._segments[k] for k in sorted(self._segments))
        self._segments.clear()
        return wav_bytes(pcm, self._rate)
